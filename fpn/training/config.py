"""What a training run depends on (:class:`TrainConfig`), the files it writes, and the two ways it stops early."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import torch

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
    """Everything a run depends on.  ``model`` holds extra ``build_detector`` / ``build_mask_proposer`` options.

    Units: sizes in pixels, ``lr`` for 16 images per step (scaled by the total batch), ``steps`` as fractions of the
    run (values <= 1) or optimizer-step numbers, ``*_every`` / ``*_iters`` in optimizer steps.
    """

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
    # The paper's schedule (Sec. 5: lr 0.02 for 60k steps, then 0.002 for 20k): one x0.1 drop at 3/4 of the run.
    steps: list[float] = field(default_factory=lambda: [0.75])  # fractions of the run (<=1) or step numbers
    gamma: float = 0.1
    grad_clip: float | None = None
    hflip: float = 0.5
    amp: str = "auto"  # "auto" (fp16 on CUDA, fp32 on CPU), "fp16" (CUDA), "bf16" (CUDA or CPU), "off"
    channels_last: bool = True  # CUDA, and CPU under bf16 autocast (use_channels_last)
    device: str = "auto"
    workers: int = 2
    seed: int = 0
    resume: bool = False
    checkpoint_every: int = 500
    eval_every: int = 0
    eval_from: int = 0  # the first step at which eval_every evaluates (earlier multiples are skipped)
    final_eval: bool = True
    eval_max_images: int | None = None
    max_images: int | None = None  # use only the first N training images
    log_every: int = 20
    fp16_checkpoint: bool = False
    stop_at_step: int | None = None  # behave as if interrupted after this step (for testing resume)
    progress: bool = True
    command: str | None = None  # the command line as typed (the CLI fills it in); None: this process's sys.argv


def portable_path(path: str | None) -> str | None:
    """An absolute ``path`` rewritten relative to the working directory (where the run's relative paths start), so
    that no checkpoint records this machine's folders; a relative path, or a name such as "imagenet", as given."""
    if not path or not os.path.isabs(path):
        return path
    try:
        return os.path.relpath(path)
    except ValueError:  # another drive on Windows: no relative path exists
        return os.path.basename(path)


def model_options(cfg: TrainConfig, num_classes: int, class_names: list[str] | None) -> dict[str, Any]:
    """The ``config`` argument of ``fpn.modeling.tasks.build_model(cfg.task, config)`` for this run."""
    options = dict(cfg.model)
    for key in ("min_size", "max_size"):
        if getattr(cfg, key) is not None:
            options[key] = getattr(cfg, key)
    options["backbone"] = cfg.backbone
    if cfg.backbone_weights is not None:
        options["backbone_weights"] = portable_path(cfg.backbone_weights)  # recorded in the model's config
    if cfg.task in ("detection", "rpn"):  # "rpn": the same detector, trained without its Fast R-CNN head
        options.update(variant=cfg.variant, num_classes=num_classes, class_names=class_names)
    return options


def amp_dtype(cfg: TrainConfig, device: torch.device) -> torch.dtype | None:
    """The autocast dtype, or None for full fp32.  CUDA: fp16 ("auto", "fp16") or bf16.  CPU: bf16 when asked
    ("bf16": oneDNN's bf16 kernels, about 1.6-2x faster than fp32 on CPUs with AVX512-BF16 / AMX), else fp32
    ("auto"); fp16 autocast is refused on the CPU."""
    if cfg.amp not in ("auto", "fp16", "bf16", "off"):
        raise ValueError(f"amp must be auto, fp16, bf16 or off, got {cfg.amp!r}")
    if cfg.amp == "off":
        return None
    if device.type != "cuda":
        if cfg.amp == "fp16":
            raise ValueError("--amp fp16 needs a CUDA device; on the CPU use --amp bf16 (or --no-amp)")
        return torch.bfloat16 if cfg.amp == "bf16" else None
    return torch.bfloat16 if cfg.amp == "bf16" else torch.float16


def use_channels_last(cfg: TrainConfig, device: torch.device, dtype: torch.dtype | None) -> bool:
    """Channels-last maps: on CUDA, and on the CPU under bf16 autocast (oneDNN's fastest layout there; in fp32 on
    the CPU it gained nothing for the FPN R18, so the CPU fp32 path keeps NCHW)."""
    return bool(cfg.channels_last) and (device.type == "cuda" or dtype == torch.bfloat16)


def total_iters(cfg: TrainConfig, batches_per_epoch: int) -> int:
    """Optimizer steps of the run: ``iters``, else ``epochs`` x batches per epoch (at least 1)."""
    if cfg.iters:
        return int(cfg.iters)
    if cfg.epochs:
        return max(1, round(cfg.epochs * batches_per_epoch))
    raise ValueError("give --iters or --epochs")
