"""Fig. 1(d) on a live image: the bottom-up maps C2..C5 and the pyramid P2..P6, each large enough to read, their true
relative resolutions kept visible (fpn.viz.map_grid), a colour bar saying what the colour means; and what one cell of
a map holds (the app's click on a cell)."""
from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np

from .features import aggregate, colorbar, is_diverging, meaning, render, value_range
from .layout import Figure, input_box
from .map_grid import MapPicture, MapRow, legend_line, map_grid, scale_note


def scale_text(values: np.ndarray, mode: str) -> str:
    """A map's own colour scale, as its caption prints it: "0.12 .. 3.4" or "±1.2" (its 1st / 99th percentile)."""
    lo, hi = value_range([values], is_diverging(mode))
    return f"±{hi:.3g}" if is_diverging(mode) else f"{lo:.3g} .. {hi:.3g}"


def map_pictures(maps: dict[str, Any], strides: dict[str, int], mode: str = "l2", channel: int = 0
                 ) -> list[MapPicture]:
    """Each [C, h, w] map as a one-pixel-per-cell picture with its caption (grid size, channels, colour scale)."""
    pictures = render(list(maps.values()), mode, channel)
    out = []
    for (name, feat), pic in zip(maps.items(), pictures):
        scale = "PCA colours" if mode == "pca" else scale_text(aggregate(feat, mode, channel), mode)
        if mode == "channel":
            scale = f"ch {min(max(int(channel), 0), feat.shape[0] - 1)}: {scale}"
        caption = [f"{feat.shape[-2]} rows x {feat.shape[-1]} cols", f"{feat.shape[0]} ch, {scale}"]
        out.append(MapPicture(name, pic, int(strides.get(name, 0)), caption))
    return out


def pyramid_figure(ex: Any, mode: str = "l2", channel: int = 0, highlight: Optional[str] = None,
                   mark: Optional[Sequence[float]] = None, max_width: int = 1100, min_panel: int = 120) -> Figure:
    """Bottom-up C2..C5 (top row) and the pyramid P2..P6 (bottom row) of an `Exploration`, C_k above P_k.

    mode: "l2", "mean", "channel" (heat maps, each map on its own colour scale, printed above it) or "pca" (RGB).
    Every cell is drawn as a square of the same number of pixels (the largest factor that fits `max_width`), so P2
    (stride 4) is 8x wider than P5 (stride 32); maps narrower than `min_panel` px are zoomed by an integer factor,
    marked "(xN)", and the grey bar under each map keeps its true relative width. highlight: a map to frame.
    mark: an input pixel (x, y) of the resized input (`ex.image`) whose cell is outlined on every map.
    Returns a `Figure` (RGB uint8 image + the `Panel` of each map, for `Figure.locate`).
    """
    bottom_up = {k: ex.bottom_up[k] for k in sorted(ex.bottom_up)}
    rows = [MapRow("Bottom-up pathway: ResNet stages C2..C5 (each half the size of the one before)",
                   map_pictures(bottom_up, ex.strides, mode, channel))]
    if ex.pyramid:
        pyramid = {k: ex.pyramid[k] for k in sorted(ex.pyramid)}
        rows.append(MapRow(f"Feature pyramid P2..P6 ('{ex.variant}': top-down + lateral, 3x3 output convs; "
                           "P6 = P5 subsampled)", map_pictures(pyramid, ex.strides, mode, channel)))
    else:
        rows.append(MapRow("Feature pyramid", [], f"The '{ex.variant}' variant has no pyramid: its RPN and Fast "
                           f"R-CNN read {', '.join(m.upper() for m in ex.rpn)} only (single-scale baseline, "
                           "Table 1 a/b)."))
    what = meaning(mode, channel)
    footer = [colorbar(mode, what + ("" if mode == "pca" else "; each map on its own scale (printed above it)"),
                       width=460),
              legend_line(scale_note(), 460)]
    return map_grid(rows, max_width=max_width, min_panel=min_panel, highlight=highlight, mark=mark, footer=footer)


def pyramid_view(ex: Any, mode: str = "l2", channel: int = 0, highlight: Optional[str] = None,
                 mark: Optional[Sequence[float]] = None, max_width: int = 1100) -> np.ndarray:
    """`pyramid_figure`'s image: [H, W, 3] uint8 RGB."""
    return pyramid_figure(ex, mode, channel, highlight, mark, max_width).image


def map_cell(ex: Any, name: str, row: int, col: int, mode: str = "l2", channel: int = 0) -> dict[str, Any]:
    """What cell (row, col) of map `name` ("p4", "c3") of an `Exploration` holds, and where it is.

    Returns {"map", "row", "col", "grid" [h, w], "stride" (input px per cell), "channels", "value" (the cell under
    `mode`: L2 norm / mean / one channel; for "pca" the L2 norm), "l2", "percentile" (of its L2 norm among the map's
    cells, 0-100), "centre" [x, y] and "box" [x1, y1, x2, y2]: the stride x stride patch of the resized input
    centred on the cell (where its anchors are centred), "box_original" [x1, y1, x2, y2]: that patch in pixels of
    the original image}.
    """
    feat = ex.pyramid.get(name) if name in ex.pyramid else ex.bottom_up[name]
    c, h, w = (int(v) for v in feat.shape)
    row, col = min(max(int(row), 0), h - 1), min(max(int(col), 0), w - 1)
    l2 = aggregate(feat, "l2")
    value = aggregate(feat, "l2" if mode == "pca" else mode, channel)[row, col]
    stride = int(ex.strides.get(name, 0))
    box = input_box(stride, row, col, *ex.resized_size)
    sx, sy = ex.scale_xy
    return {"map": name, "row": row, "col": col, "grid": [h, w], "stride": stride, "channels": c,
            "mode": mode, "value": round(float(value), 5), "l2": round(float(l2[row, col]), 5),
            "percentile": round(float((l2 < l2[row, col]).mean() * 100), 1),
            "centre": [col * stride, row * stride], "box": list(box),
            "box_original": [round(box[0] / sx, 1), round(box[1] / sy, 1), round(box[2] / sx, 1),
                             round(box[3] / sy, 1)]}


def map_stats(maps: dict[str, Any], mode: str = "l2", channel: int = 0) -> list[dict[str, Any]]:
    """Per map: {"map", "channels", "grid" [h, w], "min", "max", "mean"} of its values under `mode` (L2 for pca)."""
    out = []
    for name, feat in maps.items():
        v = aggregate(feat, "l2" if mode == "pca" else mode, channel)
        out.append({"map": name, "channels": int(feat.shape[0]), "grid": [int(feat.shape[-2]), int(feat.shape[-1])],
                    "min": round(float(v.min()), 5), "max": round(float(v.max()), 5),
                    "mean": round(float(v.mean()), 5)})
    return out
