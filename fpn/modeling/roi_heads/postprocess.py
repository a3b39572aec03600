"""Fast R-CNN post-processing: per-class boxes, score threshold, per-class NMS, top detections per image."""
from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as F
from torchvision.models.detection._utils import BoxCoder
from torchvision.ops import boxes as box_ops

from ..fates import BELOW_SCORE, TOO_SMALL, Fates


class DetectionPostProcessor:
    """(class logits [R, K], box deltas [R, 4K], RoIs per image) -> per image boxes [D, 4], scores [D], labels [D].

    Args:
        score_thresh: minimum class probability (0.05).
        nms_thresh: IoU threshold of the per-class NMS (0.5).
        detections_per_img: at most this many detections per image (100).
        min_size: boxes narrower or shorter than this are dropped (torchvision's 1e-2; 0: none, as Detectron2).

    `fates`, a list (traces only), receives per image the fate of every (RoI, class) pair, [R_i, K - 1] int64
    (`fpn.modeling.fates`: rank among the image's detections, or the step that removed it; classes 1..K-1 in order).
    """

    def __init__(self, box_coder: BoxCoder, score_thresh: float = 0.05, nms_thresh: float = 0.5,
                 detections_per_img: int = 100, min_size: float = 1e-2) -> None:
        self.min_size = min_size
        self.box_coder = box_coder
        self.score_thresh = score_thresh
        self.nms_thresh = nms_thresh
        self.detections_per_img = detections_per_img

    def __call__(self, class_logits: Tensor, box_deltas: Tensor, rois: list[Tensor],
                 image_sizes: list[tuple[int, int]], fates: list[Tensor] | None = None,
                 background_last: bool = False) -> list[dict[str, Tensor]]:
        """background_last: the logits and deltas in Detectron2's layout (`FastRCNNPredictor`): the background is the
        last logit and has no box; softmax runs over that order, as Detectron2's fast_rcnn_inference does."""
        num_classes = class_logits.shape[-1]
        boxes_all = self.box_coder.decode(box_deltas, rois)
        scores_all = F.softmax(class_logits, -1)
        if background_last:  # to the canonical order after the softmax: probabilities are per element
            scores_all = torch.cat([scores_all[:, -1:], scores_all[:, :-1]], dim=1)
            boxes_all = boxes_all.reshape(class_logits.shape[0], -1, 4)  # [R, K - 1, 4], also for R = 0
            boxes_all = torch.cat([boxes_all[:, :1], boxes_all], dim=1)  # a placeholder background box, dropped below
        counts = [r.shape[0] for r in rois]
        results = []
        for boxes, scores, size in zip(boxes_all.split(counts), scores_all.split(counts), image_sizes):
            boxes = box_ops.clip_boxes_to_image(boxes, size)
            labels = torch.arange(num_classes, device=boxes.device).view(1, -1).expand_as(scores)
            boxes, scores, labels = boxes[:, 1:].reshape(-1, 4), scores[:, 1:].reshape(-1), labels[:, 1:].reshape(-1)
            pairs = Fates(scores.shape[0], scores.device) if fates is not None else None
            keep = torch.where(scores > self.score_thresh)[0]
            if pairs is not None:
                pairs.filter(keep, BELOW_SCORE)
            boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
            keep = box_ops.remove_small_boxes(boxes, min_size=self.min_size) if self.min_size > 0 else \
                torch.arange(len(boxes), device=boxes.device)
            if pairs is not None:
                pairs.filter(keep, TOO_SMALL)
            boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
            # NMS groups by class; Detectron2 numbers its classes from 0, and batched NMS's coordinate offsets (so the
            # rounding of its IoUs) depend on the numbers
            keep = box_ops.batched_nms(boxes, scores, labels - 1 if background_last else labels, self.nms_thresh)
            if pairs is not None:
                fates.append(pairs.rank(keep, self.detections_per_img).view(-1, num_classes - 1))
            keep = keep[: self.detections_per_img]
            results.append({"boxes": boxes[keep], "scores": scores[keep], "labels": labels[keep]})
        return results
