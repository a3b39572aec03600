"""Everything one training run holds (data, model, optimizer, schedule, step, logs) and how it is built, resumed
and saved for ``--resume``."""
from __future__ import annotations

import os
import platform
import random
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from fpn.weights.checkpoint import load_state_dict_checked
from fpn.data.coco import CocoDetection, collate, find_coco_split
from fpn.devices import cpu_has_bf16_kernels
from fpn.modeling.tasks import build_model

from .distributed import dist_env, setup_process, teardown
from .config import (REFERENCE_BATCH, RESUME_FILE, TrainConfig, amp_dtype, model_options, total_iters,
                     use_channels_last)
from .log import RunLogs
from .sampling import ResumableBatchSampler, TrainingView, ignore_sigint
from .schedule import WarmupMultiStep, make_optimizer, make_scheduler, milestones_for
from .state import capture_rng_state, load_training_state, save_training_state


@dataclass
class Run:
    """One run's parts.  ``model`` is the bare module (what is saved); ``ddp_model`` the one to call (the same
    module, or its DistributedDataParallel wrapper).  ``step`` counts optimizer steps done."""

    cfg: TrainConfig
    rank: int
    world_size: int
    device: torch.device
    dataset: CocoDetection
    val_dataset: CocoDetection | None
    sampler: ResumableBatchSampler
    loader: DataLoader
    model: torch.nn.Module
    ddp_model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    schedule: WarmupMultiStep
    scheduler: torch.optim.lr_scheduler.LambdaLR
    scaler: torch.amp.GradScaler
    amp_dtype: torch.dtype | None
    total_iters: int
    lr: float  # for the total batch
    step: int = 0
    resume_rng: dict[str, Any] | None = None  # RNG states to restore right before the first step
    logs: RunLogs | None = None  # rank 0 only
    losses: dict[str, float] = field(default_factory=dict)  # the last step's loss terms, mean over ranks
    metrics: dict[str, Any] = field(default_factory=dict)  # the latest validation metrics (percent)
    seconds_before: float = 0.0  # training seconds of the earlier processes of this run (from resume.pt)
    started: float = 0.0  # time.perf_counter() when this process began training
    started_step: int = 0  # the step this process began training at
    segments_before: list[dict[str, Any]] = field(default_factory=list)  # the earlier processes' (from resume.pt)

    def train_seconds(self) -> float:
        """Wall-clock seconds spent training this run so far, across every resume."""
        return self.seconds_before + time.perf_counter() - self.started

    @property
    def amp_name(self) -> str:
        """The autocast precision as the JSON records it: "bfloat16", "float16" or "off" (fp32)."""
        return str(self.amp_dtype).replace("torch.", "") if self.amp_dtype else "off"

    def segments(self) -> list[dict[str, Any]]:
        """Which steps each process of this run trained, in which precision, on what: a run resumed on another
        machine (e.g. in fp32 where the CPU has no bf16 kernels) says so. One dict per process: {"from_step",
        "to_step", "amp", "device", "processor", "seconds"}."""
        return [*self.segments_before, {
            "from_step": self.started_step, "to_step": self.step, "amp": self.amp_name, "device": str(self.device),
            "processor": (torch.cuda.get_device_name(self.device) if self.device.type == "cuda"
                          else processor_name()),
            "seconds": round(time.perf_counter() - self.started, 1)}]

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def total_batch(self) -> int:
        """Images per optimizer step, all processes together."""
        return self.cfg.batch_size * self.world_size

    @property
    def resume_path(self) -> str:
        return os.path.join(self.cfg.out, RESUME_FILE)

    def fingerprint(self) -> dict[str, Any]:
        """The settings a resumed run must share with the run it continues."""
        return {"model": self.model.config, "batch_size": self.cfg.batch_size, "world_size": self.world_size,
                "total_iters": self.total_iters, "seed": self.cfg.seed, "task": self.cfg.task}

    def save_resume(self) -> None:
        """Write ``resume.pt`` (rank 0 only): everything :meth:`load_resume` needs to continue bit-exactly."""
        if not self.is_main:
            return
        per_epoch = self.sampler.batches_per_epoch
        save_training_state(self.resume_path, {
            "model": {k: v.detach().cpu() for k, v in self.model.state_dict().items()},
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler.is_enabled() else {},
            "step": self.step,
            "epoch": self.step // per_epoch,
            "batch_in_epoch": self.step % per_epoch,
            "rng": capture_rng_state(),
            "fingerprint": self.fingerprint(),
            "train_seconds": self.train_seconds(),
            "segments": self.segments(),
        })

    def load_resume(self) -> None:
        """Continue from ``resume.pt``: weights, optimizer, scheduler, scaler, step; RNG states kept for later."""
        out = self.cfg.out
        if not os.path.isfile(self.resume_path):
            raise FileNotFoundError(f"--resume: no {RESUME_FILE} in {out} (nothing to resume)")
        state = load_training_state(self.resume_path)
        saved, now = state.get("fingerprint", {}), self.fingerprint()
        diff = [k for k in ("model", "batch_size", "seed", "task") if k in saved and saved[k] != now[k]]
        if diff:
            raise ValueError(f"--resume: the run in {out} was started with different settings for {diff}; resume "
                             f"with the same command (or start a new --out)")
        if len(state["optimizer"]["param_groups"]) != len(self.optimizer.param_groups):
            raise ValueError(f"--resume: {self.resume_path} was written by an older version of the trainer (two "
                             f"parameter groups); start a new --out")
        load_state_dict_checked(self.model, state["model"], self.resume_path)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.step = int(state["step"])
        self.resume_rng = state["rng"]
        self.seconds_before = float(state.get("train_seconds", 0.0))
        # resume.pt files written before segments were recorded: their steps' precision is not known here
        self.segments_before = state.get("segments") or [
            {"from_step": 0, "to_step": self.step, "amp": "unrecorded", "device": "unrecorded",
             "processor": "unrecorded", "seconds": round(self.seconds_before, 1)}]
        if self.is_main:
            print(f"resuming {out} at step {self.step}/{self.total_iters}", file=sys.stderr)

    def evaluate(self) -> dict[str, Any]:
        """Validation metrics (percent) of the current weights; {} without a validation split."""
        from fpn.evaluation import evaluate_model

        if self.val_dataset is None:
            return {}
        metrics, _ = evaluate_model(self.model, self.val_dataset, self.device, self.cfg.eval_max_images,
                                    progress=self.cfg.progress)
        self.model.train()
        return metrics

    def close(self) -> None:
        if self.logs is not None:
            self.logs.close()
        teardown(self.world_size)


def processor_name() -> str:
    """The CPU's model name (/proc/cpuinfo on Linux, else what :mod:`platform` knows) and the vector ISA ATen
    dispatches to, e.g. "AMD EPYC (AVX2)": two machines of one name may differ in it, and so in speed."""
    name = ""
    try:
        with open("/proc/cpuinfo") as f:
            name = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    except OSError:
        pass
    return f"{name or platform.processor() or platform.machine()} ({torch.backends.cpu.get_cpu_capability()})"


def _datasets(cfg: TrainConfig) -> tuple[CocoDetection, CocoDetection | None]:
    dataset = CocoDetection(*find_coco_split(cfg.data, "train"), masks=cfg.task == "mask_proposals")
    if cfg.max_images:
        dataset.images = dataset.images[: cfg.max_images]
        dataset.ids = dataset.ids[: cfg.max_images]
    val = None
    if cfg.eval_every or cfg.final_eval:
        try:
            val = CocoDetection(*find_coco_split(cfg.data, "val"), masks=False)
        except FileNotFoundError:
            val = None
    return dataset, val


def setup_run(cfg: TrainConfig) -> Run:
    """Build (or, with ``cfg.resume``, restore) everything for :func:`fpn.training.train`.

    The order matters for exact resume: the seeds are set right before the model is built, and a resumed run
    restores its RNG states only after all of this (see ``Run.resume_rng``).
    """
    rank, world_size, local_rank = dist_env()
    device = setup_process(cfg.device, world_size, local_rank)
    if rank == 0:
        os.makedirs(cfg.out, exist_ok=True)
    dataset, val_dataset = _datasets(cfg)
    sampler = ResumableBatchSampler(len(dataset), cfg.batch_size, cfg.seed, rank, world_size)
    iters = total_iters(cfg, sampler.batches_per_epoch)
    lr = cfg.lr * cfg.batch_size * world_size / REFERENCE_BATCH

    torch.manual_seed(cfg.seed)
    random.seed(cfg.seed)
    np.random.seed(cfg.seed % 2 ** 32)
    model = build_model(cfg.task, model_options(cfg, dataset.num_classes, dataset.class_names)).to(device)
    dtype = amp_dtype(cfg, device)
    if rank == 0 and device.type == "cpu" and dtype == torch.bfloat16 and not cpu_has_bf16_kernels():
        print(f"warning: --amp bf16 on a CPU without oneDNN's bf16 kernels ({processor_name()}: no AVX-512 / "
              f"AMX): autocast falls back to slow generic kernels, measured 15x slower than fp32 per training step "
              f"(c4, 2-core AMD EPYC); --amp off trains in fp32", file=sys.stderr)
    if use_channels_last(cfg, device, dtype):
        model = model.to(memory_format=torch.channels_last)
    optimizer = make_optimizer(model, lr, cfg.momentum, cfg.weight_decay)
    schedule = WarmupMultiStep(min(cfg.warmup_iters, iters), cfg.warmup_factor, milestones_for(cfg.steps, iters),
                               cfg.gamma)
    scheduler = make_scheduler(optimizer, schedule)
    scaler = torch.amp.GradScaler("cuda", enabled=dtype == torch.float16)
    ddp_model = model
    if world_size > 1:
        ddp_model = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None, find_unused_parameters=True)
    generator = torch.Generator()  # drawing worker seeds from it leaves the global RNG (saved for resume) alone
    generator.manual_seed(cfg.seed)
    loader = DataLoader(TrainingView(dataset, cfg.hflip), batch_sampler=sampler, collate_fn=collate,
                        num_workers=cfg.workers, generator=generator, pin_memory=device.type == "cuda",
                        worker_init_fn=ignore_sigint)
    run = Run(cfg, rank, world_size, device, dataset, val_dataset, sampler, loader, model, ddp_model, optimizer,
              schedule, scheduler, scaler, dtype, iters, lr)
    if cfg.resume:
        run.load_resume()
    if run.is_main:
        run.logs = RunLogs(cfg.out, run.step if cfg.resume else None)
    return run
