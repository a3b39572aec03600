"""Detectron2's Fast R-CNN (fast_rcnn_R_50_FPN_1x, the paper's Table 2) on the proposals of an RPN model.

Detectron2 trained and evaluated that model on proposals precomputed by rpn_R_50_FPN_1x (its config's
PROPOSAL_FILES_TEST), the top DATASETS.PRECOMPUTED_PROPOSAL_TOPK_TEST = 1000 per image. Here the pair runs live as
one detector: its RPN stage is `ProposalsFrom`, the RPN model's own backbone, pyramid and RPN on the same resized
input (both models share Detectron2's input convention, so their resized images are the same), keeping the top 1000;
Fast R-CNN then reads its own backbone's features. Detectron2 stored its proposals in original-image pixels and
resized them back, which rounds differently: the pair is Detectron2's method, not bit for bit its numbers.
"""
from __future__ import annotations

from typing import Any, Optional

from torch import Tensor, nn
from torchvision.models.detection.image_list import ImageList

from ..modeling.build import build_detector
from ..modeling.detector import FasterRCNN

#: Detectron2's DATASETS.PRECOMPUTED_PROPOSAL_TOPK_TEST
PROPOSALS_PER_IMAGE = 1000


class ProposalsFrom(nn.Module):
    """The RPN stage of a detector, taken from another (RPN-only) detector with the same input convention.

    forward(images, features, targets=None, trace=None) -> (proposals per image [P, 4] in the resized input's pixels,
    {}): `features` (the Fast R-CNN's own maps) are not read; the RPN model runs its backbone on `images.tensors`.
    Inference only. `anchors` is the RPN model's, so the detector's `rpn_maps` and traces name its maps.
    """

    def __init__(self, rpn_model: FasterRCNN, top_n: int = PROPOSALS_PER_IMAGE) -> None:
        super().__init__()
        self.bottom_up, self.pyramid, self.rpn = rpn_model.bottom_up, rpn_model.pyramid, rpn_model.rpn
        self.rpn.test_selector.post_nms_top_n = top_n  # NMS keeps them best first: the top n of its 2000
        self.anchors = self.rpn.anchors
        self.maps = list(self.anchors.sizes)

    def forward(self, images: ImageList, features: dict[str, Tensor], targets: Optional[list] = None,
                trace: Optional[dict] = None) -> tuple[list[Tensor], dict[str, Tensor]]:
        if self.training:
            raise RuntimeError("a Fast R-CNN on another model's proposals is for inference only")
        maps = self.bottom_up(images.tensors)
        maps = self.pyramid(maps) if self.pyramid is not None else maps
        return self.rpn(images, {k: maps[k] for k in self.maps}, None, trace)


def fast_rcnn_on_proposals(state: dict[str, Tensor], rpn_model: FasterRCNN, variant: str, backbone: str,
                           num_classes: int, options: dict[str, Any], where: str) -> FasterRCNN:
    """A Fast R-CNN detector (converted weights `state`, no RPN in them) whose proposals come from `rpn_model`."""
    model = build_detector(variant, backbone, num_classes=num_classes, **options)
    model.rpn = ProposalsFrom(rpn_model)
    expected = model.state_dict()
    missing = [k for k in expected if k not in state and not k.startswith("rpn.")]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        raise ValueError(f"{where} does not fit Detectron2's Fast R-CNN {backbone}-{variant}: missing {missing[:4]}, "
                         f"unexpected {unexpected[:4]}")
    model.load_state_dict({**{k: v for k, v in expected.items() if k.startswith("rpn.")}, **state}, strict=True)
    model.exact(model.is_exact)  # one inference path for both halves
    return model.eval()
