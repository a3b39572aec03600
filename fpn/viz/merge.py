"""Fig. 3 on a live image: one top-down step, lateral 1x1(C_k) + 2x-upsampled coarser map = merged map, then P_k."""
from __future__ import annotations

from typing import Any

import numpy as np

from .draw import BLACK, add_title, blank, hstack, note_image, put_text, upscale_nearest, vstack
from .features import aggregate, colorbar, is_diverging, meaning, render, value_range


def _factor(width: int, target: int) -> int:
    """Nearest-neighbour upscale factor that makes a map of `width` cells at most `target` px wide (at least 1)."""
    return max(1, int(target // max(width, 1)))


def merge_terms(ex: Any, level: str) -> list[tuple[str, Any, str]]:
    """Fig. 3's terms at one level: [(title, [C, h, w] map or None, why it is missing)], lateral, top-down, sum."""
    k = int(level[1:])
    merged = ex.merged.get(level)
    return [(f"lateral: 1x1 conv of C{k}", ex.lateral.get(level),
             f"no lateral connection at {level.upper()} in '{ex.variant}'"),
            (f"top-down: 2x up(P{k + 1} merged)", ex.top_down.get(level),
             "top level: nothing coarser to upsample" if ex.variant != "bottom_up"
             else "no top-down pathway in 'bottom_up'"),
            ("sum (merge by addition)", merged if merged is not None else ex.lateral.get(level), "")]


def merge_view(ex: Any, level: str = "p4", mode: str = "l2", channel: int = 0, target_width: int = 256) -> np.ndarray:
    """Fig. 3 for one level k: lateral 1x1(C_k) + 2x-upsampled coarser map = merged map, and P_k after the 3x3 conv.

    The three terms share one colour scale (PCA: one basis, fitted on the sum; its colour bar gives the numbers), so
    the sum visibly combines the two; P_k has its own. Variants without a term (bottom_up: no top-down; no_lateral:
    no lateral below the top) say so. Returns [H, W, 3] uint8 RGB.
    """
    level = level.lower()
    if not ex.merged and not ex.lateral:
        return note_image(f"The '{ex.variant}' variant has no top-down pathway: nothing is merged (Fig. 3 needs a "
                          "feature pyramid).", 520, 60)
    if level not in ex.merged and level not in ex.lateral:
        have = sorted(set(ex.merged) | set(ex.lateral))
        return note_image(f"{level.upper()} has no merge step in the '{ex.variant}' variant (levels with one: "
                          f"{', '.join(h.upper() for h in have)}).", 520, 60)
    terms = merge_terms(ex, level)
    present = [t for t in terms if t[1] is not None]
    pictures = render([t[1] for t in present], mode, channel, shared_scale=True)
    ref = present[0][1]
    factor = _factor(ref.shape[-1], target_width)
    by_title = {t[0]: upscale_nearest(p, factor) for t, p in zip(present, pictures)}
    h, w = ref.shape[-2] * factor, ref.shape[-1] * factor
    panels = []
    for title, tensor, why in terms:
        pic = note_image(why, w, h) if tensor is None else by_title[title]
        size = (f"{tensor.shape[-2]} rows x {tensor.shape[-1]} cols, {tensor.shape[0]} ch" if tensor is not None
                else "absent")
        panels.append(add_title(pic, [title, size], min_width=150))
    out_map = ex.pyramid.get(level)
    if out_map is not None:
        pic = upscale_nearest(render([out_map], mode, channel)[0], factor)
        panels.append(add_title(pic, [f"{level.upper()} = 3x3 conv(sum)", "(its own colour scale)"], min_width=150))
    glyphs = ["+", "=", "->"]
    row = []
    for i, p in enumerate(panels):
        row.append(p)
        if i < len(panels) - 1:
            g = blank(p.shape[0], 30)
            put_text(g, glyphs[min(i, 2)], (6, p.shape[0] // 2 - 8), BLACK, 0.8, 2)
            row.append(g)
    figure = hstack(row, gap=2, align="top")
    what = meaning(mode, channel, int(ref.shape[0]))
    if mode == "pca":
        bar = colorbar(mode, what + " (one basis for the three terms)", width=min(figure.shape[1], 520))
    else:
        lo, hi = value_range([aggregate(t[1], mode, channel) for t in present], is_diverging(mode))
        bar = colorbar(mode, what + "; one scale for the three terms", width=min(figure.shape[1], 520), lo=lo, hi=hi)
    title = f"Fig. 3 at {level.upper()} (stride {ex.strides.get(level, 2 ** int(level[1:]))}): a top-down step"
    return vstack([add_title(figure, title), bar], gap=4)
