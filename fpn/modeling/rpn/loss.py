"""RPN loss: 256 anchors sampled per image (up to half positive); BCE objectness + smooth-L1 box regression."""
from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as F
from torchvision.models.detection._utils import BalancedPositiveNegativeSampler


class RPNLoss:
    """(objectness [sum A], deltas [sum A, 4], labels per image, regression targets per image) -> (cls loss, box loss).

    The box loss sums over positives and divides by the number of sampled anchors, as in Detectron / torchvision.
    """

    def __init__(self, batch_size_per_image: int = 256, positive_fraction: float = 0.5) -> None:
        self.sampler = BalancedPositiveNegativeSampler(batch_size_per_image, positive_fraction)

    def __call__(
        self, objectness: Tensor, deltas: Tensor, labels: list[Tensor], regression_targets: list[Tensor]
    ) -> tuple[Tensor, Tensor]:
        pos, neg = self.sampler(labels)
        pos = torch.where(torch.cat(pos))[0]
        neg = torch.where(torch.cat(neg))[0]
        sampled = torch.cat([pos, neg])
        labels_all = torch.cat(labels)
        targets_all = torch.cat(regression_targets)
        box_loss = F.smooth_l1_loss(deltas[pos], targets_all[pos], beta=1 / 9, reduction="sum") / max(sampled.numel(), 1)
        cls_loss = F.binary_cross_entropy_with_logits(objectness[sampled], labels_all[sampled])
        return cls_loss, box_loss
