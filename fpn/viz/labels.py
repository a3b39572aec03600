"""Box labels that stay readable: sized for the picture as it is shown (a large upload is shrunk to fit the page, so
its labels are drawn larger), and placed so that no two overlap (the best-scoring boxes choose first)."""
from __future__ import annotations

from typing import Sequence

#: A picture up to this many pixels on its longer side is shown about 1:1 by the app; larger ones are shrunk to it.
REFERENCE_SIDE = 640
#: The label font scale at 1:1 (13 px high text with OpenCV's Hershey font: >= 12 px as displayed).
BASE_SCALE = 0.45


def label_scale(shape: Sequence[int], shown_side: int = REFERENCE_SIDE) -> float:
    """Font scale of the labels on a picture of shape (h, w, ...) whose longer side is shown at most `shown_side` px
    (default: the app's Detections view): BASE_SCALE, times how much the picture is shrunk when shown."""
    return BASE_SCALE * max(1.0, max(int(shape[0]), int(shape[1])) / max(int(shown_side), 1))


def _free(rect: tuple[int, int, int, int], taken: list[tuple[int, int, int, int]]) -> bool:
    x1, y1, x2, y2 = rect
    return all(x2 <= a1 or a2 <= x1 or y2 <= b1 or b2 <= y1 for a1, b1, a2, b2 in taken)


def place_labels(boxes: Sequence[Sequence[float]], sizes: Sequence[tuple[int, int]],
                 shape: Sequence[int]) -> list[tuple[int, int]]:
    """Top-left corners (x, y) for labels of `sizes` (w, h) on boxes (x1, y1, x2, y2), in the boxes' order of
    priority: above the box's top-left corner, else just inside it, else under it, else moved down the box's left
    edge (then past it) to the first free place. Inside the picture of shape (h, w)."""
    height, width = int(shape[0]), int(shape[1])
    taken: list[tuple[int, int, int, int]] = []
    out = []
    for box, (w, h) in zip(boxes, sizes):
        x1, y1, x2, y2 = (int(round(float(v))) for v in box)
        x = min(max(x1, 0), max(width - w, 0))
        candidates = [y1 - h, y1 + 1, y2 + 1] + list(range(y1 + 1 + h, max(y2, y1 + 1) + 1, max(h // 2, 1)))
        candidates += list(range(y2 + 1 + h, height - h + 1, max(h // 2, 1)))
        spot = None
        for y in candidates:
            y = min(max(y, 0), max(height - h, 0))
            if _free((x, y, x + w, y + h), taken):
                spot = (x, y)
                break
        spot = spot or (x, min(max(y1 - h, 0), max(height - h, 0)))  # no free place: where it would have gone
        taken.append((spot[0], spot[1], spot[0] + w, spot[1] + h))
        out.append(spot)
    return out
