"""The trace: what a traced forward pass records, one typed record per stage (`FasterRCNN.run(..., trace=Trace())`).

Each stage writes its own record while it computes (a plain forward passes no trace and records nothing);
`fpn.explain.explore` and `fpn.explain.lineage` read the records by attribute, so a renamed field is an error at
once rather than a silent KeyError far away. Batch-first: N is the batch size. Boxes are in RESIZED-input pixels
(the transform's output, before padding); `InputTrace` holds the sizes that map them back to ORIGINAL-image pixels.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any, Optional

import torch
from torch import Tensor


@dataclass
class InputTrace:
    """images: [N, 3, H, W] the resized, normalised, padded batch; image_sizes / original_sizes: per image (h, w)
    resized / original; targets: the targets with boxes in resized pixels (None without targets)."""

    images: Tensor
    image_sizes: list[tuple[int, int]]
    original_sizes: list[tuple[int, int]]
    targets: Optional[list[dict[str, Tensor]]] = None


@dataclass
class PyramidTrace:
    """The terms of Fig. 3, keyed "p2".."p5": lateral L_k [N, d, H_k, W_k], top_down up2(M_{k+1}) (levels below the
    top only), merged M_k; pyramid: the outputs {"p2".."p6": [N, d, H_k, W_k]}."""

    lateral: dict[str, Tensor] = field(default_factory=dict)
    top_down: dict[str, Tensor] = field(default_factory=dict)
    merged: dict[str, Tensor] = field(default_factory=dict)
    pyramid: dict[str, Tensor] = field(default_factory=dict)


@dataclass
class RPNTrace:
    """The RPN (Sec. 4.1) on its maps `levels` (in order). Per map: strides {name: (sy, sx)}, anchor_sizes
    {name: sizes}, anchors {name: [H*W*A, 4] resized px}, objectness {name: [N, A, H, W] logits}, deltas
    {name: [N, A*4, H, W]}; num_per_level [L] anchors per map. Per image (lists of length N): proposals [P, 4]
    resized px, proposal_scores [P], proposal_levels [P] (index into `levels`), proposal_anchors [P] (index into
    the concatenation of `anchors`), candidates (the pre-NMS candidates and their fates, `fpn.modeling.fates`;
    None unless asked for), labels [sum A] and matched_boxes [sum A, 4] resized px (None without targets),
    proposal_logits [P] (the objectness before the sigmoid, what Detectron2 returns); anchor_shapes {name: [(size,
    ratio)] in the order of the head's channels}."""

    levels: list[str]
    strides: dict[str, Any]
    anchor_sizes: dict[str, tuple[int, ...]]
    aspect_ratios: tuple[float, ...]
    anchors: dict[str, Tensor]
    objectness: dict[str, Tensor]
    deltas: dict[str, Tensor]
    num_per_level: list[int]
    proposals: list[Tensor]
    proposal_scores: list[Tensor]
    proposal_levels: list[Tensor]
    proposal_anchors: list[Tensor]
    candidates: Optional[list[dict[str, Tensor]]] = None
    labels: Optional[list[Tensor]] = None
    matched_boxes: Optional[list[Tensor]] = None
    proposal_logits: Optional[list[Tensor]] = None
    anchor_shapes: Optional[dict[str, list[tuple[float, float]]]] = None


@dataclass
class RoITrace:
    """Fast R-CNN (Sec. 4.2) over the batch's RoIs, concatenated image by image: rois per image [R_i, 4] resized px,
    levels [R] (Eq. (1) k), pooled [R, C, S, S], class_logits [R, K], box_deltas [R, 4K]; detection_fates per image
    [R_i, K - 1] (eval mode only, `fpn.modeling.fates`)."""

    rois: list[Tensor]
    levels: Tensor
    pooled: Tensor
    class_logits: Tensor
    box_deltas: Tensor
    detection_fates: list[Tensor] = field(default_factory=list)


@dataclass
class Trace:
    """One traced run of `FasterRCNN.run`: a record per stage, None for a stage the model lacks (no pyramid for the
    single-scale baselines, no `roi` for an RPN trained alone). bottom_up: {"c2".."c5": [N, C_k, H_k, W_k]}."""

    input: Optional[InputTrace] = None
    bottom_up: Optional[dict[str, Tensor]] = None
    pyramid: Optional[PyramidTrace] = None
    rpn: Optional[RPNTrace] = None
    roi: Optional[RoITrace] = None


@dataclass
class MaskProposalTrace:
    """One traced run of the Sec. 6 mask proposer: the resized batch and sizes (as `InputTrace`), the pyramid's terms,
    objectness logits per window scale {name: [N, H_k, W_k]}, and per image its best candidates before suppression."""

    input: Optional[InputTrace] = None
    pyramid: PyramidTrace = field(default_factory=PyramidTrace)
    objectness: dict[str, Tensor] = field(default_factory=dict)
    candidates: list[dict[str, Tensor]] = field(default_factory=list)


def standard_layout(record: Any) -> Any:
    """Every tensor of a trace in the default (row-major) layout and bf16 / fp16 ones in fp32, in place: the fast
    path's maps are channels-last (and bf16 on the bf16 path), and readers of a trace may `view` them or hand them
    to numpy. Walks records, dicts and lists; returns `record`."""
    if is_dataclass(record):
        for f in fields(record):
            setattr(record, f.name, standard_layout(getattr(record, f.name)))
        return record
    if isinstance(record, Tensor):
        return record.float().contiguous() if record.dtype in (torch.bfloat16, torch.float16) \
            else record.contiguous()
    if isinstance(record, dict):
        for key, value in record.items():
            record[key] = standard_layout(value)
    elif isinstance(record, list):
        record[:] = [standard_layout(v) for v in record]
    return record
