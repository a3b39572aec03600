"""Detections (boxes, class names, scores) and mask proposals (Sec. 6) drawn on an image."""
from __future__ import annotations

from typing import Any, Optional, Sequence

import cv2
import numpy as np

from .draw import (GT_COLOR, NEGATIVE_COLOR, add_title, blend, class_color, draw_box, note_image, put_text, readable_on,
                   text_size, to_rgb_uint8)
from .labels import REFERENCE_SIDE, label_scale, place_labels
from .provenance import dashed_box

#: IoU at which a detection counts as finding a ground-truth box (COCO's AP50 criterion).
FOUND_IOU = 0.5

NO_MASK_MODEL = ("No mask-proposal model available: train one with scripts/train.py --task mask_proposals "
                 "(its checkpoint then appears in the model list).")


def label_name(label: int, class_names: Optional[Sequence[str]]) -> str:
    """Class name of a label (class_names indexed by label, 0 = background), or "class <label>"."""
    if class_names is not None and 0 <= int(label) < len(class_names) and class_names[int(label)]:
        return str(class_names[int(label)])
    return f"class {int(label)}"


def match_ground_truth(gt_boxes: Any, det_boxes: Any, iou_thresh: float = FOUND_IOU) -> np.ndarray:
    """[G] bool: whether each ground-truth box (x1, y1, x2, y2) overlaps some detection with IoU >= iou_thresh
    (any class: the question is whether the object was found at all)."""
    gt = np.asarray(gt_boxes, dtype=np.float64).reshape(-1, 4)
    det = np.asarray(det_boxes, dtype=np.float64).reshape(-1, 4)
    if len(gt) == 0 or len(det) == 0:
        return np.zeros(len(gt), dtype=bool)
    x1 = np.maximum(gt[:, None, 0], det[None, :, 0])
    y1 = np.maximum(gt[:, None, 1], det[None, :, 1])
    x2 = np.minimum(gt[:, None, 2], det[None, :, 2])
    y2 = np.minimum(gt[:, None, 3], det[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = lambda b: (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])  # noqa: E731
    iou = inter / np.maximum(area(gt)[:, None] + area(det)[None, :] - inter, 1e-9)
    return (iou >= iou_thresh).any(axis=1)


def draw_detections(image: Any, boxes: Any, scores: Any, labels: Any, class_names: Optional[Sequence[str]] = None,
                    score_thresh: float = 0.0, box_scale: float = 1.0, gt_boxes: Any = None,
                    shown_side: int = REFERENCE_SIDE) -> np.ndarray:
    """Boxes [D, 4] (x1, y1, x2, y2 pixels of `image` / box_scale) with "name score" labels, colour per class;
    only scores >= score_thresh. Lower scores are drawn first so the best stay on top. gt_boxes [G, 4] (same
    pixels): the ground truth, dashed under the detections, yellow when a shown detection finds it (IoU >= 0.5),
    vermillion when missed; the title counts both. Labels are sized for the picture as the app shows it
    (fpn.viz.labels.label_scale: shown_side, the longer side in px as shown, e.g. a Compare column's) and placed
    without overlaps."""
    img = to_rgb_uint8(image).copy()
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4) * box_scale
    scores = np.asarray(scores, dtype=np.float32).reshape(-1)
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    keep = np.nonzero(scores >= score_thresh)[0]
    thick = max(2, int(round(max(img.shape[:2]) / 400)))
    title = f"{len(keep)} detection(s) with score >= {score_thresh:.2f}"
    if gt_boxes is not None:
        gt = np.asarray(gt_boxes, dtype=np.float32).reshape(-1, 4) * box_scale
        found = match_ground_truth(gt, boxes[keep])
        for box, hit in zip(gt, found):
            dashed_box(img, box, GT_COLOR if hit else NEGATIVE_COLOR, thick, dash=max(6, 3 * thick))
        # short: a longer title would widen the picture (add_title fits the image to its text)
        title += f"; GT (dashed): {int(found.sum())} found, {int((~found).sum())} missed"
    order = keep[np.argsort(scores[keep], kind="stable")]  # the best drawn last, on top
    for i in order:
        draw_box(img, boxes[i], class_color(labels[i]), thick)
    # labels after every box, sized for the picture as shown and placed without overlaps (the best choose first)
    scale, pad = label_scale(img.shape, shown_side), 2
    best_first = order[::-1]
    texts = [f"{label_name(labels[i], class_names)} {scores[i]:.2f}" for i in best_first]
    sizes = [(w + 2 * pad, h + 2 * pad) for w, h in (text_size(t, scale) for t in texts)]
    for i, t, (x, y) in zip(best_first, texts, place_labels(boxes[best_first], sizes, img.shape)):
        color = class_color(labels[i])
        put_text(img, t, (x, y), readable_on(color), scale, bg=color, pad=pad)
    return add_title(img, title, scale=scale)


def draw_mask_proposals(image: Any, masks: Any, scores: Any, top_n: int = 10, alpha: float = 0.45) -> np.ndarray:
    """The top_n best mask proposals (masks [P, H, W] bool, scores [P]) as coloured translucent regions with
    contours and scores. Masks of another size than the image are resized (nearest)."""
    img = to_rgb_uint8(image).copy()
    masks = np.asarray(masks).astype(bool)
    scores = np.asarray(scores, dtype=np.float32).reshape(-1)
    if masks.ndim != 3 or masks.shape[0] == 0:
        return add_title(img, "no mask proposals")
    order = np.argsort(-scores[: masks.shape[0]], kind="stable")[: max(int(top_n), 0)]
    for rank, i in enumerate(order[::-1]):
        m = masks[i]
        if m.shape != img.shape[:2]:
            m = cv2.resize(m.astype(np.uint8), (img.shape[1], img.shape[0]), interpolation=cv2.INTER_NEAREST) > 0
        color = class_color(len(order) - 1 - rank)
        overlay = np.empty_like(img)
        overlay[:] = color
        img = blend(img, overlay, alpha, where=m)
        contours, _ = cv2.findContours(m.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(img, contours, -1, color, 2)
    # the scores after every mask, at their masks' top-left corners, placed without overlaps (the best choose first)
    spots, texts, colors = [], [], []
    for rank, i in enumerate(order):
        m = masks[i] if masks[i].shape == img.shape[:2] else cv2.resize(
            masks[i].astype(np.uint8), (img.shape[1], img.shape[0]), interpolation=cv2.INTER_NEAREST) > 0
        ys, xs = np.nonzero(m)
        if len(xs):
            spots.append((xs.min(), ys.min(), xs.max(), ys.max()))
            texts.append(f"{scores[i]:.2f}")
            colors.append(class_color(rank))
    scale, pad = label_scale(img.shape), 2
    sizes = [(w + 2 * pad, h + 2 * pad) for w, h in (text_size(t, scale) for t in texts)]
    for t, color, (x, y) in zip(texts, colors, place_labels(spots, sizes, img.shape)):
        put_text(img, t, (x, y), readable_on(color), scale, bg=color, pad=pad)
    return add_title(img, f"top {len(order)} of {masks.shape[0]} mask proposals (Sec. 6)")


def no_mask_model_note(width: int = 520) -> np.ndarray:
    return note_image(NO_MASK_MODEL, width, 70)
