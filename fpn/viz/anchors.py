"""Sec. 4.1 on a live image: the anchors of one level and aspect ratio, labelled positive (IoU > 0.7, or best for a
ground-truth box) / negative (IoU < 0.3) / ignored, around a point or as a per-position density; positives per level."""
from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np
import torch

from ..modeling.rpn.anchor_labels import IGNORED, NEGATIVE, POSITIVE
from .draw import (GT_COLOR, IGNORED_COLOR, NEGATIVE_COLOR, POSITIVE_COLOR, bar_chart, caption, draw_box,
                   legend, level_color, to_rgb_uint8, vstack)
from .features import colorize

LABEL_COLORS = {POSITIVE: POSITIVE_COLOR, NEGATIVE: NEGATIVE_COLOR, IGNORED: IGNORED_COLOR}


def anchor_indices(level: Any, ratio: Optional[float] = None) -> list[int]:
    """Indices a (within a cell) of the level's anchor shapes with aspect ratio `ratio` (all when None)."""
    return [a for a, (_, r) in enumerate(level.anchor_shapes) if ratio is None or abs(r - float(ratio)) < 1e-6]


def cell_of(level: Any, x: float, y: float) -> tuple[int, int]:
    """Grid cell (row, column) whose anchor centre (column * stride, row * stride) is nearest to pixel (x, y)."""
    h, w = level.grid_size
    return (int(np.clip(round(y / level.stride), 0, h - 1)), int(np.clip(round(x / level.stride), 0, w - 1)))


def _labels(level: Any, labels: Optional[torch.Tensor]) -> Optional[np.ndarray]:
    labels = level.labels if labels is None else labels
    return None if labels is None else np.asarray(labels.cpu() if isinstance(labels, torch.Tensor) else labels).astype(int)


def anchors_view(image: Any, level: Any, ratio: Optional[float] = None, point: Optional[Sequence[float]] = None,
                 radius: int = 1, mode: str = "point", gt_boxes: Optional[Any] = None,
                 labels: Optional[torch.Tensor] = None, show_all_positives: bool = True) -> np.ndarray:
    """Anchors of one RPN level (an `RPNLevel`) drawn on the resized input image (image first, so its pixels keep
    their coordinates; caption and legend below).

    Args:
        image: the image the anchors live on (`Exploration.image`, [3, H, W] or HxWx3).
        ratio: aspect ratio (height / width, e.g. 0.5, 1, 2) or None for all.
        point: (x, y) pixels of the resized image; mode "point" draws the anchors of the (2 radius + 1)^2 cells
            around it.
        mode: "point" or "density" (every position tinted by its label, or by objectness without labels).
        gt_boxes: [G, 4] boxes in the image's pixels (resized-input pixels for an Exploration) drawn in yellow.
        labels: [H*W*A] overrides `level.labels`.
        show_all_positives: also draw every positive anchor of the level (the ones that learn the objects).
    Colours: positive green, negative red, ignored grey; without labels anchors are drawn in the level's colour.
    """
    img = to_rgb_uint8(image).copy()
    h, w = level.grid_size
    num_a = len(level.anchor_shapes)
    idx = anchor_indices(level, ratio)
    anchors = level.anchors.reshape(h, w, num_a, 4)[:, :, idx].numpy() if len(idx) else np.zeros((h, w, 0, 4))
    lab = _labels(level, labels)
    lab = lab.reshape(h, w, num_a)[:, :, idx] if lab is not None else None
    if mode == "density":
        img = _tint_positions(img, level, idx, lab)
    if gt_boxes is not None:
        # thinner than the positive anchors drawn over them: an anchor that matches its box stays visible
        for b in np.asarray(gt_boxes, dtype=np.float32).reshape(-1, 4):
            draw_box(img, b, GT_COLOR, 1)
    if mode == "point" and point is not None:
        _draw_around_point(img, level, anchors, lab, point, radius)
    if show_all_positives and lab is not None:
        for i, j, a in zip(*np.nonzero(lab == POSITIVE)):
            draw_box(img, anchors[i, j, a], POSITIVE_COLOR, 2)
    return vstack([img, caption(_title(level, idx, ratio), img.shape[1]), legend(_key(level, lab))], gap=2)


def _tint_positions(img: np.ndarray, level: Any, idx: list[int], lab: Optional[np.ndarray]) -> np.ndarray:
    """Every pixel tinted by its nearest position: the best label among the chosen anchors (positive > ignored >
    negative), or their highest objectness when there are no labels."""
    h, w = level.grid_size
    if lab is not None:
        rank = np.where(lab == POSITIVE, 2, np.where(lab == IGNORED, 1, 0)).max(axis=2) if len(idx) \
            else np.zeros((h, w), int)
        cells = np.array([NEGATIVE_COLOR, IGNORED_COLOR, POSITIVE_COLOR], np.uint8)[rank]
        alpha_cells = np.array([0.12, 0.45, 0.75])[rank]
    else:
        obj = level.objectness[idx].max(0).values.numpy() if len(idx) else np.zeros((h, w))
        cells, alpha_cells = colorize(obj, 0.0, 1.0), np.full((h, w), 0.55)
    ys = np.clip(np.round(np.arange(img.shape[0]) / level.stride).astype(int), 0, h - 1)
    xs = np.clip(np.round(np.arange(img.shape[1]) / level.stride).astype(int), 0, w - 1)
    alpha = alpha_cells[ys][:, xs][..., None]
    return (img * (1 - alpha) + cells[ys][:, xs] * alpha).round().clip(0, 255).astype(np.uint8)


def _draw_around_point(img: np.ndarray, level: Any, anchors: np.ndarray, lab: Optional[np.ndarray],
                       point: Sequence[float], radius: int) -> None:
    """The anchors of the cells within `radius` of the cell nearest `point`, negatives first and positives last (on
    top); without labels every anchor in the level's colour. Marks the cell's centre in white."""
    h, w = level.grid_size
    i0, j0 = cell_of(level, float(point[0]), float(point[1]))
    rows = range(max(i0 - radius, 0), min(i0 + radius + 1, h))
    cols = range(max(j0 - radius, 0), min(j0 + radius + 1, w))
    boxes = [(anchors[i, j, a], POSITIVE if lab is None else int(lab[i, j, a]))
             for i in rows for j in cols for a in range(anchors.shape[2])]
    for want in (NEGATIVE, IGNORED, POSITIVE):
        for box, value in boxes:
            if value == want:
                color = LABEL_COLORS[value] if lab is not None else level_color(level.name)
                draw_box(img, box, color, 2 if value == POSITIVE else 1)
    cx, cy = j0 * level.stride, i0 * level.stride
    img[max(cy - 2, 0): cy + 3, max(cx - 2, 0): cx + 3] = (255, 255, 255)


def _title(level: Any, idx: list[int], ratio: Optional[float]) -> str:
    h, w = level.grid_size
    shapes = sorted({level.anchor_shapes[a][0] for a in idx})
    ratios = "all ratios" if ratio is None else f"aspect ratio {ratio:g}"
    return (f"{level.name.upper()} (stride {level.stride}, {h}x{w} positions): anchors "
            f"{', '.join(f'{s}²' for s in shapes)} px, {ratios}")


def _key(level: Any, lab: Optional[np.ndarray]) -> list[tuple[str, tuple]]:
    if lab is None:
        return [("anchor (no labels: no ground truth given)", level_color(level.name))]
    return [("positive", POSITIVE_COLOR), ("ignored", IGNORED_COLOR), ("negative", NEGATIVE_COLOR),
            ("ground truth", GT_COLOR)]


def positives_chart(counts: dict[str, int], title: str = "positive anchors per level") -> np.ndarray:
    """Bar chart of positive anchors per RPN map (Exploration.positives_per_level())."""
    return bar_chart({k.upper(): v for k, v in counts.items()}, title,
                     {k.upper(): level_color(k) for k in counts}, width=max(240, 64 * len(counts)))
