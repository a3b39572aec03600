"""Fast R-CNN training samples: proposals + ground truth, matched at IoU 0.5, 512 per image with 25% positives."""
from __future__ import annotations

import torch
from torch import Tensor
from torchvision.models.detection._utils import BalancedPositiveNegativeSampler, BoxCoder, Matcher
from torchvision.ops import box_iou


class RoISampler:
    """(proposals per image [P, 4], targets) -> sampled RoIs, class labels (0 = background) and regression targets.

    Ground-truth boxes are added to the proposals so every object has at least one positive RoI.
    """

    def __init__(self, box_coder: BoxCoder, batch_size_per_image: int = 512, positive_fraction: float = 0.25,
                 fg_iou_thresh: float = 0.5, bg_iou_thresh: float = 0.5) -> None:
        self.box_coder = box_coder
        self.matcher = Matcher(fg_iou_thresh, bg_iou_thresh, allow_low_quality_matches=False)
        self.sampler = BalancedPositiveNegativeSampler(batch_size_per_image, positive_fraction)

    def __call__(self, proposals: list[Tensor], targets: list[dict[str, Tensor]]
                 ) -> tuple[list[Tensor], list[Tensor], list[Tensor]]:
        rois, labels, matched_boxes = [], [], []
        for props, target in zip(proposals, targets):
            gt_boxes = target["boxes"].to(props.dtype)
            props = torch.cat([props, gt_boxes])
            if gt_boxes.numel() == 0:
                matched_idx = props.new_zeros(props.shape[0], dtype=torch.int64)
                lab = props.new_zeros(props.shape[0], dtype=torch.int64)
                gt_boxes = props.new_zeros((1, 4))
            else:
                matched = self.matcher(box_iou(gt_boxes, props))
                matched_idx = matched.clamp(min=0)
                lab = target["labels"][matched_idx].to(torch.int64)
                lab[matched == Matcher.BELOW_LOW_THRESHOLD] = 0
                lab[matched == Matcher.BETWEEN_THRESHOLDS] = -1
            rois.append(props)
            labels.append(lab)
            matched_boxes.append(gt_boxes[matched_idx])
        pos, neg = self.sampler(labels)
        for i, (p, n) in enumerate(zip(pos, neg)):
            keep = torch.where(p | n)[0]
            rois[i], labels[i], matched_boxes[i] = rois[i][keep], labels[i][keep], matched_boxes[i][keep]
        regression_targets = list(self.box_coder.encode(matched_boxes, rois))
        return rois, labels, regression_targets
