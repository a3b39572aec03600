"""Fast R-CNN on the pyramid (Sec. 4.2): pooler (Eq. 1) -> box head -> predictor -> loss / post-processing."""
from __future__ import annotations

from typing import Optional

from torch import Tensor, nn
from torchvision.models.detection._utils import BoxCoder
from torchvision.models.detection.roi_heads import fastrcnn_loss

from .box_head import ResNetConv5Head, TwoMLPHead
from .pooler import POOL_MODES, LevelRoIPooler
from .postprocess import DetectionPostProcessor
from .predictor import FastRCNNPredictor
from .sampling import RoISampler
from ..trace import RoITrace, Trace

__all__ = ["POOL_MODES", "FastRCNNHeads", "LevelRoIPooler", "TwoMLPHead", "ResNetConv5Head", "FastRCNNPredictor", "RoISampler",
           "DetectionPostProcessor"]

BOX_CODER_WEIGHTS = (10.0, 10.0, 5.0, 5.0)


class FastRCNNHeads(nn.Module):
    """features + proposals -> detections (eval) or losses (training: loss_classifier, loss_box_reg).

    Boxes are in resized-input pixels. `trace`, when a Trace, receives `trace.roi` (a RoITrace): the RoIs, their
    Eq. (1) levels, the pooled
    features, the class logits, the box deltas and, in eval mode, the fate of every (RoI, class) pair (`fpn.modeling.fates`).
    """

    def __init__(self, pooler: LevelRoIPooler, box_head: nn.Module, predictor: FastRCNNPredictor,
                 sampler: RoISampler, postprocessor: DetectionPostProcessor) -> None:
        super().__init__()
        self.pooler = pooler
        self.box_head = box_head
        self.predictor = predictor
        self.sampler = sampler
        self.postprocessor = postprocessor

    def forward(self, features: dict[str, Tensor], proposals: list[Tensor], image_sizes: list[tuple[int, int]],
                targets: Optional[list[dict[str, Tensor]]] = None, trace: Optional[Trace] = None
                ) -> tuple[list[dict[str, Tensor]], dict[str, Tensor]]:
        if self.training:
            if targets is None:
                raise ValueError("Fast R-CNN needs targets in training mode")
            rois, labels, regression_targets = self.sampler(proposals, targets)
        else:
            rois = proposals
        pooled, levels = self.pooler(features, rois)
        raw_logits, raw_deltas = self.predictor(self.box_head(pooled))
        class_logits, box_deltas = self.predictor.canonical(raw_logits, raw_deltas)
        if trace is not None:
            trace.roi = RoITrace(rois, levels, pooled, class_logits, box_deltas)
        if self.training:
            loss_cls, loss_box = fastrcnn_loss(class_logits, box_deltas, labels, regression_targets)
            return [], {"loss_classifier": loss_cls, "loss_box_reg": loss_box}
        fates = trace.roi.detection_fates if trace is not None else None
        return self.postprocessor(raw_logits, raw_deltas, rois, image_sizes, fates,
                                  background_last=self.predictor.background_last), {}


def box_coder() -> BoxCoder:
    return BoxCoder(BOX_CODER_WEIGHTS)
