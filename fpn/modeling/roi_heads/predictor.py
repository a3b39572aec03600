"""Fast R-CNN predictor: class scores and class-specific box regression from the head's representation."""
from __future__ import annotations

import torch
from torch import Tensor, nn


class FastRCNNPredictor(nn.Module):
    """[R, in_features] -> class logits [R, K] and box deltas [R, 4K] (K classes including background 0).

    background_last: Detectron2's layout instead: logits [R, K] with the background LAST (column K - 1, classes 1..K-1
    in columns 0..K-2) and deltas [R, 4(K - 1)] for the classes only (no background box). `FastRCNNHeads` keeps this
    raw layout for the scores (the softmax must run in the weights' order to round as Detectron2 does) and gives
    traces and losses the canonical one (`canonical`).
    """

    def __init__(self, in_features: int, num_classes: int, background_last: bool = False) -> None:
        super().__init__()
        self.background_last = background_last
        self.cls_score = nn.Linear(in_features, num_classes)
        self.bbox_pred = nn.Linear(in_features, (num_classes - int(background_last)) * 4)
        nn.init.normal_(self.cls_score.weight, std=0.01)
        nn.init.normal_(self.bbox_pred.weight, std=0.001)
        nn.init.zeros_(self.cls_score.bias)
        nn.init.zeros_(self.bbox_pred.bias)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return self.cls_score(x), self.bbox_pred(x)

    def canonical(self, class_logits: Tensor, box_deltas: Tensor) -> tuple[Tensor, Tensor]:
        """Raw outputs -> background-first logits [R, K] and deltas [R, 4K] (zeros for the background's box)."""
        if not self.background_last:
            return class_logits, box_deltas
        logits = torch.cat([class_logits[:, -1:], class_logits[:, :-1]], dim=1)
        return logits, torch.cat([box_deltas.new_zeros((box_deltas.shape[0], 4)), box_deltas], dim=1)
