"""One process, or one of many under ``torchrun``: ranks, the process group, the device, and averaging across ranks."""
from __future__ import annotations

import os

import torch
import torch.distributed as dist

from fpn.devices import resolve_device


def dist_env() -> tuple[int, int, int]:
    """(rank, world size, local rank) from torchrun's environment; (0, 1, 0) otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1, 0
    return int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0"))


def setup_process(device_name: str, world_size: int, local_rank: int) -> torch.device:
    """Join the process group (nccl on GPUs, gloo on CPUs) when ``world_size > 1``; return this process's device.

    A bare "cuda" becomes "cuda:<local_rank>" and is made the current CUDA device (nccl needs it).
    """
    if world_size > 1 and not dist.is_initialized():
        backend = "nccl" if (device_name in ("auto", "cuda") and torch.cuda.is_available()) else "gloo"
        dist.init_process_group(backend=backend)
    device = resolve_device(device_name, local_rank)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    return device


def mean_over_ranks(values: torch.Tensor, world_size: int) -> torch.Tensor:
    """Element-wise mean of ``values`` (any shape) over all ranks; ``values`` itself when alone."""
    if world_size > 1:
        dist.all_reduce(values)
        values /= world_size
    return values


def barrier(world_size: int) -> None:
    """Wait for every rank (no-op in a single process)."""
    if world_size > 1:
        dist.barrier()


def teardown(world_size: int) -> None:
    """Leave the process group joined by :func:`setup_process`."""
    if world_size > 1 and dist.is_initialized():
        dist.destroy_process_group()
