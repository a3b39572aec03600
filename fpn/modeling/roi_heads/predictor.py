"""Fast R-CNN predictor: class scores and class-specific box regression from the head's representation."""
from __future__ import annotations

from torch import Tensor, nn


class FastRCNNPredictor(nn.Module):
    """[R, in_features] -> class logits [R, K] and box deltas [R, 4K] (K classes including background 0)."""

    def __init__(self, in_features: int, num_classes: int) -> None:
        super().__init__()
        self.cls_score = nn.Linear(in_features, num_classes)
        self.bbox_pred = nn.Linear(in_features, num_classes * 4)
        nn.init.normal_(self.cls_score.weight, std=0.01)
        nn.init.normal_(self.bbox_pred.weight, std=0.001)
        nn.init.zeros_(self.cls_score.bias)
        nn.init.zeros_(self.bbox_pred.bias)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return self.cls_score(x), self.bbox_pred(x)
