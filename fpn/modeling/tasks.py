"""The kinds of model the library builds, by task name: one `build_model` for training, checkpoints and the app.

    detection        Faster R-CNN (RPN + Fast R-CNN with shared features): `fpn.build_detector`
    rpn              the RPN trained alone (Table 1's protocol): `fpn.build_detector(..., rpn_only=True)`
    mask_proposals   Sec. 6 mask proposals: `fpn.modeling.mask_proposals.build_mask_proposer`
"""
from __future__ import annotations

from typing import Any

from torch import nn

from .build import build_detector
from .mask_proposals import MaskProposer, build_mask_proposer
from .options import upgrade_config


def build_rpn(**config: Any) -> nn.Module:
    """A detector without its Fast R-CNN head (config["rpn_only"] is set to True)."""
    return build_detector(**{**config, "rpn_only": True})


#: task name -> builder; a checkpoint's JSON names its task and holds the builder's keyword arguments ("model").
TASKS = {"detection": build_detector, "rpn": build_rpn, "mask_proposals": build_mask_proposer}


def build_model(task: str, config: dict[str, Any]) -> nn.Module:
    """The architecture `config` describes (a model's `.config`, or a checkpoint's "model" entry), random weights.

    A config written before an option was renamed (checkpoints, run configs) is read in the current names
    (`fpn.modeling.options.upgrade_config`: anchor_strides -> anchor_stride_rule, the mask proposer's d ->
    pyramid_channels). Raises ValueError for an unknown task, TypeError / ValueError for options the builder does not
    accept.
    """
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; expected one of {', '.join(TASKS)}")
    return TASKS[task](**upgrade_config(task, config))


def task_of(model: nn.Module) -> str:
    """The task name of a built model (what a checkpoint records to rebuild it)."""
    if isinstance(model, MaskProposer):
        return "mask_proposals"
    return "rpn" if getattr(model, "config", {}).get("rpn_only") else "detection"
