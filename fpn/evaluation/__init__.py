"""COCO evaluation of detectors and mask proposers, as the paper reports it (percent, pycocotools).

    metrics   box AP, box-proposal AR (Table 1) and mask-proposal AR (Table 6) of per-image predictions
    predict   predict_dataset: ``model.predict`` over a dataset (the output keys both models share);
              evaluate_model: predict + metrics + inference times
    report    write_report: the metrics JSON plus its pictures (drawn by fpn.viz.evaluation)
"""
from .metrics import (
    AREA_NAMES,
    BBOX_KEYS,
    PROPOSAL_KEYS,
    PROPOSAL_MAX_DETS,
    SEGM_PROPOSAL_KEYS,
    average_precision,
    average_recall,
    bbox_metrics,
    coco_ground_truth,
    compute_metrics,
    predictions_to_results,
    proposal_metrics,
)
from .predict import evaluate_model, predict_dataset, prediction_of
from .report import precision_arrays, size_groups, write_report

__all__ = [
    "AREA_NAMES", "BBOX_KEYS", "PROPOSAL_KEYS", "PROPOSAL_MAX_DETS", "SEGM_PROPOSAL_KEYS", "average_precision",
    "average_recall", "bbox_metrics", "coco_ground_truth", "compute_metrics", "evaluate_model", "precision_arrays",
    "predict_dataset", "prediction_of", "predictions_to_results", "proposal_metrics", "size_groups", "write_report",
]
