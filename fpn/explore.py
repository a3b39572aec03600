"""`explore`: everything the paper talks about, for one image, as plain tensors ready to be drawn.

The model computes it on its own code path (`FasterRCNN.run` with a trace dict); a normal forward passes no trace and
records nothing. Boxes are in pixels of the resized input (`Exploration.image`) unless a name says otherwise;
`resized_size / original_size` map them back to the original image, per axis (x and y factors can differ by the
rounding of the resize; `Exploration.scale` is the y factor).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np
import torch
from torch import Tensor

from .detector import FasterRCNN
from .rpn.anchor_labels import IGNORED, NEGATIVE, POSITIVE

__all__ = ["explore", "label_anchors", "Exploration", "RPNLevel", "as_image_tensor", "POSITIVE", "NEGATIVE", "IGNORED"]


@dataclass
class RPNLevel:
    """One map the RPN runs on (P2..P6, or the single C4 / C5 / P2 map).

    anchors: [H*W*A, 4] (x1, y1, x2, y2) resized-input pixels, ordered (row, column, anchor);
    anchor a at cell (i, j) has shape anchor_shapes[a] = (size, aspect ratio).
    objectness: [A, H, W] probabilities (sigmoid of the head's logits); deltas: [A, 4, H, W] (dx, dy, dw, dh).
    labels: [H*W*A] 1 positive / 0 negative / -1 ignored (only with targets); matched_boxes: [H*W*A, 4] the GT box
    each anchor was compared with (only with targets).
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
    rpn: one RPNLevel per RPN map. proposals: [P, 4], proposal_scores: [P], proposal_rpn_level: [P] the RPN map
    (name) each proposal came from. rois: [R, 4] the RoIs Fast R-CNN pooled (= proposals at test time), roi_levels:
    [R] the level k of Eq. (1) each RoI was pooled from (clamped to the maps present), pooled: [R, C, S, S].
    detections: {"boxes" [D, 4] ORIGINAL-image pixels, "scores", "labels"}; targets: GT resized to the input, if given.
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
    detections: dict[str, Tensor]
    targets: Optional[dict[str, Tensor]] = None
    class_names: Optional[list[str]] = None
    extra: dict[str, Any] = field(default_factory=dict)

    def positives_per_level(self) -> dict[str, int]:
        """Positive anchors per RPN map (needs targets)."""
        return {name: level.num_positive() for name, level in self.rpn.items()}

    def rois_per_level(self) -> dict[int, int]:
        """Histogram of Eq. (1) levels over the RoIs."""
        ks, counts = torch.unique(self.roi_levels, return_counts=True)
        return {int(k): int(c) for k, c in zip(ks, counts)}


def as_image_tensor(image: Any) -> Tensor:
    """A [3, H, W] float tensor in [0, 1] from a tensor, a PIL image, or an HxW / HxWx3 / HxWx4 numpy array."""
    if isinstance(image, Tensor):
        if image.dim() != 3 or image.shape[0] != 3:
            raise ValueError(f"expected a [3, H, W] image tensor, got {tuple(image.shape)}")
        return image.float() if image.is_floating_point() else image.float() / 255.0
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover
        Image = None
    if Image is not None and isinstance(image, Image.Image):
        image = np.asarray(image.convert("RGB"))
    if isinstance(image, np.ndarray):
        if image.ndim == 2:
            image = np.repeat(image[..., None], 3, axis=2)
        if image.ndim != 3 or image.shape[2] not in (3, 4):
            raise ValueError(f"expected an HxW, HxWx3 or HxWx4 array, got shape {image.shape}")
        image = image[..., :3]
        scale = 65535.0 if image.dtype == np.uint16 else 255.0 if image.dtype == np.uint8 else 1.0
        return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float() / scale
    raise TypeError(f"cannot read an image from {type(image).__name__}")


def unnormalize(transform: Any, batch_image: Tensor, size: tuple[int, int]) -> Tensor:
    """The resized input [3, h, w] in [0, 1] from one padded, normalised image [3, H, W] of the transform's batch."""
    mean = torch.tensor(transform.image_mean, device=batch_image.device)[:, None, None]
    std = torch.tensor(transform.image_std, device=batch_image.device)[:, None, None]
    return (batch_image[:, : size[0], : size[1]] * std + mean).clamp(0, 1)


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

    gt_boxes: [G, 4] in the resized input's pixels (scale original-image x by resized_size[1] / original_size[1]
    and y by resized_size[0] / original_size[0]; the two can differ by rounding).
    """
    anchors = torch.cat([level.anchors for level in exploration.rpn.values()])
    labels, _ = model.rpn.labeler(anchors, torch.as_tensor(gt_boxes, dtype=anchors.dtype).reshape(-1, 4))
    return _split_levels(labels.to(torch.int64), exploration.rpn)


@torch.no_grad()
def explore(model: Any, image: Any, targets: Optional[dict[str, Tensor]] = None) -> Any:
    """Run `model` on one image and return its internals (`Exploration`; for a mask-proposal model its own kind).

    Args:
        model: a detector from `build_detector` / `from_torchvision` / `load_checkpoint` (or a mask-proposal model).
        image: [3, H, W] float tensor in [0, 1], PIL image or numpy array.
        targets: optional {"boxes": [G, 4] original-image pixels, "labels": [G]}: anchors then get labels.
    The model is run in eval mode (and put back in its previous mode).
    """
    if not isinstance(model, FasterRCNN):
        from .mask_proposals import MaskProposer, explore_mask_proposals

        if isinstance(model, MaskProposer):
            return explore_mask_proposals(model, image)
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
        sizes, ratios = rpn_t["anchor_sizes"][name], rpn_t["aspect_ratios"]
        rpn[name] = RPNLevel(
            name=name, stride=int(rpn_t["strides"][name][0]),
            anchor_shapes=[(int(s), float(r)) for r in ratios for s in sizes],
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
    roi = t["roi"]
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
        proposal_rpn_level=[rpn_t["levels"][int(i)] for i in rpn_t["proposal_levels"][0]],
        rois=roi["rois"][0], roi_levels=roi["levels"], pooled=roi["pooled"],
        detections=_cpu(detections[0]), targets=targets_resized,
        class_names=getattr(model, "class_names", None),
    )
