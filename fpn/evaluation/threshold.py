"""A detector's default score threshold: the one that maximises F1 (IoU >= 0.5, all sizes, up to 100 detections per
image) on the evaluated split, read off pycocotools' own matching of that evaluation.

The app's slider starts there (stored as ``metrics["score_threshold"]`` by ``scripts/evaluate.py --write-metadata``):
a model trained briefly is under-confident, so a fixed 0.5 hides most of what it finds.
"""
from __future__ import annotations

from typing import Any

import numpy as np


def best_score_threshold(coco_eval: Any) -> dict[str, float] | None:
    """{"value", "f1", "precision", "recall"} of the F1-best threshold of an evaluated (``evaluate()``) bbox COCOeval,
    or None when there is no ground truth or no detection (also when `coco_eval` is None: nothing was detected, so
    pycocotools had nothing to evaluate). Ties keep the highest threshold (fewer boxes shown)."""
    if coco_eval is None:
        return None
    params = coco_eval.params
    iou = int(np.argmin(np.abs(np.asarray(params.iouThrs) - 0.5)))
    all_sizes = [list(r) for r in params.areaRng].index(list(params.areaRng[0]))
    max_det = max(params.maxDets)
    scores, hits, num_gt = [], [], 0
    for e in coco_eval.evalImgs:
        if e is None or list(e["aRng"]) != list(params.areaRng[all_sizes]):
            continue
        num_gt += int(np.count_nonzero(~np.asarray(e["gtIgnore"], bool)))
        keep = ~np.asarray(e["dtIgnore"], bool)[iou][:max_det]
        scores += list(np.asarray(e["dtScores"])[:max_det][keep])
        hits += list(np.asarray(e["dtMatches"])[iou][:max_det][keep] > 0)
    if not num_gt or not scores:
        return None
    order = np.argsort(-np.asarray(scores), kind="stable")
    score, hit = np.asarray(scores)[order], np.asarray(hits, bool)[order]
    tp = np.cumsum(hit)
    precision, recall = tp / np.arange(1, len(hit) + 1), tp / num_gt
    f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
    # a threshold must keep every detection with the same score: only the last of a run of equal scores counts
    last = np.r_[score[1:] != score[:-1], True]
    best = int(np.flatnonzero(last)[np.argmax(f1[last])])
    return {"value": round(float(score[best]), 3), "f1": round(float(f1[best]) * 100, 1),
            "precision": round(float(precision[best]) * 100, 1), "recall": round(float(recall[best]) * 100, 1)}
