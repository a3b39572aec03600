"""The numbers behind the views (each view's JSON export) and the reading of one clicked cell, in words.

Gradio-free; `app.views.Explorer` calls these. Pixels are those of the resized input unless a key says "original".
"""
from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np
import torch

import fpn
import fpn.viz as V

LABEL_NAMES = {1: "positive", 0: "negative", -1: "ignored"}


def _box(b: Any) -> list[float]:
    return [round(float(v), 1) for v in b]


def map_of(roi_maps: Sequence[str], k: int) -> str:
    """The map of level k among the maps Fast R-CNN pools from ("p4" for 4 on FPN, "c4" on the C4 baseline)."""
    return next((m for m in roi_maps if int(m[1:]) == k), f"p{k}")


def cell_markdown(cell: dict[str, Any], ex: Any) -> str:
    """One clicked cell (fpn.viz.map_cell) in words: where it is, what it holds, what input patch it stands for."""
    name, s = cell["map"].upper(), cell["stride"]
    h, w = ex.resized_size
    x1, y1, x2, y2 = cell["box"]
    ox1, oy1, ox2, oy2 = cell["box_original"]
    finest = min(v for k, v in ex.strides.items() if k in ex.pyramid or k in ex.bottom_up)
    shown = "" if cell["mode"] in ("l2", "pca") else f"; value shown ({cell['mode']}): {cell['value']:.4g}"
    span = (f": one {name} cell spans {s // finest}x{s // finest} cells of the finest map ({finest} px)"
            if s > finest else "")
    return (f"**{name}**, cell (row {cell['row']}, column {cell['col']}) of its {cell['grid'][0]} rows x "
            f"{cell['grid'][1]} columns, stride {s} px. L2 norm of its {cell['channels']} channels: "
            f"**{cell['l2']:.4g}** (above {cell['percentile']:.0f}% of {name}'s cells){shown}.\n\n"
            f"Centred on pixel (x {cell['centre'][0]}, y {cell['centre'][1]}) of the resized input ({w} px wide, "
            f"{h} high), where its anchors are centred; its {s}x{s} px patch: x {x1}-{x2}, y {y1}-{y2} "
            f"(x {ox1:.0f}-{ox2:.0f}, y {oy1:.0f}-{oy2:.0f} in the original image). The cell holding that point is "
            f"outlined on every map{span}.")


def mask_data(model: str, masks: np.ndarray, scores: np.ndarray, top_n: int) -> dict[str, Any]:
    """The top_n mask proposals: score, bounding box of the mask (x1, y1, x2, y2 pixels of the mask), area."""
    order = np.argsort(-scores[: masks.shape[0]], kind="stable")[: max(int(top_n), 0)]
    out = []
    for i in order:
        ys, xs = np.nonzero(masks[i])
        box = [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1] if len(xs) else None
        out.append({"score": round(float(scores[i]), 4), "box": box, "area_px": int(len(xs))})
    return {"model": model, "mask_size": list(masks.shape[1:]), "top_n": int(top_n), "proposals": out}


def anchors_data(ex: Any, level: str, ratio: Optional[float], point: Sequence[float], mode: str,
                 labels: dict[str, torch.Tensor], gt_boxes: Any, against: str, counts: dict[str, int]) -> dict:
    """The anchors view in numbers: the level, the cell under the point and every anchor drawn around it (the 3x3
    cells, the chosen aspect ratio) with its box and label; the boxes labelled against; positives per level."""
    lv = ex.rpn[level]
    h, w = lv.grid_size
    num = len(lv.anchor_shapes)
    r0, c0 = V.cell_of(lv, float(point[0]), float(point[1]))
    lab = labels[level].reshape(h, w, num)
    boxes = lv.anchors.reshape(h, w, num, 4)
    around = [{"cell": [i, j], "size": lv.anchor_shapes[a][0], "ratio": lv.anchor_shapes[a][1],
               "box": _box(boxes[i, j, a]), "label": LABEL_NAMES[int(lab[i, j, a])]}
              for i in range(r0 - 1, r0 + 2) for j in range(c0 - 1, c0 + 2) if 0 <= i < h and 0 <= j < w
              for a in V.anchor_indices(lv, ratio)]
    return {"level": level, "stride": lv.stride, "grid": [h, w], "ratio": ratio, "mode": mode,
            "anchor_shapes": [list(s) for s in lv.anchor_shapes], "point": [round(float(v), 1) for v in point],
            "cell": [r0, c0], "labels_against": against, "gt_boxes": [_box(b) for b in gt_boxes],
            "positives_per_level": counts, "anchors_around_point": around}


def roi_data(ex: Any, source: str, boxes: torch.Tensor, levels: torch.Tensor, names: Sequence[str], index: int,
             formula: str, counts: dict[int, int]) -> dict[str, Any]:
    """The RoI view in numbers: every box with its Eq. (1) level, the count per level, the selected box."""
    b = boxes[index]
    k = int(levels[index])
    return {"source": source, "resized_size": list(ex.resized_size), "level_range": list(ex.roi_level_range),
            "per_level": {f"P{k}": n for k, n in counts.items()},
            "boxes": [{"index": i, "name": n, "box": _box(bx), "level": int(lv)}
                      for i, (bx, lv, n) in enumerate(zip(boxes, levels, names))],
            "selected": {"index": index, "name": names[index], "box": _box(b), "w": round(float(b[2] - b[0]), 1),
                         "h": round(float(b[3] - b[1]), 1), "level": k, "map": map_of(ex.roi_maps, k),
                         "formula": formula}}


KIND_WORDS = {  # kind -> (one box, several boxes)
    "correct": ("correct", "correct"), "duplicate": ("repeats a found box", "repeat found boxes"),
    "wrong class": ("names the wrong class", "name the wrong class"),
    "several objects": ("boxes a group of objects", "box groups of objects"),
    "part of an object": ("boxes part of a larger object", "box parts of larger objects"),
    "poorly localised": ("is poorly placed (IoU 0.1-0.5)", "are poorly placed (IoU 0.1-0.5)"),
    "background": ("is on background", "are on background")}


def box_kinds(det: dict[str, torch.Tensor], keep: torch.Tensor, gt_boxes: Any,
              gt_labels: Optional[torch.Tensor]) -> Optional[list[str]]:
    """What each shown detection (``det`` boxes / scores / labels where ``keep``) is against the ground truth
    (gt_boxes [G, 4] original px): fpn.detection_kinds; None without labels of the model's classes."""
    if gt_labels is None:
        return None
    gt = torch.as_tensor(gt_boxes, dtype=torch.float32).reshape(-1, 4)
    return fpn.detection_kinds(det["boxes"][keep], det["scores"][keep], det["labels"][keep], gt, gt_labels)[0]


def ground_truth_note(g: dict[str, Any], kinds: Optional[Sequence[str]]) -> str:
    """The Detections view's note on a dataset image (Markdown): found / missed (``g``: its data's "ground_truth"),
    then what the boxes shown are, most first ("Of the N boxes shown: a correct, b name the wrong class, ...")."""
    text = (f"Ground truth (dashed): **{g['found']} of {g['boxes']} found** (yellow: a shown detection overlaps it "
            f"with IoU >= 0.5), **{g['missed']} missed** (vermillion).")
    if kinds:
        parts = [f"{n} {KIND_WORDS[k][n > 1]}" for k, n in kind_counts(kinds)]
        text += f" Of the {len(kinds)} boxes shown: " + ", ".join(parts) + "."
    return text


def kind_counts(kinds: Sequence[str]) -> list[tuple[str, int]]:
    """(kind, count) of the kinds present, most first (ties in fpn.ERROR_KINDS' order)."""
    counts = {k: sum(1 for x in kinds if x == k) for k in KIND_WORDS}
    return [(k, n) for k, n in sorted(counts.items(), key=lambda kv: -kv[1]) if n]


def kinds_cell(kinds: Optional[Sequence[str]]) -> str:
    """Compare's table cell: "11 of 19 correct; 4 part of an object, 2 several objects, ..." ("" without kinds)."""
    if kinds is None:
        return ""
    counts = kind_counts(kinds)
    errors = [f"{n} {k}" for k, n in counts if k != "correct"]
    return f"{dict(counts).get('correct', 0)} of {len(kinds)} correct" + ("; " + ", ".join(errors) if errors else "")
