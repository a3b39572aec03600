#!/usr/bin/env python
"""COCO evaluation of a checkpoint with pycocotools.

    python scripts/evaluate.py --checkpoint runs/fpn/model --data data/pyramid_shapes --json runs/fpn/eval.json

Detection checkpoints: box AP (AP, AP50, AP75, AP_s, AP_m, AP_l) and the RPN's proposals as class-agnostic boxes
(AR@100, AR@1000, AR_s@1000, AR_m@1000, AR_l@1000; the paper's Table 1).  Mask-proposal checkpoints: segment AR
(AR@10, AR@100, AR@1000, AR_s/m/l@1000; Table 6).  Values in percent.  Writes OUT.json plus OUT_sizes.png
(per-size AP/AR bars) and OUT_pr.png (precision-recall curves).

Per level (detection checkpoints, under "per_level"): proposal AR@1000 of each RPN map's proposals and box AP per
Eq. (1) level (fpn.evaluation.per_level).  --write-metadata also merges the report into the checkpoint's JSON
"metrics" (the app's Compare view reads them there); the weights are not touched.
"""
from __future__ import annotations

import argparse
import os
import sys


def as_given(path: str) -> str:
    """A path for the report: relative to the working folder when inside it, else as typed. The report may be merged
    into a checkpoint's metadata, which travels to other machines: their absolute paths would mean nothing there."""
    rel = os.path.relpath(os.path.abspath(path), os.getcwd())
    return path if rel.startswith("..") else rel


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", required=True, help="CK, CK.json or CK.safetensors")
    p.add_argument("--data", required=True, help="COCO-layout dataset folder")
    p.add_argument("--split", default="val")
    p.add_argument("--json", required=True, help="output metrics JSON")
    p.add_argument("--max-images", type=int, default=None, help="evaluate the first N images only")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--write-metadata", action="store_true",
                   help="merge the report into the checkpoint's JSON metadata ('metrics'), atomically")
    args = p.parse_args(argv)

    import torch

    from fpn.weights.checkpoint import CheckpointError, load_checkpoint, read_metadata
    from fpn.data.coco import CocoDetection, find_coco_split
    from fpn.evaluation import evaluate_model, store_in_metadata, write_report

    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if args.device == "auto" else args.device))
    try:
        images_dir, ann_file = find_coco_split(args.data, args.split)
        dataset = CocoDetection(images_dir, ann_file)
        model = load_checkpoint(args.checkpoint, map_location=device)
    except (FileNotFoundError, ValueError, TypeError, CheckpointError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    meta = read_metadata(args.checkpoint)
    names = meta["model"].get("class_names") or meta.get("class_names")
    if meta.get("task", "detection") == "detection" and names and names[1:] != dataset.class_names[1:]:
        print(f"error: the checkpoint's classes {names[1:]} differ from the dataset's {dataset.class_names[1:]}",
              file=sys.stderr)
        return 2
    metrics, evals = evaluate_model(model, dataset, device, args.max_images, progress=not args.quiet)
    extra = {"checkpoint": as_given(args.checkpoint), "data": as_given(args.data),
             "split": args.split, "data_seed": dataset.info.get("seed"), "task": meta.get("task", "detection"),
             "variant": meta["model"].get("variant"), "backbone": meta["model"].get("backbone")}
    out = write_report(metrics, evals, args.json, extra)
    for section in ("bbox", "proposals", "segm_proposals"):
        if section in out:
            print(f"{section:15s} " + "  ".join(f"{k} {v}" for k, v in out[section].items()))
    for name, values in out.get("per_level", {}).items():
        print(f"{name:15s} " + "  ".join(f"{k} {v}" for k, v in values.items()))
    t = out["inference_ms"]
    print(f"inference: {t['mean']} ms/image mean, {t['median']} median on {t['device']} ({out['num_images']} images)")
    print(f"wrote {args.json} (+ {', '.join(out['pictures'].values())})")
    if args.write_metadata:
        print(f"wrote the metrics into {store_in_metadata(args.checkpoint, out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
