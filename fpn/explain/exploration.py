"""What `fpn.explain.explore` returns: every internal of one forward pass the paper talks about, as plain CPU tensors.

Two pixel frames: RESIZED (the input the network sees, `Exploration.image`) and ORIGINAL (the image given). Every box
here is in resized pixels except `detections["boxes"]`, which is in original pixels (what the model returns);
`detection_boxes_resized` gives those in resized pixels. `to_resized` / `to_original` convert any boxes (both use
`fpn.images.rescale_boxes`, the one conversion), per axis: x and y factors can differ by the rounding of the resize;
`Exploration.scale` is the y factor.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import torch
from torch import Tensor

from ..images import rescale_boxes
from .lineage import Lineage
from ..modeling.rpn.anchor_labels import POSITIVE


@dataclass
class RPNLevel:
    """One map the RPN runs on (P2..P6, or the single C4 / C5 / P2 map).

    anchors: [H*W*A, 4] (x1, y1, x2, y2) resized pixels, ordered (row, column, anchor);
    anchor a at cell (i, j) has shape anchor_shapes[a] = (size, aspect ratio).
    objectness: [A, H, W] probabilities (sigmoid of the head's logits); deltas: [A, 4, H, W] (dx, dy, dw, dh).
    labels: [H*W*A] 1 positive / 0 negative / -1 ignored (only with targets); matched_boxes: [H*W*A, 4] resized
    pixels, the GT box each anchor was compared with (only with targets).
    """

    name: str
    stride: int
    anchor_shapes: list[tuple[int, float]]
    anchors: Tensor
    objectness: Tensor
    deltas: Tensor
    labels: Optional[Tensor] = None
    matched_boxes: Optional[Tensor] = None

    @property
    def grid_size(self) -> tuple[int, int]:
        return int(self.objectness.shape[1]), int(self.objectness.shape[2])

    def num_positive(self) -> int:
        return 0 if self.labels is None else int((self.labels == POSITIVE).sum())


@dataclass
class Exploration:
    """Internals of one forward pass (batch of one image), detached, on the CPU.

    image: [3, H, W] the resized input in [0, 1] (before normalisation, padding removed).
    original_size / resized_size: (height, width) in pixels; scale = resized height / original height (the x factor,
    resized width / original width, can differ slightly by rounding).
    bottom_up: {"c2": [C, h, w], ...}; pyramid: {"p2": [d, h, w], ...} (empty for c4 / c5);
    lateral / top_down / merged: the terms of Fig. 3 per level ("p2".."p5"): merged = lateral + top_down
    (fpn; bottom_up has no top_down, no_lateral has laterals only at the top); strides: {map name: stride px}.
    rpn: one RPNLevel per RPN map. proposals: [P, 4] resized pixels, proposal_scores: [P], proposal_rpn_level: [P]
    the RPN map (name) each proposal came from. rois: [R, 4] resized pixels, the RoIs Fast R-CNN pooled (= proposals
    at test time), roi_levels:
    [R] the level k of Eq. (1) each RoI was pooled from (clamped to `roi_level_range`), pooled: [R, C, S, S].
    roi_maps: the maps Fast R-CNN pools from ("p2".."p5", or the single "p2" / "c4" / "c5"; none for an RPN trained
    alone, whose rois / roi_levels / pooled are empty and detections have no boxes).
    detections: {"boxes" [D, 4] ORIGINAL pixels, "scores", "labels"} (`detection_boxes_resized`: the boxes in resized
    pixels); targets: {"boxes" [G, 4] resized pixels, "labels"}, the ground truth given to explore, if any.
    class_names: label -> name (0 = background) from the model's config, if it has them.
    lineage: the indices linking each detection to its proposal and anchor, and the fates of the candidates the
    selections dropped (`fpn.explain.lineage`; `fpn.explain.provenance` reads them).
    """

    variant: str
    image: Tensor
    original_size: tuple[int, int]
    resized_size: tuple[int, int]
    scale: float
    bottom_up: dict[str, Tensor]
    pyramid: dict[str, Tensor]
    lateral: dict[str, Tensor]
    top_down: dict[str, Tensor]
    merged: dict[str, Tensor]
    strides: dict[str, int]
    rpn: dict[str, RPNLevel]
    proposals: Tensor
    proposal_scores: Tensor
    proposal_rpn_level: list[str]
    rois: Tensor
    roi_levels: Tensor
    pooled: Tensor
    roi_maps: tuple[str, ...]
    detections: dict[str, Tensor]
    targets: Optional[dict[str, Tensor]] = None
    class_names: Optional[list[str]] = None
    lineage: Optional[Lineage] = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def roi_level_range(self) -> tuple[int, int]:
        """(k_min, k_max): the levels Eq. (1) is clamped to, e.g. (2, 5) for P2..P5, (4, 4) for the C4 baseline."""
        if not self.roi_maps:
            raise ValueError("this model has no Fast R-CNN head (an RPN trained alone): no RoI levels")
        ks = [int(name[1:]) for name in self.roi_maps]
        return min(ks), max(ks)

    @property
    def scale_xy(self) -> tuple[float, float]:
        """(sx, sy): resized-input pixels per original-image pixel, per axis."""
        return self.resized_size[1] / self.original_size[1], self.resized_size[0] / self.original_size[0]

    def to_resized(self, boxes: Any) -> Tensor:
        """Boxes [N, 4] (any array-like) from original pixels to resized pixels, float32."""
        boxes = torch.as_tensor(boxes, dtype=torch.float32).reshape(-1, 4)
        return rescale_boxes(boxes, self.original_size, self.resized_size)

    def to_original(self, boxes: Any) -> Tensor:
        """Boxes [N, 4] (any array-like) from resized pixels to original pixels, float32."""
        boxes = torch.as_tensor(boxes, dtype=torch.float32).reshape(-1, 4)
        return rescale_boxes(boxes, self.resized_size, self.original_size)

    @property
    def detection_boxes_resized(self) -> Tensor:
        """detections["boxes"] [D, 4] in resized pixels, the frame of every other box here (index it like the
        detections: `ex.detection_boxes_resized[keep]`)."""
        return self.to_resized(self.detections["boxes"])

    def positives_per_level(self) -> dict[str, int]:
        """Positive anchors per RPN map (needs targets)."""
        return {name: level.num_positive() for name, level in self.rpn.items()}

    def rois_per_level(self) -> dict[int, int]:
        """Histogram of Eq. (1) levels over the RoIs."""
        ks, counts = torch.unique(self.roi_levels, return_counts=True)
        return {int(k): int(c) for k, c in zip(ks, counts)}
