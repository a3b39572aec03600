#!/usr/bin/env python
"""How a model's accuracy on PyramidShapes depends on occlusion, per COCO size class. The generator paints mostly
back to front by size, so the large objects are the occluded ones; this separates size from occlusion by splitting
the held-out objects by the share of their painted pixels that later objects hide (more than 20 % or not) and
scoring each part with the other part ignored (COCO's crowd rule: a box or mask on an ignored object counts neither
way): box AP per size for a detector, and the objects it finds at its score threshold (its F1-best; IoU >= 0.5, the
right class; the "found" of `metrics.errors`); segment AR@1000 per size for a mask proposer. Prints the tables and
draws the headline metric (PNG). The images are generated again from the seed (no dataset folder needed).

    python scripts/occlusion_recall.py --checkpoint checkpoints/fpn_resnet18_cpu
    python scripts/occlusion_recall.py --checkpoint checkpoints/mask_proposals_dual_resnet18_cpu --out runs/occl_mp.png
"""
from __future__ import annotations

import argparse
import contextlib
import io
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from tqdm import tqdm  # noqa: E402

import fpn  # noqa: E402
from fpn.data.synthetic import CLASS_NAMES, categories, generate_image, visible_shares  # noqa: E402
from fpn.evaluation.error_types import SIZES, size_of  # noqa: E402
from fpn.evaluation.metrics import (average_precision, average_recall, bbox_metrics,  # noqa: E402
                                   predictions_to_results, proposal_metrics)
from fpn.evaluation.predict import prediction_of  # noqa: E402

PARTS = ("visible", "occluded")
HIDDEN = 0.2  # "occluded": later objects hide more than this share of the object's painted pixels
LEGEND = {"visible": f"at most {HIDDEN:.0%} hidden", "occluded": f"more than {HIDDEN:.0%} hidden"}


def part_of(share: float) -> str:
    """"visible" or "occluded": the part an object of this visible share belongs to."""
    return "occluded" if share < 1 - HIDDEN else "visible"


def run(model, detector: bool, threshold: float, seed: int, split: str, images: int) -> dict:
    """Predictions, annotations (each with its visible share) and, for a detector, which objects it finds."""
    images_meta, anns_all, predictions, found = [], [], {}, []
    for index in tqdm(range(images), desc="images", unit="img"):
        image, anns = generate_image(seed, split, index)
        image_id = index + 1
        out = model.predict([fpn.as_image_tensor(image)])[0]
        predictions[image_id] = prediction_of(out, image.shape[:2])
        images_meta.append({"id": image_id, "height": image.shape[0], "width": image.shape[1]})
        shares = visible_shares(seed, split, index)
        for a, share in zip(anns, shares):
            anns_all.append(dict(a, image_id=image_id, id=len(anns_all) + 1, share=share))
        if detector and anns:
            keep = out["scores"] >= threshold
            gt = torch.tensor([[x, y, x + w, y + h] for x, y, w, h in (a["bbox"] for a in anns)], dtype=torch.float32)
            labels = torch.tensor([a["category_id"] for a in anns])
            _, hit, _ = fpn.detection_kinds(out["boxes"][keep], out["scores"][keep], out["labels"][keep], gt, labels)
            found += list(zip(size_of(torch.tensor([a["area"] for a in anns])), shares, hit.tolist()))
    return {"images": images_meta, "annotations": anns_all, "predictions": predictions, "found": found}


def scores(data: dict, detector: bool) -> dict[str, dict[str, dict[str, tuple[int, float]]]]:
    """{metric: {size: {part: (objects, percent)}}}: box AP and AP@0.5 (detector) or segment AR@1000 (proposer) of
    each part, the other part ignored."""
    from pycocotools.coco import COCO

    results = predictions_to_results(data["predictions"], {i: i for i in range(1, len(CLASS_NAMES) + 1)})
    ids = [im["id"] for im in data["images"]]
    names = ("box AP", "box AP@0.5") if detector else ("segment AR@1000",)
    out: dict[str, dict[str, dict[str, tuple[int, float]]]] = {m: {s: {} for s in SIZES} for m in names}
    for part in PARTS:
        anns = [{k: v for k, v in a.items() if k != "share"} | {"iscrowd": int(part_of(a["share"]) != part)}
                for a in data["annotations"]]
        gt = COCO()
        gt.dataset = {"images": data["images"], "annotations": anns, "categories": categories()}
        with contextlib.redirect_stdout(io.StringIO()):  # pycocotools' "creating index..."
            gt.createIndex()
        areas = [a["area"] for a in anns if not a["iscrowd"]]
        counted = size_of(torch.tensor(areas)) if areas else []
        # fresh result dicts for each part: pycocotools' loadRes adds fields to them, which a second load trips on
        if detector:
            _, ev = bbox_metrics(gt, [dict(r) for r in results["bbox"]], ids)
            values = {m: {s: average_precision(ev, s, iou=0.5 if m.endswith("0.5") else None) if ev else -1.0
                          for s in SIZES} for m in names}
        else:
            _, ev = proposal_metrics(gt, [dict(r) for r in results["segm_proposals"]], ids, iou_type="segm")
            values = {names[0]: {s: average_recall(ev, s, 1000) if ev else -1.0 for s in SIZES}}
        for m in names:
            for size in SIZES:
                v = values[m][size]
                out[m][size][part] = (counted.count(size), 100.0 * v if v >= 0 else float("nan"))
    return out


def found_share(found: list[tuple[str, float, bool]]) -> dict[str, dict[str, tuple[int, float]]]:
    out: dict[str, dict[str, tuple[int, float]]] = {s: {} for s in SIZES}
    for size in SIZES:
        for part in PARTS:
            hits = [f for z, s, f in found if z == size and part_of(s) == part]
            out[size][part] = (len(hits), 100.0 * float(np.mean(hits)) if hits else float("nan"))
    return out


def draw(result: dict[str, dict[str, tuple[int, float]]], metric: str, title: str, path: str) -> None:
    fig, ax = plt.subplots(figsize=(7, 3.6), dpi=120)
    x = np.arange(len(SIZES))
    for offset, part, colour in ((-0.2, "visible", "#1f77b4"), (0.2, "occluded", "#d62728")):
        bars = ax.bar(x + offset, [result[s][part][1] for s in SIZES], 0.4, color=colour, label=LEGEND[part])
        for bar, size in zip(bars, SIZES):
            ax.annotate(f"{bar.get_height():.1f}\n({result[size][part][0]})",
                        (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center", va="bottom", fontsize=8)
    ax.set_xticks(x, SIZES)
    ax.set_ylim(0, 100)
    ax.set_ylabel(metric)
    ax.set_title(title + " (objects in parentheses)", fontsize=9)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def markdown(result: dict[str, dict[str, tuple[int, float]]], metric: str) -> str:
    lines = [f"| size | objects {LEGEND['visible']} | {metric} | objects {LEGEND['occluded']} | {metric} |",
             "|---|---|---|---|---|"]
    for size in SIZES:
        (n_v, v), (n_o, o) = result[size]["visible"], result[size]["occluded"]
        lines.append(f"| {size} | {n_v} | {v:.1f} | {n_o} | {o:.1f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", required=True, help="a detector or mask proposer checkpoint (no extension)")
    parser.add_argument("--images", type=int, default=500, help="held-out images (the bundle evaluates 500)")
    parser.add_argument("--split", default="val")
    parser.add_argument("--seed", type=int, default=None,
                        help="data seed (default: the checkpoint's held-out seed, metrics.data_seed; else 1000)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default="runs/occlusion_recall.png", help="the chart (PNG)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    meta = fpn.read_metadata(args.checkpoint)
    task = meta.get("task", "detection")
    if task not in ("detection", "mask_proposals"):
        parser.error(f"{args.checkpoint} is a {task} model: this needs a detector or a mask proposer")
    metrics = meta.get("metrics", {})
    threshold = float(metrics.get("score_threshold", {}).get("value", 0.5))
    seed = args.seed if args.seed is not None else int(metrics.get("data_seed", 1000))
    detector = task == "detection"
    model = fpn.load_checkpoint(args.checkpoint).eval()
    data = run(model, detector, threshold, seed, args.split, args.images)
    name = os.path.basename(args.checkpoint.rstrip("/"))
    print(f"{name}: split {args.split} seed {seed}, {args.images} images; each part scored with the other ignored")
    result = scores(data, detector)
    for metric, table in result.items():
        print(f"\n{metric}:\n" + markdown(table, metric))
    if detector:
        print(f"\nobjects found at the score threshold {threshold:.2f} (a correct detection, IoU >= 0.5):")
        print(markdown(found_share(data["found"]), "found %"))
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    metric = next(iter(result))
    draw(result[metric], metric, f"{name}: held-out {metric} by size and occlusion", args.out)
    print(f"chart: {args.out}")


if __name__ == "__main__":
    main()
