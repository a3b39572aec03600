"""Evaluation numbers per pyramid level across models, as grouped bars (RGB uint8): proposal AR@1000 per RPN map and
box AP per Eq. (1) level (a checkpoint's ``metrics["per_level"]``, `fpn.evaluation.per_level`), COCO's AR_s/m/l and
AP_s/m/l beside them, and one image's recall per level (`fpn.explain.level_recall.recall_per_level`)."""
from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence

import cv2
import numpy as np

from ..explain.level_recall import EQ1_LEVELS, PER_LEVEL_AP, PER_LEVEL_AR
from .draw import BLACK, WHITE, blank, class_color, grid, legend, note_image, put_text, text_size, vstack

Values = Mapping[str, Mapping[str, Optional[float]]]  # series (model) -> category (e.g. "P3") -> percent or None

#: (chart title, section, {category: key}); keys None: metrics["per_level"][section], at least the categories listed
#: (the paper's RPN levels P2..P6 and Eq. (1) levels P2..P5; a model's others, e.g. C4, are added).
CHARTS = (
    ("proposal AR@1000 per RPN level", PER_LEVEL_AR, None),
    ("box AP per Eq. (1) level", PER_LEVEL_AP, None),
    ("proposal AR@1000 by size", "proposals", {"small": "AR_s@1000", "medium": "AR_m@1000", "large": "AR_l@1000"}),
    ("box AP by size", "bbox", {"small": "AP_s", "medium": "AP_m", "large": "AP_l"}),
)
RPN_LEVELS = ("P2", "P3", "P4", "P5", "P6")
EQ1_NAMES = tuple(f"P{k}" for k in EQ1_LEVELS)
PLOT_HEIGHT = 150  # px between the baseline and y_max
PLOT_TOP = 60  # px above the plot (title, two rows of labels of the tallest bars); baseline at PLOT_TOP + PLOT_HEIGHT
#: Six models' bars in five categories fit the app's 910 px views (shown 1:1); a value label is wider than its bar,
#: so a label that would touch one already placed moves a line up (no two overlap).
BAR_WIDTH = 26
_BOTTOM, _LEFT = 24, 34


def series_color(i: int) -> tuple[int, int, int]:
    """The colour of the i-th series (model), the same in every chart."""
    return class_color(i)


def bar_span(category: int, series: int, num_series: int) -> tuple[int, int]:
    """(x1, x2) pixel columns of a bar in `grouped_bars` (both included)."""
    x0 = _LEFT + category * (BAR_WIDTH * num_series + max(16, BAR_WIDTH // 2))
    return x0 + series * BAR_WIDTH + 2, x0 + (series + 1) * BAR_WIDTH - 2


def grouped_bars(values: Values, title: str = "", categories: Optional[Sequence[str]] = None,
                 y_max: float = 100.0) -> np.ndarray:
    """Bars grouped by category (x axis), one bar per series in `series_color` order, heights value / y_max of
    PLOT_HEIGHT px from the baseline (clipped); the value above each bar, "n/a" for None; a legend of the series below.

    values: series -> category -> value (percent); categories: the x axis (default: every category, first seen first).
    """
    series = list(values)
    if categories is None:
        categories = list(dict.fromkeys(c for s in series for c in values[s]))
    if not series or not categories:
        return note_image(f"{title}: no numbers", 360, 50)
    group = BAR_WIDTH * len(series)
    width = max(bar_span(len(categories), 0, len(series))[0] + 8, text_size(title)[0] + 16, 240)
    img = blank(PLOT_TOP + PLOT_HEIGHT + _BOTTOM, width, WHITE)
    base_y = PLOT_TOP + PLOT_HEIGHT
    put_text(img, title, (6, 4), BLACK)
    for frac in (0.0, 0.5, 1.0):
        y = base_y - int(round(PLOT_HEIGHT * frac))
        cv2.line(img, (_LEFT - 4, y), (width - 6, y), (200, 200, 200) if frac else (90, 90, 90), 1)
        put_text(img, f"{y_max * frac:g}", (2, y - 8), (90, 90, 90), 0.33, pad=0)
    placed: list[tuple[int, int, int, int]] = []  # the value labels' rectangles so far
    for c, cat in enumerate(categories):
        x0 = bar_span(c, 0, len(series))[0] - 2
        for s, name in enumerate(series):
            v = values[name].get(cat)
            x1, x2 = bar_span(c, s, len(series))
            h = 0 if v is None else int(round(PLOT_HEIGHT * min(max(float(v), 0.0), y_max) / y_max))
            if h > 0:
                cv2.rectangle(img, (x1, base_y - h), (x2, base_y - 1), series_color(s), -1)
            label = "n/a" if v is None else f"{float(v):.1f}" if float(v) < 100 else f"{float(v):.0f}"
            tw, th = text_size(label)
            x, y = (x1 + x2 - tw) // 2, base_y - h - th - 2
            while y > th + 6 and any(x < r[2] + 2 and r[0] < x + tw + 2 and y < r[3] and r[1] < y + th
                                     for r in placed):
                y -= th + 1  # it would touch a neighbour's label: one line up
            placed.append((x, y, x + tw, y + th))
            put_text(img, label, (x, y), BLACK, pad=0)
        cw, _ = text_size(cat, 0.42)
        put_text(img, cat, (x0 + (group - cw) // 2, base_y + 3), BLACK, 0.42, pad=0)
    return vstack([img, legend([(name, series_color(s)) for s, name in enumerate(series)], img.shape[1])], gap=0)


def chart_values(metrics_by_model: Mapping[str, Mapping[str, Any]], section: str,
                 keys: Optional[Mapping[str, str]]) -> dict[str, dict[str, Optional[float]]]:
    """One chart's numbers from checkpoint metrics: model -> category -> value (None where a model lacks it)."""
    out = {}
    for model, metrics in metrics_by_model.items():
        if keys is None:
            out[model] = dict((metrics.get("per_level") or {}).get(section) or {})
        else:
            part = metrics.get(section) or {}
            out[model] = {cat: part.get(key) for cat, key in keys.items()}
    return out


def level_metrics_view(metrics_by_model: Mapping[str, Mapping[str, Any]], columns: int = 2) -> np.ndarray:
    """Four grouped-bar charts across models from each checkpoint's metadata "metrics": proposal AR@1000 per RPN
    level, box AP per Eq. (1) level, AR_s/m/l@1000, AP_s/m/l. A model without a number shows "n/a"."""
    panels = []
    for title, section, keys in CHARTS:
        values = chart_values(metrics_by_model, section, keys)
        base = {PER_LEVEL_AR: RPN_LEVELS, PER_LEVEL_AP: EQ1_NAMES}.get(section, ())
        categories = list(keys) if keys else _level_order(values, base)
        panels.append(grouped_bars(values, title, categories))
    return grid(panels, columns)


def image_recall_view(recall_by_model: Mapping[str, Mapping[str, Mapping[str, Optional[float]]]],
                      columns: int = 2) -> np.ndarray:
    """One image's recall per level for each model (`fpn.explain.level_recall.recall_per_level` results): proposals per RPN
    map, detections per Eq. (1) level of the ground truth; the two charts in `columns` columns."""
    props = {m: r["proposals"] for m, r in recall_by_model.items()}
    dets = {m: r["detections"] for m, r in recall_by_model.items()}
    return grid([grouped_bars(props, "this image: ground truth found by each RPN level's proposals (IoU 0.5)",
                              _level_order(props)),
                 grouped_bars(dets, "this image: ground truth detected, per Eq. (1) level of the box (IoU 0.5)",
                              _level_order(dets))], columns)


def _level_order(values: Values, base: Sequence[str] = ()) -> list[str]:
    """Categories (those of `values` and `base`) sorted as levels ("C4" < "P2" < "P6" by number, then name)."""
    cats = {c for v in values.values() for c in v} | set(base)
    return sorted(cats, key=lambda c: (int(c[1:]) if c[1:].isdigit() else 99, c))
