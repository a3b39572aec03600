"""COCO evaluation with pycocotools: box AP of detections, AR of RPN proposals (class-agnostic boxes, the paper's
Table 1 columns) and AR of segmentation proposals (Table 6).  Values are reported in percent, as the paper prints
them (e.g. 36.1); a size range with no ground truth gives ``None``.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import statistics
import time
import warnings
from collections.abc import Iterable
from typing import Any

import numpy as np
import torch

BBOX_KEYS = ("AP", "AP50", "AP75", "AP_s", "AP_m", "AP_l")
PROPOSAL_KEYS = ("AR@100", "AR@1000", "AR_s@1000", "AR_m@1000", "AR_l@1000")
SEGM_PROPOSAL_KEYS = ("AR@10", "AR@100", "AR@1000", "AR_s@1000", "AR_m@1000", "AR_l@1000")
PROPOSAL_MAX_DETS = [10, 100, 1000]
AREA_NAMES = ("all", "small", "medium", "large")


def _quiet():
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
                  max_dets: list[int] | None, image_ids: list[int]):
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


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@torch.no_grad()
def predict_dataset(model: torch.nn.Module, dataset, device: str | torch.device = "cpu",
                    max_images: int | None = None, max_proposals: int = 1000,
                    progress: bool = True) -> tuple[dict[int, dict[str, torch.Tensor]], list[float]]:
    """Run ``model`` over ``dataset`` one image at a time.

    A detector's ``predict`` gives boxes/scores/labels + proposals/proposal_scores; a mask proposer (eval mode
    returns dicts with "masks" [P, H, W] and "scores" [P]) gives masks/mask_scores.
    Returns (predictions by image id, per-image inference times in ms).
    """
    from tqdm import tqdm

    device = torch.device(device)
    model.eval()
    n = len(dataset) if not max_images else min(len(dataset), int(max_images))
    predictions, times = {}, []
    for i in tqdm(range(n), desc="evaluating", unit="img", disable=not progress):
        image, target = dataset[i]
        image = image.to(device)
        _sync(device)
        t0 = time.perf_counter()
        if hasattr(model, "predict"):
            out = model.predict([image])[0]
        else:
            out = model([image])[0]
        _sync(device)
        times.append((time.perf_counter() - t0) * 1000.0)
        pred: dict[str, torch.Tensor] = {}
        if "labels" in out and "boxes" in out:
            pred.update(boxes=out["boxes"].cpu(), scores=out["scores"].cpu(), labels=out["labels"].cpu())
        if "proposals" in out:
            scores = out.get("proposal_scores")
            if scores is None:
                scores = torch.linspace(1.0, 0.0, len(out["proposals"]))  # already ranked
            order = torch.argsort(scores.cpu(), descending=True)[:max_proposals]
            pred.update(proposals=out["proposals"].cpu()[order], proposal_scores=scores.cpu()[order])
        if "mask_probs" in out and "regions" in out:
            # A mask proposer pastes only its best few masks in "masks"; encode all proposals from their windows.
            from fpn.mask_proposals.paste import encode_proposals

            order = torch.argsort(out["scores"].cpu(), descending=True)[:max_proposals]
            ranked = {"mask_probs": out["mask_probs"].cpu()[order], "regions": out["regions"].cpu()[order]}
            threshold = float(getattr(model, "config", {}).get("mask_threshold", 0.5))
            pred.update(mask_rles=encode_proposals(ranked, tuple(image.shape[-2:]), threshold),
                        mask_scores=out["scores"].cpu()[order])
        elif "masks" in out:
            order = torch.argsort(out["scores"].cpu(), descending=True)[:max_proposals]
            pred.update(masks=out["masks"].cpu()[order].bool(), mask_scores=out["scores"].cpu()[order])
        predictions[int(target["image_id"])] = pred
    return predictions, times


def evaluate_model(model: torch.nn.Module, dataset, device: str | torch.device = "cpu",
                   max_images: int | None = None, progress: bool = True) -> tuple[dict[str, Any], dict]:
    """Predict and score: metrics dict (JSON-ready) + COCOeval objects."""
    predictions, times = predict_dataset(model, dataset, device, max_images, progress=progress)
    metrics, evals = compute_metrics(dataset, predictions)
    metrics["num_images"] = len(predictions)
    metrics["inference_ms"] = {"mean": round(statistics.fmean(times), 2) if times else None,
                               "median": round(statistics.median(times), 2) if times else None,
                               "device": str(device)}
    return metrics, evals


# ------------------------------------------------------------------------------------------------- pictures
def plot_size_bars(metrics: dict[str, Any], path: str, title: str = "") -> str:
    """Bar chart of AP / AR per object size (small, medium, large, all)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = []
    if "bbox" in metrics:
        b = metrics["bbox"]
        groups.append(("box AP", [b["AP_s"], b["AP_m"], b["AP_l"], b["AP"]]))
    if "proposals" in metrics:
        p = metrics["proposals"]
        groups.append(("proposal AR@1000", [p["AR_s@1000"], p["AR_m@1000"], p["AR_l@1000"], p["AR@1000"]]))
    if "segm_proposals" in metrics:
        s = metrics["segm_proposals"]
        groups.append(("mask AR@1000", [s["AR_s@1000"], s["AR_m@1000"], s["AR_l@1000"], s["AR@1000"]]))
    fig, ax = plt.subplots(figsize=(7, 4))
    labels = ["small", "medium", "large", "all"]
    width = 0.8 / max(len(groups), 1)
    for j, (name, vals) in enumerate(groups):
        xs = np.arange(4) + (j - (len(groups) - 1) / 2) * width
        v = [0.0 if x is None else x for x in vals]
        bars = ax.bar(xs, v, width, label=name)
        for rect, val in zip(bars, vals):
            ax.annotate("n/a" if val is None else f"{val:.1f}", (rect.get_x() + rect.get_width() / 2,
                        rect.get_height()), ha="center", va="bottom", fontsize=8)
    ax.set_xticks(np.arange(4), labels)
    ax.set_ylabel("percent")
    ax.set_ylim(0, 105)
    ax.set_title(title or "COCO metrics by object size")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_pr_curves(ev, path: str, title: str = "") -> str:
    """Precision-recall curves from ``COCOeval.eval['precision']`` (mean over classes, area "all",
    100 detections): IoU 0.5, 0.75 and the mean over 0.5:0.95, plus the mean curve per object size."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    p = ev.params
    prec = ev.eval["precision"]  # [T, R, K, A, M]
    rec = p.recThrs
    m = p.maxDets.index(100) if 100 in p.maxDets else len(p.maxDets) - 1

    def curve(t_idx, a_idx):
        s = prec[t_idx][:, :, :, a_idx, m] if isinstance(t_idx, slice) else prec[t_idx][None, :, :, a_idx, m]
        s = np.where(s > -1, s, np.nan)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns (no ground truth) stay NaN
            return np.nanmean(s, axis=(0, 2))

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for label, t in (("IoU 0.50", int(np.argmin(abs(p.iouThrs - 0.5)))),
                     ("IoU 0.75", int(np.argmin(abs(p.iouThrs - 0.75)))), ("IoU 0.50:0.95", slice(None))):
        axes[0].plot(rec, curve(t, 0), label=label)
    for a, name in enumerate(p.areaRngLbl):
        axes[1].plot(rec, curve(slice(None), a), label=name)
    for ax, sub in zip(axes, ("by IoU threshold (all sizes)", "by object size (IoU 0.50:0.95)")):
        ax.set_xlabel("recall")
        ax.set_ylabel("precision")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
        ax.legend()
        ax.set_title(sub)
    fig.suptitle(title or "precision-recall")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_report(metrics: dict[str, Any], evals: dict, json_path: str, extra: dict[str, Any] | None = None) -> dict:
    """Write the metrics JSON plus ``<stem>_sizes.png`` and ``<stem>_pr.png`` beside it."""
    out = dict(extra or {})
    out.update(metrics)
    os.makedirs(os.path.dirname(os.path.abspath(json_path)), exist_ok=True)
    stem = os.path.splitext(json_path)[0]
    pictures = {"sizes": plot_size_bars(metrics, stem + "_sizes.png")}
    if evals.get("bbox") is not None:
        pictures["pr_curves"] = plot_pr_curves(evals["bbox"], stem + "_pr.png", "box AP precision-recall")
    out["pictures"] = {k: os.path.basename(v) for k, v in pictures.items()}
    tmp = json_path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(out, f, indent=2)
    os.replace(tmp, json_path)
    return out
