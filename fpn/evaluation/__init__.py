"""COCO evaluation of detectors and mask proposers, as the paper reports it (percent, pycocotools).

    metrics   box AP, box-proposal AR (Table 1) and mask-proposal AR (Table 6) of per-image predictions
    predict   predict_dataset: ``model.predict`` over a dataset (the output keys both models share);
              evaluate_model: predict + metrics + inference times
    error_types what each box shown at the F1-best threshold is (correct, wrong class, a part, ...) and which objects
              a box of their class finds, by size
    per_level proposal AR@1000 per RPN map and box AP per Eq. (1) level (``metrics["per_level"]``)
    report    write_report: the metrics JSON plus its pictures (drawn by fpn.viz.evaluation);
              store_in_metadata: the report merged into a checkpoint's JSON "metrics" (or "fixed_proposals");
              proposer_name: whose proposals a "fixed_proposals" report's head read
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
from .error_types import KINDS, detection_kinds, error_breakdown
from .per_level import PER_LEVEL_KEYS, bbox_ap_per_level, eq1_area_ranges, per_level_metrics, proposal_ar_per_level
from .predict import evaluate_model, predict_dataset, prediction_of
from .report import precision_arrays, proposer_name, size_groups, store_in_metadata, write_report

__all__ = [
    "AREA_NAMES", "BBOX_KEYS", "PROPOSAL_KEYS", "PROPOSAL_MAX_DETS", "SEGM_PROPOSAL_KEYS", "average_precision",
    "average_recall", "bbox_metrics", "coco_ground_truth", "compute_metrics", "evaluate_model", "precision_arrays",
    "predict_dataset", "prediction_of", "predictions_to_results", "proposal_metrics", "size_groups", "write_report",
    "PER_LEVEL_KEYS", "bbox_ap_per_level", "eq1_area_ranges", "per_level_metrics", "proposal_ar_per_level",
    "store_in_metadata", "proposer_name", "KINDS", "detection_kinds", "error_breakdown",
]
