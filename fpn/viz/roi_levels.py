"""Eq. (1) on a live image: which pyramid level each RoI is pooled from, k = floor(4 + log2(sqrt(w h) / 224)),
the formula filled in for one box, and the S x S pooled features of that box."""
from __future__ import annotations

import math
from typing import Any, Optional, Sequence

import numpy as np
import torch

from ..modeling.roi_level import CANONICAL_LEVEL, CANONICAL_SIZE, roi_levels
from .draw import (BLACK, WHITE, add_title, bar_chart, blank, draw_box, hstack, legend, level_color, put_text, to_rgb_uint8,
                   upscale_nearest, vstack)
from .features import colorize


def eq1_level(w: float, h: float, k_min: int = 2, k_max: int = 5) -> int:
    """Eq. (1) for one box of width w and height h (resized-input pixels), via `fpn.modeling.roi_level.roi_levels`."""
    box = torch.tensor([[0.0, 0.0, float(w), float(h)]])
    return int(roi_levels(box, k_min=k_min, k_max=k_max)[0])


def eq1_text(w: float, h: float, k_min: int = 2, k_max: int = 5) -> str:
    """The formula with the numbers of one box, e.g. for 224 x 224:
    "k = floor(4 + log2(sqrt(224.0 x 224.0) / 224)) = floor(4 + log2(224.0 / 224)) = floor(4.00) = 4 -> P4"."""
    s = math.sqrt(max(w * h, 1e-12))
    raw = CANONICAL_LEVEL + math.log2(s / CANONICAL_SIZE)
    k = eq1_level(w, h, k_min, k_max)
    clamp = "" if k_min <= math.floor(raw + 1e-6) <= k_max else f", clamped to [{k_min}, {k_max}]"
    return (f"k = floor({CANONICAL_LEVEL} + log2(sqrt({w:.1f} x {h:.1f}) / {CANONICAL_SIZE})) "
            f"= floor({CANONICAL_LEVEL} + log2({s:.1f} / {CANONICAL_SIZE})) = floor({raw:.2f}) = {math.floor(raw + 1e-6)}"
            f"{clamp} -> P{k}")


def roi_levels_view(image: Any, boxes: Any, levels: Any, selected: Optional[int] = None,
                    labels: Optional[Sequence[str]] = None) -> np.ndarray:
    """Boxes [N, 4] (pixels of `image`) coloured by their Eq. (1) level k [N]; the selected one drawn thick and
    labelled. Returns RGB uint8 with a level legend."""
    img = to_rgb_uint8(image).copy()
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    levels = np.asarray(levels, dtype=np.int64).reshape(-1)
    for i in np.argsort(-(boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]), kind="stable"):
        if i != selected:
            draw_box(img, boxes[i], level_color(int(levels[i])), 1)
    if selected is not None and 0 <= selected < len(boxes):
        b = boxes[selected]
        draw_box(img, b, WHITE, 5)
        name = labels[selected] if labels is not None else f"#{selected}"
        draw_box(img, b, level_color(int(levels[selected])), 3, f"{name} -> P{int(levels[selected])}")
    present = sorted(set(levels.tolist())) or [2, 3, 4, 5]
    return vstack([img, legend([(f"P{k}", level_color(k)) for k in present])], gap=4)


def levels_histogram(counts: dict[int, int], title: str = "RoIs per level (Eq. 1)") -> np.ndarray:
    """Bar chart of RoIs per level k ({2: n2, 3: n3, ...})."""
    return bar_chart({f"P{k}": v for k, v in sorted(counts.items())}, title,
                     {f"P{k}": level_color(k) for k in counts}, width=max(240, 64 * len(counts)))


def pooled_view(pooled: Any, num_channels: int = 4, cell: int = 16) -> np.ndarray:
    """[C, S, S] pooled features of one RoI: the L2 norm over channels and the `num_channels` channels with the most
    spatial variance, each S x S grid upscaled `cell` times. Returns RGB uint8."""
    p = torch.as_tensor(pooled).detach().float().cpu()
    if p.dim() != 3:
        raise ValueError(f"expected pooled features [C, S, S], got {tuple(p.shape)}")
    s = p.shape[-1]
    panels = [add_title(upscale_nearest(colorize(torch.linalg.vector_norm(p, dim=0).numpy()), cell),
                        [f"L2 of {p.shape[0]} ch", f"{s}x{s}"], min_width=s * cell)]
    top = torch.argsort(p.flatten(1).var(dim=1), descending=True)[:num_channels]
    for c in top.tolist():
        pic = upscale_nearest(colorize(p[c].numpy(), diverging=True), cell)
        panels.append(add_title(pic, [f"channel {c}", f"{s}x{s}"], min_width=s * cell))
    return hstack(panels, gap=6)


def roi_formula_panel(w: float, h: float, k_min: int = 2, k_max: int = 5, width: int = 760) -> np.ndarray:
    """The filled-in Eq. (1) as a picture (one text line per part)."""
    text = eq1_text(w, h, k_min, k_max)
    parts = text.split(" = ")
    lines = [f"box: w = {w:.1f} px, h = {h:.1f} px (resized input)", f"k = {parts[1]}"] + [f"  = {p}" for p in parts[2:]]
    img = blank(20 * len(lines) + 8, width, WHITE)
    for i, line in enumerate(lines):
        put_text(img, line, (6, 4 + 20 * i), BLACK, 0.5)
    return img
