"""A run's logs: ``log.csv`` (one row per logged step), ``metrics.csv`` (validation), TensorBoard when installed."""
from __future__ import annotations

import csv
import os
from typing import Any

from fpn.viz.training_curves import plot_training_curves

from .config import CURVES_FILE, LOG_FILE, METRICS_FILE


def read_csv(path: str) -> list[dict[str, str]]:
    """Rows of a CSV file with a header; [] when the file does not exist."""
    if not os.path.isfile(path):
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


class CsvLog:
    """Append-only CSV; on resume, rows after the resumed step are dropped (they belong to the lost future)."""

    def __init__(self, path: str, keep_until_step: int | None) -> None:
        self.path = path
        rows = read_csv(path) if keep_until_step is not None else []
        self.rows = [r for r in rows if int(float(r["step"])) <= (keep_until_step or 0)]
        self.fields: list[str] = list(self.rows[0].keys()) if self.rows else []
        self._rewrite()

    def _rewrite(self) -> None:
        tmp = self.path + ".tmp"
        with open(tmp, "w", newline="") as f:
            if self.fields:
                w = csv.DictWriter(f, self.fields, extrasaction="ignore")
                w.writeheader()
                w.writerows(self.rows)
        os.replace(tmp, self.path)

    def append(self, row: dict[str, Any]) -> None:
        """Add one row (floats written with 6 significant digits); a new column rewrites the file."""
        row = {k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()}
        if not self.fields or any(k not in self.fields for k in row):
            self.fields = self.fields + [k for k in row if k not in self.fields]
            self.rows.append(row)
            self._rewrite()
            return
        self.rows.append(row)
        with open(self.path, "a", newline="") as f:
            csv.DictWriter(f, self.fields, extrasaction="ignore").writerow(row)


def flat_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    """The headline numbers of an evaluation (percent) as one CSV row: AP..AP_l, AR@100/1000, mask_AR@100/1000."""
    out = {}
    for section, keys in (("bbox", ("AP", "AP50", "AP_s", "AP_m", "AP_l")), ("proposals", ("AR@100", "AR@1000")),
                          ("segm_proposals", ("AR@100", "AR@1000"))):
        for k in keys:
            if section in metrics:
                out[f"{'mask_' if section == 'segm_proposals' else ''}{k}"] = metrics[section].get(k)
    return out


class RunLogs:
    """Everything rank 0 writes while training, in the run folder ``out``.

    ``resumed_at``: the step a resumed run continues from (later rows of an earlier attempt are dropped), or None
    for a fresh run.
    """

    def __init__(self, out: str, resumed_at: int | None) -> None:
        self.out = out
        self.steps = CsvLog(os.path.join(out, LOG_FILE), resumed_at)
        self.metrics = CsvLog(os.path.join(out, METRICS_FILE), resumed_at)
        self.tb = None
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(os.path.join(out, "tensorboard"))
        except (ImportError, ModuleNotFoundError, AttributeError):  # tensorboard is optional
            self.tb = None

    def step(self, row: dict[str, Any]) -> None:
        """One training row: step, epoch, lr, the loss terms, images/s."""
        self.steps.append(row)
        if self.tb is not None:
            for k, v in row.items():
                if k != "step":
                    self.tb.add_scalar(k, v, row["step"])

    def evaluation(self, step: int, metrics: dict[str, Any]) -> None:
        if metrics:
            self.metrics.append({"step": step, **flat_metrics(metrics)})

    def plot(self) -> str | None:
        """Redraw ``training_curves.png`` from the CSV files."""
        return plot_training_curves(os.path.join(self.out, LOG_FILE), os.path.join(self.out, METRICS_FILE),
                                    os.path.join(self.out, CURVES_FILE))

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()
