"""The training loop behind ``scripts/train.py``: the paper's recipe on one CPU/GPU or many processes (torchrun).

Recipe (Sec. 5): SGD, momentum 0.9, weight decay 1e-4, learning rate 0.02 for 16 images per step scaled linearly
with the total batch (``lr * batch / 16``), linear warmup, then x0.1 at the step milestones.

Exact resume: the data order is a pure function of (seed, epoch) (:class:`ResumableBatchSampler`), flips are drawn
from a per-sample seed, the DataLoader has its own generator (it never touches the global RNG), and the resume file
holds model, optimizer, scheduler, AMP scaler, step and the python/numpy/torch/CUDA RNG states.  Resuming at step k
therefore replays steps k+1.. exactly as the uninterrupted run would (single process; under torchrun every rank
restores rank 0's RNG state).
"""
from __future__ import annotations

import contextlib
import csv
import math
import os
import random
import shlex
import signal
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Dataset, Sampler

from fpn.checkpoint import (
    capture_rng_state,
    load_state_dict_checked,
    load_training_state,
    restore_rng_state,
    save_checkpoint,
    save_training_state,
)
from fpn.data.coco import CocoDetection, RandomHorizontalFlip, collate, find_coco_split

REFERENCE_BATCH = 16  # the paper's lr 0.02 is for 16 images per step
RESUME_FILE = "resume.pt"
FINAL_NAME = "model"  # run_dir/model.safetensors + run_dir/model.json
LOG_FILE = "log.csv"
METRICS_FILE = "metrics.csv"
CURVES_FILE = "training_curves.png"


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite; nothing was saved for that step."""


class TrainingInterrupted(RuntimeError):
    """SIGINT/SIGTERM: a resume checkpoint was written; ``signum`` tells which signal."""

    def __init__(self, message: str, signum: int) -> None:
        super().__init__(message)
        self.signum = signum


@dataclass
class TrainConfig:
    """Everything a run depends on.  ``model`` holds extra ``build_detector`` / ``build_mask_proposer`` options."""

    data: str
    out: str
    task: str = "detection"
    variant: str = "fpn"
    backbone: str = "resnet50"
    model: dict[str, Any] = field(default_factory=dict)
    backbone_weights: str | None = None
    min_size: int | None = None
    max_size: int | None = None
    epochs: float | None = None
    iters: int | None = None
    batch_size: int = 2  # per process
    lr: float = 0.02  # for 16 images; scaled by the total batch
    momentum: float = 0.9
    weight_decay: float = 1e-4
    warmup_iters: int = 500
    warmup_factor: float = 1.0 / 3
    steps: list[float] = field(default_factory=lambda: [2 / 3, 8 / 9])  # fractions of the run (<=1) or step numbers
    gamma: float = 0.1
    grad_clip: float | None = None
    hflip: float = 0.5
    amp: str = "auto"  # "auto" (fp16 on CUDA), "fp16", "bf16", "off"
    channels_last: bool = True  # GPU only
    device: str = "auto"
    workers: int = 2
    seed: int = 0
    resume: bool = False
    checkpoint_every: int = 500
    eval_every: int = 0
    final_eval: bool = True
    eval_max_images: int | None = None
    max_images: int | None = None  # use only the first N training images
    log_every: int = 20
    fp16_checkpoint: bool = False
    stop_at_step: int | None = None  # behave as if interrupted after this step (for testing resume)
    progress: bool = True
    command: str | None = None


# ------------------------------------------------------------------------------------------- data
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
        return max(math.ceil(self.per_rank / self.batch_size) - self.start_batch, 0)

    @property
    def batches_per_epoch(self) -> int:
        return math.ceil(self.per_rank / self.batch_size)

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        self.epoch, self.start_batch = int(epoch), int(start_batch)

    def epoch_batches(self, epoch: int) -> list[list[tuple[int, int]]]:
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
    """Wraps a CocoDetection: item ``(index, aug_seed)`` -> (image, target), flipped by a reproducible draw."""

    def __init__(self, dataset: CocoDetection, hflip: float = 0.5) -> None:
        self.dataset = dataset
        self.flip = RandomHorizontalFlip(hflip) if hflip > 0 else None

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]):
        index, aug_seed = key
        image, target = self.dataset[index]
        if self.flip is not None:
            image, target = self.flip(image, target, random.Random(aug_seed))
        return image, target


def _ignore_sigint(worker_id: int) -> None:
    """DataLoader workers share the terminal's process group: let Ctrl-C reach only the main process, which
    finishes its step and saves a resume checkpoint."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


# ------------------------------------------------------------------------------------------- schedule
class WarmupMultiStep:
    """lr factor at optimizer step ``s`` (0-based): linear warmup from ``warmup_factor`` over ``warmup_iters``
    steps, times ``gamma`` at each milestone (step numbers)."""

    def __init__(self, warmup_iters: int, warmup_factor: float, milestones: list[int], gamma: float) -> None:
        self.warmup_iters, self.warmup_factor = int(warmup_iters), float(warmup_factor)
        self.milestones, self.gamma = sorted(int(m) for m in milestones), float(gamma)

    def __call__(self, step: int) -> float:
        factor = self.gamma ** sum(step >= m for m in self.milestones)
        if step < self.warmup_iters:
            alpha = step / self.warmup_iters
            factor *= self.warmup_factor * (1 - alpha) + alpha
        return factor


def milestones_for(steps: list[float], total_iters: int) -> list[int]:
    """Step numbers of the lr drops: values <= 1 are fractions of the run, larger ones step numbers."""
    out = []
    for s in steps:
        out.append(round(s * total_iters) if 0 < s <= 1 else int(s))
    return out


# ------------------------------------------------------------------------------------------- distributed
def dist_env() -> tuple[int, int, int]:
    """(rank, world size, local rank) from torchrun's environment; (0, 1, 0) otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1, 0
    return int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0"))


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError("--device cuda was asked for but CUDA is not available")
        if device.index is None:
            device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    return device


# ------------------------------------------------------------------------------------------- model
def build_model(cfg: TrainConfig, num_classes: int, class_names: list[str] | None = None) -> torch.nn.Module:
    """The model a config describes, through ``fpn.build_model`` (the builder checkpoints and the app use too)."""
    from fpn.tasks import build_model as build

    options = dict(cfg.model)
    for key in ("min_size", "max_size"):
        if getattr(cfg, key) is not None:
            options[key] = getattr(cfg, key)
    options["backbone"] = cfg.backbone
    if cfg.backbone_weights is not None:
        options["backbone_weights"] = cfg.backbone_weights
    if cfg.task == "detection":
        options.update(variant=cfg.variant, num_classes=num_classes, class_names=class_names)
    return build(cfg.task, options)


def _amp_dtype(cfg: TrainConfig, device: torch.device) -> torch.dtype | None:
    mode = cfg.amp
    if mode not in ("auto", "fp16", "bf16", "off"):
        raise ValueError(f"amp must be auto, fp16, bf16 or off, got {mode!r}")
    if device.type != "cuda" or mode == "off":
        return None
    return torch.bfloat16 if mode == "bf16" else torch.float16


def _to_device(images, targets, device, channels_last):
    images = [im.to(device, non_blocking=True) for im in images]
    if channels_last:
        images = [im.contiguous(memory_format=torch.channels_last) if im.dim() == 4 else im for im in images]
    targets = [{k: (v.to(device, non_blocking=True) if torch.is_tensor(v) else v) for k, v in t.items()}
               for t in targets]
    return images, targets


# ------------------------------------------------------------------------------------------- logs
def _read_csv(path: str) -> list[dict[str, str]]:
    if not os.path.isfile(path):
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


class CsvLog:
    """Append-only CSV; on resume, rows after the resumed step are dropped (they belong to the lost future)."""

    def __init__(self, path: str, keep_until_step: int | None) -> None:
        self.path = path
        rows = _read_csv(path) if keep_until_step is not None else []
        self.rows = [r for r in rows if int(float(r["step"])) <= (keep_until_step or 0)]
        self.fields: list[str] = list(self.rows[0].keys()) if self.rows else []
        self._rewrite()

    def _rewrite(self) -> None:
        tmp = self.path + ".tmp"
        with open(tmp, "w", newline="") as f:
            if self.fields:
                w = csv.DictWriter(f, self.fields, extrasaction="ignore")
                w.writeheader()
                w.writerows(self.rows)
        os.replace(tmp, self.path)

    def append(self, row: dict[str, Any]) -> None:
        row = {k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()}
        if not self.fields or any(k not in self.fields for k in row):
            self.fields = self.fields + [k for k in row if k not in self.fields]
            self.rows.append(row)
            self._rewrite()
            return
        self.rows.append(row)
        with open(self.path, "a", newline="") as f:
            csv.DictWriter(f, self.fields, extrasaction="ignore").writerow(row)


def plot_training_curves(run_dir: str) -> str | None:
    """``training_curves.png``: loss terms (raw and smoothed), learning rate, and eval metrics if any."""
    rows = _read_csv(os.path.join(run_dir, LOG_FILE))
    if not rows:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    metrics = _read_csv(os.path.join(run_dir, METRICS_FILE))
    steps = np.array([float(r["step"]) for r in rows])
    loss_keys = [k for k in rows[0] if k.startswith("loss")]
    n = 3 if metrics else 2
    fig, axes = plt.subplots(1, n, figsize=(5.5 * n, 4))
    for k in loss_keys:
        v = np.array([float(r[k]) if r.get(k) not in (None, "") else np.nan for r in rows])
        win = max(1, len(v) // 20)
        smooth = np.convolve(np.nan_to_num(v), np.ones(win) / win, mode="valid")
        line, = axes[0].plot(steps, v, alpha=0.25, lw=0.8)
        axes[0].plot(steps[win - 1:], smooth, color=line.get_color(), label=k, lw=1.6 if k == "loss" else 1.0)
    axes[0].set_yscale("log")
    axes[0].set_xlabel("step")
    axes[0].set_title("training losses")
    axes[0].legend(fontsize=8)
    axes[1].plot(steps, [float(r["lr"]) for r in rows])
    axes[1].set_xlabel("step")
    axes[1].set_title("learning rate")
    if metrics:
        ms = [float(r["step"]) for r in metrics]
        for k in metrics[0]:
            if k != "step" and any(r.get(k) not in ("", None, "None") for r in metrics):
                axes[2].plot(ms, [float(r[k]) if r.get(k) not in ("", None, "None") else np.nan for r in metrics],
                             marker="o", label=k)
        axes[2].set_xlabel("step")
        axes[2].set_title("validation (percent)")
        axes[2].legend(fontsize=8)
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.tight_layout()
    path = os.path.join(run_dir, CURVES_FILE)
    fig.savefig(path + ".tmp.png", dpi=100)
    plt.close(fig)
    os.replace(path + ".tmp.png", path)
    return path


# ------------------------------------------------------------------------------------------- the loop
def _flat_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for section, keys in (("bbox", ("AP", "AP50", "AP_s", "AP_m", "AP_l")), ("proposals", ("AR@100", "AR@1000")),
                          ("segm_proposals", ("AR@100", "AR@1000"))):
        for k in keys:
            if section in metrics:
                out[f"{'mask_' if section == 'segm_proposals' else ''}{k}"] = metrics[section].get(k)
    return out


class Trainer:
    """One training run.  Use :func:`train`."""

    def __init__(self, cfg: TrainConfig) -> None:
        self.cfg = cfg
        self.rank, self.world_size, self.local_rank = dist_env()
        self.is_main = self.rank == 0
        self.stop_signal: int | None = None

    # -- setup
    def _setup(self) -> None:
        cfg = self.cfg
        if self.world_size > 1 and not dist.is_initialized():
            backend = "nccl" if (cfg.device in ("auto", "cuda") and torch.cuda.is_available()) else "gloo"
            dist.init_process_group(backend=backend)
        self.device = resolve_device(cfg.device, self.local_rank)
        if self.is_main:
            os.makedirs(cfg.out, exist_ok=True)
        images_dir, ann_file = find_coco_split(cfg.data, "train")
        self.dataset = CocoDetection(images_dir, ann_file, masks=cfg.task == "mask_proposals")
        if cfg.max_images:
            self.dataset.images = self.dataset.images[: cfg.max_images]
            self.dataset.ids = self.dataset.ids[: cfg.max_images]
        self.val_dataset = None
        if cfg.eval_every or cfg.final_eval:
            try:
                vi, va = find_coco_split(cfg.data, "val")
                self.val_dataset = CocoDetection(vi, va, masks=False)
            except FileNotFoundError:
                self.val_dataset = None
        self.sampler = ResumableBatchSampler(len(self.dataset), cfg.batch_size, cfg.seed, self.rank, self.world_size)
        per_epoch = self.sampler.batches_per_epoch
        if cfg.iters:
            self.total_iters = int(cfg.iters)
        elif cfg.epochs:
            self.total_iters = max(1, round(cfg.epochs * per_epoch))
        else:
            raise ValueError("give --iters or --epochs")
        self.total_batch = cfg.batch_size * self.world_size
        self.lr = cfg.lr * self.total_batch / REFERENCE_BATCH

        torch.manual_seed(cfg.seed)
        random.seed(cfg.seed)
        import numpy as np

        np.random.seed(cfg.seed % 2 ** 32)
        model = build_model(cfg, self.dataset.num_classes, self.dataset.class_names).to(self.device)
        self.channels_last = cfg.channels_last and self.device.type == "cuda"
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)
        self.model = model
        params = [p for p in model.parameters() if p.requires_grad]
        decay = [p for p in params if p.ndim > 1]
        no_decay = [p for p in params if p.ndim <= 1]
        # Detectron's recipe: weight decay on all trainable weights (biases and norm parameters included).
        self.optimizer = torch.optim.SGD([{"params": decay}, {"params": no_decay}], lr=self.lr,
                                         momentum=cfg.momentum, weight_decay=cfg.weight_decay)
        self.schedule = WarmupMultiStep(min(cfg.warmup_iters, self.total_iters), cfg.warmup_factor,
                                        milestones_for(cfg.steps, self.total_iters), cfg.gamma)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, self.schedule)
        self.amp_dtype = _amp_dtype(cfg, self.device)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)
        self.ddp_model = model
        if self.world_size > 1:
            self.ddp_model = torch.nn.parallel.DistributedDataParallel(
                model, device_ids=[self.device.index] if self.device.type == "cuda" else None,
                find_unused_parameters=True)
        self.loader_generator = torch.Generator()
        self.loader_generator.manual_seed(cfg.seed)
        self.loader = DataLoader(TrainingView(self.dataset, cfg.hflip), batch_sampler=self.sampler,
                                 collate_fn=collate, num_workers=cfg.workers, generator=self.loader_generator,
                                 pin_memory=self.device.type == "cuda", worker_init_fn=_ignore_sigint)
        self.step = 0
        self.resume_path = os.path.join(cfg.out, RESUME_FILE)
        if cfg.resume:
            self._load_resume()
        if self.is_main:
            self.log = CsvLog(os.path.join(cfg.out, LOG_FILE), self.step if cfg.resume else None)
            self.metrics_log = CsvLog(os.path.join(cfg.out, METRICS_FILE), self.step if cfg.resume else None)
            self.tb = None
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.tb = SummaryWriter(os.path.join(cfg.out, "tensorboard"))
            except (ImportError, ModuleNotFoundError, AttributeError):  # tensorboard is optional
                self.tb = None

    def _config_fingerprint(self) -> dict[str, Any]:
        return {"model": self.model.config, "batch_size": self.cfg.batch_size, "world_size": self.world_size,
                "total_iters": self.total_iters, "seed": self.cfg.seed, "task": self.cfg.task}

    def _load_resume(self) -> None:
        if not os.path.isfile(self.resume_path):
            raise FileNotFoundError(f"--resume: no {RESUME_FILE} in {self.cfg.out} (nothing to resume)")
        state = load_training_state(self.resume_path)
        saved = state.get("fingerprint", {})
        now = self._config_fingerprint()
        diff = [k for k in ("model", "batch_size", "seed", "task") if k in saved and saved[k] != now[k]]
        if diff:
            raise ValueError(f"--resume: the run in {self.cfg.out} was started with different settings for "
                             f"{diff}; resume with the same command (or start a new --out)")
        load_state_dict_checked(self.model, state["model"], self.resume_path)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.step = int(state["step"])
        self._resume_rng = state["rng"]
        if self.is_main:
            print(f"resuming {self.cfg.out} at step {self.step}/{self.total_iters}", file=sys.stderr)

    def _save_resume(self) -> None:
        if not self.is_main:
            return
        state = {
            "model": {k: v.detach().cpu() for k, v in self.model.state_dict().items()},
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler.is_enabled() else {},
            "step": self.step,
            "epoch": self.step // self.sampler.batches_per_epoch,
            "batch_in_epoch": self.step % self.sampler.batches_per_epoch,
            "rng": capture_rng_state(),
            "fingerprint": self._config_fingerprint(),
        }
        save_training_state(self.resume_path, state)

    # -- signals
    def _on_signal(self, signum, frame) -> None:
        if self.stop_signal is not None:  # second Ctrl-C: stop now
            raise KeyboardInterrupt
        self.stop_signal = signum
        if self.is_main:
            print(f"\nreceived {signal.Signals(signum).name}: stopping after the step in progress, then saving "
                  f"{self.resume_path} (press Ctrl-C again to stop at once)", file=sys.stderr)

    # -- main
    def evaluate(self) -> dict[str, Any]:
        from fpn.evaluation import evaluate_model

        if self.val_dataset is None:
            return {}
        metrics, _ = evaluate_model(self.model, self.val_dataset, self.device, self.cfg.eval_max_images,
                                    progress=self.cfg.progress)
        self.model.train()
        return metrics

    def run(self) -> dict[str, Any]:
        self._setup()
        old_handlers = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            return self._loop()
        finally:
            for s, h in old_handlers.items():
                signal.signal(s, h)
            if getattr(self, "tb", None) is not None:
                self.tb.close()
            if self.world_size > 1 and dist.is_initialized():
                dist.destroy_process_group()

    def _loop(self) -> dict[str, Any]:
        from tqdm import tqdm

        cfg = self.cfg
        per_epoch = self.sampler.batches_per_epoch
        if hasattr(self, "_resume_rng"):
            restore_rng_state(self._resume_rng)
        self.model.train()
        bar = tqdm(total=self.total_iters, initial=self.step, desc=f"train {cfg.variant}", unit="it",
                   disable=not (self.is_main and cfg.progress), dynamic_ncols=True)
        start, start_step, last_losses = time.perf_counter(), self.step, {}
        last_metrics: dict[str, Any] = {}
        while self.step < self.total_iters:
            epoch, first = divmod(self.step, per_epoch)
            self.sampler.set_epoch(epoch, first)
            for images, targets in self.loader:
                images, targets = _to_device(images, targets, self.device, False)
                amp = (torch.autocast(self.device.type, dtype=self.amp_dtype) if self.amp_dtype is not None
                       else contextlib.nullcontext())
                with amp:
                    losses = self.ddp_model(images, targets)
                names = sorted(losses)
                loss = sum(losses[k].float() for k in names)
                stats = torch.stack([loss.detach().float()] + [losses[k].detach().float() for k in names]
                                    + [torch.tensor(float(self.stop_signal is not None), device=loss.device)])
                if self.world_size > 1:
                    dist.all_reduce(stats)
                    stats /= self.world_size
                values = stats.tolist()
                if not all(math.isfinite(v) for v in values[:-1]):
                    terms = ", ".join(f"{k}={v:.4g}" for k, v in zip(["loss"] + names, values[:-1]))
                    raise TrainingDiverged(
                        f"non-finite loss at step {self.step + 1} (epoch {epoch}): {terms}. Nothing was saved for "
                        f"this step; the last good checkpoint is {self.resume_path} (if any). Try a lower --lr, "
                        f"a longer warmup or --grad-clip.")
                stop_requested = values[-1] > 0
                self.optimizer.zero_grad(set_to_none=True)
                self.scaler.scale(loss).backward()
                if cfg.grad_clip:
                    self.scaler.unscale_(self.optimizer)
                    torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
                self.scaler.step(self.optimizer)
                self.scaler.update()
                lr = self.optimizer.param_groups[0]["lr"]
                self.scheduler.step()
                self.step += 1
                last_losses = dict(zip(["loss"] + names, values[:-1]))
                if self.is_main:
                    bar.update(1)
                    bar.set_postfix({"loss": f"{values[0]:.3f}",
                                     **{k.replace("loss_", ""): f"{v:.3f}" for k, v in zip(names, values[1:-1])},
                                     "lr": f"{lr:.2e}"}, refresh=False)
                    if self.step % cfg.log_every == 0 or self.step == self.total_iters:
                        elapsed = time.perf_counter() - start
                        row = {"step": self.step, "epoch": epoch, "lr": lr, **last_losses,
                               "images_per_s": (self.step - start_step) * self.total_batch / max(elapsed, 1e-9)}
                        self.log.append(row)
                        if self.tb is not None:
                            for k, v in row.items():
                                if k != "step":
                                    self.tb.add_scalar(k, v, self.step)
                done = self.step >= self.total_iters
                if cfg.eval_every and self.step % cfg.eval_every == 0 and not done:
                    if self.is_main:
                        last_metrics = self.evaluate()
                        if last_metrics:
                            self.metrics_log.append({"step": self.step, **_flat_metrics(last_metrics)})
                    if self.world_size > 1:
                        dist.barrier()
                interrupted = stop_requested or (cfg.stop_at_step is not None and self.step >= cfg.stop_at_step
                                                 and not done)
                if interrupted or (cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0 and not done):
                    self._save_resume()
                    if self.is_main:
                        plot_training_curves(cfg.out)
                if interrupted:
                    bar.close()
                    signum = self.stop_signal or signal.SIGINT
                    raise TrainingInterrupted(
                        f"stopped after step {self.step}/{self.total_iters}; resume with the same command plus "
                        f"--resume (state in {self.resume_path})", int(signum))
                if done:
                    break
        bar.close()
        return self._finish(last_losses, time.perf_counter() - start, last_metrics)

    def _finish(self, last_losses: dict[str, float], elapsed: float, metrics: dict[str, Any]) -> dict[str, Any]:
        cfg = self.cfg
        result: dict[str, Any] = {"steps": self.step, "final_losses": last_losses}
        if self.is_main:
            if cfg.final_eval and self.val_dataset is not None:
                metrics = self.evaluate()
                if metrics:
                    self.metrics_log.append({"step": self.step, **_flat_metrics(metrics)})
            info = self.dataset.info
            cfg_dict = asdict(cfg)
            training = {
                "command": cfg.command or " ".join(shlex.quote(a) for a in sys.argv),
                "data": os.path.abspath(cfg.data),
                "dataset": info.get("dataset") or info.get("description"),
                "data_seed": info.get("seed"),
                "train_images": len(self.dataset),
                "seed": cfg.seed,
                "iters": self.step,
                "epochs": round(self.step / self.sampler.batches_per_epoch, 3),
                "batch_size": self.total_batch,
                "world_size": self.world_size,
                "lr": self.lr,
                "schedule": {"warmup_iters": self.schedule.warmup_iters, "milestones": self.schedule.milestones,
                             "gamma": self.schedule.gamma},
                "amp": str(self.amp_dtype).replace("torch.", "") if self.amp_dtype else "off",
                "device": str(self.device),
                "backbone_weights": cfg.backbone_weights,
                "hflip": cfg.hflip,
                "train_seconds": round(elapsed, 1),
                "final_losses": last_losses,
                "config": {k: v for k, v in cfg_dict.items() if k not in ("command", "progress", "resume")},
            }
            ck = os.path.join(cfg.out, FINAL_NAME)
            save_checkpoint(self.model, ck, {"training": training,
                                             "metrics": metrics,
                                             "input_size": {"min_size": self.model.config.get("min_size"),
                                                            "max_size": self.model.config.get("max_size")}},
                            fp16=cfg.fp16_checkpoint, task=cfg.task)
            self._save_resume()  # lets a later --resume with a larger --iters continue
            plot_training_curves(cfg.out)
            result.update(checkpoint=ck, metrics=metrics)
        if self.world_size > 1:
            dist.barrier()
        return result


def train(cfg: TrainConfig) -> dict[str, Any]:
    """Run (or resume) training; returns {"checkpoint", "metrics", "steps", "final_losses"} (rank 0).

    Raises TrainingDiverged on NaN/inf losses and TrainingInterrupted after SIGINT/SIGTERM (resume file saved).
    """
    return Trainer(cfg).run()
