"""Pictures of COCO evaluation numbers, from plain numbers and arrays (fpn.evaluation.report extracts them from its
metrics dict and pycocotools' COCOeval): AP / AR bars per object size, and precision-recall curves."""
from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import numpy as np

SIZE_LABELS = ("small", "medium", "large", "all")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_size_bars(groups: Mapping[str, Sequence[float | None]], path: str, title: str = "",
                   sizes: Sequence[str] = SIZE_LABELS) -> str:
    """Grouped bar chart saved as PNG at ``path``; returns ``path``.

    groups: bar series name (e.g. "box AP") -> one value in percent per entry of ``sizes`` (None: no ground truth of
        that size, drawn as an empty bar labelled "n/a").
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    width = 0.8 / max(len(groups), 1)
    for j, (name, vals) in enumerate(groups.items()):
        xs = np.arange(len(sizes)) + (j - (len(groups) - 1) / 2) * width
        v = [0.0 if x is None else x for x in vals]
        bars = ax.bar(xs, v, width, label=name)
        for rect, val in zip(bars, vals):
            ax.annotate("n/a" if val is None else f"{val:.1f}", (rect.get_x() + rect.get_width() / 2,
                        rect.get_height()), ha="center", va="bottom", fontsize=8)
    ax.set_xticks(np.arange(len(sizes)), list(sizes))
    ax.set_ylabel("percent")
    ax.set_ylim(0, 105)
    ax.set_title(title or "COCO metrics by object size")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_pr_curves(precision: np.ndarray, recall: np.ndarray, iou_thresholds: np.ndarray,
                   area_labels: Sequence[str], path: str, title: str = "") -> str:
    """Precision-recall curves saved as PNG at ``path``; returns ``path``.

    precision: [T, R, K, A] precision at each IoU threshold, recall threshold, class and area range (-1 where
        undefined: COCOeval's ``eval["precision"]`` at one detection limit). recall: [R] recall thresholds in [0, 1].
    iou_thresholds: [T]. area_labels: [A] names of the area ranges, the first one covering every size.
    Left: curves at IoU 0.5, 0.75 and the mean over all T (area 0); right: the mean curve per area range.
    Curves are means over classes (and IoU thresholds) of the defined values.
    """
    plt = _pyplot()

    def curve(t_idx, a_idx):
        s = precision[t_idx][:, :, :, a_idx] if isinstance(t_idx, slice) else precision[t_idx][None, :, :, a_idx]
        s = np.where(s > -1, s, np.nan)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns (no ground truth) stay NaN
            return np.nanmean(s, axis=(0, 2))

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for label, t in (("IoU 0.50", int(np.argmin(abs(iou_thresholds - 0.5)))),
                     ("IoU 0.75", int(np.argmin(abs(iou_thresholds - 0.75)))), ("IoU 0.50:0.95", slice(None))):
        axes[0].plot(recall, curve(t, 0), label=label)
    for a, name in enumerate(area_labels):
        axes[1].plot(recall, curve(slice(None), a), label=name)
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


def plot_ablation(results: Mapping[str, Mapping], path: str, proposals: Mapping[str, Mapping] | None = None,
                  order: Sequence[str] = ("c4", "c5", "fpn", "bottom_up", "no_lateral", "p2_only")) -> str:
    """Grouped bars saved as PNG at ``path``: AR of the Table 1 rows (``proposals``, default ``results``) and AP of the
    Table 3 rows, one bar per variant (evaluation reports keyed by variant, percent); returns ``path``."""
    plt = _pyplot()
    vs = [v for v in order if v in results]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, (section, keys, title) in zip(axes, (
            ("proposals", ("AR@100", "AR@1000", "AR_s@1000", "AR_m@1000", "AR_l@1000"), "RPN (Table 1)"),
            ("bbox", ("AP50", "AP", "AP_s", "AP_m", "AP_l"), "Faster R-CNN (Table 3)"))):
        w = 0.8 / max(len(vs), 1)
        source = (proposals or results) if section == "proposals" else results
        for j, v in enumerate(vs):
            vals = [source.get(v, {}).get(section, {}).get(k) or 0.0 for k in keys]
            ax.bar(np.arange(len(keys)) + (j - (len(vs) - 1) / 2) * w, vals, w, label=v)
        ax.set_xticks(np.arange(len(keys)), keys)
        ax.set_ylabel("percent")
        ax.set_title(title)
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


ERROR_COLORS = {"correct": "#2ca02c", "duplicate": "#9edae5", "wrong class": "#ff7f0e", "several objects": "#9467bd",
                "part of an object": "#e377c2", "poorly localised": "#d62728", "background": "#7f7f7f",
                "found": "#2ca02c", "missed": "#c7c7c7"}


def plot_error_breakdown(detections: Mapping[str, Mapping[str, int]], objects: Mapping[str, Mapping[str, int]],
                         path: str, title: str = "") -> str:
    """Two panels of horizontal stacked bars, one bar per object size, saved as PNG at ``path``; returns ``path``.

    detections: size -> {kind: count} of the boxes shown (kinds of fpn.evaluation.error_types, coloured by
        ERROR_COLORS); objects: size -> {"found": n, "missed": n}. Bars are percent of their row; counts labelled.
    """
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.2), gridspec_kw={"width_ratios": [2.2, 1]})
    for ax, rows, what in ((axes[0], detections, "boxes shown"), (axes[1], objects, "objects")):
        sizes = list(rows)
        for y, size in enumerate(sizes):
            total, left = sum(rows[size].values()), 0.0
            for kind, n in rows[size].items():
                width = 100.0 * n / total if total else 0.0
                ax.barh(y, width, left=left, color=ERROR_COLORS.get(kind), label=kind if y == 0 else None)
                if width >= 6:
                    ax.text(left + width / 2, y, str(n), ha="center", va="center", fontsize=8)
                left += width
            ax.text(101, y, f"{total}", va="center", fontsize=8)
        ax.set_yticks(range(len(sizes)), sizes)
        ax.invert_yaxis()
        ax.set_xlim(0, 108)
        ax.set_xlabel("% of the boxes shown of each size (count at the right)" if what == "boxes shown"
                      else "% of each size (count at the right)")
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.28), ncol=4 if what == "boxes shown" else 2,
                  fontsize=8, frameon=False)
    axes[0].set_title("what each box shown is")
    axes[1].set_title("which objects are found (by a box of their class)")
    fig.suptitle(title or "errors by object size")
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight", pad_inches=0.1)  # the legends below the axes, no margin below
    plt.close(fig)
    return path
