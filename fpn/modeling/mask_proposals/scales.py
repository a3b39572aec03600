"""Window geometry of Fig. 4: which image region and which object sizes each (level, MLP) pair handles.

A window is one position of an MLP on one pyramid level. On level P_k (stride s = 2**k pixels):

    MLP   window  canonical object size   mask region (side)        shift tolerance
    5x5   5x5     8 s                     10 s                      s
    7x7   7x7     8 s * sqrt(2)           10 s * sqrt(2) (~14.1 s)  s * sqrt(2)

so P3 5x5 -> 80x80 region for 64x64 objects, P4 -> 160x160 [128x128], P5 -> 320x320 [256x256] (Fig. 4); the 7x7 MLP
(7 ~ 5 * sqrt(2)) is the same rule half an octave up. Region / canonical = 1.25 and tolerance / canonical = 1/8 for
both MLPs; the tolerance is DeepMask's +-16 px for a 128 px object.

Scale bands: every (level, MLP) pair in the model is sorted by canonical size c_0 < c_1 < ...; pair i owns the object
sizes in [sqrt(c_{i-1} c_i), sqrt(c_i c_{i+1})), i.e. each object belongs to the pair whose canonical size is nearest
on a log scale. With both MLPs this is canonical * 2**(+-1/4) (the 5x5 and 7x7 bands tile each octave); with a single
MLP it is canonical * 2**(+-1/2). The finest pair's band is open below and the coarsest pair's band open above, so every
object has exactly one band. Object size = the longer side of its box (DeepMask's "maximal dimension"), in pixels of
the resized image the network sees.

Window centre: position (i, j) of a level with stride s sits at image point (x, y) = (j * s, i * s), the same
convention as torchvision's anchor generator (and our detector's anchors).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

MLP_WINDOWS: dict[str, int] = {"5x5": 5, "7x7": 7}
MLP_INDEX: dict[str, int] = {"5x5": 0, "7x7": 1}  # the "mlps" ids in the model's output
MLP_CHOICES: dict[str, tuple[str, ...]] = {"5x5": ("5x5",), "7x7": ("7x7",), "dual": ("5x5", "7x7")}
LEVELS: tuple[str, ...] = ("p2", "p3", "p4", "p5", "p6")

REGION_OVER_CANONICAL = 1.25  # 10 s region for an 8 s object (Fig. 4)
TOLERANCE_OVER_CANONICAL = 1.0 / 8.0  # DeepMask: +-16 px for a 128 px object


@dataclass(frozen=True)
class WindowScale:
    """Geometry of one (level, MLP) pair. All lengths in pixels of the resized input image."""

    level: str  # "p2".."p6"
    stride: int  # 2**k
    mlp: str  # "5x5" or "7x7"
    canonical: float  # object size (longer box side) this pair is trained for
    region: float  # side of the square image region its mask covers, centred on the window centre
    tolerance: float  # |dx|, |dy| of the object centre from the window centre allowed for a positive
    band_lo: float  # object sizes in [band_lo, band_hi) are positives for this pair (0 / inf at the ends)
    band_hi: float

    @property
    def level_index(self) -> int:
        return int(self.level[1:])

    @property
    def mlp_index(self) -> int:
        return MLP_INDEX[self.mlp]

    @property
    def name(self) -> str:
        return f"{self.level}/{self.mlp}"


def check_levels(levels) -> tuple[str, ...]:
    levels = tuple(levels)
    if not levels or any(lv not in LEVELS for lv in levels) or len(set(levels)) != len(levels):
        raise ValueError(f"levels must be distinct names from {LEVELS}, got {levels!r}")
    return tuple(sorted(levels, key=LEVELS.index))


def check_mlps(mlps: str) -> tuple[str, ...]:
    if mlps not in MLP_CHOICES:
        raise ValueError(f"mlps must be one of {tuple(MLP_CHOICES)}, got {mlps!r}")
    return MLP_CHOICES[mlps]


def window_scales(levels, mlps: str) -> list[WindowScale]:
    """All (level, MLP) pairs of a model, sorted by canonical object size (fine to coarse), with their bands."""
    levels = check_levels(levels)
    pairs = []
    for level in levels:
        stride = 2 ** int(level[1:])
        for mlp in check_mlps(mlps):
            canonical = 8.0 * stride * (math.sqrt(2.0) if mlp == "7x7" else 1.0)
            pairs.append((canonical, level, stride, mlp))
    pairs.sort()
    canon = [p[0] for p in pairs]
    scales = []
    for i, (c, level, stride, mlp) in enumerate(pairs):
        lo = math.sqrt(canon[i - 1] * c) if i > 0 else 0.0
        hi = math.sqrt(c * canon[i + 1]) if i + 1 < len(canon) else math.inf
        scales.append(
            WindowScale(level, stride, mlp, c, REGION_OVER_CANONICAL * c, TOLERANCE_OVER_CANONICAL * c, lo, hi)
        )
    return scales
