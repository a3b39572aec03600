"""RoI feature extraction on the pyramid: each RoI is pooled from the level Eq. (1) gives it (Sec. 4.2)."""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn
from torchvision.ops import roi_pool

from ..roi_level import roi_levels
from .roi_align import roi_align  # torchvision's, with a faster backward on the CPU

#: RoIAlign (sampling ratio 2) or RoIPool (the paper's).
POOL_MODES = ("align", "pool")


class LevelRoIPooler(nn.Module):
    """features {level: [N, C, H, W]}, boxes per image [R_i, 4] -> pooled [sum R_i, C, S, S] and levels [sum R_i].

    Args:
        strides: {level name: stride in pixels} of the maps RoIs may be pooled from, e.g. {"p2": 4, ..., "p5": 32};
            Eq. (1) is clamped to the levels present (a single map receives every RoI).
        output_size: S (7 for the 2-fc head, 14 for the C4 baseline's conv5 head).
        mode: "align" (RoIAlign) or "pool" (RoIPool, as in the paper).
        sampling_ratio: RoIAlign's samples per bin side (torchvision's 2; 0 = adaptive, Detectron2's).
        aligned: RoIAlign's half-pixel offset (False as torchvision; True = Detectron2's ROIAlignV2).
        mapper: Eq. (1)'s rounding guard, "torchvision" or "detectron2" (see `fpn.modeling.roi_level.roi_levels`).
    Boxes are (x1, y1, x2, y2) in resized-input pixels (the padding is at the right and bottom, so
    padded and resized pixels coincide).
    """

    def __init__(self, strides: dict[str, int], output_size: int = 7, mode: str = "align", sampling_ratio: int = 2,
                 aligned: bool = False, mapper: str = "torchvision") -> None:
        super().__init__()
        if mode not in POOL_MODES:
            raise ValueError(f"RoI pooling mode must be 'align' or 'pool', got {mode!r}")
        self.strides = dict(strides)
        self.k = {name: stride.bit_length() - 1 for name, stride in strides.items()}  # stride 2**k -> level k
        self.output_size = output_size
        self.mode = mode
        self.sampling_ratio = sampling_ratio
        self.aligned = aligned
        self.mapper = mapper

    def _pool(self, x: Tensor, rois: Tensor, stride: int) -> Tensor:
        if self.mode == "align":
            return roi_align(x, rois, self.output_size, 1.0 / stride, self.sampling_ratio, self.aligned)
        return roi_pool(x, rois, self.output_size, spatial_scale=1.0 / stride)

    def forward(self, features: dict[str, Tensor], boxes: list[Tensor]) -> tuple[Tensor, Tensor]:
        names = list(self.strides)
        concat = torch.cat(boxes)
        ids = torch.cat([torch.full_like(b[:, :1], i) for i, b in enumerate(boxes)])
        rois = torch.cat([ids, concat], dim=1)
        ks = [self.k[n] for n in names]
        levels = roi_levels(concat, k_min=min(ks), k_max=max(ks), mapper=self.mapper)
        if len(names) == 1:
            return self._pool(features[names[0]], rois, self.strides[names[0]]), levels
        x0 = features[names[0]]
        out = torch.zeros((rois.shape[0], x0.shape[1], self.output_size, self.output_size), dtype=x0.dtype, device=x0.device)
        for name in names:
            idx = torch.where(levels == self.k[name])[0]
            out[idx] = self._pool(features[name], rois[idx], self.strides[name]).to(out.dtype)
        return out, levels
