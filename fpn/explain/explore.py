"""`explore`: everything the paper talks about, for one image, as plain tensors ready to be drawn (`Exploration`).

The model computes it on its own code path (`FasterRCNN.run` with a trace dict); a normal forward passes no trace and
records nothing. `label_anchors` and `pool_boxes` answer questions about other boxes from an exploration's cached
anchors and maps with the model's own rules, without running the network again.
"""
from __future__ import annotations

from typing import Any, Optional, Union

import torch
from torch import Tensor

from ..modeling.detector import FasterRCNN
from .exploration import Exploration, RPNLevel
from ..images import as_image_tensor, unnormalize
from .lineage import lineage_of
from ..modeling.mask_proposals import MaskProposalExploration, MaskProposer, explore_mask_proposals

__all__ = ["explore", "label_anchors", "pool_boxes"]


def _cpu(x: Any) -> Any:
    if isinstance(x, Tensor):
        return x.detach().cpu()
    if isinstance(x, dict):
        return {k: _cpu(v) for k, v in x.items()}
    return x


def _split_levels(flat: Tensor, rpn: dict[str, "RPNLevel"]) -> dict[str, Tensor]:
    """A per-anchor tensor over all RPN maps (concatenated in `rpn`'s order) -> {map name: its part}."""
    sizes = [level.anchors.shape[0] for level in rpn.values()]
    return dict(zip(rpn, flat.split(sizes)))


@torch.no_grad()
def label_anchors(model: FasterRCNN, exploration: Exploration, gt_boxes: Tensor) -> dict[str, Tensor]:
    """Labels (1 / 0 / -1, int64) of every anchor of an exploration against other boxes, e.g. detections used as
    pseudo ground truth, with the model's own Sec. 4.1 rule on all levels together, as in training. No network run.

    gt_boxes: [G, 4] in the resized input's pixels (`exploration.to_resized` maps original-image boxes there).
    """
    anchors = torch.cat([level.anchors for level in exploration.rpn.values()])
    labels, _ = model.rpn.labeler(anchors, torch.as_tensor(gt_boxes, dtype=anchors.dtype).reshape(-1, 4))
    return _split_levels(labels.to(torch.int64), exploration.rpn)


@torch.no_grad()
def pool_boxes(model: FasterRCNN, exploration: Exploration, boxes: Tensor) -> tuple[Tensor, Tensor]:
    """Fast R-CNN's view of any boxes: pooled features [N, C, S, S] and Eq. (1) levels [N], with the model's own
    RoI pooler on the exploration's cached maps (no network run).

    boxes: [N, 4] in the resized input's pixels (`exploration.to_resized` maps original-image boxes there).
    """
    pooler = model.roi_heads.pooler
    maps = {**exploration.bottom_up, **exploration.pyramid}
    feats = {k: maps[k][None] for k in pooler.strides}
    return pooler(feats, [torch.as_tensor(boxes, dtype=torch.float32).reshape(-1, 4)])


@torch.no_grad()
def explore(model: Union[FasterRCNN, MaskProposer], image: Any, targets: Optional[dict[str, Tensor]] = None
            ) -> Union[Exploration, MaskProposalExploration]:
    """Run `model` on one image and return its internals (`Exploration`; for a mask-proposal model its own kind).

    Args:
        model: a detector from `build_detector` / `from_torchvision` / `load_checkpoint` (or a mask-proposal model).
        image: [3, H, W] float tensor in [0, 1], PIL image or numpy array.
        targets: optional {"boxes": [G, 4] original-image pixels, "labels": [G]}: anchors then get labels.
    The model is run in eval mode (and put back in its previous mode).
    """
    if isinstance(model, MaskProposer):
        return explore_mask_proposals(model, image)
    if not isinstance(model, FasterRCNN):
        raise TypeError(f"explore needs an fpn detector, got {type(model).__name__}")
    device = next(model.parameters()).device
    img = as_image_tensor(image).to(device)
    tgts = None
    if targets is not None:
        tgts = [{"boxes": torch.as_tensor(targets["boxes"], dtype=torch.float32, device=device).reshape(-1, 4),
                 "labels": torch.as_tensor(targets.get("labels", []), dtype=torch.int64, device=device)}]
    was_training = model.training
    model.eval()
    trace: dict = {}
    try:
        detections, _, _ = model.run([img], tgts, trace=trace)
    finally:
        model.train(was_training)
    t = _cpu(trace)
    resized = tuple(trace["input"]["image_sizes"][0])
    original = tuple(trace["input"]["original_sizes"][0])
    shown = unnormalize(model.transform, t["input"]["images"][0], resized)

    rpn_t = t["rpn"]
    rpn = {}
    for name in rpn_t["levels"]:
        logits = rpn_t["objectness"][name][0]
        rpn[name] = RPNLevel(
            name=name, stride=int(rpn_t["strides"][name][0]),
            anchor_shapes=list(rpn_t["anchor_shapes"][name]),
            anchors=rpn_t["anchors"][name], objectness=torch.sigmoid(logits),
            deltas=rpn_t["deltas"][name][0].view(logits.shape[0], 4, *logits.shape[-2:]),
        )
    if rpn_t["labels"] is not None:
        for name, labels in _split_levels(rpn_t["labels"][0].to(torch.int64), rpn).items():
            rpn[name].labels = labels
        for name, matched in _split_levels(rpn_t["matched_boxes"][0], rpn).items():
            rpn[name].matched_boxes = matched

    strides = {k: int(v) for k, v in model.bottom_up.strides.items()}
    if model.pyramid is not None:
        strides.update(model.pyramid.strides)
    roi = t.get("roi") or {"rois": [torch.zeros(0, 4)], "levels": torch.zeros(0, dtype=torch.int64),
                           "pooled": torch.zeros(0, 0, 0, 0)}  # an RPN trained alone has no Fast R-CNN head
    targets_resized = None
    if t["input"]["targets"] is not None:
        targets_resized = t["input"]["targets"][0]
    return Exploration(
        variant=model.config.get("variant", "fpn"),
        image=shown, original_size=original, resized_size=resized, scale=resized[0] / original[0],
        bottom_up={k: v[0] for k, v in t["bottom_up"].items()},
        pyramid={k: v[0] for k, v in t.get("pyramid", {}).items()},
        lateral={k: v[0] for k, v in t.get("lateral", {}).items()},
        top_down={k: v[0] for k, v in t.get("top_down", {}).items()},
        merged={k: v[0] for k, v in t.get("merged", {}).items()},
        strides=strides, rpn=rpn,
        proposals=rpn_t["proposals"][0], proposal_scores=rpn_t["proposal_scores"][0],
        proposal_rpn_level=[rpn_t["levels"][i] for i in rpn_t["proposal_levels"][0].tolist()],
        rois=roi["rois"][0], roi_levels=roi["levels"], pooled=roi["pooled"], roi_maps=tuple(model.roi_maps),
        detections=_cpu(detections[0]), targets=targets_resized,
        class_names=model.config.get("class_names"), lineage=lineage_of(trace),
    )
