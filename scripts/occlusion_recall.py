#!/usr/bin/env python
"""How a detector's recall on PyramidShapes depends on occlusion, per COCO size class: the held-out objects found by
a correct detection at the checkpoint's score threshold (its F1-best; IoU >= 0.5, the right class; the "found" of
`metrics.errors`), split by the share of each object's painted pixels that later objects hide. The generator paints
mostly back to front by size, so the large objects are the occluded ones; this separates size from occlusion.
Prints a table and draws it (PNG).

    python scripts/occlusion_recall.py --checkpoint checkpoints/fpn_resnet18_cpu
    python scripts/occlusion_recall.py --checkpoint checkpoints/c5_resnet18_cpu --images 100 --out runs/occl_c5.png
"""
from __future__ import annotations

import argparse
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from tqdm import tqdm  # noqa: E402

import fpn  # noqa: E402
from fpn.data.synthetic import generate_image, visible_shares  # noqa: E402
from fpn.evaluation.error_types import size_of  # noqa: E402

SIZES = ("small", "medium", "large")
HIDDEN = 0.2  # an object is "occluded" here when later objects hide more than this share of its painted pixels


def found_objects(model, threshold: float, seed: int, split: str, images: int) -> list[tuple[str, float, bool]]:
    """(COCO size class, visible share, found) of every object of the first `images` images of the split."""
    rows = []
    for index in tqdm(range(images), desc="images", unit="img"):
        image, anns = generate_image(seed, split, index)
        if not anns:
            continue
        with torch.no_grad():
            det = model([fpn.as_image_tensor(image)])[0]
        keep = det["scores"] >= threshold
        gt = torch.tensor([[x, y, x + w, y + h] for x, y, w, h in (a["bbox"] for a in anns)], dtype=torch.float32)
        labels = torch.tensor([a["category_id"] for a in anns])
        _, found, _ = fpn.detection_kinds(det["boxes"][keep], det["scores"][keep], det["labels"][keep], gt, labels)
        sizes = size_of(torch.tensor([a["area"] for a in anns]))
        rows += list(zip(sizes, visible_shares(seed, split, index), found.tolist()))
    return rows


def table(rows: list[tuple[str, float, bool]]) -> dict[str, dict[str, tuple[int, float]]]:
    """{size: {"visible" | "occluded": (objects, percent found)}}."""
    out: dict[str, dict[str, tuple[int, float]]] = {}
    for size in SIZES:
        out[size] = {}
        for part, keep in (("visible", lambda s: s >= 1 - HIDDEN), ("occluded", lambda s: s < 1 - HIDDEN)):
            hits = [f for z, s, f in rows if z == size and keep(s)]
            out[size][part] = (len(hits), 100.0 * float(np.mean(hits)) if hits else float("nan"))
    return out


def draw(result: dict[str, dict[str, tuple[int, float]]], name: str, path: str) -> None:
    fig, ax = plt.subplots(figsize=(7, 3.6), dpi=120)
    x = np.arange(len(SIZES))
    for offset, part, colour in ((-0.2, "visible", "#1f77b4"), (0.2, "occluded", "#d62728")):
        values = [result[s][part][1] for s in SIZES]
        bars = ax.bar(x + offset, values, 0.4, color=colour,
                      label=f"at most {HIDDEN:.0%} hidden" if part == "visible" else f"more than {HIDDEN:.0%} hidden")
        for bar, size in zip(bars, SIZES):
            count = result[size][part][0]
            ax.annotate(f"{bar.get_height():.0f}%\n({count})", (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                        ha="center", va="bottom", fontsize=8)
    ax.set_xticks(x, SIZES)
    ax.set_ylim(0, 100)
    ax.set_ylabel("objects found (%)")
    ax.set_title(f"{name}: held-out objects found, by size and occlusion (objects in parentheses)", fontsize=9)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", required=True, help="a detector checkpoint (path without extension)")
    parser.add_argument("--images", type=int, default=500, help="held-out images (the bundle evaluates 500)")
    parser.add_argument("--split", default="val")
    parser.add_argument("--seed", type=int, default=None,
                        help="data seed (default: the checkpoint's held-out seed, metrics.data_seed; else 1000)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default="runs/occlusion_recall.png", help="the chart (PNG)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    meta = fpn.read_metadata(args.checkpoint)
    if meta.get("task", "detection") != "detection":
        parser.error(f"{args.checkpoint} is a {meta['task']} model: this needs a detector")
    metrics = meta.get("metrics", {})
    threshold = float(metrics.get("score_threshold", {}).get("value", 0.5))
    seed = args.seed if args.seed is not None else int(metrics.get("data_seed", 1000))
    model = fpn.load_checkpoint(args.checkpoint).eval()
    result = table(found_objects(model, threshold, seed, args.split, args.images))
    name = args.checkpoint.rstrip("/").split("/")[-1]
    print(f"{name}, score >= {threshold:.2f}, split {args.split} seed {seed}, {args.images} images")
    print("| size | objects <= 20 % hidden | found | objects > 20 % hidden | found |\n|---|---|---|---|---|")
    for size in SIZES:
        (n_v, f_v), (n_o, f_o) = result[size]["visible"], result[size]["occluded"]
        print(f"| {size} | {n_v} | {f_v:.1f} % | {n_o} | {f_o:.1f} % |")
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    draw(result, name, args.out)
    print(f"chart: {args.out}")


if __name__ == "__main__":
    main()
