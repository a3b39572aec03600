"""The evaluation report: metrics JSON plus its pictures (drawn by fpn.viz.evaluation from numbers taken here)."""
from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from ..weights.checkpoint import checkpoint_paths, read_metadata
from ..viz.evaluation import plot_error_breakdown, plot_pr_curves, plot_size_bars

# (metrics section, bar series name, keys of the small / medium / large / all values)
SIZE_SERIES = (
    ("bbox", "box AP", ("AP_s", "AP_m", "AP_l", "AP")),
    ("proposals", "proposal AR@1000", ("AR_s@1000", "AR_m@1000", "AR_l@1000", "AR@1000")),
    ("segm_proposals", "mask AR@1000", ("AR_s@1000", "AR_m@1000", "AR_l@1000", "AR@1000")),
)


def size_groups(metrics: dict[str, Any]) -> dict[str, list[float | None]]:
    """Bar series of :func:`fpn.viz.evaluation.plot_size_bars`: name -> [small, medium, large, all] in percent, for
    the sections ``metrics`` has."""
    return {name: [metrics[section][k] for k in keys] for section, name, keys in SIZE_SERIES if section in metrics}


def precision_arrays(ev, max_det: int = 100) -> dict[str, Any]:
    """Arguments of :func:`fpn.viz.evaluation.plot_pr_curves` from an accumulated COCOeval: "precision"
    [T, R, K, A] at ``max_det`` detections (the largest limit if ``max_det`` is not one), "recall" [R],
    "iou_thresholds" [T], "area_labels" [A]."""
    p = ev.params
    m = p.maxDets.index(max_det) if max_det in p.maxDets else len(p.maxDets) - 1
    return {"precision": ev.eval["precision"][..., m], "recall": np.asarray(p.recThrs),
            "iou_thresholds": np.asarray(p.iouThrs), "area_labels": list(p.areaRngLbl)}


def write_report(metrics: dict[str, Any], evals: dict, json_path: str, extra: dict[str, Any] | None = None) -> dict:
    """Write the metrics JSON (``extra`` keys first) plus ``<stem>_sizes.png``, with a box COCOeval in
    ``evals["bbox"]`` ``<stem>_pr.png`` and with ``metrics["errors"]`` ``<stem>_errors.png`` beside it. Returns the
    JSON's content; "pictures" names the PNG files."""
    out = dict(extra or {})
    out.update(metrics)
    os.makedirs(os.path.dirname(os.path.abspath(json_path)), exist_ok=True)
    stem = os.path.splitext(json_path)[0]
    pictures = {"sizes": plot_size_bars(size_groups(metrics), stem + "_sizes.png")}
    if evals.get("bbox") is not None:
        pictures["pr_curves"] = plot_pr_curves(**precision_arrays(evals["bbox"]), path=stem + "_pr.png",
                                               title="box AP precision-recall")
    if metrics.get("errors"):
        e = metrics["errors"]
        pictures["errors"] = plot_error_breakdown(e["detections"], e["objects"], stem + "_errors.png",
                                                  f"errors by object size at score >= {e['score_threshold']}")
    out["pictures"] = {k: os.path.basename(v) for k, v in pictures.items()}
    _write_json_atomically(json_path, out)
    return out


def store_in_metadata(checkpoint: str, report: dict[str, Any], key: str = "metrics") -> str:
    """Merge an evaluation report (``write_report``'s JSON content) into ``key`` of checkpoint ``CK``'s JSON metadata
    (scripts/evaluate.py --write-metadata): "metrics", the model as it is (what the app and the tables read), or
    "fixed_proposals", its Fast R-CNN on another model's proposals (the paper's Table 2 protocol at test time). The
    weights are not touched. Returns the JSON's path."""
    meta = read_metadata(checkpoint)
    meta[key] = {**(meta.get(key) or {}), **report}
    path = checkpoint_paths(checkpoint)[1]
    _write_json_atomically(path, meta)
    return path


def proposer_name(report: dict[str, Any] | None, default: str = "?") -> str:
    """Whose proposals a report's Fast R-CNN read: the file name of its "proposals_from" (the checkpoint path given to
    scripts/evaluate.py --proposals-from, e.g. "checkpoints/fpn_rpn_resnet18_cpu/" -> "fpn_rpn_resnet18_cpu"), or
    ``default`` for a report of the model on its own proposals (or not a report at all)."""
    source = report.get("proposals_from") if isinstance(report, dict) else None
    return os.path.basename(str(source).rstrip("/")) if source else default


def _write_json_atomically(path: str, data: dict[str, Any]) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(data, f, indent=2)
    os.replace(tmp, path)
