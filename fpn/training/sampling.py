"""Data order as a pure function of (seed, epoch), so a resumed run sees exactly the batches it would have seen."""
from __future__ import annotations

import math
import random
import signal
from collections.abc import Iterator
from typing import Any

import torch
from torch.utils.data import Dataset, Sampler

from fpn.data.coco import CocoDetection, RandomHorizontalFlip


class ResumableBatchSampler(Sampler[list[tuple[int, int]]]):
    """Batches of (dataset index, augmentation seed) whose order is a pure function of (seed, epoch).

    Each rank of ``world_size`` takes every ``world_size``-th sample of the epoch's permutation (padded by
    wrapping around, as DistributedSampler does).  ``set_epoch(epoch, start_batch)`` skips batches already done.
    """

    def __init__(self, num_samples: int, batch_size: int, seed: int, rank: int = 0, world_size: int = 1,
                 shuffle: bool = True) -> None:
        if num_samples < 1:
            raise ValueError("the training set is empty")
        self.num_samples, self.batch_size, self.seed = num_samples, batch_size, seed
        self.rank, self.world_size, self.shuffle = rank, world_size, shuffle
        self.per_rank = math.ceil(num_samples / world_size)
        self.epoch, self.start_batch = 0, 0

    def __len__(self) -> int:
        return max(self.batches_per_epoch - self.start_batch, 0)

    @property
    def batches_per_epoch(self) -> int:
        """Batches one rank sees per epoch (the last one may be short)."""
        return math.ceil(self.per_rank / self.batch_size)

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        self.epoch, self.start_batch = int(epoch), int(start_batch)

    def epoch_batches(self, epoch: int) -> list[list[tuple[int, int]]]:
        """This rank's batches of ``epoch``: lists of (dataset index, augmentation seed)."""
        g = torch.Generator()
        g.manual_seed(int(self.seed) * 1_000_003 + int(epoch))
        order = torch.randperm(self.num_samples, generator=g) if self.shuffle else torch.arange(self.num_samples)
        aug = torch.randint(0, 2 ** 31 - 1, (self.num_samples,), generator=g)
        total = self.per_rank * self.world_size
        idx = torch.cat([order] * math.ceil(total / self.num_samples))[:total]
        mine = idx[self.rank::self.world_size].tolist()
        pairs = [(i, int(aug[i]) ^ (int(epoch) * 7919)) for i in mine]
        return [pairs[i:i + self.batch_size] for i in range(0, len(pairs), self.batch_size)]

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        yield from self.epoch_batches(self.epoch)[self.start_batch:]


class TrainingView(Dataset):
    """Wraps a CocoDetection: item ``(index, aug_seed)`` -> (image FloatTensor[3, H, W], target), flipped by a
    draw from ``random.Random(aug_seed)`` (never the global RNG)."""

    def __init__(self, dataset: CocoDetection, hflip: float = 0.5) -> None:
        self.dataset = dataset
        self.flip = RandomHorizontalFlip(hflip) if hflip > 0 else None

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]) -> tuple[torch.Tensor, dict[str, Any]]:
        index, aug_seed = key
        image, target = self.dataset[index]
        if self.flip is not None:
            image, target = self.flip(image, target, random.Random(aug_seed))
        return image, target


def ignore_sigint(worker_id: int) -> None:
    """DataLoader ``worker_init_fn``.  Workers share the terminal's process group: Ctrl-C must reach only the main
    process, which finishes its step and saves a resume checkpoint."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
