"""Training: the paper's recipe on one CPU/GPU or many processes (torchrun), behind ``scripts/train.py``.

Recipe (Sec. 5): SGD, momentum 0.9, weight decay 1e-4, learning rate 0.02 for 16 images per step scaled linearly
with the total batch (``lr * batch / 16``), linear warmup, then x0.1 at the step milestones.

Exact resume: the data order is a pure function of (seed, epoch) (:class:`ResumableBatchSampler`), flips are drawn
from a per-sample seed, the DataLoader has its own generator (it never touches the global RNG), and the resume file
holds model, optimizer, scheduler, AMP scaler, step and the python/numpy/torch/CUDA RNG states.  Resuming at step k
therefore replays steps k+1.. exactly as the uninterrupted run would (single process; under torchrun every rank
restores rank 0's RNG state).

    config       TrainConfig, file names, TrainingDiverged / TrainingInterrupted
    sampling     ResumableBatchSampler, TrainingView
    schedule     WarmupMultiStep, milestones_for, the SGD optimizer
    distributed  torchrun's ranks, the process group, the device
    state        resume.pt: save/load, RNG capture/restore
    carry        an unfinished run to a fresh machine through git: resume.pt in parts with sha256 sums
    log          log.csv, metrics.csv, TensorBoard
    run          Run: every part of one run, built by setup_run (resume included)
    loop         train, train_one_epoch, train_one_step
    metadata     the checkpoint's "training" record (paths relative, never absolute)
    cli          the command line of scripts/train.py (flags + YAML -> TrainConfig)
"""
from .config import (
    CURVES_FILE,
    FINAL_NAME,
    LOG_FILE,
    METRICS_FILE,
    REFERENCE_BATCH,
    RESUME_FILE,
    TrainConfig,
    TrainingDiverged,
    TrainingInterrupted,
)
from .loop import train
from .sampling import ResumableBatchSampler, TrainingView
from .schedule import WarmupMultiStep, milestones_for
from .state import capture_rng_state, load_training_state, restore_rng_state, save_training_state

__all__ = [
    "train", "TrainConfig", "TrainingDiverged", "TrainingInterrupted", "FINAL_NAME", "RESUME_FILE", "LOG_FILE",
    "METRICS_FILE", "CURVES_FILE", "REFERENCE_BATCH", "ResumableBatchSampler", "TrainingView", "WarmupMultiStep",
    "milestones_for", "capture_rng_state", "restore_rng_state", "save_training_state", "load_training_state",
]
