"""A training configuration small enough to run on a CPU in seconds, shared by the training tests."""
from __future__ import annotations

from fpn.training import TrainConfig

# A detector small enough to train on a CPU in seconds.
TINY = {"pyramid_channels": 64, "representation_size": 256, "rpn_batch_size_per_image": 64, "box_batch_size_per_image": 64,
        "rpn_pre_nms_top_n_train": 300, "rpn_post_nms_top_n_train": 300, "rpn_pre_nms_top_n_test": 300,
        "rpn_post_nms_top_n_test": 100}
TINY_FLAGS = [a for k, v in TINY.items() for a in ("--set", f"{k}={v}")]


def tiny_config(data: str, out, **kw) -> TrainConfig:
    """TINY on ``data`` (a toy COCO folder, 128-px images), 2 images per step, no evaluation unless asked."""
    base = {"data": data, "out": str(out), "backbone": "resnet18", "min_size": 128, "max_size": 128, "batch_size": 2,
            "lr": 0.16, "warmup_iters": 10, "grad_clip": 5.0, "workers": 0, "log_every": 1, "checkpoint_every": 0,
            "progress": False, "final_eval": False, "model": dict(TINY)}
    base.update(kw)
    return TrainConfig(**base)
