"""Recall per pyramid level on one image: which RPN level's proposals find the ground truth (Sec. 4.1), and how much
of the ground truth of each Eq. (1) size range the detections find (Sec. 4.2).

Eq. (1), k = floor(4 + log2(sqrt(w h) / 224)), splits box sizes into ranges, one per level: sqrt(w h) in [112, 224)
-> P3, [224, 448) -> P4, below 112 -> P2 and from 448 on -> P5 (the clamps). The dataset metrics
(`fpn.evaluation.per_level`) use the same ranges.
"""
from __future__ import annotations

import math
from typing import Any, Optional

import torch
from torch import Tensor
from torchvision.ops import box_iou

from ..modeling.roi_level import CANONICAL_LEVEL, CANONICAL_SIZE, roi_levels

#: The levels Eq. (1) assigns on the paper's pyramid (P2..P5), for every model: the ranges are a property of the box.
EQ1_LEVELS = (2, 3, 4, 5)
#: Keys of a checkpoint's metrics["per_level"] (fpn.evaluation.per_level writes them, fpn.viz.level_metrics draws them).
PER_LEVEL_AR, PER_LEVEL_AP = "proposal_AR@1000", "bbox_AP"


def eq1_size_range(k: int, k_min: int = EQ1_LEVELS[0], k_max: int = EQ1_LEVELS[-1]) -> tuple[float, float]:
    """[low, high) of sqrt(w h) (resized-input pixels, as the model sees them) that Eq. (1) sends to level k."""
    low = 0.0 if k <= k_min else CANONICAL_SIZE * 2.0 ** (k - CANONICAL_LEVEL)
    high = math.inf if k >= k_max else CANONICAL_SIZE * 2.0 ** (k + 1 - CANONICAL_LEVEL)
    return low, high


def recall_per_level(exploration: Any, gt_boxes: Any, gt_labels: Optional[Any] = None, iou: float = 0.5,
                     min_score: float = 0.0) -> dict[str, dict[str, Optional[float]]]:
    """Recall (percent) of one image's ground truth, per level.

    Args:
        exploration: `fpn.explain.explore`'s result for the image.
        gt_boxes: [G, 4] ORIGINAL-image pixels. gt_labels: [G] (None: detections of any class count).
        iou: overlap at which a box finds a ground-truth box. min_score: detections below it do not count.
    Returns {"proposals": {"P2": r, ...} per RPN map (share of ALL ground truth found by that map's proposals),
    "detections": {"P2": r, ...} per Eq. (1) level of the ground-truth box in the resized input (share of that
    level's ground truth found by a detection; None for a level with no ground truth)}.
    """
    gt = torch.as_tensor(gt_boxes, dtype=torch.float32).reshape(-1, 4)  # original pixels, like the detections
    gt_resized = exploration.to_resized(gt)  # the frame of the proposals and of Eq. (1)
    found_by_map = {}
    for name in exploration.rpn:
        mine = torch.tensor([lv == name for lv in exploration.proposal_rpn_level], dtype=torch.bool)
        boxes = exploration.proposals[mine] if mine.numel() else exploration.proposals[:0]
        found_by_map[name.upper()] = _percent(_found(gt_resized, boxes, iou), len(gt))
    det = exploration.detections
    keep = det["scores"] >= min_score
    found = torch.zeros(len(gt), dtype=torch.bool)
    if gt_labels is None:
        found = _found(gt, det["boxes"][keep], iou)
    else:
        labels = torch.as_tensor(gt_labels).reshape(-1)
        for c in torch.unique(labels):
            same = labels == c
            found[same] = _found(gt[same], det["boxes"][keep & (det["labels"] == c)], iou)
    levels = roi_levels(gt_resized, EQ1_LEVELS[0], EQ1_LEVELS[-1]) if len(gt) else torch.zeros(0)
    by_level = {}
    for k in EQ1_LEVELS:
        at = levels == k
        by_level[f"P{k}"] = _percent(found[at], int(at.sum())) if bool(at.any()) else None
    return {"proposals": found_by_map, "detections": by_level}


def _found(gt: Tensor, boxes: Tensor, iou: float) -> Tensor:
    """[G] bool: some box overlaps each ground-truth box with IoU >= iou."""
    if len(gt) == 0 or len(boxes) == 0:
        return torch.zeros(len(gt), dtype=torch.bool)
    return box_iou(gt, boxes.float()).max(dim=1).values >= iou


def _percent(found: Tensor, total: int) -> Optional[float]:
    return None if total == 0 else round(100.0 * float(found.sum()) / total, 1)
