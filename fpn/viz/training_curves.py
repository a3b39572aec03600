"""Training curves from a run's CSV logs: loss terms (raw and smoothed), learning rate, validation metrics."""
from __future__ import annotations

import csv
import os


def _rows(path: str | None) -> list[dict[str, str]]:
    if not path or not os.path.isfile(path):
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _number(value: str | None) -> float:
    return float(value) if value not in (None, "", "None") else float("nan")


def plot_training_curves(log_csv: str, metrics_csv: str | None, out_png: str) -> str | None:
    """Draw ``out_png`` (100 dpi) from ``log_csv`` (columns step, lr, loss*) and, when it has rows, ``metrics_csv``
    (step + metrics in percent).  Returns ``out_png``, or None when the log has no rows yet."""
    rows = _rows(log_csv)
    if not rows:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    metrics = _rows(metrics_csv)
    steps = np.array([float(r["step"]) for r in rows])
    n = 3 if metrics else 2
    fig, axes = plt.subplots(1, n, figsize=(5.5 * n, 4))
    for k in (k for k in rows[0] if k.startswith("loss")):
        v = np.array([_number(r.get(k)) for r in rows])
        win = max(1, len(v) // 20)
        smooth = np.convolve(np.nan_to_num(v), np.ones(win) / win, mode="valid")
        line, = axes[0].plot(steps, v, alpha=0.25, lw=0.8)
        axes[0].plot(steps[win - 1:], smooth, color=line.get_color(), label=k, lw=1.6 if k == "loss" else 1.0)
    axes[0].set_yscale("log")
    axes[0].set_xlabel("step")
    axes[0].set_title("training losses")
    axes[0].legend(fontsize=8)
    axes[1].plot(steps, [float(r["lr"]) for r in rows])
    axes[1].set_xlabel("step")
    axes[1].set_title("learning rate")
    if metrics:
        ms = [float(r["step"]) for r in metrics]
        for k in metrics[0]:
            if k != "step" and any(r.get(k) not in ("", None, "None") for r in metrics):
                axes[2].plot(ms, [_number(r.get(k)) for r in metrics], marker="o", label=k)
        axes[2].set_xlabel("step")
        axes[2].set_title("validation (percent)")
        axes[2].legend(fontsize=8)
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out_png + ".tmp.png", dpi=100)
    plt.close(fig)
    os.replace(out_png + ".tmp.png", out_png)
    return out_png
