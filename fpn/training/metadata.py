"""What the final checkpoint's JSON says about its training, with no absolute paths of the machine it ran on."""
from __future__ import annotations

import os
import re
import shlex
import sys
from dataclasses import asdict
from typing import Any

from fpn.weights.checkpoint import save_checkpoint

from .config import FINAL_NAME, portable_path
from .run import Run

PATH_SETTINGS = ("data", "out", "backbone_weights")


def command_line(argv: list[str]) -> str:
    """The command that started the run (``sys.argv``), shell-quoted, after ``python``; absolute paths in it (the
    script, ``--data /x`` or ``--data=/x``) made relative to the working directory by :func:`portable_path`."""
    def portable(arg: str) -> str:
        flag, eq, value = arg.partition("=")
        if eq and flag.startswith("-") and os.path.isabs(value):
            return f"{flag}={portable_path(value)}"
        return portable_path(arg) or arg

    return shlex.join(["python", *(portable(a) for a in argv)])


def protocol_of(command: str) -> str:
    """``command`` (a :func:`command_line`) without what differs between the rows of one bundle by design: the
    variant, the task, the detectors' ``--set`` overrides, the run folder, whether its last process resumed, and
    when the held-out evaluations begin (``--eval-from``, ``--no-final-eval``: the evaluations read the weights and
    draw no random numbers, so they leave the training as it is). Two runs trained under one protocol give the same
    string."""
    return re.sub(r" --(variant|task|out|set|eval-from) \S+| --resume| --no-final-eval", "", command)


def merged_spans(segments: list[dict[str, Any]]) -> list[tuple[int, int, str]]:
    """(from_step, to_step, amp) of ``training.segments`` (in order), contiguous ones of one precision joined: a run
    stopped and resumed in the same precision is one span."""
    spans: list[tuple[int, int, str]] = []
    for s in segments:
        if spans and spans[-1][1] == s["from_step"] and spans[-1][2] == s["amp"]:
            spans[-1] = (spans[-1][0], s["to_step"], s["amp"])
        else:
            spans.append((s["from_step"], s["to_step"], s["amp"]))
    return spans


def training_record(run: Run, elapsed: float, last_losses: dict[str, float]) -> dict[str, Any]:
    """The checkpoint's "training" entry: command, data, schedule, hardware, time (s), final losses, settings."""
    cfg, info = run.cfg, run.dataset.info
    settings = {k: v for k, v in asdict(cfg).items() if k not in ("command", "progress", "resume")}
    settings.update({k: portable_path(settings[k]) for k in PATH_SETTINGS})
    return {
        "command": cfg.command or command_line(sys.argv),
        "data": portable_path(os.path.abspath(cfg.data)),
        "dataset": info.get("dataset") or info.get("description"),
        "data_seed": info.get("seed"),
        "train_images": len(run.dataset),
        "seed": cfg.seed,
        "iters": run.step,
        "epochs": round(run.step / run.sampler.batches_per_epoch, 3),
        "batch_size": run.total_batch,
        "world_size": run.world_size,
        "lr": run.lr,
        "schedule": {"warmup_iters": run.schedule.warmup_iters, "milestones": run.schedule.milestones,
                     "gamma": run.schedule.gamma},
        "amp": run.amp_name,  # this (last) process's; "segments" has each process's
        "segments": run.segments(),
        "device": str(run.device),
        "backbone_weights": portable_path(cfg.backbone_weights),
        "hflip": cfg.hflip,
        "train_seconds": round(elapsed, 1),
        "final_losses": last_losses,
        "config": settings,
    }


def save_final(run: Run, metrics: dict[str, Any], elapsed: float, last_losses: dict[str, float]) -> str:
    """Write ``out/model.safetensors`` + ``out/model.json``; returns the checkpoint name ``out/model``."""
    path = os.path.join(run.cfg.out, FINAL_NAME)
    config = run.model.config
    save_checkpoint(run.model, path, {"training": training_record(run, elapsed, last_losses), "metrics": metrics,
                                      "input_size": {"min_size": config.get("min_size"),
                                                     "max_size": config.get("max_size")}},
                    fp16=run.cfg.fp16_checkpoint, task=run.cfg.task)
    return path
