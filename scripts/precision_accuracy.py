#!/usr/bin/env python
"""How far bf16 inference moves the bundled models' accuracy: each checkpoint evaluated in fp32 and in bf16
(`model.precision(...)`, the fast path both times) on the same held-out images, and the share of a detector's fp32
detections that bf16 keeps (a bf16 detection with the same label at IoU >= 0.9).

    python scripts/make_dataset.py --out /tmp/ps_val --train 0 --val 500 --seed 1000   # the bundle's held-out split
    python scripts/precision_accuracy.py --data /tmp/ps_val --max-images 100 --json runs/precision_accuracy.json

Prints one row per checkpoint: box AP, proposal AR@1000 (detectors) or segment AR@100 (the mask proposer) in fp32,
in bf16 and the difference (points), the kept share, and the median ms per image of each.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: The metric of each section that the table shows.
HEADLINE = {"bbox": "AP", "proposals": "AR@1000", "segm_proposals": "AR@100"}
#: A bf16 detection keeps an fp32 one from this IoU on (same label).
KEEP_IOU = 0.9


def kept_share(reference: dict, other: dict, iou: float = KEEP_IOU) -> tuple[int, int]:
    """(detections of `reference` with a same-label partner at IoU >= iou in `other`, detections of `reference`);
    both are prediction dicts with "boxes" [D, 4], "labels" [D]."""
    from torchvision.ops import box_iou

    n = len(reference["boxes"])
    if n == 0 or len(other["boxes"]) == 0:
        return 0, n
    overlap = box_iou(reference["boxes"], other["boxes"])
    overlap[reference["labels"][:, None] != other["labels"][None, :]] = 0
    return int((overlap.max(dim=1).values >= iou).sum()), n


def evaluate(model, dataset, max_images: int) -> tuple[dict, dict, float]:
    """(headline metrics {section: value}, predictions by image id, median ms per image)."""
    from fpn.evaluation import compute_metrics, predict_dataset

    predictions, times = predict_dataset(model, dataset, "cpu", max_images, progress=False)
    metrics, _ = compute_metrics(dataset, predictions)
    headline = {s: metrics[s][k] for s, k in HEADLINE.items() if s in metrics}
    return headline, predictions, statistics.median(times)


def markdown(rows: list[dict]) -> str:
    """The README's table: per checkpoint and metric fp32, bf16, difference; the kept share; ms per image."""
    lines = ["| checkpoint (images) | metric | fp32 | bf16 | bf16 - fp32 | fp32 detections kept by bf16 | ms fp32 / bf16 |",
             "|---|---|---|---|---|---|---|"]
    for row in rows:
        for section, metric in HEADLINE.items():
            if f"{section}_fp32" in row:
                kept = (f"{row['kept_share']:.1%} ({row['kept']} of {row['detections']})"
                        if "kept" in row and section == "bbox" else "")
                lines.append(f"| {row['checkpoint']} ({row['images']}) | {section} {metric} | {row[f'{section}_fp32']} | "
                             f"{row[f'{section}_bf16']} | {row[f'{section}_delta']:+.1f} | {kept} | "
                             f"{row['ms_fp32']:.0f} / {row['ms_bf16']:.0f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True, help="COCO-layout dataset folder (its val split is read)")
    p.add_argument("--checkpoints", nargs="*", default=None,
                   help="checkpoints to evaluate (default: every one in checkpoints/)")
    p.add_argument("--max-images", type=int, default=100)
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    p.add_argument("--json", default="runs/precision_accuracy.json")
    args = p.parse_args(argv)

    import torch

    import fpn
    from fpn.data.coco import CocoDetection, find_coco_split

    if args.threads:
        torch.set_num_threads(args.threads)
    dataset = CocoDetection(*find_coco_split(args.data, "val"))
    paths = args.checkpoints or [str(c) for c in fpn.find_checkpoints(str(ROOT / "checkpoints"))]
    rows = []
    for path in paths:
        model = fpn.load_checkpoint(path).eval()
        result = {}
        for mode in ("fp32", "bf16"):
            result[mode] = evaluate(model.precision(mode), dataset, args.max_images)
        row = {"checkpoint": Path(path).name, "images": min(len(dataset), args.max_images),
               **{f"{s}_{m}": result[m][0][s] for s in result["fp32"][0] for m in ("fp32", "bf16")},
               **{f"{s}_delta": round(result["bf16"][0][s] - result["fp32"][0][s], 2) for s in result["fp32"][0]},
               "ms_fp32": round(result["fp32"][2], 1), "ms_bf16": round(result["bf16"][2], 1)}
        fp32_pred, bf16_pred = result["fp32"][1], result["bf16"][1]
        if any("labels" in v for v in fp32_pred.values()):
            kept = [kept_share(fp32_pred[i], bf16_pred[i]) for i in fp32_pred]
            row["kept"], row["detections"] = sum(k for k, _ in kept), sum(n for _, n in kept)
            row["kept_share"] = round(row["kept"] / max(1, row["detections"]), 4)
        rows.append(row)
        print(json.dumps(row), flush=True)
    out = {"data": args.data, "max_images": args.max_images, "threads": torch.get_num_threads(),
           "keep_iou": KEEP_IOU, "rows": rows}
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(out, indent=1))
    Path(args.json).with_suffix(".md").write_text(markdown(rows))
    print(f"wrote {args.json} and {Path(args.json).with_suffix('.md')} (the README's table)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
