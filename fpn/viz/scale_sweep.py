"""The scale sweep (`fpn.explain.scale_sweep`) as pictures: the staircase chart (level per scale: one level per octave on FPN,
one flat line on a single-map baseline; score and IoU below) and the strip of the object at each scale."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Optional, Sequence

import cv2
import numpy as np

from .draw import (BLACK, GT_COLOR, OKABE_ITO, WHITE, Color, blank, caption, draw_box, hstack, level_color, put_text,
                   text_size, to_rgb_uint8, vstack, wrap)

#: Okabe-Ito colours (safe for the common colour-vision deficiencies), one per model: blue, vermillion, bluish
#: green, reddish purple; each model also has its own marker shape.
MODEL_COLORS: tuple[Color, ...] = tuple(OKABE_ITO[c] for c in ("blue", "vermillion", "bluish green", "reddish purple"))
MARKERS = ("circle", "square", "triangle", "diamond")
MAX_MODELS = len(MODEL_COLORS)
REFERENCE_COLOR: Color = (150, 150, 150)
GRID_COLOR: Color = (225, 225, 225)
DETECTION_COLOR: Color = (0, 255, 255)
#: Blank band above the chart's title (an app shows its widget label over a picture's top-left corner).
TOP = 28


@dataclass(frozen=True)
class Axes:
    """A plot area of the chart: pixel (x, y) of a data point (u = log2 scale, v = value)."""

    left: int
    top: int
    width: int
    height: int
    u_range: tuple[float, float]
    v_range: tuple[float, float]

    def x(self, u: float) -> int:
        lo, hi = self.u_range
        return int(round(self.left + (u - lo) / (hi - lo) * self.width))

    def y(self, v: float) -> int:
        lo, hi = self.v_range
        return int(round(self.top + self.height - (v - lo) / (hi - lo) * self.height))


def layout(scales: Sequence[float], levels: Sequence[int], width: int = 760) -> tuple[Axes, Axes, int]:
    """(level axes, score / IoU axes, picture height) of `sweep_chart` for these scales and levels."""
    us = [math.log2(s) for s in scales]
    pad = 0.25 * (max(us) - min(us) if len(us) > 1 else 1.0)
    u_range = (min(us) - pad, max(us) + pad)
    k_lo, k_hi = min([2, *levels]), max([6, *levels])
    left, plot_w = 96, width - 96 - 20
    level_axes = Axes(left, TOP + 24, plot_w, 46 * (k_hi - k_lo), u_range, (k_lo - 0.5, k_hi + 0.5))
    score_top = level_axes.top + level_axes.height + 46 + 58
    score_axes = Axes(left, score_top, plot_w, 120, u_range, (0.0, 1.0))
    return level_axes, score_axes, score_top + 120 + 46


def _marker(img: np.ndarray, x: int, y: int, shape: str, color: Color, filled: bool, r: int = 6) -> None:
    thick = -1 if filled else 2
    if shape == "circle":
        cv2.circle(img, (x, y), r, color, thick, cv2.LINE_AA)
        return
    if shape == "square":
        pts = [(x - r, y - r), (x + r, y - r), (x + r, y + r), (x - r, y + r)]
    elif shape == "triangle":
        pts = [(x, y - r - 1), (x + r + 1, y + r), (x - r - 1, y + r)]
    else:
        pts = [(x, y - r - 1), (x + r + 1, y), (x, y + r + 1), (x - r - 1, y)]
    poly = np.array(pts, np.int32)
    if filled:
        cv2.fillPoly(img, [poly], color, cv2.LINE_AA)
    else:
        cv2.polylines(img, [poly], True, color, 2, cv2.LINE_AA)


def _segment(img: np.ndarray, p: tuple[int, int], q: tuple[int, int], color: Color, dashed: bool,
             thickness: int = 2) -> None:
    if not dashed:
        cv2.line(img, p, q, color, thickness, cv2.LINE_AA)
        return
    length = max(math.hypot(q[0] - p[0], q[1] - p[1]), 1e-9)

    def at(t: float) -> tuple[int, int]:
        return int(round(p[0] + (q[0] - p[0]) * t / length)), int(round(p[1] + (q[1] - p[1]) * t / length))

    for t0 in np.arange(0.0, length, 10.0):
        cv2.line(img, at(t0), at(min(t0 + 6.0, length)), color, thickness, cv2.LINE_AA)


def _steps(img: np.ndarray, points: Sequence[tuple[int, Optional[int]]], color: Color, dashed: bool) -> None:
    """A staircase through (x, y) points: flat to the midpoint between scales, then the step (None: a gap)."""
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        if y0 is None or y1 is None:
            continue
        mid = (x0 + x1) // 2
        _segment(img, (x0, y0), (mid, y0), color, dashed)
        _segment(img, (mid, y0), (mid, y1), color, dashed)
        _segment(img, (mid, y1), (x1, y1), color, dashed)


def _lines(img: np.ndarray, points: Sequence[tuple[int, int]], color: Color, dashed: bool) -> None:
    for p, q in zip(points, points[1:]):
        _segment(img, p, q, color, dashed)


def _frame(img: np.ndarray, ax: Axes, ticks: Sequence[tuple[float, str]], us: Sequence[float],
           u_labels: Sequence[Sequence[str]]) -> None:
    for v, label in ticks:
        y = ax.y(v)
        cv2.line(img, (ax.left, y), (ax.left + ax.width, y), GRID_COLOR, 1)
        w, h = text_size(label, 0.45)
        put_text(img, label, (ax.left - w - 10, y - h // 2 - 2), BLACK, 0.45)
    for u, lines in zip(us, u_labels):
        x = ax.x(u)
        cv2.line(img, (x, ax.top), (x, ax.top + ax.height), GRID_COLOR, 1)
        for n, line in enumerate(lines):
            w, h = text_size(line, 0.4)
            put_text(img, line, (x - w // 2 - 2, ax.top + ax.height + 4 + n * (h + 1)), BLACK, 0.4)
    cv2.rectangle(img, (ax.left, ax.top), (ax.left + ax.width, ax.top + ax.height), (90, 90, 90), 1)


def sweep_chart(sweeps: Sequence[Any], names: Sequence[str], width: int = 760) -> np.ndarray:
    """The staircase: for each model's `ScaleSweep` (the first is the selected model, at most MAX_MODELS), against
    log2 of the scale, (top) the level k of the object's positive anchors (solid, filled markers) and the Eq. (1) level
    of its best proposal (dashed, hollow markers), with the grey one-level-per-octave line of FPN's anchor rule
    (32 px on P2, doubling per level); (bottom) its best detection score (solid) and best detection IoU (dashed).
    Tick labels give the scale and the object's size at the network input (first sweep). Returns RGB uint8."""
    if not sweeps or len(sweeps) > MAX_MODELS:
        raise ValueError(f"sweep_chart draws 1 to {MAX_MODELS} sweeps, got {len(sweeps)}")
    first = sweeps[0].rows
    scales = [r.scale for r in first]
    levels = [k for s in sweeps for r in s.rows for k in (r.anchor_level, r.proposal_level) if k is not None]
    lv_ax, sc_ax, height = layout(scales, levels, width)
    img = blank(height, width, WHITE)
    us = [math.log2(s) for s in scales]
    sizes = [[f"{s:.2f}x", f"{r.object_size:.0f} px"] for s, r in zip(scales, first)]
    k_lo, k_hi = int(lv_ax.v_range[0] + 0.5), int(lv_ax.v_range[1] - 0.5)
    _frame(img, lv_ax, [(k, f"P{k} / C{k}" if 2 <= k <= 5 else f"P{k}") for k in range(k_lo, k_hi + 1)], us, sizes)
    _frame(img, sc_ax, [(v, f"{v:.1f}") for v in (0.0, 0.5, 1.0)], us, sizes)
    put_text(img, "level of the object (k of P_k, or of the single map C_k) per input scale", (lv_ax.left, TOP),
             BLACK, 0.5)
    put_text(img, "best detection (any class): score (solid), IoU (dashed)", (sc_ax.left, sc_ax.top - 24), BLACK,
             0.5)
    # FPN's anchor rule as a continuous line: level 2 + log2(size / 32), clamped to P2..P6
    ref = [(lv_ax.x(u), lv_ax.y(min(max(2 + math.log2(max(r.object_size, 1e-6) / 32), 2), 6)))
           for u, r in zip(us, first)]
    for p, q in zip(ref, ref[1:]):
        _segment(img, p, q, REFERENCE_COLOR, True, 1)
    n = len(sweeps)
    for i, sweep in enumerate(sweeps):
        color, shape = MODEL_COLORS[i], MARKERS[i]
        dy = int(round((i - (n - 1) / 2) * 5))  # overlapping lines of several models stay visible side by side
        xs = [lv_ax.x(math.log2(r.scale)) for r in sweep.rows]
        anchor = [(x, None if r.anchor_level is None else lv_ax.y(r.anchor_level) + dy)
                  for x, r in zip(xs, sweep.rows)]
        prop = [(x, None if r.proposal_level is None else lv_ax.y(r.proposal_level) + dy + 2)
                for x, r in zip(xs, sweep.rows)]
        _steps(img, prop, color, True)
        _steps(img, anchor, color, False)
        for (x, y) in prop:
            if y is not None:
                _marker(img, x, y, shape, color, False, 5)
        for (x, y) in anchor:
            if y is not None:
                _marker(img, x, y, shape, color, True)
        score = [(x, sc_ax.y(r.detection_score)) for x, r in zip(xs, sweep.rows)]
        iou = [(x, sc_ax.y(r.detection_iou)) for x, r in zip(xs, sweep.rows)]
        _lines(img, iou, color, True)
        _lines(img, score, color, False)
        for (x, y) in score:
            _marker(img, x, y, shape, color, True, 5)
    below = lv_ax.top + lv_ax.height
    put_text(img, "solid, filled: level of the positive anchors (Sec. 4.1)    dashed, hollow: Eq. (1) level of the "
             "best proposal", (lv_ax.left, below + 38), BLACK, 0.42)
    put_text(img, "grey: one level per octave (anchors 32 px on P2, x2 per level)", (lv_ax.left, below + 56),
             REFERENCE_COLOR, 0.42)
    key_row = hstack([_legend_item(name, MODEL_COLORS[i], MARKERS[i]) for i, name in enumerate(names[:n])], gap=0)
    band = blank(key_row.shape[0] + 4, width, WHITE)
    band[2: 2 + key_row.shape[0], 8: 8 + min(key_row.shape[1], width - 8)] = key_row[:, : width - 8]
    return vstack([img, band], gap=0)


def _legend_item(name: str, color: Color, shape: str) -> np.ndarray:
    w, _ = text_size(name, 0.5)
    item = blank(24, w + 60, WHITE)  # 16 px of white after the name: the gap to the next model
    cv2.line(item, (4, 12), (28, 12), color, 2, cv2.LINE_AA)
    _marker(item, 16, 12, shape, color, True, 5)
    put_text(item, name, (34, 2), color, 0.5)
    return item


def sweep_strip(sweep: Any, tile: int = 112) -> np.ndarray:
    """The object at each scale as the network saw it: its crop (with context) of the rescaled input, every crop
    brought to `tile` px high by nearest-neighbour (the coarse pixels of the small scales stay visible), the object in
    yellow, the detection behind the score in cyan; under each: scale, object size, the levels, score and IoU."""
    tiles = []
    for r in sweep.rows:
        crop = to_rgb_uint8(r.crop)
        h, w = crop.shape[:2]
        f = tile / max(h, 1)
        pic = cv2.resize(crop, (max(1, min(int(round(w * f)), 2 * tile)), tile), interpolation=cv2.INTER_NEAREST)
        fx, fy = pic.shape[1] / max(w, 1), pic.shape[0] / max(h, 1)
        scale_box = np.array([fx, fy, fx, fy], np.float32)
        draw_box(pic, np.asarray(r.crop_box, np.float32) * scale_box, GT_COLOR, 2)
        if r.crop_detection is not None:
            draw_box(pic, np.asarray(r.crop_detection, np.float32) * scale_box, DETECTION_COLOR, 1)
        k = r.anchor_level
        lines = [f"{r.scale:.2f}x  {r.object_size:.0f} px", f"anchors P{k}" if k is not None else "no positive",
                 f"Eq.(1) P{r.proposal_level}" if r.proposal_level is not None else "no RoI head",
                 f"score {r.detection_score:.2f} IoU {r.detection_iou:.2f}"]
        band = blank(6, max(pic.shape[1], 120), level_color(k) if k is not None else (120, 120, 120))
        tiles.append(vstack([pic, band, caption(lines, max(pic.shape[1], 120))], gap=0))
    title = (f"{sweep.variant}: the object (yellow) at each scale, as the network saw it (cyan: the scored detection; "
             f"band: level of the positive anchors)")
    return vstack([hstack(tiles, gap=6), caption(title, 300)], gap=2)


def sweep_objects_view(image: Any, boxes: Any, names: Sequence[str], selected: int) -> np.ndarray:
    """The objects one can sweep, on the image (its pixels keep their coordinates: a click picks a box): each box
    thin and numbered, the selected one thick with its name. Boxes [N, 4] in image pixels. RGB uint8."""
    img = to_rgb_uint8(image).copy()
    b = np.asarray(boxes, np.float32).reshape(-1, 4)
    for i in np.argsort(-(b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]), kind="stable"):
        if i != selected:
            draw_box(img, b[i], GT_COLOR, 1, f"#{i}")
    if 0 <= selected < len(b):
        draw_box(img, b[selected], WHITE, 5)
        draw_box(img, b[selected], GT_COLOR, 3, f"#{selected} {names[selected]}")
    text = wrap(f"{len(b)} objects; click one to sweep it (thick: the one swept)", max(img.shape[1] // 8, 8))
    return vstack([img, caption(text, img.shape[1])], gap=2)
