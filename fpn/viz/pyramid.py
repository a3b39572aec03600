"""Fig. 1(d) and Fig. 3 on a live image: the bottom-up maps C2..C5 and the pyramid P2..P6 at their true relative
resolutions, and the merge-by-addition of one top-down step (lateral 1x1 term + 2x upsampled coarser map)."""
from __future__ import annotations

from typing import Any, Optional

import cv2
import numpy as np

from .draw import BLACK, add_title, blank, hstack, level_color, note_image, put_text, upscale_nearest, vstack
from .features import describe, render


def _factor(width: int, target: int) -> int:
    """Common nearest-neighbour upscale factor: the widest map becomes about `target` px wide."""
    return max(1, int(round(target / max(width, 1))))


def level_caption(name: str, stride: int, shape: tuple[int, ...]) -> list[str]:
    """["P3  stride 8", "48x64"] for a [C, 48, 64] map."""
    return [f"{name.upper()}  stride {stride}", f"{shape[-2]}x{shape[-1]}"]


def maps_row(maps: dict[str, Any], strides: dict[str, int], factor: int, mode: str = "l2", channel: int = 0,
             highlight: Optional[str] = None) -> np.ndarray:
    """One row of maps, each drawn at (its grid size x factor): equal factor = true relative resolution."""
    pictures = render(list(maps.values()), mode, channel)
    panels = []
    for (name, feat), pic in zip(maps.items(), pictures):
        pic = upscale_nearest(pic, factor)
        if name == highlight:
            pic = pic.copy()
            cv2.rectangle(pic, (0, 0), (pic.shape[1] - 1, pic.shape[0] - 1), level_color(name), 3)
        caption = level_caption(name, strides.get(name, 0), tuple(feat.shape)) + [describe(mode, channel, feat.shape[0])]
        panels.append(add_title(pic, caption, min_width=110))
    return hstack(panels, gap=10)


def pyramid_view(ex: Any, mode: str = "l2", channel: int = 0, highlight: Optional[str] = None,
                 target_width: int = 256) -> np.ndarray:
    """Bottom-up C2..C5 (top row) and P2..P6 (bottom row) of an `Exploration`, as heat maps (`mode` "l2", "mean",
    "channel") or PCA colours ("pca"); every map upscaled by the same factor, so C2 / P2 (stride 4) appear 8x wider
    than C5 / P5 (stride 32). Returns RGB uint8."""
    rows = []
    widest = max([f.shape[-1] for f in ex.bottom_up.values()] + [1])
    factor = _factor(widest, target_width)
    bottom_up = {k: ex.bottom_up[k] for k in sorted(ex.bottom_up)}
    rows.append(add_title(maps_row(bottom_up, ex.strides, factor, mode, channel, highlight),
                          "Bottom-up pathway (ResNet stages C2..C5)", color=(90, 90, 90)))
    if ex.pyramid:
        pyramid = {k: ex.pyramid[k] for k in sorted(ex.pyramid)}
        rows.append(add_title(maps_row(pyramid, ex.strides, factor, mode, channel, highlight),
                              f"Feature pyramid P2..P6 ({ex.variant}: top-down + lateral, 3x3 output convs)",
                              color=(90, 90, 90)))
    else:
        rows.append(note_image(f"The '{ex.variant}' variant has no pyramid: its RPN and Fast R-CNN read "
                               f"{', '.join(ex.rpn)} only (single-scale baseline, Table 1 a/b).", 520, 60))
    return vstack(rows, gap=14)


def merge_view(ex: Any, level: str = "p4", mode: str = "l2", channel: int = 0, target_width: int = 256) -> np.ndarray:
    """Fig. 3 for one level k: lateral 1x1(C_k) + 2x-upsampled coarser map = merged map, and P_k after the 3x3 conv.

    The three terms share one colour scale (PCA: one basis, fitted on the sum), so the sum visibly combines
    the two. Variants without a term (bottom_up: no top-down; no_lateral: no lateral below the top) say so.
    """
    level = level.lower()
    if not ex.merged and not ex.lateral:
        return note_image(f"The '{ex.variant}' variant has no top-down pathway: nothing is merged (Fig. 3 needs a "
                          "feature pyramid).", 520, 60)
    if level not in ex.merged and level not in ex.lateral:
        have = sorted(set(ex.merged) | set(ex.lateral))
        return note_image(f"{level.upper()} has no merge step in the '{ex.variant}' variant (levels with one: "
                          f"{', '.join(h.upper() for h in have)}).", 520, 60)
    k = int(level[1:])
    terms = []  # (title, tensor or None, why-missing)
    terms.append((f"lateral: 1x1 conv of C{k}", ex.lateral.get(level),
                  f"no lateral connection at {level.upper()} in '{ex.variant}'"))
    terms.append((f"top-down: 2x up(P{k + 1} merged)", ex.top_down.get(level),
                  "top level: nothing coarser to upsample" if ex.variant != "bottom_up"
                  else "no top-down pathway in 'bottom_up'"))
    merged = ex.merged.get(level)
    if merged is None:
        merged = ex.lateral.get(level)
    terms.append(("sum (merge by addition)", merged, ""))
    present = [t for t in terms if t[1] is not None]
    pictures = render([t[1] for t in present], mode, channel, shared_scale=True)
    ref = present[0][1]
    factor = _factor(ref.shape[-1], target_width)
    by_title = {t[0]: upscale_nearest(p, factor) for t, p in zip(present, pictures)}
    h, w = ref.shape[-2] * factor, ref.shape[-1] * factor
    panels = []
    for title, tensor, why in terms:
        if tensor is None:
            pic = note_image(why, w, h)
        else:
            pic = by_title[title]
        panels.append(add_title(pic, [title, f"{tensor.shape[-2]}x{tensor.shape[-1]}" if tensor is not None else "absent"],
                                min_width=150))
    out_map = ex.pyramid.get(level)
    if out_map is not None:
        pic = upscale_nearest(render([out_map], mode, channel)[0], factor)
        panels.append(add_title(pic, [f"{level.upper()} = 3x3 conv(sum)", "(own colour scale)"], min_width=150))
    glyphs = ["+", "=", "->"]
    row = []
    for i, p in enumerate(panels):
        row.append(p)
        if i < len(panels) - 1:
            g = blank(p.shape[0], 30)
            put_text(g, glyphs[min(i, 2)], (6, p.shape[0] // 2 - 8), BLACK, 0.8, 2)
            row.append(g)
    title = (f"Fig. 3 at {level.upper()} (stride {ex.strides.get(level, 2 ** k)}): one colour scale for the three "
             f"terms, {describe(mode, channel, ref.shape[0])}")
    return add_title(hstack(row, gap=2, align="top"), title)
