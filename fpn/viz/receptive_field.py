"""A cell's receptive field (`fpn.explain.receptive_field`) as pictures: the effective receptive field as a heat-map over the
input, the theoretical one as a square, the cell and its anchors; and the ERF's mass against square size."""
from __future__ import annotations

import math
from typing import Any

import cv2
import numpy as np

from .draw import (BLACK, WHITE, Color, blank, caption, draw_box, legend, level_color, put_text, text_size,
                   to_rgb_uint8, vstack, wrap)
from .features import colorize

TRF_COLOR: Color = WHITE
ERF_COLOR: Color = (255, 0, 255)
CELL_COLOR: Color = (255, 255, 255)
HEAT_SCALES = ("linear", "log")
#: The log heat-map shows gradients down to this fraction of the largest one.
LOG_FLOOR = 1e-3
#: The linear heat-map saturates at this percentile of the non-zero gradients.
LINEAR_TOP = 99.5


def erf_heat(erf: Any, scale: str = "linear") -> np.ndarray:
    """[H, W] gradient magnitudes -> [H, W] in [0, 1]: / the LINEAR_TOP percentile of the non-zero values, clipped
    ("linear": a few peak pixels would otherwise leave the rest black), or log10 from LOG_FLOOR * max to max ("log").
    Exact zeros (pixels the cell cannot see) stay 0."""
    if scale not in HEAT_SCALES:
        raise ValueError(f"unknown heat-map scale {scale!r}; choose one of {', '.join(HEAT_SCALES)}")
    e = np.asarray(erf, dtype=np.float64)
    top = float(e.max()) if e.size else 0.0
    if top <= 0:
        return np.zeros(e.shape, np.float32)
    if scale == "linear":
        return np.clip(e / float(np.percentile(e[e > 0], LINEAR_TOP)), 0, 1).astype(np.float32)
    floor = math.log10(LOG_FLOOR)
    with np.errstate(divide="ignore"):
        v = (np.log10(np.maximum(e, 1e-300) / top) - floor) / -floor
    return np.where(e > 0, np.clip(v, 0, 1), 0).astype(np.float32)


def _square(rf: Any, side: float) -> tuple[float, float, float, float]:
    cx, cy = rf.centre
    return cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2


def receptive_field_view(rf: Any, scale: str = "linear", alpha: float = 0.8) -> np.ndarray:
    """The input (`rf.image`, dimmed and desaturated; its pixels keep their coordinates: captions go below) with the
    ERF as a heat-map (`erf_heat`; every pixel the cell's gradient reaches is tinted, opacity grows with it), the
    theoretical RF (white box), the square holding `rf.effective_mass` of the ERF (magenta), the cell (white,
    stride x stride) and its anchors (the level's colour; squares thick). RGB uint8."""
    image = to_rgb_uint8(rf.image).astype(np.float32)
    dimmed = (0.45 * image.mean(axis=2, keepdims=True) + 0.1 * image).repeat(1, axis=2)  # the heat-map must stand out
    heat = erf_heat(rf.erf, scale)
    a = np.where(heat > 0, 0.25 + (alpha - 0.25) * heat, 0.0)[..., None]  # the whole support tinted, peaks opaque
    img = (dimmed * (1 - a) + colorize(heat, 0.0, 1.0) * a).round().clip(0, 255).astype(np.uint8)
    x1, y1, x2, y2 = rf.theoretical_box
    cv2.rectangle(img, (int(x1) + 1, int(y1) + 1), (int(x2) - 2, int(y2) - 2), BLACK, 1)
    cv2.rectangle(img, (int(x1), int(y1)), (int(x2) - 1, int(y2) - 1), TRF_COLOR, 1)
    color = level_color(rf.level)
    for (size, ratio), box in zip(rf.anchor_shapes, np.asarray(rf.anchors, np.float32).reshape(-1, 4)):
        draw_box(img, box, color, 2 if abs(ratio - 1.0) < 1e-6 else 1)
    draw_box(img, _square(rf, rf.effective_size), ERF_COLOR, 2)
    half = rf.stride / 2
    cx, cy = (int(round(v)) for v in rf.centre)
    cv2.rectangle(img, (int(round(cx - half)), int(round(cy - half))), (int(round(cx + half)), int(round(cy + half))),
                  CELL_COLOR, 1)
    cv2.circle(img, (cx, cy), 2, CELL_COLOR, -1)
    lines = [part for line in describe_receptive_field(rf) for part in wrap(line, max(img.shape[1] // 8, 8))]
    return vstack([img, caption(lines, img.shape[1]), _key(rf, img.shape[1])], gap=2)


def _key(rf: Any, max_width: int) -> np.ndarray:
    # the colours the picture draws (white, outlined in the legend), so that the key and the title agree
    items = [("theoretical RF", TRF_COLOR), (f"{100 * rf.effective_mass:g}% of the ERF", ERF_COLOR),
             ("cell", CELL_COLOR)]
    if rf.anchor_shapes:
        items.append((f"anchors of {rf.level.upper()}", level_color(rf.level)))
    return legend(items, max_width=max_width)


def describe_receptive_field(rf: Any) -> list[str]:
    """The view's caption: the cell, the theoretical and effective sizes, the anchors (px of the network input)."""
    name = rf.level.upper()
    tw, th = rf.theoretical_size
    nw, nh = rf.nominal_size
    lines = [f"{name} cell (row {rf.cell[0]}, column {rf.cell[1]}) of {rf.grid_size[0]}x{rf.grid_size[1]}, stride "
             f"{rf.stride} px, centre ({rf.centre[0]:.0f}, {rf.centre[1]:.0f}) px",
             f"theoretical RF {nw}x{nh} px ({tw}x{th} px inside the input); effective RF: "
             f"{100 * rf.effective_mass:g}% of the gradient within {rf.effective_size} px"]
    if rf.anchor_shapes:
        sizes = sorted({s for s, _ in rf.anchor_shapes})
        ratios = sorted({r for _, r in rf.anchor_shapes})
        lines.append(f"anchors of {name}: {', '.join(f'{s}²' for s in sizes)} px, aspect ratios "
                     f"{', '.join(f'{r:g}' for r in ratios)}")
    else:
        lines.append(f"no anchors: the RPN does not read {name}")
    return lines


def erf_mass_chart(rf: Any, width: int = 380, height: int = 264) -> np.ndarray:
    """The fraction of the ERF's mass inside a square centred on the cell, against the square's side (px), with the
    sizes to compare it with: the theoretical RF (black), the anchors (the level's colour), the effective size."""
    img = blank(height, width, WHITE)
    left, top, right, bottom = 44, 52, 14, 40  # the top band: room for an app's widget label, then the title
    pw, ph = width - left - right, height - top - bottom
    mass = np.asarray(rf.erf_mass, np.float64)
    sides = 2 * np.arange(len(mass)) + 1
    anchor_sizes = sorted({s for s, _ in rf.anchor_shapes})
    s_max = max(float(rf.nominal_size[0]), float(sides[-1]) if len(sides) else 1.0, *anchor_sizes) * 1.05

    def px(side: float, frac: float) -> tuple[int, int]:
        return int(round(left + side / s_max * pw)), int(round(top + ph - frac * ph))

    cv2.rectangle(img, (left, top), (left + pw, top + ph), (90, 90, 90), 1)
    for frac in (0.0, 0.5, 1.0):
        x, y = px(0, frac)
        put_text(img, f"{frac:.1f}", (4, y - 8), BLACK, 0.4)
    marks = [(float(rf.nominal_size[0]), BLACK, "TRF"), (float(rf.effective_size), ERF_COLOR, "ERF")]
    marks += [(float(s), level_color(rf.level), f"{s}") for s in anchor_sizes]
    for side, color, label in marks:
        x, _ = px(side, 0)
        cv2.line(img, (x, top), (x, top + ph), color, 2 if label in ("TRF", "ERF") else 1, cv2.LINE_AA)
        w, _ = text_size(label, 0.4)
        put_text(img, label, (x - w // 2 - 2, top + ph + 2), color, 0.4)
    pts = np.array([px(s, f) for s, f in zip(sides, mass)], np.int32)
    if len(pts) > 1:
        cv2.polylines(img, [pts], False, (0, 114, 178), 2, cv2.LINE_AA)
    put_text(img, "fraction of the ERF inside a centred square", (left, top - 24), BLACK, 0.42)
    put_text(img, "square side (px)", (left + pw // 2 - 50, height - 18), BLACK, 0.4)
    return img
