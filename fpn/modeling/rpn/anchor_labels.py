"""Anchor labels (Sec. 4.1): which anchors are trained as object, which as background, which are ignored.

An anchor is positive if it has the highest IoU with some ground-truth box (ties included) or an IoU above 0.7 with any
ground-truth box; negative if its IoU is below 0.3 with all; otherwise ignored. There is no explicit scale rule: a box
reaches a pyramid level only through the anchors of that level that match it.
"""
from __future__ import annotations

import torch
from torch import Tensor
from torchvision.models.detection._utils import Matcher
from torchvision.ops import box_iou

POSITIVE, NEGATIVE, IGNORED = 1, 0, -1


class AnchorLabeler:
    """label(anchors [A, 4], gt_boxes [G, 4]) -> labels [A] (1 / 0 / -1, float) and matched GT boxes [A, 4].

    Boxes are (x1, y1, x2, y2) pixels of the padded input. Anchors crossing the image border are labelled like any other.
    """

    def __init__(self, fg_iou_thresh: float = 0.7, bg_iou_thresh: float = 0.3) -> None:
        self.matcher = Matcher(fg_iou_thresh, bg_iou_thresh, allow_low_quality_matches=True)

    def __call__(self, anchors: Tensor, gt_boxes: Tensor) -> tuple[Tensor, Tensor]:
        if gt_boxes.numel() == 0:
            return anchors.new_zeros(anchors.shape[0]), torch.zeros_like(anchors)
        iou = box_iou(gt_boxes, anchors)
        # A box that no anchor overlaps has no "highest-IoU anchor": the best-match rule would tie all anchors at
        # IoU 0 and make every one of them positive (torchvision's Matcher does). Such a box labels nothing.
        overlapped = iou.amax(dim=1) > 0
        if not overlapped.any():
            return anchors.new_zeros(anchors.shape[0]), torch.zeros_like(anchors)
        gt_boxes = gt_boxes[overlapped]
        matched = self.matcher(iou[overlapped])
        labels = (matched >= 0).to(anchors.dtype)
        labels[matched == Matcher.BELOW_LOW_THRESHOLD] = NEGATIVE
        labels[matched == Matcher.BETWEEN_THRESHOLDS] = IGNORED
        return labels, gt_boxes[matched.clamp(min=0)]
