"""The two characters the figures need that OpenCV's Hershey fonts (ASCII only) lack, drawn as glyphs of their own:
"²" a raised small 2 ("64²"), "±" a plus over a bar ("±3.19"). fpn.viz.draw's text_size / put_text use them, so
every caption, title and legend can print them."""
from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

#: Each glyph and the ASCII character it is drawn from.
GLYPHS = {"²": "2", "±": "+"}
SUPERSCRIPT = 0.65  # the raised 2's size, relative to the text's


def runs(text: str) -> list[str]:
    """The text cut into plain runs and single GLYPHS characters."""
    out: list[str] = []
    for ch in text:
        if ch in GLYPHS or not out or out[-1] in GLYPHS:
            out.append(ch)
        else:
            out[-1] += ch
    return out


def run_width(run: str, font: int, scale: float, thickness: int) -> int:
    """The width in pixels of one run as draw_runs draws it."""
    if run == "²":
        return cv2.getTextSize("2", font, scale * SUPERSCRIPT, thickness)[0][0] + 1
    return cv2.getTextSize(GLYPHS.get(run, run), font, scale, thickness)[0][0]


def draw_runs(img: np.ndarray, text: str, x: int, y: int, h: int, color: Sequence[int], font: int, scale: float,
              thickness: int) -> None:
    """The text's runs from baseline (x, y); h: its cap height (how high the small 2 is raised)."""
    for run in runs(text):
        if run == "²":
            cv2.putText(img, "2", (x, y - int(round(0.45 * h))), font, scale * SUPERSCRIPT, color, thickness,
                        cv2.LINE_AA)
        elif run == "±":
            w = run_width(run, font, scale, thickness)
            cv2.putText(img, "+", (x, y - 2), font, scale, color, thickness, cv2.LINE_AA)
            cv2.line(img, (x + 1, y + 1), (x + w - 2, y + 1), color, thickness, cv2.LINE_AA)
        else:
            cv2.putText(img, run, (x, y), font, scale, color, thickness, cv2.LINE_AA)
        x += run_width(run, font, scale, thickness)
