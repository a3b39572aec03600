"""Why this box, drawn: the anchor a detection came from, the proposal the RPN regressed it to, and the final box
after Fast R-CNN (on the image and on the anchor's level map); the class scores; and, for a lost ground-truth box,
the boxes that carried it furthest. Pure functions of `fpn.explain.provenance`'s results."""
from __future__ import annotations

from typing import Any, Optional, Sequence

import cv2
import numpy as np

from .draw import (GT_COLOR, WHITE, Color, bar_chart, caption, class_color, draw_box, legend, level_color,
                   to_rgb_uint8, upscale_nearest, vstack)
from .features import colorize

#: Colours of the chain's boxes; the anchor takes its level's colour, a final box its class colour.
PROPOSAL_COLOR: Color = (255, 0, 255)
CANDIDATE_COLOR: Color = (150, 150, 150)
DETECTION_COLOR: Color = (0, 230, 255)


def _box(b: Any) -> np.ndarray:
    return np.asarray(b, dtype=np.float32).reshape(4)


def dashed_box(img: np.ndarray, box: Sequence[float], color: Color, thickness: int = 1, dash: int = 6) -> None:
    """A rectangle of dashes (pixels of img), for boxes that are references rather than results (anchors)."""
    x1, y1, x2, y2 = (int(round(float(v))) for v in box)
    for (ax, ay), (bx, by) in (((x1, y1), (x2, y1)), ((x2, y1), (x2, y2)), ((x2, y2), (x1, y2)), ((x1, y2), (x1, y1))):
        length = max(abs(bx - ax), abs(by - ay))
        for s in range(0, length + 1, 2 * dash):
            e = min(s + dash, length)
            p = (ax + (bx - ax) * s // max(length, 1), ay + (by - ay) * s // max(length, 1))
            q = (ax + (bx - ax) * e // max(length, 1), ay + (by - ay) * e // max(length, 1))
            cv2.line(img, p, q, color, thickness)


def _centre(b: np.ndarray) -> tuple[int, int]:
    return int(round((b[0] + b[2]) / 2)), int(round((b[1] + b[3]) / 2))


def provenance_view(image: Any, prov: Any, others: Optional[Any] = None,
                    other_labels: Optional[Sequence[int]] = None) -> np.ndarray:
    """The resized input (image first, so its pixels keep their coordinates for clicks; caption and legend below)
    with one detection's chain: its anchor (dashed, level colour), the proposal (magenta), the final box (class colour),
    arrows from centre to centre. others: [N, 4] other detections (same pixels) drawn thin, to click on."""
    img = to_rgb_uint8(image).copy()
    if others is not None:
        for i, b in enumerate(np.asarray(others, dtype=np.float32).reshape(-1, 4)):
            draw_box(img, b, class_color(other_labels[i] if other_labels is not None else 1), 1)
    anchor, proposal, final = _box(prov.anchor.box), _box(prov.proposal_box), _box(prov.box)
    dashed_box(img, anchor, level_color(prov.anchor.level), 2)
    draw_box(img, proposal, PROPOSAL_COLOR, 2)
    draw_box(img, final, class_color(prov.label), 3, f"{prov.class_name} {prov.score:.2f}")
    for a, b in ((anchor, proposal), (proposal, final)):
        if _centre(a) != _centre(b):
            cv2.arrowedLine(img, _centre(a), _centre(b), (255, 255, 0), 1, cv2.LINE_AA, tipLength=0.25)
    text = (f"#{prov.detection}: anchor {prov.anchor.level.upper()} {prov.anchor.size}px {prov.anchor.ratio:g} -> "
            f"proposal rank {prov.rank} -> P{prov.roi_level} (Eq. 1) -> {prov.class_name} {prov.score:.2f}")
    key = [(f"anchor ({prov.anchor.level.upper()})", level_color(prov.anchor.level)), ("proposal", PROPOSAL_COLOR),
           ("final box", class_color(prov.label))]
    return vstack([img, caption(text, img.shape[1]), legend(key)], gap=2)


def anchor_cell_view(level: Any, anchor: Any, min_cell: int = 6, max_width: int = 480) -> np.ndarray:
    """The objectness map of the anchor's level for its shape ([H, W], viridis 0..1), each cell at least `min_cell`
    px, with the anchor's cell outlined in white. level: an `RPNLevel`; anchor: an `fpn.explain.provenance.AnchorRef`."""
    grid = level.objectness[anchor.shape].detach().float().cpu().numpy()
    h, w = grid.shape
    cell = max(min_cell, min(max_width // max(w, 1), 24))
    img = upscale_nearest(colorize(grid, 0.0, 1.0), cell)
    r, c = anchor.cell
    cv2.rectangle(img, (c * cell - 2, r * cell - 2), ((c + 1) * cell + 1, (r + 1) * cell + 1), (0, 0, 0), 1)
    cv2.rectangle(img, (c * cell - 1, r * cell - 1), ((c + 1) * cell, (r + 1) * cell), WHITE, 1)
    text = [f"{level.name.upper()} objectness of the {anchor.size}px {anchor.ratio:g} anchors ({h}x{w} cells, "
            f"stride {level.stride})", f"cell {anchor.cell}: {anchor.objectness:.3f}"]
    return vstack([img, caption(text, img.shape[1])], gap=2)


def class_scores_chart(top_classes: Sequence[tuple[int, str, float]], title: str = "top-5 class scores",
                       chosen: Optional[int] = None) -> np.ndarray:
    """Bars of (label, name, probability) in the order given; the chosen label in its class colour, others grey."""
    values = {f"{name}": round(float(p), 3) for _, name, p in top_classes}
    colors = {f"{name}": class_color(label) if label == chosen else (170, 170, 170) for label, name, _ in top_classes}
    return bar_chart(values, title, colors, width=max(300, 80 * len(values)), value_fmt="{:.3f}")


def lost_view(image: Any, lost: Any, others: Optional[Any] = None) -> np.ndarray:
    """The resized input with a ground-truth box (yellow) and what carried it furthest: its best positive anchor
    (dashed), the candidate the RPN dropped (grey), the covering proposal (magenta), the detection the stage names
    (cyan).
    others: [N, 4] the detections (same pixels) drawn thin. Caption: the stage."""
    img = to_rgb_uint8(image).copy()
    if others is not None:
        for b in np.asarray(others, dtype=np.float32).reshape(-1, 4):
            draw_box(img, b, (120, 120, 120), 1)
    key = [("ground truth", GT_COLOR)]
    if lost.anchor is not None:
        dashed_box(img, _box(lost.anchor.box), level_color(lost.anchor.level), 2)
        key.append((f"best positive anchor ({lost.anchor.level.upper()})", level_color(lost.anchor.level)))
    if lost.candidate_box is not None:
        draw_box(img, _box(lost.candidate_box), CANDIDATE_COLOR, 2)
        key.append(("dropped candidate", CANDIDATE_COLOR))
    if lost.proposal_box is not None:
        draw_box(img, _box(lost.proposal_box), PROPOSAL_COLOR, 2)
        key.append(("covering proposal", PROPOSAL_COLOR))
    if lost.detection_box is not None:
        draw_box(img, _box(lost.detection_box), DETECTION_COLOR, 2)
        key.append(("detection", DETECTION_COLOR))
    draw_box(img, _box(lost.gt), GT_COLOR, 2)
    return vstack([img, caption(f"{'lost' if lost.lost else 'found'}: {lost.stage}", img.shape[1]), legend(key)], gap=2)
