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
               canonical_level: int = CANONICAL_LEVEL, eps: float = 1e-6, mapper: str = "torchvision") -> Tensor:
    """Eq. (1) for RoIs [R, 4] (x1, y1, x2, y2, resized-input pixels: the scale the
    network sees) -> levels [R] (int64, k_min..k_max).

    eps guards against float rounding at exact powers of two: mapper="torchvision" adds 1e-6 (eps) after the log2,
    as torchvision; "detectron2" adds 1e-8 inside it, log2(s / 224 + 1e-8) (detectron2/modeling/poolers.py).
    """
    s = torch.sqrt(box_area(boxes))
    if mapper == "detectron2":
        return torch.clamp(torch.floor(canonical_level + torch.log2(s / canonical_size + 1e-8)),
                           min=k_min, max=k_max).to(torch.int64)
    if mapper != "torchvision":
        raise ValueError(f"level mapper must be 'torchvision' or 'detectron2', got {mapper!r}")
    k = torch.floor(canonical_level + torch.log2(s / canonical_size) + torch.tensor(eps, dtype=s.dtype))
    return torch.clamp(k, min=k_min, max=k_max).to(torch.int64)
