"""Scale sweep: one object seen by the detector at several input scales, and the level that handles it at each.

The paper's claim (Sec. 3, 4.1): an object's scale change is offset by shifting its level in the pyramid. Rescale
the image by 2**(1/2) steps and the object's positive anchors (Sec. 4.1, one anchor area per level) climb one level
per octave on FPN; so does the Eq. (1) level of its best proposal. A single-map baseline (C4, C5) keeps every object on
its one map and can only change the anchor size.

The rescaling changes the object's size AT THE NETWORK INPUT: the image is resized (antialiased, as a camera further
away would see it) to `scale` times the size the model's own transform would give it, and the model then runs on it
as it is, through a view of the detector (the same modules and weights) whose transform keeps that size.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

import torch
from torch import Tensor
from torch.nn import functional as F
from torchvision.models.detection.transform import GeneralizedRCNNTransform
from torchvision.ops import box_iou

from ..modeling.detector import FasterRCNN
from .explore import explore, label_anchors
from ..images import as_image_tensor

__all__ = ["DEFAULT_SCALES", "ScaleSweep", "SweepRow", "scale_sweep", "model_input_size", "at_input_size"]

#: 0.25x to 2x in half-octave steps: 7 scales, three octaves.
DEFAULT_SCALES: tuple[float, ...] = tuple(2 ** (k / 2) for k in range(-4, 3))
#: A detection matches the object from this IoU on (COCO's AP50 criterion).
MATCH_IOU = 0.5
#: Context kept around the object in the crops, as a fraction of its width / height on each side.
CROP_CONTEXT = 0.5
#: Smallest side of a rescaled input, px (the coarsest map, stride 64, needs a cell).
MIN_SIDE = 32


@dataclass
class SweepRow:
    """The object at one scale. Pixels are resized-input pixels: those of the rescaled network input (input_size =
    (H, W)); crop_box / crop_detection are in the crop's pixels.

    box: [4] the object there; object_size: sqrt(w h) px. positives: {RPN map: positive anchors} by the model's own
    Sec. 4.1 labeller against this box alone; anchor_level: the level k of the map holding most of them (ties: the
    best anchor's); anchor_size: size (sqrt of area, px) of its best-IoU anchor, anchor_iou: that IoU.
    proposal_iou / proposal_level: the RPN proposal with the highest IoU with the box and the Eq. (1) level its RoI was
    pooled from (None without a Fast R-CNN head); proposal_map: the RPN map that proposal came from.
    detection_score: the best score of a detection with IoU >= MATCH_IOU (0: missed); detection_iou: the best IoU of
    any detection; detection_label: the label of the scored one (or of the best-IoU one when missed; -1: none).
    crop: [3, h, w] the object with CROP_CONTEXT around it, cut from the input; crop_box: the object inside the crop;
    crop_detection: the detection behind detection_score (or best IoU) inside the crop, or None. seconds: model run.
    """

    scale: float
    input_size: tuple[int, int]
    box: Tensor
    object_size: float
    positives: dict[str, int]
    anchor_level: Optional[int]
    anchor_size: Optional[int]
    anchor_iou: float
    proposal_iou: float
    proposal_level: Optional[int]
    proposal_map: Optional[str]
    detection_score: float
    detection_iou: float
    detection_label: int
    crop: Tensor
    crop_box: Tensor
    crop_detection: Optional[Tensor]
    seconds: float


@dataclass
class ScaleSweep:
    """A sweep of one model: box (x1, y1, x2, y2) in original-image pixels (the image given), base_size (H, W) the input at scale 1,
    variant (e.g. "fpn", "c4"), levels: the RPN maps' levels (k of P_k / C_k), rows: one per scale, ascending."""

    variant: str
    box: Tensor
    base_size: tuple[int, int]
    rpn_maps: list[str]
    rows: list[SweepRow] = field(default_factory=list)

    @property
    def scales(self) -> list[float]:
        return [r.scale for r in self.rows]

    def anchor_levels(self) -> list[Optional[int]]:
        return [r.anchor_level for r in self.rows]

    def proposal_levels(self) -> list[Optional[int]]:
        return [r.proposal_level for r in self.rows]

    def seconds(self) -> float:
        return sum(r.seconds for r in self.rows)


def model_input_size(model: FasterRCNN, size: Sequence[int]) -> tuple[int, int]:
    """(H, W) the model's transform resizes an image of size (H, W) to: shorter side min_size, longer side at most
    max_size (torchvision's rule, before padding)."""
    t = model.transform
    h, w = int(size[0]), int(size[1])
    if hasattr(t, "rescale"):  # Detectron2's rule (fpn.modeling.uint8_transform): int(x + 0.5) sides
        from ..modeling.uint8_transform import resized_size

        return resized_size(h, w, t.min_size[-1], t.max_size)
    factor = min(float(t.min_size[-1]) / min(h, w), float(t.max_size) / max(h, w))
    return int(math.floor(h * factor)), int(math.floor(w * factor))


def at_input_size(model: FasterRCNN, size: Sequence[int]) -> FasterRCNN:
    """The same detector (shared modules and weights, nothing copied) with a transform that brings every image to
    exactly (H, W) = size: an image of that size goes through unresized. `model` itself is not changed."""
    t = model.transform
    kind = type(t) if hasattr(t, "rescale") else GeneralizedRCNNTransform  # keep the model's input convention
    fixed = kind(min(size), max(size), list(t.image_mean), list(t.image_std), size_divisible=t.size_divisible,
                 fixed_size=(int(size[1]), int(size[0])))
    view = FasterRCNN(fixed, model.bottom_up, model.pyramid, model.rpn, model.roi_heads, model.config)
    view.training = model.training  # the flag alone: `explore` puts the view back in this mode, shared modules too
    return view


def _rescale(image: Tensor, size: tuple[int, int]) -> Tensor:
    if tuple(image.shape[-2:]) == size:
        return image
    return F.interpolate(image[None], size=size, mode="bilinear", align_corners=False, antialias=True)[0].clamp(0, 1)


def _crop(image: Tensor, box: Tensor) -> tuple[Tensor, Tensor]:
    """The box with CROP_CONTEXT around it cut from image [3, H, W]; and the box in the crop's pixels."""
    w, h = float(box[2] - box[0]), float(box[3] - box[1])
    x1 = int(max(math.floor(float(box[0]) - CROP_CONTEXT * w), 0))
    y1 = int(max(math.floor(float(box[1]) - CROP_CONTEXT * h), 0))
    x2 = int(min(math.ceil(float(box[2]) + CROP_CONTEXT * w), image.shape[-1]))
    y2 = int(min(math.ceil(float(box[3]) + CROP_CONTEXT * h), image.shape[-2]))
    x2, y2 = max(x2, x1 + 1), max(y2, y1 + 1)
    return image[:, y1:y2, x1:x2].clone(), box - torch.tensor([x1, y1, x1, y1], dtype=box.dtype)


def _anchor_at(rpn: dict, index: int) -> tuple[str, int]:
    """(RPN map, anchor size px) of anchor `index` of the concatenation of all maps' anchors (explore's order)."""
    for name, level in rpn.items():
        if index < level.anchors.shape[0]:
            return name, int(level.anchor_shapes[index % len(level.anchor_shapes)][0])
        index -= level.anchors.shape[0]
    raise IndexError("anchor index out of range")


def _row(model: FasterRCNN, image: Tensor, box: Tensor, scale: float, size: tuple[int, int]) -> SweepRow:
    """Run `model` on `image` (already at the network input's size) and read what happened to `box`."""
    start = time.perf_counter()
    ex = explore(at_input_size(model, size), image)
    seconds = time.perf_counter() - start
    labels = label_anchors(model, ex, box[None])
    positives = {name: int((lab == 1).sum()) for name, lab in labels.items()}
    anchors = torch.cat([lv.anchors for lv in ex.rpn.values()])
    ious = box_iou(box[None], anchors)[0]
    best_map, best_size = _anchor_at(ex.rpn, int(ious.argmax()))
    level = None
    if any(positives.values()):
        most = max(positives.values())
        tied = [n for n, c in positives.items() if c == most]
        level = int((best_map if best_map in tied else tied[0])[1:])
    proposal_iou, proposal_level, proposal_map = 0.0, None, None
    if len(ex.proposals):
        p_iou = box_iou(box[None], ex.proposals)[0]
        j = int(p_iou.argmax())
        proposal_iou, proposal_map = float(p_iou[j]), ex.proposal_rpn_level[j]
        if len(ex.rois) == len(ex.proposals) and len(ex.roi_levels):
            proposal_level = int(ex.roi_levels[j])  # at test time Fast R-CNN's RoIs are the proposals
    det = ex.detections
    score, det_iou, label, shown = 0.0, 0.0, -1, None
    if len(det["boxes"]):
        d_iou = box_iou(box[None], det["boxes"])[0]
        det_iou = float(d_iou.max())
        matched = torch.nonzero(d_iou >= MATCH_IOU).flatten()
        k = int(matched[det["scores"][matched].argmax()]) if len(matched) else int(d_iou.argmax())
        score = float(det["scores"][k]) if len(matched) else 0.0
        label, shown = int(det["labels"][k]), det["boxes"][k]
    crop, crop_box = _crop(ex.image, box)
    offset = box[:2].repeat(2) - crop_box[:2].repeat(2)
    return SweepRow(
        scale=float(scale), input_size=tuple(ex.resized_size), box=box,
        object_size=float(torch.sqrt((box[2] - box[0]) * (box[3] - box[1]))), positives=positives,
        anchor_level=level, anchor_size=best_size, anchor_iou=float(ious.max()),
        proposal_iou=proposal_iou, proposal_level=proposal_level, proposal_map=proposal_map,
        detection_score=score, detection_iou=det_iou, detection_label=label,
        crop=crop, crop_box=crop_box, crop_detection=None if shown is None else shown - offset, seconds=seconds,
    )


def scale_sweep(model: FasterRCNN, image: Any, box: Sequence[float], scales: Sequence[float] = DEFAULT_SCALES,
                base_size: Optional[Sequence[int]] = None, progress: Optional[Any] = None) -> ScaleSweep:
    """Run `model` on `image` rescaled to each of `scales` and follow the object `box` through it.

    Args:
        model: a detector (`build_detector`, `load_checkpoint`, ...). It is not modified.
        image: [3, H, W] float tensor in [0, 1], PIL image or numpy array.
        box: (x1, y1, x2, y2) the object, in `image`'s pixels.
        scales: factors of the input size at scale 1 (default: 0.25x to 2x in half-octave steps).
        base_size: (H, W) of the input at scale 1; default: what the model's transform makes of the image (so scale
            1 is what the model normally sees). Pass the same one to sweep several models over the same pixels.
        progress: optional callback(fraction, text).
    Returns a ScaleSweep with one SweepRow per scale, in ascending order of scale.
    """
    img = as_image_tensor(image)
    device = next(model.parameters()).device
    b = torch.as_tensor(box, dtype=torch.float32).reshape(-1)
    if b.numel() != 4 or not bool((b[2:] > b[:2]).all()):
        raise ValueError(f"box must be (x1, y1, x2, y2) with x2 > x1 and y2 > y1, got {b.tolist()}")
    if not scales or any(float(s) <= 0 for s in scales):
        raise ValueError(f"scales must be positive numbers, got {list(scales)}")
    h0, w0 = int(img.shape[-2]), int(img.shape[-1])
    base = tuple(int(v) for v in (base_size or model_input_size(model, (h0, w0))))
    sweep = ScaleSweep(str(model.config.get("variant", "fpn")), b.clone(), base, list(model.rpn_maps))
    ordered = sorted(float(s) for s in scales)
    for n, s in enumerate(ordered):
        if progress:
            progress(n / len(ordered), f"scale {s:.2f}x")
        size = (max(int(round(base[0] * s)), MIN_SIDE), max(int(round(base[1] * s)), MIN_SIDE))
        factor = torch.tensor([size[1] / w0, size[0] / h0] * 2)
        sweep.rows.append(_row(model, _rescale(img, size).to(device), b * factor, s, size))
    if progress:
        progress(1.0, "done")
    return sweep
