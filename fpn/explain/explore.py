"""`explore`: everything the paper talks about, for one image, as plain tensors ready to be drawn (`Exploration`).

The model computes it on its own code path (`FasterRCNN.run` with a `Trace`, fpn.modeling.trace); a normal forward
passes no trace and records nothing. `label_anchors` and `pool_boxes` answer questions about other boxes from an
exploration's cached anchors and maps with the model's own rules, without running the network again.
"""
from __future__ import annotations

from dataclasses import fields, is_dataclass, replace
from typing import Any, Optional, Union

import torch
from torch import Tensor

from ..modeling.detector import FasterRCNN
from .exploration import Exploration, RPNLevel
from ..images import as_image_tensor, unnormalize
from .lineage import lineage_of
from ..modeling.mask_proposals import MaskProposalExploration, MaskProposer, explore_mask_proposals
from ..modeling.trace import PyramidTrace, RoITrace, RPNTrace, Trace

__all__ = ["explore", "label_anchors", "pool_boxes"]


def _cpu(x: Any) -> Any:
    """Tensors of a trace record (dataclass), dict or list detached and on the CPU; the record itself is copied."""
    if isinstance(x, Tensor):
        return x.detach().cpu()
    if is_dataclass(x):
        return replace(x, **{f.name: _cpu(getattr(x, f.name)) for f in fields(x)})
    if isinstance(x, dict):
        return {k: _cpu(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_cpu(v) for v in x]
    return x


def _split_levels(flat: Tensor, rpn: dict[str, "RPNLevel"]) -> dict[str, Tensor]:
    """A per-anchor tensor over all RPN maps (concatenated in `rpn`'s order) -> {map name: its part}."""
    sizes = [level.anchors.shape[0] for level in rpn.values()]
    return dict(zip(rpn, flat.split(sizes)))


@torch.no_grad()
def label_anchors(model: FasterRCNN, exploration: Exploration, gt_boxes: Tensor) -> dict[str, Tensor]:
    """Labels (1 / 0 / -1, int64) of every anchor of an exploration against other boxes, e.g. detections used as
    pseudo ground truth, with the model's own Sec. 4.1 rule on all levels together, as in training. No network run.

    gt_boxes: [G, 4] resized-input pixels (`exploration.to_resized` maps original-image boxes there).
    """
    anchors = torch.cat([level.anchors for level in exploration.rpn.values()])
    labels, _ = model.rpn.labeler(anchors, torch.as_tensor(gt_boxes, dtype=anchors.dtype).reshape(-1, 4))
    return _split_levels(labels.to(torch.int64), exploration.rpn)


@torch.no_grad()
def pool_boxes(model: FasterRCNN, exploration: Exploration, boxes: Tensor) -> tuple[Tensor, Tensor]:
    """Fast R-CNN's view of any boxes: pooled features [N, C, S, S] and Eq. (1) levels [N], with the model's own
    RoI pooler on the exploration's cached maps (no network run).

    boxes: [N, 4] resized-input pixels (`exploration.to_resized` maps original-image boxes there).
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
    img, tgts = _inputs(model, image, targets)
    detections, trace = _run_traced(model, img, tgts)
    return _pack(model, trace, _cpu(detections[0]))


def _inputs(model: FasterRCNN, image: Any, targets: Optional[dict[str, Tensor]]
            ) -> tuple[Tensor, Optional[list[dict[str, Tensor]]]]:
    """The image as a [3, H, W] tensor and the targets as the model's batch of one, on the model's device."""
    device = next(model.parameters()).device
    img = as_image_tensor(image).to(device)
    if targets is None:
        return img, None
    return img, [{"boxes": torch.as_tensor(targets["boxes"], dtype=torch.float32, device=device).reshape(-1, 4),
                  "labels": torch.as_tensor(targets.get("labels", []), dtype=torch.int64, device=device)}]


def _run_traced(model: FasterRCNN, img: Tensor, targets: Optional[list[dict[str, Tensor]]]
                ) -> tuple[list[dict[str, Tensor]], Trace]:
    """One eval-mode run of the model's own code path with a trace (the model's mode is restored afterwards)."""
    was_training = model.training
    model.eval()
    trace = Trace()
    try:
        detections, _, _ = model.run([img], targets, trace=trace)
    finally:
        model.train(was_training)
    return detections, trace


def _rpn_levels(rpn_t: RPNTrace) -> dict[str, RPNLevel]:
    """The RPN's record of image 0 (on the CPU) -> one RPNLevel per map, with labels when the run had targets."""
    rpn = {}
    for name in rpn_t.levels:
        logits = rpn_t.objectness[name][0]
        rpn[name] = RPNLevel(
            name=name, stride=int(rpn_t.strides[name][0]),
            anchor_shapes=list(rpn_t.anchor_shapes[name]),  # in the order of the head's channels
            anchors=rpn_t.anchors[name], objectness=torch.sigmoid(logits),
            deltas=rpn_t.deltas[name][0].view(logits.shape[0], 4, *logits.shape[-2:]),
        )
    if rpn_t.labels is not None:
        for name, labels in _split_levels(rpn_t.labels[0].to(torch.int64), rpn).items():
            rpn[name].labels = labels
        for name, matched in _split_levels(rpn_t.matched_boxes[0], rpn).items():
            rpn[name].matched_boxes = matched
    return rpn


def _pack(model: FasterRCNN, trace: Trace, detections: dict[str, Tensor]) -> Exploration:
    """A trace of one image (any device) and its detections (original-image pixels) -> the Exploration."""
    t = _cpu(trace)
    resized, original = tuple(t.input.image_sizes[0]), tuple(t.input.original_sizes[0])
    strides = {k: int(v) for k, v in model.bottom_up.strides.items()}
    if model.pyramid is not None:
        strides.update(model.pyramid.strides)
    # an RPN trained alone has no Fast R-CNN head: no RoIs
    roi = t.roi or RoITrace([torch.zeros(0, 4)], torch.zeros(0, dtype=torch.int64), torch.zeros(0, 0, 0, 0),
                            torch.zeros(0, 0), torch.zeros(0, 0))
    pyr = t.pyramid or PyramidTrace()
    first = _first_image
    rpn_t = t.rpn
    return Exploration(
        variant=model.config.get("variant", "fpn"),
        image=unnormalize(model.transform, t.input.images[0], resized),
        original_size=original, resized_size=resized, scale=resized[0] / original[0],
        bottom_up=first(t.bottom_up), pyramid=first(pyr.pyramid), lateral=first(pyr.lateral),
        top_down=first(pyr.top_down), merged=first(pyr.merged), strides=strides, rpn=_rpn_levels(rpn_t),
        proposals=rpn_t.proposals[0], proposal_scores=rpn_t.proposal_scores[0],
        proposal_rpn_level=[rpn_t.levels[i] for i in rpn_t.proposal_levels[0].tolist()],
        rois=roi.rois[0], roi_levels=roi.levels, pooled=roi.pooled, roi_maps=tuple(model.roi_maps),
        detections=detections, targets=t.input.targets[0] if t.input.targets is not None else None,
        class_names=model.config.get("class_names"), lineage=lineage_of(t),
    )


def _first_image(maps: dict[str, Tensor]) -> dict[str, Tensor]:
    """{name: [N, ...]} -> {name: [...]} of image 0."""
    return {k: v[0] for k, v in maps.items()}
