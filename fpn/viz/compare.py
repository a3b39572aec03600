"""Helpers of the compare view: per-level RPN objectness maps and variants side by side."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .draw import add_title, fit, hstack, level_color, to_rgb_uint8, upscale_nearest, vstack
from .features import colorize
from .map_grid import zoom_for


def objectness_maps(ex: Any, target_width: int = 192, min_width: int = 40, max_width: int = 0) -> np.ndarray:
    """Each RPN map's objectness (max over its anchors at each position, sigmoid, 0..1 on one colour scale) at
    the maps' true relative resolutions; a map narrower than `min_width` px is zoomed by an integer factor, marked
    "xN" (P6 of a small input would be a few pixels wide). max_width (px): the maps wrap into rows of at most that
    width (a Compare column: fitted to it, one long row would shrink its text)."""
    levels = list(ex.rpn.values())
    widest = max(lv.grid_size[1] for lv in levels)
    factor = max(1, int(round(target_width / widest)))
    panels = []
    for lv in levels:
        zoom = zoom_for(lv.grid_size[1], factor, min_width)
        pic = upscale_nearest(colorize(lv.objectness.max(0).values.numpy(), 0.0, 1.0), factor * zoom)
        name = f"{lv.name.upper()} s{lv.stride}" + (f" x{zoom}" if zoom > 1 else "")
        panels.append(add_title(pic, [name, f"max {float(lv.objectness.max()):.2f}"], min_width=70,
                                color=level_color(lv.name)))
    rows: list[list[np.ndarray]] = [[]]
    for p in panels:
        if rows[-1] and max_width and sum(q.shape[1] + 6 for q in rows[-1]) + p.shape[1] > max_width:
            rows.append([])
        rows[-1].append(p)
    # a narrow column gets the short title (add_title would widen the picture to a long one)
    title = "RPN objectness (0..1; xN: zoomed)" if max_width else "RPN objectness per level (0..1; xN: zoomed N times)"
    return add_title(vstack([hstack(r, gap=6) for r in rows], gap=6), title)


def draw_proposals(image: Any, proposals: Any, scores: Any, top_n: int = 50, rpn_levels: Sequence[str] = ()) -> np.ndarray:
    """The top_n RPN proposals [P, 4] (pixels of image), coloured by the RPN map they came from when given."""
    from .draw import draw_box

    img = to_rgb_uint8(image).copy()
    boxes = np.asarray(proposals, dtype=np.float32).reshape(-1, 4)
    order = np.argsort(-np.asarray(scores, dtype=np.float32).reshape(-1), kind="stable")[:top_n]
    for i in order[::-1]:
        color = level_color(rpn_levels[i]) if len(rpn_levels) > i else (255, 140, 0)
        draw_box(img, boxes[i], color, 1)
    return add_title(img, f"top {len(order)} RPN proposals (colour: RPN level)")


#: A Compare column's width (px): its pictures are fitted to it (draw their labels for it: draw_detections' shown_side).
COLUMN_WIDTH = 420


def side_by_side(panels: Sequence[np.ndarray], titles: Sequence[str], panel_width: int = COLUMN_WIDTH,
                 max_width: int = 0) -> np.ndarray:
    """Columns of equal width, each with a title: one column per model / variant; with max_width (px), as many
    columns per row as fit in it (the rest below), so that the figure is shown 1:1 and its text keeps its size."""
    gap = 14
    cols = [add_title(fit(p, max_width=panel_width), t, scale=0.55) for p, t in zip(panels, titles)]
    per_row = max(1, (max_width + gap) // (panel_width + gap)) if max_width else len(cols)
    return vstack([hstack(cols[i: i + per_row], gap=gap) for i in range(0, len(cols), per_row)], gap=gap)


def compare_column(detections: np.ndarray, proposals: np.ndarray, objectness: np.ndarray,
                   width: int = COLUMN_WIDTH) -> np.ndarray:
    """One model's column: detections over proposals over the per-level objectness maps."""
    return vstack([fit(detections, width), fit(proposals, width), fit(objectness, width)], gap=10)
