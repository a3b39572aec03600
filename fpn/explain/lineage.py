"""The indices that link a detection to the proposal (RoI) it came from and that proposal to its anchor, as the
model's own code path recorded them in a trace (`FasterRCNN.run(..., trace=Trace())`; a plain forward records
nothing),
plus what the RPN's and Fast R-CNN's selections did with the candidates they dropped (`fpn.modeling.fates`).
`fpn.explain.provenance` answers "why this box" and "where was this ground-truth box lost" from it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import torch
from torch import Tensor

from ..modeling.trace import Trace


@dataclass
class Lineage:
    """One image's links, on the CPU. Boxes are in resized-input pixels.

    proposal_anchors: [P] int64, the anchor each proposal was decoded from, as an index into the concatenation of
        the RPN maps' anchors in `Exploration.rpn`'s order. A proposal's rank after NMS is its position (best first).
    candidates: the RPN's pre-NMS candidates (the top-k per level or anchor size): "anchors" [C] (same indexing),
        "boxes" [C, 4] (decoded from their anchors, clipped), "scores" [C] (objectness probabilities), "fates" [C]
        (`fpn.modeling.fates`: rank among the proposals, or the step that removed it).
    class_scores: [R, K] softmax class probabilities of every RoI (column 0 the background); None without a Fast
        R-CNN head (an RPN trained alone), like the three below.
    box_deltas: [R, 4K] class-specific box regression of every RoI (dx, dy, dw, dh per class, weights 10, 10, 5, 5).
    detection_fates: [R, K - 1] fate of every (RoI, class 1..K-1) pair in the detection post-processing.
    detection_pairs: [D, 2] int64 (RoI index, label) of each detection, in `Exploration.detections`' order; at test
        time the RoIs are the proposals, so the RoI index is the proposal index.
    """

    proposal_anchors: Tensor
    candidates: dict[str, Tensor]
    class_scores: Optional[Tensor] = None
    box_deltas: Optional[Tensor] = None
    detection_fates: Optional[Tensor] = None
    detection_pairs: Optional[Tensor] = None


@dataclass
class AnchorRef:
    """One anchor of an RPN map: index (into that map's anchors) = (row * W + column) * A + shape; its shape
    (size = sqrt of area px, aspect ratio h / w), box [4] resized pixels, objectness probability and predicted deltas [4]."""

    level: str
    index: int
    cell: tuple[int, int]
    shape: int
    size: int
    ratio: float
    box: Tensor
    objectness: float
    deltas: Tensor


def anchor_ref(exploration: Any, flat: int) -> AnchorRef:
    """The anchor at index `flat` of the concatenation of an `Exploration`'s RPN maps' anchors (the indexing of
    `Lineage.proposal_anchors`)."""
    offset = 0
    for name, level in exploration.rpn.items():
        n = level.anchors.shape[0]
        if flat < offset + n:
            index = int(flat - offset)
            num_shapes = len(level.anchor_shapes)
            row, col = divmod(index // num_shapes, level.grid_size[1])
            a = index % num_shapes
            size, ratio = level.anchor_shapes[a]
            return AnchorRef(name, index, (row, col), a, int(size), float(ratio), level.anchors[index],
                             float(level.objectness[a, row, col]), level.deltas[a, :, row, col])
        offset += n
    raise IndexError(f"anchor {flat} is beyond the {offset} anchors of the RPN maps")


def _cpu(x: Any) -> Any:
    return x.detach().cpu() if isinstance(x, Tensor) else x


def lineage_of(trace: Trace, image: int = 0) -> Optional[Lineage]:
    """The Lineage of image `image` of an eval-mode trace; None when the trace has no links (e.g. a training run)."""
    rpn = trace.rpn
    if rpn is None or not rpn.candidates:
        return None
    out = Lineage(proposal_anchors=_cpu(rpn.proposal_anchors[image]),
                  candidates={k: _cpu(v) for k, v in rpn.candidates[image].items()})
    roi = trace.roi
    if roi is None or not roi.detection_fates:
        return out
    first = sum(int(r.shape[0]) for r in roi.rois[:image])
    count = int(roi.rois[image].shape[0])
    out.class_scores = torch.softmax(_cpu(roi.class_logits[first:first + count]).float(), dim=-1)
    out.box_deltas = _cpu(roi.box_deltas[first:first + count])
    out.detection_fates = _cpu(roi.detection_fates[image])
    out.detection_pairs = detection_pairs(out.detection_fates)
    return out


def detection_pairs(fates: Tensor) -> Tensor:
    """[R, K - 1] fates -> [D, 2] (RoI index, label) of the kept pairs, in rank order."""
    roi, cls = torch.nonzero(fates >= 0, as_tuple=True)
    order = torch.argsort(fates[roi, cls])
    return torch.stack([roi[order], cls[order] + 1], dim=1)
