"""Fig. 1 on a live image: the four ways of using scale the paper compares, drawn with this image's own maps.

(a) featurized image pyramid, (b) single feature map, (c) pyramidal feature hierarchy, (d) Feature Pyramid Network.
A schematic like the paper's: the maps are shrinking thumbnails (not to scale; the Pyramid view draws them to scale).
"""
from __future__ import annotations

from typing import Any, Optional

import cv2
import numpy as np

from .draw import BLACK, WHITE, blank, grid, level_color, put_text, to_rgb_uint8
from .features import render

PANEL_W, PANEL_H = 470, 330
THUMBS = (80, 60, 44, 32)  # thumbnail widths of the four levels, finest first
ARROW = (90, 90, 90)
PREDICT = (0, 114, 178)


def _thumb(picture: np.ndarray, width: int, nearest: bool = True) -> np.ndarray:
    h, w = picture.shape[:2]
    size = (int(width), max(int(round(h * width / w)), 1))
    return cv2.resize(picture, size, interpolation=cv2.INTER_NEAREST if nearest else cv2.INTER_AREA)


def _paste(canvas: np.ndarray, img: np.ndarray, x: int, y: int,
           frame: Optional[tuple] = None) -> tuple[int, int, int, int]:
    """img with its top-left corner at (x, y); returns its (x1, y1, x2, y2)."""
    h, w = img.shape[:2]
    canvas[y: y + h, x: x + w] = img
    if frame is not None:
        cv2.rectangle(canvas, (x - 1, y - 1), (x + w, y + h), frame, 2)
    return x, y, x + w, y + h


def _arrow(canvas: np.ndarray, a: tuple[int, int], b: tuple[int, int], color: tuple = ARROW) -> None:
    """An arrow from a to b with a tip of about 8 px whatever its length."""
    length = max(float(np.hypot(b[0] - a[0], b[1] - a[1])), 1.0)
    cv2.arrowedLine(canvas, a, b, color, 2, cv2.LINE_AA, tipLength=min(8.0 / length, 0.5))


def _predict(canvas: np.ndarray, box: tuple[int, int, int, int], label: str = "predict") -> None:
    """An arrow from the right edge of box to a "predict" label."""
    y = (box[1] + box[3]) // 2
    _arrow(canvas, (box[2] + 4, y), (box[2] + 34, y), PREDICT)
    put_text(canvas, label, (box[2] + 38, y - 9), PREDICT, 0.42)


#: Where a panel's title ends: pictures stay below it.
TITLE_BOTTOM = 30


def _panel(title: str, lines: tuple[str, ...]) -> np.ndarray:
    canvas = blank(PANEL_H, PANEL_W, WHITE)
    put_text(canvas, title, (8, 6), BLACK, 0.55)
    for i, line in enumerate(lines):
        put_text(canvas, line, (8, PANEL_H - 20 * (len(lines) - i) - 4), (60, 60, 60), 0.42)
    return canvas


def _stack(canvas: np.ndarray, pictures: list[np.ndarray], names: list[str], x: int, bottom: int,
           gap: int = 18, named: bool = True) -> list[tuple[int, int, int, int]]:
    """Thumbnails stacked upwards from `bottom`, finest first, each framed in its level colour (and named on its
    left)."""
    boxes, y = [], bottom
    for pic, name, width in zip(pictures, names, THUMBS):
        t = _thumb(pic, width)
        y -= t.shape[0]
        boxes.append(_paste(canvas, t, x, y, frame=level_color(name)))
        if named:
            put_text(canvas, name.upper(), (x - 28, y + t.shape[0] // 2 - 9), BLACK, 0.42)
        y -= gap
    return boxes


def designs_view(ex: Any) -> np.ndarray:
    """Fig. 1's four designs on an `Exploration`: the input image at three scales (a), its C5 map alone (b), its
    C2..C5 maps each predicting (c), and its C2..C5 + top-down P2..P5 (d). Heat maps: L2 norm over channels.
    Returns [H, W, 3] uint8 RGB (a 2 x 2 grid)."""
    image = to_rgb_uint8(ex.image)
    cs = [k for k in sorted(ex.bottom_up)][:4]
    c_pics = render([ex.bottom_up[k] for k in cs], "l2")
    bottom = PANEL_H - 50

    a = _panel("(a) Featurized image pyramid", ("a feature map computed from every image scale:",
                                                "strong at all scales, but slow (one network run per scale)"))
    y = bottom
    # the three scales shrink together when a tall image would reach the panel's title (below y = TITLE_BOTTOM)
    aspect = image.shape[0] / max(image.shape[1], 1)
    fit = min(1.0, (bottom - TITLE_BOTTOM - 2 * 10) / (aspect * (120 + 80 + 52)))
    for width in (120, 80, 52):
        t = _thumb(image, max(int(width * fit), 8), nearest=False)
        y -= t.shape[0]
        _predict(a, _paste(a, t, 60, y, frame=(120, 120, 120)), "network -> predict")
        y -= 10

    b = _panel("(b) Single feature map", ("only the last, coarsest map predicts: fast, but an object",
                                          f"smaller than one cell ({ex.strides.get(cs[-1], 32)} px) is hard to see"))
    img_box = _paste(b, _thumb(image, 150, nearest=False), 40, bottom - _thumb(image, 150).shape[0], (120, 120, 120))
    c5 = _paste(b, _thumb(c_pics[-1], 110), 240, 60, frame=level_color(cs[-1]))
    put_text(b, cs[-1].upper(), (240, 40), BLACK, 0.45)
    _arrow(b, (img_box[2] + 6, img_box[1] + 20), (c5[0] - 8, c5[3] - 10))
    _predict(b, c5)

    c = _panel("(c) Pyramidal feature hierarchy", ("every stage of the network predicts (as SSD): fast, but",
                                                   "the fine stages are semantically weak"))
    for box in _stack(c, c_pics, cs, 60, bottom):
        _predict(c, box)

    d = _panel("(d) Feature Pyramid Network", ("top-down pathway + lateral connections: every level",
                                               "predicts with strong semantics, at one network run"))
    boxes_c = _stack(d, c_pics, cs, 50, bottom)
    ps = [k for k in sorted(ex.pyramid) if int(k[1:]) <= 5][:4]
    if ps:
        boxes_p = _stack(d, render([ex.pyramid[k] for k in ps], "l2"), ps, 240, bottom, named=False)
        for bc, bp, name in zip(boxes_c, boxes_p, ps):
            _arrow(d, (bc[2] + 4, (bc[1] + bc[3]) // 2), (bp[0] - 6, (bp[1] + bp[3]) // 2))
            _predict(d, bp, f"{name.upper()}: predict")
        for upper, lower in zip(boxes_p[1:], boxes_p[:-1]):
            _arrow(d, ((upper[0] + upper[2]) // 2, upper[3] + 2), ((lower[0] + lower[2]) // 2 + 0, lower[1] - 4))
        put_text(d, "lateral 1x1", (boxes_c[0][2] + 8, (boxes_c[0][1] + boxes_c[0][3]) // 2 - 20), ARROW, 0.38)
        put_text(d, "2x up", (boxes_p[0][2] + 4, boxes_p[0][1] - 16), ARROW, 0.38)
    else:
        put_text(d, f"('{ex.variant}' has no pyramid: a single-map baseline)", (150, 120), (150, 40, 40), 0.42)
    return grid([a, b, c, d], cols=2, gap=10)
