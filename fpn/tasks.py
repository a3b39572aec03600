"""The two kinds of model the library builds, by task name: one `build_model` for training, checkpoints and the app."""
from __future__ import annotations

from typing import Any

from torch import nn

from .build import build_detector
from .mask_proposals import build_mask_proposer

#: task name -> builder; a checkpoint's JSON names its task and holds the builder's keyword arguments ("model").
TASKS = {"detection": build_detector, "mask_proposals": build_mask_proposer}


def build_model(task: str, config: dict[str, Any]) -> nn.Module:
    """The architecture `config` describes (a model's `.config`, or a checkpoint's "model" entry), random weights.

    Raises ValueError for an unknown task, TypeError / ValueError for options the builder does not accept.
    """
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; expected one of {', '.join(TASKS)}")
    return TASKS[task](**config)
