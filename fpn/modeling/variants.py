"""The paper's ablation variants (Tables 1-3): which maps the RPN and Fast R-CNN read, and with which head.

| name       | paper row        | features              | RPN anchors               | Fast R-CNN                    |
|------------|------------------|-----------------------|---------------------------|-------------------------------|
| fpn        | Table 1c / 3c    | P2..P6 (top-down+lat.)| one area per level        | Eq. (1) on P2..P5, 7x7, 2-fc  |
| bottom_up  | Table 1d / 2d    | 1x1 + 3x3 on each C_k | one area per level        | Eq. (1) on P2..P5, 7x7, 2-fc  |
| no_lateral | Table 1e / 2e    | top-down, no laterals | one area per level        | Eq. (1) on P2..P5, 7x7, 2-fc  |
| p2_only    | Table 1f / 2f    | P2 of the full FPN    | all five areas on P2      | P2 only, 7x7, 2-fc            |
| c4         | Table 1a / 3a    | C4 (single scale)     | all five areas on C4      | 14x14 on C4, conv5 head       |
| c5         | Table 1b / 3b    | C5 (single scale)     | all five areas on C5      | 7x7 on C5, 2-fc               |

RPN candidates before NMS: the pyramid keeps 2000 (training) / 1000 (test) per level, 10000 / 5000 over P2..P6
(the paper, as Detectron's FPN); the C4 / C5 baselines keep py-faster-rcnn / Detectron's C4 setting, 12000 / 6000,
on their one map; p2_only, the pyramid's P2 with all five anchor sizes, keeps the pyramid's budget per anchor size
(2000 / 1000 each, NMS per size), so one dominant size cannot crowd out the others. After NMS every variant keeps
2000 / 1000 proposals.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from .anchors import FPN_ANCHOR_SIZES

ALL_SIZES = (32, 64, 128, 256, 512)


@dataclass(frozen=True)
class Variant:
    """pyramid: FeaturePyramid mode (None: no pyramid); rpn_anchors: {map: anchor sizes}; roi_maps: maps Fast R-CNN pools
    from (Eq. (1) picks among them); box_head: "2fc" or "conv5"; roi_output_size: pooled size S;
    rpn_pre_nms_top_n: (training, test) RPN candidates kept before NMS per map, or per anchor size when
    rpn_pre_nms_per is "anchor_size"."""

    name: str
    pyramid: Optional[str]
    rpn_anchors: dict
    roi_maps: tuple
    box_head: str = "2fc"
    roi_output_size: int = 7
    rpn_pre_nms_top_n: tuple = (2000, 1000)
    rpn_pre_nms_per: str = "map"

    @property
    def last_stage(self) -> str:
        return "c4" if self.box_head == "conv5" else "c5"

    @property
    def pyramid_outputs(self) -> tuple:
        return tuple(dict.fromkeys([*self.rpn_anchors, *self.roi_maps]))


_P2_P5 = ("p2", "p3", "p4", "p5")
_SINGLE_MAP = (12000, 6000)
VARIANTS: dict[str, Variant] = {
    "fpn": Variant("fpn", "fpn", dict(FPN_ANCHOR_SIZES), _P2_P5),
    "bottom_up": Variant("bottom_up", "bottom_up", dict(FPN_ANCHOR_SIZES), _P2_P5),
    "no_lateral": Variant("no_lateral", "no_lateral", dict(FPN_ANCHOR_SIZES), _P2_P5),
    "p2_only": Variant("p2_only", "fpn", {"p2": ALL_SIZES}, ("p2",), rpn_pre_nms_per="anchor_size"),
    "c4": Variant("c4", None, {"c4": ALL_SIZES}, ("c4",), box_head="conv5", roi_output_size=14,
                  rpn_pre_nms_top_n=_SINGLE_MAP),
    "c5": Variant("c5", None, {"c5": ALL_SIZES}, ("c5",), rpn_pre_nms_top_n=_SINGLE_MAP),
}


def get_variant(name: str) -> Variant:
    if name not in VARIANTS:
        raise ValueError(f"unknown variant {name!r}; choose one of {', '.join(VARIANTS)}")
    return VARIANTS[name]
