"""COCO metrics per pyramid level (percent, pycocotools), stored as ``metrics["per_level"]``:

    "proposal_AR@1000"  {"P2": .., "P6": ..}  AR@1000 of the proposals that came from each RPN map (Sec. 4.1): the
                        image's 1000 best proposals, of which only that map's are scored, against all ground truth.
                        How much each level finds on its own; a map with no proposal scores 0.
    "bbox_AP"           {"P2": .., "P5": ..}  box AP per Eq. (1) level (Sec. 4.2): COCO's AP with the ground truth and
                        the detections restricted to the box sizes Eq. (1) sends to that level, the way AP_s / AP_m /
                        AP_l restrict them to COCO's size ranges. Sizes are sqrt(w h) of the box in the resized input
                        the model sees (``input_scale`` of each prediction; 1 when absent), so that a level's range is
                        the one its RoIs are pooled from: [112, 224) -> P3, [224, 448) -> P4, the rest clamped to P2
                        / P5.
                        The ranges are those of the paper's P2..P5 for every model, so single-map baselines compare.

A level without ground truth gives None.
"""
from __future__ import annotations

from typing import Any, Sequence

import torch

from ..explain.level_recall import EQ1_LEVELS, PER_LEVEL_AP, PER_LEVEL_AR, eq1_size_range
from .metrics import _percent, _quiet, _run_cocoeval, average_precision, average_recall, predictions_to_results

PER_LEVEL_KEYS = (PER_LEVEL_AR, PER_LEVEL_AP)
_NO_LIMIT = 1e5 ** 2  # COCO's "all" upper bound


def eq1_area_ranges() -> dict[str, tuple[float, float]]:
    """COCOeval area ranges (px^2): "all", then one per Eq. (1) level "P2".."P5"."""
    ranges = {"all": (0.0, _NO_LIMIT)}
    for k in EQ1_LEVELS:
        low, high = eq1_size_range(k)
        ranges[f"P{k}"] = (low ** 2, min(high ** 2, _NO_LIMIT))
    return ranges


def proposal_ar_per_level(gt, predictions: dict[int, dict[str, Any]], label_to_category_id: dict[int, int],
                          levels: Sequence[int] | None = None) -> dict[str, float | None]:
    """AR@1000 (percent) of each RPN map's proposals. predictions[image_id] holds "proposals" [P, 4], "proposal_scores"
    [P] and "proposal_levels" [P] (k of the map); levels: the maps to report (default: those any proposal came from)."""
    image_ids = sorted(int(i) for i in predictions)
    if levels is None:
        levels = sorted({int(k) for p in predictions.values() for k in p["proposal_levels"].tolist()})
    out = {}
    for k in levels:
        mine = {}
        for image_id, p in predictions.items():
            keep = torch.as_tensor(p["proposal_levels"]) == k
            mine[image_id] = {"proposals": p["proposals"][keep], "proposal_scores": p["proposal_scores"][keep]}
        results = predictions_to_results(mine, label_to_category_id)["proposals"]
        ev = _run_cocoeval(gt, results, "bbox", False, [1000], image_ids)
        out[f"P{k}"] = 0.0 if ev is None else _percent(average_recall(ev, "all", 1000))
    if not gt.getAnnIds(imgIds=image_ids):
        out = {k: None for k in out}
    return out


def bbox_ap_per_level(gt, predictions: dict[int, dict[str, Any]],
                      label_to_category_id: dict[int, int]) -> dict[str, float | None]:
    """Box AP (percent) per Eq. (1) level, on boxes scaled to the resized input (see the module docstring)."""
    image_ids = sorted(int(i) for i in predictions)
    scales = {int(i): _scale(p) for i, p in predictions.items()}
    scaled_gt = _scaled_ground_truth(gt, scales)
    results = predictions_to_results({i: {k: p[k] for k in ("boxes", "scores", "labels")}
                                      for i, p in predictions.items()}, label_to_category_id)["bbox"]
    for r in results:
        sx, sy = scales[int(r["image_id"])]
        x, y, w, h = r["bbox"]
        r["bbox"] = [x * sx, y * sy, w * sx, h * sy]
    ranges = eq1_area_ranges()
    ev = _run_cocoeval(scaled_gt, results, "bbox", True, None, image_ids, area_ranges=ranges)
    levels = [name for name in ranges if name != "all"]
    if ev is None:
        has_gt = {name: _has_ground_truth(scaled_gt, image_ids, ranges[name]) for name in levels}
        return {name: 0.0 if has_gt[name] else None for name in levels}
    return {name: _percent(average_precision(ev, name)) for name in levels}


def per_level_metrics(dataset, predictions: dict[int, dict[str, Any]],
                      rpn_levels: Sequence[int] | None = None) -> dict[str, dict[str, float | None]]:
    """``metrics["per_level"]`` for the parts the predictions allow: "proposal_AR@1000" when every prediction has
    "proposal_levels", "bbox_AP" when they have detections."""
    from .metrics import coco_ground_truth

    image_ids = sorted(int(i) for i in predictions)
    gt = coco_ground_truth(dataset, image_ids)
    out = {}
    if predictions and all("proposal_levels" in p for p in predictions.values()):
        out[PER_LEVEL_AR] = proposal_ar_per_level(gt, predictions, dataset.label_to_category_id, rpn_levels)
    if predictions and all("boxes" in p and "labels" in p for p in predictions.values()):
        out[PER_LEVEL_AP] = bbox_ap_per_level(gt, predictions, dataset.label_to_category_id)
    return out


def _scale(p: dict[str, Any]) -> tuple[float, float]:
    s = p.get("input_scale")
    return (1.0, 1.0) if s is None else (float(s[0]), float(s[1]))


def _scaled_ground_truth(gt, scales: dict[int, tuple[float, float]]):
    """A copy of a pycocotools COCO whose boxes are scaled per image and whose areas are those boxes' areas."""
    from pycocotools.coco import COCO

    anns = []
    for a in gt.dataset["annotations"]:
        sx, sy = scales.get(int(a["image_id"]), (1.0, 1.0))
        x, y, w, h = a["bbox"]
        anns.append({**a, "bbox": [x * sx, y * sy, w * sx, h * sy], "area": w * sx * h * sy})
    scaled = COCO()
    scaled.dataset = {**gt.dataset, "annotations": anns}
    with _quiet():
        scaled.createIndex()
    return scaled


def _has_ground_truth(gt, image_ids: list[int], area_range: tuple[float, float]) -> bool:
    low, high = area_range
    anns = gt.loadAnns(gt.getAnnIds(imgIds=image_ids))
    return any(low <= a["area"] <= high and not a.get("iscrowd", 0) for a in anns)
