"""Eq. (1): which pyramid level a RoI is pooled from.

    k = floor( k0 + log2( sqrt(w * h) / 224 ) ),  k0 = 4,  clamped to the levels that exist (P2..P5)

224 is the canonical ImageNet pre-training size: a 224^2 RoI is pooled from P4 (the C4 of single-scale Faster R-CNN),
a RoI half that size from P3, twice that size from P5.
"""
from __future__ import annotations

import torch
from torch import Tensor
from torchvision.ops import box_area

CANONICAL_SIZE = 224
CANONICAL_LEVEL = 4


def roi_levels(boxes: Tensor, k_min: int = 2, k_max: int = 5, canonical_size: float = CANONICAL_SIZE,
               canonical_level: int = CANONICAL_LEVEL, eps: float = 1e-6) -> Tensor:
    """Eq. (1) for RoIs [R, 4] (x1, y1, x2, y2, resized-input pixels: the scale the
    network sees) -> levels [R] (int64, k_min..k_max).

    eps guards against float rounding at exact powers of two (torchvision uses the same 1e-6).
    """
    s = torch.sqrt(box_area(boxes))
    k = torch.floor(canonical_level + torch.log2(s / canonical_size) + torch.tensor(eps, dtype=s.dtype))
    return torch.clamp(k, min=k_min, max=k_max).to(torch.int64)
