"""Drawing primitives shared by the views: RGB uint8 images in, RGB uint8 images out (numpy + OpenCV, no GUI).

Every view function in `fpn.viz` returns an [H, W, 3] uint8 RGB array. Colours are RGB tuples.
"""
from __future__ import annotations

from typing import Any, Optional, Sequence

import cv2
import numpy as np
import torch

from .glyphs import GLYPHS, draw_runs, run_width, runs

Color = tuple[int, int, int]

#: The Okabe-Ito palette (Okabe & Ito, "Color Universal Design", 2008): told apart with any colour vision.
OKABE_ITO: dict[str, Color] = {"orange": (230, 159, 0), "sky blue": (86, 180, 233), "bluish green": (0, 158, 115),
                               "yellow": (240, 228, 66), "blue": (0, 114, 178), "vermillion": (213, 94, 0),
                               "reddish purple": (204, 121, 167)}

#: Anchor label colours (Sec. 4.1): positive (IoU > 0.7 or best for a GT box), negative (IoU < 0.3), ignored.
#: Blue / vermillion / grey rather than green / red / grey: green and grey merge for deuteranopes.
POSITIVE_COLOR: Color = OKABE_ITO["blue"]
NEGATIVE_COLOR: Color = OKABE_ITO["vermillion"]
IGNORED_COLOR: Color = (153, 153, 153)
GT_COLOR: Color = OKABE_ITO["yellow"]
WHITE: Color = (255, 255, 255)
BLACK: Color = (0, 0, 0)
BACKGROUND: Color = (245, 245, 245)

#: One colour per pyramid level k = 2..6 (Eq. (1) levels and RPN maps share them): Okabe-Ito colours ordered so
#: that neighbouring levels differ most, without yellow (unreadable on white).
LEVEL_COLORS: dict[int, Color] = {2: OKABE_ITO["blue"], 3: OKABE_ITO["orange"], 4: OKABE_ITO["sky blue"],
                                  5: OKABE_ITO["vermillion"], 6: OKABE_ITO["reddish purple"]}
_TAB10 = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75),
          (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207)]

FONT = cv2.FONT_HERSHEY_SIMPLEX
#: The smallest font scale any figure uses: put_text and text_size raise smaller scales to it. Its text is
#: MIN_TEXT_PX high (text_size's height, descenders included): a figure shown at >= 12 / MIN_TEXT_PX of its width
#: keeps all its text >= 12 px on the screen (the app's browser tests measure this on every figure).
MIN_TEXT_SCALE = 0.4


def class_color(label: int) -> Color:
    """A stable colour per class label."""
    return _TAB10[int(label) % len(_TAB10)]


def level_of(name: str) -> int:
    """"p4" / "c4" -> 4."""
    return int(name[1:])


def level_color(name_or_k: Any) -> Color:
    k = level_of(name_or_k) if isinstance(name_or_k, str) else int(name_or_k)
    return LEVEL_COLORS.get(k, (100, 100, 100))


def to_rgb_uint8(image: Any) -> np.ndarray:
    """[3, H, W] float tensor in [0, 1], or HxW / HxWx3 / HxWx4 array (uint8, uint16 or float in [0, 1]) -> HxWx3 uint8."""
    channels_first = False
    if isinstance(image, torch.Tensor):
        image = image.detach().cpu()
        channels_first = image.dim() == 3 and image.shape[0] in (1, 3)
        image = image.numpy()
    a = np.asarray(image)
    # elementwise, so converted before the transpose: on contiguous memory, ~1.5x faster
    if a.dtype == np.uint16:
        a = (a / 257.0).round().astype(np.uint8)
    elif a.dtype != np.uint8:
        a = (np.clip(a.astype(np.float32), 0, 1) * 255).round().astype(np.uint8)
    if channels_first:
        a = a.transpose(1, 2, 0)
    if a.ndim == 2:
        a = a[..., None]
    if a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    return np.ascontiguousarray(a[..., :3])


def text_size(text: str, scale: float = 0.45, thickness: int = 1) -> tuple[int, int]:
    """(width, height) of the text as put_text draws it (GLYPHS included; scale at least MIN_TEXT_SCALE)."""
    scale = max(scale, MIN_TEXT_SCALE)
    (_, h), base = cv2.getTextSize("".join(GLYPHS.get(c, c) for c in text), FONT, scale, thickness)
    return sum(run_width(r, FONT, scale, thickness) for r in runs(text)), h + base


def put_text(img: np.ndarray, text: str, org: tuple[int, int], color: Color = BLACK, scale: float = 0.45,
             thickness: int = 1, bg: Optional[Color] = None, pad: int = 2) -> None:
    """Text with its top-left corner at org (x, y), optionally on a filled box; clipped to the image. The scale is
    at least MIN_TEXT_SCALE."""
    scale = max(scale, MIN_TEXT_SCALE)
    w, h = text_size(text, scale, thickness)
    x = int(min(max(org[0], 0), max(img.shape[1] - w - 2 * pad, 0)))
    y = int(min(max(org[1], 0), max(img.shape[0] - h - 2 * pad, 0)))
    if bg is not None:
        cv2.rectangle(img, (x, y), (x + w + 2 * pad, y + h + 2 * pad), bg, -1)
    if any(c in GLYPHS for c in text):
        draw_runs(img, text, x + pad, y + pad + h - 3, h, color, FONT, scale, thickness)
    else:
        cv2.putText(img, text, (x + pad, y + pad + h - 3), FONT, scale, color, thickness, cv2.LINE_AA)


def readable_on(color: Color) -> Color:
    """Black or white, whichever reads better on `color`."""
    return BLACK if 0.299 * color[0] + 0.587 * color[1] + 0.114 * color[2] > 140 else WHITE


def draw_box(img: np.ndarray, box: Sequence[float], color: Color, thickness: int = 2,
             label: Optional[str] = None) -> None:
    """Rectangle (x1, y1, x2, y2 pixels of img) with an optional label above its top-left corner."""
    x1, y1, x2, y2 = (int(round(float(v))) for v in box)
    cv2.rectangle(img, (x1, y1), (x2, y2), color, thickness, cv2.LINE_AA if thickness > 1 else cv2.LINE_8)
    if label:
        _, h = text_size(label)
        put_text(img, label, (x1, y1 - h - 4 if y1 - h - 4 >= 0 else y1 + 1), readable_on(color), bg=color)


#: Height in pixels of the smallest text in any figure (see MIN_TEXT_SCALE).
MIN_TEXT_PX: int = text_size("Ag", MIN_TEXT_SCALE)[1]


def blank(height: int, width: int, color: Color = BACKGROUND) -> np.ndarray:
    """An [height, width, 3] uint8 image of one colour (at least 1 x 1)."""
    h, w = max(int(height), 1), max(int(width), 1)
    c = np.array(color, dtype=np.uint8).reshape(-1)
    if (c == c[0]).all():  # a grey: one memset; broadcasting a 3-tuple over a large image is ~100x slower
        return np.full((h, w, 3), c[0], np.uint8)
    img = np.empty((h, w, 3), np.uint8)
    img[0] = c
    img[1:] = img[0]  # row copies
    return img


def note_image(text: str, width: int = 480, height: int = 120) -> np.ndarray:
    """A panel that says something instead of showing it (e.g. "no mask-proposal model available")."""
    img = blank(height, width)
    lines = wrap(text, max(int(width / 8), 10))
    for i, line in enumerate(lines[: max(height // 18, 1)]):
        put_text(img, line, (8, 8 + 18 * i), (60, 60, 60))
    return img


def wrap(text: str, width: int) -> list[str]:
    out = []
    for para in str(text).split("\n"):
        line = ""
        for word in para.split(" "):
            if line and len(line) + 1 + len(word) > width:
                out.append(line)
                line = word
            else:
                line = f"{line} {word}" if line else word
        out.append(line)
    return out


def add_title(img: np.ndarray, lines: Sequence[str] | str, min_width: int = 0, color: Color = BLACK,
              scale: float = 0.45) -> np.ndarray:
    """img with a caption band above it (one row per line), padded to at least min_width."""
    lines = [lines] if isinstance(lines, str) else list(lines)
    line_h = text_size("Ag", scale)[1] + 4
    width = max(img.shape[1], min_width, *(text_size(t, scale)[0] + 6 for t in lines))
    out = blank(img.shape[0] + line_h * len(lines) + 2, width)
    for i, t in enumerate(lines):
        put_text(out, t, (2, 1 + line_h * i), color, scale)
    out[line_h * len(lines) + 2:, : img.shape[1]] = img
    return out


def caption(lines: Sequence[str] | str, width: int, color: Color = BLACK) -> np.ndarray:
    """A text band of the given width (placed under an image, so that image pixels keep their coordinates)."""
    return add_title(np.zeros((0, width, 3), np.uint8), lines, min_width=width, color=color)


def hstack(panels: Sequence[np.ndarray], gap: int = 8, align: str = "top") -> np.ndarray:
    """Panels left to right on a light background (top- or centre-aligned)."""
    panels = [p for p in panels if p is not None]
    h = max(p.shape[0] for p in panels)
    w = sum(p.shape[1] for p in panels) + gap * (len(panels) - 1)
    out = blank(h, w)
    x = 0
    for p in panels:
        y = 0 if align == "top" else (h - p.shape[0]) // 2
        out[y: y + p.shape[0], x: x + p.shape[1]] = p
        x += p.shape[1] + gap
    return out


def vstack(panels: Sequence[np.ndarray], gap: int = 8) -> np.ndarray:
    panels = [p for p in panels if p is not None]
    w = max(p.shape[1] for p in panels)
    h = sum(p.shape[0] for p in panels) + gap * (len(panels) - 1)
    out = blank(h, w)
    y = 0
    for p in panels:
        out[y: y + p.shape[0], : p.shape[1]] = p
        y += p.shape[0] + gap
    return out


def grid(panels: Sequence[np.ndarray], cols: int, gap: int = 8) -> np.ndarray:
    rows = [hstack(panels[i: i + cols], gap) for i in range(0, len(panels), cols)]
    return vstack(rows, gap)


def fit(img: np.ndarray, max_width: int = 0, max_height: int = 0) -> np.ndarray:
    """Downscale (area interpolation) so the image fits; never upscales."""
    h, w = img.shape[:2]
    s = 1.0
    if max_width and w > max_width:
        s = min(s, max_width / w)
    if max_height and h > max_height:
        s = min(s, max_height / h)
    if s >= 1.0:
        return img
    return cv2.resize(img, (max(int(w * s), 1), max(int(h * s), 1)), interpolation=cv2.INTER_AREA)


def upscale_nearest(img: np.ndarray, factor: int) -> np.ndarray:
    """Each pixel becomes a factor x factor block (keeps the grid of a feature map visible)."""
    if factor <= 1:
        return img
    return np.repeat(np.repeat(img, factor, axis=0), factor, axis=1)


def blend(img: np.ndarray, overlay: np.ndarray, alpha: float, where: Optional[np.ndarray] = None) -> np.ndarray:
    """img * (1 - alpha) + overlay * alpha (only where `where` is True, if given)."""
    if where is not None and img.dtype == np.uint8 and np.ndim(alpha) == 0:
        # only the selected pixels are computed: the others would go to float32 and back unchanged
        out = img.copy()
        mixed = img[where].astype(np.float32) * (1 - alpha) + np.broadcast_to(overlay, img.shape)[where].astype(
            np.float32) * alpha
        out[where] = mixed.round().clip(0, 255).astype(np.uint8)
        return out
    out = img.astype(np.float32)
    mixed = out * (1 - alpha) + overlay.astype(np.float32) * alpha
    if where is None:
        out = mixed
    else:
        out[where] = mixed[where]
    return out.round().clip(0, 255).astype(np.uint8)


def bar_chart(values: dict[str, float], title: str = "", colors: Optional[dict[str, Color]] = None,
              width: int = 320, height: int = 200, value_fmt: str = "{:g}") -> np.ndarray:
    """A small bar chart: one labelled bar per key, value printed above each bar."""
    img = blank(height, width, WHITE)
    top, bottom, left = 26 if title else 8, 22, 8
    if title:
        put_text(img, title, (6, 4), BLACK)
    n = max(len(values), 1)
    vmax = max([float(v) for v in values.values()] + [1e-9])
    slot = (width - 2 * left) / n
    base_y = height - bottom
    cv2.line(img, (left, base_y), (width - left, base_y), (90, 90, 90), 1)
    for i, (key, v) in enumerate(values.items()):
        x1 = int(left + i * slot + slot * 0.15)
        x2 = int(left + (i + 1) * slot - slot * 0.15)
        bar_h = int(round((base_y - top - 16) * float(v) / vmax)) if vmax > 0 else 0
        color = (colors or {}).get(key, (90, 120, 200))
        if bar_h > 0:
            cv2.rectangle(img, (x1, base_y - bar_h), (x2, base_y - 1), color, -1)
        label = value_fmt.format(v)
        tw, th = text_size(label, 0.4)
        put_text(img, label, ((x1 + x2 - tw) // 2 - 2, base_y - bar_h - th - 4), BLACK, 0.4)
        kw, _ = text_size(key, 0.4)
        put_text(img, key, ((x1 + x2 - kw) // 2 - 2, base_y + 2), BLACK, 0.4)
    return img


def legend(items: Sequence[tuple[str, Color]], width: int = 0, max_width: int = 0) -> np.ndarray:
    """A legend: coloured squares with names, on one row padded to `width` px, or wrapped onto as many rows as it
    takes to stay within `max_width` px (a caption under a picture must not widen it)."""
    parts = []
    for name, color in items:
        w, _ = text_size(name, 0.42)
        p = blank(20, w + 26, WHITE)
        cv2.rectangle(p, (3, 4), (15, 16), color, -1)
        if sum(color) > 3 * 235:  # a white (or nearly) item: outlined, so that its swatch shows on the white legend
            cv2.rectangle(p, (3, 4), (15, 16), BLACK, 1)
        put_text(p, name, (18, 1), BLACK, 0.42)
        parts.append(p)
    rows: list[list[np.ndarray]] = [[]]
    for p in parts:
        used = sum(q.shape[1] + 6 for q in rows[-1])
        if max_width and rows[-1] and used + p.shape[1] > max_width:
            rows.append([])
        rows[-1].append(p)
    row = vstack([hstack(r, gap=6) for r in rows], gap=2)
    if width and row.shape[1] < width:
        row = hstack([row, blank(row.shape[0], width - row.shape[1] - 6, WHITE)], gap=6)
    return row
