"""Has a run reached its plateau? The held-out metric at 50%, 75% and 100% of the schedule, from the run's
``metrics.csv`` (``--eval-every`` = a quarter of ``--iters`` writes those rows).

A run is done when its headline metric rose by at most ``tolerance`` points over the last quarter of the schedule:
box AP for detectors, proposal AR@1000 for the RPN alone, mask AR@1000 for the Sec. 6 mask proposer.
``training_table`` states that evidence and each run's training hours for a bundle (scripts/ablation.py).
"""
from __future__ import annotations

import os
from typing import Any

from .config import METRICS_FILE
from .log import read_csv

FRACTIONS = (0.5, 0.75, 1.0)
HEADLINE = {"detection": "AP", "rpn": "AR@1000", "mask_proposals": "mask_AR@1000"}
TOLERANCE = 1.0  # points (percent) the metric may still rise over the last quarter


def plateau(run_dir: str, iters: int, task: str = "detection", tolerance: float = TOLERANCE) -> dict[str, Any]:
    """{"metric": "AP", "0.5": .., "0.75": .., "1.0": .., "rise_last_quarter": .., "done": bool} of a run folder.

    Raises ValueError naming the steps that were evaluated when one of the three is missing (the run was not
    evaluated at a quarter of its schedule: rerun with --eval-every ITERS/4, or resume it with that flag).
    """
    key = HEADLINE[task]
    rows = read_csv(os.path.join(run_dir, METRICS_FILE)) if os.path.isfile(os.path.join(run_dir, METRICS_FILE)) else []
    by_step = {int(r["step"]): r for r in rows if r.get(key) not in (None, "")}
    out: dict[str, Any] = {"metric": key}
    for fraction in FRACTIONS:
        step = round(fraction * iters)
        if step not in by_step:
            raise ValueError(f"{run_dir}/{METRICS_FILE} has no {key} at step {step} ({fraction:g} of {iters}); "
                             f"evaluated steps: {sorted(by_step) or 'none'}. Train with --eval-every {iters // 4}.")
        out[str(fraction)] = round(float(by_step[step][key]), 1)  # "0.5", "0.75", "1.0"
    out["rise_last_quarter"] = round(out["1.0"] - out["0.75"], 1)
    out["done"] = out["rise_last_quarter"] <= tolerance
    return out


def training_table(models: list[tuple[str, dict[str, Any]]]) -> str:
    """Markdown: per bundled model (name, its checkpoint JSON), its schedule, hours of training (wall time of its run,
    held-out evaluations included, across resumes), hours of evaluating it as stored (its own proposals and, when
    done, Table 2's fixed ones: `inference_ms` x images, the model's time, not COCOeval's) and plateau evidence
    ("plateau", scripts/bundle_checkpoint.py); one without that evidence says so, since it may be undertrained."""
    lines = ["| model | iterations x images | hours (wall, with its evaluations) | evaluation as stored (h) "
             "| held-out metric at 50 / 75 / 100 % | plateau |", "|---|---|---|---|---|---|"]
    total = total_eval = 0.0
    for name, meta in models:
        t, p = meta.get("training") or {}, meta.get("plateau")
        hours = float(t.get("train_seconds") or 0) / 3600
        total += hours
        evals = [_inference_hours(meta.get(k)) for k in ("metrics", "fixed_proposals")]
        measured = [h for h in evals if h is not None]
        total_eval += sum(measured)
        schedule = f"{t.get('iters', '?')} x {t.get('batch_size', '?')}"
        if isinstance(p, dict) and all(k in p for k in ("0.5", "0.75", "1.0")):
            curve = f"{p.get('metric', '?')} {p['0.5']:.1f} / {p['0.75']:.1f} / {p['1.0']:.1f}"
            verdict = ("reached" if p.get("done") else "**not reached**") + f" ({p['rise_last_quarter']:+.1f})"
        else:
            curve, verdict = "not measured", "unknown"
        lines.append(f"| `{name}` | {schedule} | {hours:.1f} | {f'{sum(measured):.1f}' if measured else 'n/a'} "
                     f"| {curve} | {verdict} |")
    lines.append(f"| all | | {total:.1f} | {total_eval:.1f} | | |")
    return "\n".join(lines)


def _inference_hours(report: Any) -> float | None:
    """Hours a stored evaluation report's model ran: mean ms per image x images; None when it does not say."""
    if not isinstance(report, dict):
        return None
    ms, n = (report.get("inference_ms") or {}).get("mean"), report.get("num_images")
    return ms * n / 3.6e6 if isinstance(ms, (int, float)) and isinstance(n, int) else None
