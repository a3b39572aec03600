"""COCO metrics with pycocotools: box AP of detections, AR of RPN proposals (class-agnostic boxes, the paper's
Table 1 columns) and AR of segmentation proposals (Table 6).  Values are reported in percent, as the paper prints
them (e.g. 36.1); a size range with no ground truth gives ``None``.
"""
from __future__ import annotations

import contextlib
import io
from collections.abc import Iterable
from typing import Any

import numpy as np
import torch

BBOX_KEYS = ("AP", "AP50", "AP75", "AP_s", "AP_m", "AP_l")
PROPOSAL_KEYS = ("AR@100", "AR@1000", "AR_s@1000", "AR_m@1000", "AR_l@1000")
SEGM_PROPOSAL_KEYS = ("AR@10", "AR@100", "AR@1000", "AR_s@1000", "AR_m@1000", "AR_l@1000")
PROPOSAL_MAX_DETS = [10, 100, 1000]
AREA_NAMES = ("all", "small", "medium", "large")


def _quiet() -> contextlib.AbstractContextManager:
    """Silence pycocotools' progress prints."""
    return contextlib.redirect_stdout(io.StringIO())


def _percent(v: float) -> float | None:
    return None if v is None or v < 0 else round(float(v) * 100.0, 1)


def coco_ground_truth(dataset, image_ids: Iterable[int] | None = None):
    """A pycocotools ``COCO`` holding the dataset's annotations (crowd included) for ``image_ids``."""
    from pycocotools.coco import COCO

    data = dataset.data
    keep = {int(i) for i in (image_ids if image_ids is not None else dataset.ids)}
    anns = []
    for a in data["annotations"]:
        if int(a["image_id"]) in keep:
            a = dict(a)
            a.setdefault("iscrowd", 0)
            a.setdefault("area", float(a["bbox"][2] * a["bbox"][3]))
            anns.append(a)
    gt = COCO()
    gt.dataset = {"images": [im for im in data["images"] if int(im["id"]) in keep],
                  "annotations": anns, "categories": data["categories"]}
    with _quiet():
        gt.createIndex()
    return gt


def _xyxy_to_xywh(boxes: torch.Tensor) -> list[list[float]]:
    b = boxes.detach().float().cpu()
    return torch.stack([b[:, 0], b[:, 1], b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]], 1).tolist() if len(b) else []


def _run_cocoeval(gt, results: list[dict[str, Any]], iou_type: str, use_cats: bool,
                  max_dets: list[int] | None, image_ids: list[int],
                  area_ranges: dict[str, tuple[float, float]] | None = None):
    """An accumulated COCOeval (None without results). area_ranges: label -> (low, high) box areas in px^2 replacing
    COCO's all / small / medium / large."""
    from pycocotools.cocoeval import COCOeval

    if not results:
        return None
    with _quiet():
        dt = gt.loadRes(results)
        ev = COCOeval(gt, dt, iou_type)
        ev.params.imgIds = list(image_ids)
        ev.params.useCats = int(use_cats)
        if max_dets is not None:
            ev.params.maxDets = list(max_dets)
        if area_ranges is not None:
            ev.params.areaRng = [[float(lo), float(hi)] for lo, hi in area_ranges.values()]
            ev.params.areaRngLbl = list(area_ranges)
        ev.evaluate()
        ev.accumulate()
    return ev


def average_recall(ev, area: str = "all", max_det: int = 1000) -> float:
    """Mean recall over IoU 0.5:0.95 (COCO's AR) for one area range and detection limit; -1 if no ground truth."""
    p = ev.params
    r = ev.eval["recall"][:, :, p.areaRngLbl.index(area), p.maxDets.index(max_det)]
    r = r[r > -1]
    return float(r.mean()) if r.size else -1.0


def average_precision(ev, area: str = "all", max_det: int = 100, iou: float | None = None) -> float:
    """COCO's AP (mean over IoU 0.5:0.95, or at one IoU threshold) for one area range; -1 if no ground truth."""
    p = ev.params
    s = ev.eval["precision"][:, :, :, p.areaRngLbl.index(area), p.maxDets.index(max_det)]
    if iou is not None:
        s = s[np.where(np.isclose(p.iouThrs, iou))[0]]
    s = s[s > -1]
    return float(s.mean()) if s.size else -1.0


def bbox_metrics(gt, results: list[dict[str, Any]], image_ids: list[int]) -> tuple[dict[str, float | None], Any]:
    """Box AP (percent) of detections given as COCO results (category ids, xywh boxes, scores)."""
    ev = _run_cocoeval(gt, results, "bbox", True, None, image_ids)
    if ev is None:
        return {k: 0.0 for k in BBOX_KEYS}, None
    vals = {"AP": average_precision(ev), "AP50": average_precision(ev, iou=0.5),
            "AP75": average_precision(ev, iou=0.75), "AP_s": average_precision(ev, "small"),
            "AP_m": average_precision(ev, "medium"), "AP_l": average_precision(ev, "large")}
    return {k: _percent(v) for k, v in vals.items()}, ev


def proposal_metrics(gt, results: list[dict[str, Any]], image_ids: list[int],
                     iou_type: str = "bbox") -> tuple[dict[str, float | None], Any]:
    """Class-agnostic AR (percent) of proposals (boxes, or masks with ``iou_type="segm"``)."""
    keys = PROPOSAL_KEYS if iou_type == "bbox" else SEGM_PROPOSAL_KEYS
    ev = _run_cocoeval(gt, results, iou_type, False, PROPOSAL_MAX_DETS, image_ids)
    if ev is None:
        return {k: 0.0 for k in keys}, None
    out = {}
    for k in keys:
        name, det = k.split("@")
        area = {"AR": "all", "AR_s": "small", "AR_m": "medium", "AR_l": "large"}[name]
        out[k] = _percent(average_recall(ev, area, int(det)))
    return out, ev


def predictions_to_results(predictions: dict[int, dict[str, torch.Tensor]],
                           label_to_category_id: dict[int, int]) -> dict[str, list[dict[str, Any]]]:
    """COCO result lists from per-image predictions.

    ``predictions[image_id]`` may hold boxes [D, 4] xyxy pixels + scores [D] + labels [D] (contiguous 1..K),
    proposals [P, 4] xyxy + proposal_scores [P], and/or masks BoolTensor[M, H, W] (or mask_rles, COCO RLEs)
    + mask_scores [M].
    """
    from pycocotools import mask as mask_utils

    any_cat = min(label_to_category_id.values())
    dets, props, masks = [], [], []
    for image_id, p in predictions.items():
        image_id = int(image_id)
        if "boxes" in p:
            for box, score, label in zip(_xyxy_to_xywh(p["boxes"]), p["scores"].tolist(), p["labels"].tolist()):
                if int(label) not in label_to_category_id:
                    raise ValueError(f"image {image_id}: predicted label {label} is not a dataset class "
                                     f"(1..{len(label_to_category_id)})")
                dets.append({"image_id": image_id, "category_id": label_to_category_id[int(label)],
                             "bbox": box, "score": float(score)})
        if "proposals" in p:
            for box, score in zip(_xyxy_to_xywh(p["proposals"]), p["proposal_scores"].tolist()):
                props.append({"image_id": image_id, "category_id": any_cat, "bbox": box, "score": float(score)})
        if "mask_rles" in p:
            for rle, score in zip(p["mask_rles"], p["mask_scores"].tolist()):
                masks.append({"image_id": image_id, "category_id": any_cat, "segmentation": rle, "score": float(score)})
        elif "masks" in p:
            m = p["masks"].detach().to("cpu", torch.uint8).numpy()
            if len(m):
                rles = mask_utils.encode(np.asfortranarray(m.transpose(1, 2, 0)))
                for rle, score in zip(rles, p["mask_scores"].tolist()):
                    masks.append({"image_id": image_id, "category_id": any_cat, "segmentation": rle,
                                  "score": float(score)})
    return {"bbox": dets, "proposals": props, "segm_proposals": masks}


def compute_metrics(dataset, predictions: dict[int, dict[str, torch.Tensor]]) -> tuple[dict[str, Any], dict]:
    """Metrics (percent) of per-image predictions on ``dataset`` (a :class:`fpn.data.CocoDetection`).

    Returns (metrics, evals): metrics has "bbox", "proposals" and/or "segm_proposals" sections for what the
    predictions contain; evals holds the COCOeval objects (for plots).
    """
    image_ids = sorted(int(i) for i in predictions)
    gt = coco_ground_truth(dataset, image_ids)
    results = predictions_to_results(predictions, dataset.label_to_category_id)
    has = {k: any(k in p for p in predictions.values()) for k in ("boxes", "proposals", "masks", "mask_rles")}
    has["masks"] = has["masks"] or has.pop("mask_rles")
    metrics, evals = {}, {}
    if has["boxes"]:
        metrics["bbox"], evals["bbox"] = bbox_metrics(gt, results["bbox"], image_ids)
    if has["proposals"]:
        metrics["proposals"], evals["proposals"] = proposal_metrics(gt, results["proposals"], image_ids)
    if has["masks"]:
        metrics["segm_proposals"], evals["segm_proposals"] = proposal_metrics(
            gt, results["segm_proposals"], image_ids, iou_type="segm")
    return metrics, evals
