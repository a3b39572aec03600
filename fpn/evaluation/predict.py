"""Prediction over a dataset, image by image, and the metrics of those predictions.

Every model evaluated here has ``predict(images) -> list[dict[str, Tensor]]`` (eval mode, no gradients, one dict
per image, original-image pixels); the keys of its dicts say what it predicts:

    detections      "boxes" [D, 4] (x1, y1, x2, y2), "scores" [D], "labels" [D] int64 (1..K)     FasterRCNN.predict
    box proposals   "proposals" [P, 4] (x1, y1, x2, y2), "proposal_scores" [P]                    FasterRCNN.predict
    mask proposals  "mask_probs" [P, M, M] in [0, 1], "regions" [P, 4] (the windows the M x M     MaskProposer.predict
                    masks cover), "scores" [P]

A dict has "labels" only for detections and "mask_probs" only for mask proposals, so a mask proposer's "boxes" /
"scores" (mask bounding boxes and proposal scores) are never read as detections.
"""
from __future__ import annotations

import statistics
import time
from typing import Any

import torch

from ..modeling.mask_proposals.paste import encode_proposals
from .error_types import error_breakdown
from .metrics import compute_metrics
from .per_level import per_level_metrics
from .threshold import best_score_threshold


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _ranked(scores: torch.Tensor, max_proposals: int) -> torch.Tensor:
    """Indices [min(P, max_proposals)] of the best-scored proposals, best first."""
    return torch.argsort(scores.cpu(), descending=True)[:max_proposals]


def prediction_of(out: dict[str, torch.Tensor], image_size: tuple[int, int], max_proposals: int = 1000,
                  mask_threshold: float = 0.5, per_level: bool = False, detections: bool = True) -> dict[str, Any]:
    """What :func:`fpn.evaluation.metrics.predictions_to_results` scores, from one dict of ``model.predict``.

    Returns, on the CPU, "boxes" / "scores" / "labels" for detections, "proposals" / "proposal_scores" for box
    proposals (the best ``max_proposals``, best first) and "mask_rles" (COCO RLEs of the (H, W) = ``image_size``
    image, masks thresholded at ``mask_threshold``) / "mask_scores" for mask proposals (the best ``max_proposals``).
    With ``per_level``, also "proposal_levels" (the RPN map of each kept proposal) and "input_scale" when the model
    gives them (:mod:`fpn.evaluation.per_level` reads them). ``detections=False`` (an RPN trained alone, whose
    ``predict`` returns empty detections) leaves the detections out, so nothing scores a box AP of 0 for it.
    """
    pred: dict[str, Any] = {}
    if detections and "labels" in out:
        pred.update(boxes=out["boxes"].cpu(), scores=out["scores"].cpu(), labels=out["labels"].cpu())
    if "proposals" in out:
        order = _ranked(out["proposal_scores"], max_proposals)
        pred.update(proposals=out["proposals"].cpu()[order], proposal_scores=out["proposal_scores"].cpu()[order])
        if per_level and "proposal_levels" in out:
            pred["proposal_levels"] = out["proposal_levels"].cpu()[order]
    if per_level and "input_scale" in out:
        pred["input_scale"] = out["input_scale"].cpu()
    if "mask_probs" in out:
        # A mask proposer pastes only its best few masks in "masks"; encode all proposals from their windows.
        order = _ranked(out["scores"], max_proposals)
        ranked = {"mask_probs": out["mask_probs"].cpu()[order], "regions": out["regions"].cpu()[order]}
        pred.update(mask_rles=encode_proposals(ranked, image_size, mask_threshold),
                    mask_scores=out["scores"].cpu()[order])
    return pred


@torch.no_grad()
def predict_dataset(model: torch.nn.Module, dataset, device: str | torch.device = "cpu",
                    max_images: int | None = None, max_proposals: int = 1000,
                    progress: bool = True, per_level: bool = False, shard: tuple[int, int] = (0, 1)
                    ) -> tuple[dict[int, dict[str, Any]], list[float]]:
    """Run ``model.predict`` over ``dataset`` (a :class:`fpn.data.CocoDetection`) one image at a time.

    shard: (rank, world size): this process predicts images rank, rank + world, ... of the first ``max_images``
    (:func:`gather_predictions` brings the shards together). Returns (predictions by image id, in dataset order, see
    :func:`prediction_of` (``per_level`` is passed on); per-image inference times in ms, ``predict`` only).
    """
    from tqdm import tqdm

    device = torch.device(device)
    model.eval()
    config = getattr(model, "config", None) or {}
    mask_threshold = float(config.get("mask_threshold", 0.5))
    detections = not config.get("rpn_only")
    n = len(dataset) if not max_images else min(len(dataset), int(max_images))
    predictions, times = {}, []
    rank, world = shard
    for i in tqdm(range(rank, n, world), desc="evaluating", unit="img", disable=not progress):
        image, target = dataset[i]
        image = image.to(device)
        _sync(device)
        t0 = time.perf_counter()
        out = model.predict([image])[0]
        _sync(device)
        times.append((time.perf_counter() - t0) * 1000.0)
        predictions[int(target["image_id"])] = prediction_of(out, tuple(image.shape[-2:]), max_proposals,
                                                             mask_threshold, per_level, detections)
    return predictions, times


def gather_predictions(predictions: dict[int, dict[str, Any]], times: list[float], dataset, world: int
                       ) -> tuple[dict[int, dict[str, Any]] | None, list[float] | None]:
    """Every process's :func:`predict_dataset` shard on rank 0 (torch.distributed's gather_object: gloo or NCCL), in
    the dataset's order, as one process would have them; (None, None) on the other ranks. Alone: as given."""
    if world <= 1:
        return predictions, times
    import torch.distributed as dist

    parts: list | None = [None] * world if dist.get_rank() == 0 else None
    dist.gather_object((predictions, times), parts, dst=0)
    if parts is None:
        return None, None
    merged = {k: v for p, _ in parts for k, v in p.items()}
    order = {int(image_id): i for i, image_id in enumerate(dataset.ids)}
    return dict(sorted(merged.items(), key=lambda kv: order.get(kv[0], kv[0]))), [t for _, ts in parts for t in ts]


def evaluate_model(model: torch.nn.Module, dataset, device: str | torch.device = "cpu",
                   max_images: int | None = None, progress: bool = True, shard: tuple[int, int] = (0, 1)
                   ) -> tuple[dict[str, Any] | None, dict | None]:
    """Predict and score: metrics dict (JSON-ready; percent, plus "per_level" (:mod:`fpn.evaluation.per_level`) and
    "score_threshold" (the F1-best one, :mod:`fpn.evaluation.threshold`) and "errors" (what the boxes shown at it are,
    :mod:`fpn.evaluation.error_types`) for a detector, "num_images" and
    "inference_ms" {"mean", "median", "device"}) + the COCOeval objects by section.
    shard: (rank, world size) under torchrun: each process predicts its share, rank 0 scores them all (the same
    metrics as one process) and the other ranks get (None, None)."""
    predictions, times = predict_dataset(model, dataset, device, max_images, progress=progress, per_level=True,
                                         shard=shard)
    predictions, times = gather_predictions(predictions, times, dataset, shard[1])
    if predictions is None:
        return None, None
    metrics, evals = compute_metrics(dataset, predictions)
    if evals.get("bbox") is not None and (threshold := best_score_threshold(evals["bbox"])) is not None:
        metrics["score_threshold"] = threshold
        metrics["errors"] = error_breakdown(dataset, predictions, threshold["value"])  # what the boxes shown are
    rpn_maps = (getattr(model, "config", None) or {}).get("anchor_sizes")
    per_level = per_level_metrics(dataset, predictions, [int(m[1:]) for m in rpn_maps] if rpn_maps else None)
    if per_level:
        metrics["per_level"] = per_level
    metrics["num_images"] = len(predictions)
    metrics["inference_ms"] = {"mean": round(statistics.fmean(times), 2) if times else None,
                               "median": round(statistics.median(times), 2) if times else None,
                               "device": str(device)}
    return metrics, evals
