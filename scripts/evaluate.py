#!/usr/bin/env python
"""COCO evaluation of a checkpoint with pycocotools.

    python scripts/evaluate.py --checkpoint runs/fpn/model --data data/pyramid_shapes --json runs/fpn/eval.json
    python scripts/evaluate.py --detectron2 COCO-Detection/faster_rcnn_R_50_C4_1x --data data/coco --json c4.json
    torchrun --nproc_per_node=2 scripts/evaluate.py ...    # images sharded over the processes (gloo on CPU, NCCL
                                                          # on GPUs), gathered and scored on rank 0: the same metrics

Detection checkpoints: box AP (AP, AP50, AP75, AP_s, AP_m, AP_l) and the RPN's proposals as class-agnostic boxes
(AR@100, AR@1000, AR_s@1000, AR_m@1000, AR_l@1000; the paper's Table 1).  Mask-proposal checkpoints: segment AR
(AR@10, AR@100, AR@1000, AR_s/m/l@1000; Table 6).  Values in percent.  Writes OUT.json plus OUT_sizes.png
(per-size AP/AR bars) and OUT_pr.png (precision-recall curves).

Per level (detection checkpoints, under "per_level"): proposal AR@1000 of each RPN map's proposals and box AP per
Eq. (1) level (fpn.evaluation.per_level).  --proposals-from CK runs the checkpoint's Fast R-CNN on CK's proposals
(fpn.modeling.fixed_proposals: the paper's Table 2 protocol at test time; CK an RPN trained alone or a detector),
so that detectors compare on one set of proposals.  --write-metadata also merges the report into the checkpoint's JSON
"metrics" (the app's Compare view reads them there), or "fixed_proposals" with --proposals-from (scripts/ablation.py's
Table 2 reads them there); the weights are not touched.
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


def parse_options(items: list[str]) -> dict:
    """["min_size=600", "input_format=bgr255"] -> {"min_size": 600, "input_format": "bgr255"}."""
    import json

    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--option {item!r}: expected KEY=VALUE")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", help="CK, CK.json or CK.safetensors")
    source.add_argument("--detectron2", help="a Detectron2 model-zoo name or its .pkl / .pth (fpn.from_detectron2)")
    p.add_argument("--data", required=True, help="COCO-layout dataset folder")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="a build option (e.g. min_size=600, or rpn_post_nms_top_n_test=300 for fewer RoIs per "
                        "image; VALUE read as JSON when it parses)")
    p.add_argument("--split", default="val")
    p.add_argument("--json", required=True, help="output metrics JSON")
    p.add_argument("--max-images", type=int, default=None, help="evaluate the first N images only")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda")
    p.add_argument("--precision", choices=["exact", "fp32", "bf16", "auto"], default=None,
                   help="inference path: model.exact() or model.precision(...) (default: as loaded, the fp32 fast "
                        "path; scripts/precision_accuracy.py compares fp32 and bf16)")
    p.add_argument("--proposals-from", metavar="CK",
                   help="run the checkpoint's Fast R-CNN on the proposals of CK (an RPN trained alone, or a detector) "
                        "instead of its own RPN's: Fast R-CNN on fixed proposals, the paper's Table 2 at test time")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--write-metadata", action="store_true",
                   help="merge the report into the checkpoint's JSON metadata, atomically: under 'metrics', or "
                        "under 'fixed_proposals' with --proposals-from")
    args = p.parse_args(argv)

    import torch

    import fpn
    from fpn.weights.checkpoint import CheckpointError, load_checkpoint, read_metadata
    from fpn.data.coco import CocoDetection, find_coco_split
    from fpn.evaluation import evaluate_model, store_in_metadata, write_report
    from fpn.training.distributed import dist_env, setup_process, teardown

    rank, world, local_rank = dist_env()
    device = setup_process(args.device, world, local_rank)
    if args.write_metadata and args.detectron2:
        print("error: --write-metadata needs a --checkpoint", file=sys.stderr)
        return 2
    if args.write_metadata and args.option:
        print("error: --write-metadata stores the model's metrics as recorded: drop --option, or write --json only",
              file=sys.stderr)
        return 2
    try:
        options = parse_options(args.option)
        images_dir, ann_file = find_coco_split(args.data, args.split)
        dataset = CocoDetection(images_dir, ann_file)
        if args.detectron2:
            model = fpn.from_detectron2(args.detectron2, **options).to(device)
            meta = {"task": "rpn" if model.config["rpn_only"] else "detection", "model": model.config}
        else:
            model = load_checkpoint(args.checkpoint, map_location=device, **options)
            meta = read_metadata(args.checkpoint)
        if args.proposals_from:
            proposer = load_checkpoint(args.proposals_from, map_location=device, **options)
            model = fpn.FixedProposals(model, proposer)
    except (FileNotFoundError, ValueError, TypeError, CheckpointError, fpn.WeightsDownloadError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for m in (model.detector, model.proposer) if args.proposals_from else (model,):
        if args.precision == "exact":
            if hasattr(m, "exact"):  # a mask proposer loads on its plain modules already
                m.exact()
        elif args.precision:
            try:
                m.precision(args.precision)
            except ValueError as e:  # bf16 on a CPU without bf16 kernels
                print(f"error: {e}", file=sys.stderr)
                return 2
    names = meta["model"].get("class_names") or meta.get("class_names")
    if meta.get("task", "detection") == "detection" and names and names[1:] != dataset.class_names[1:]:
        print(f"error: the checkpoint's classes {names[1:]} differ from the dataset's {dataset.class_names[1:]}",
              file=sys.stderr)
        return 2
    metrics, evals = evaluate_model(model, dataset, device, args.max_images, progress=not args.quiet and rank == 0,
                                    shard=(rank, world))
    teardown(world)
    if metrics is None:  # another rank: rank 0 scores and writes
        return 0
    extra = {"checkpoint": as_given(args.checkpoint) if args.checkpoint else None,
             "detectron2": args.detectron2, "processes": world, "data": as_given(args.data),
             "split": args.split, "data_seed": dataset.info.get("seed"), "task": meta.get("task", "detection"),
             "variant": meta["model"].get("variant"), "backbone": meta["model"].get("backbone"),
             "precision": args.precision, "options": options or None,
             "proposals_from": as_given(args.proposals_from) if args.proposals_from else None}
    out = write_report(metrics, evals, args.json, extra)
    for section in ("bbox", "proposals", "segm_proposals"):
        if section in out:
            print(f"{section:15s} " + "  ".join(f"{k} {v}" for k, v in out[section].items()))
    for name, values in out.get("per_level", {}).items():
        print(f"{name:15s} " + "  ".join(f"{k} {v}" for k, v in values.items()))
    if out.get("errors"):
        e = out["errors"]
        print(f"boxes shown at score >= {e['score_threshold']}, by kind (and objects found / missed):")
        for size, kinds in e["detections"].items():
            objects = e["objects"][size]
            print(f"  {size:7s} " + "  ".join(f"{k} {n}" for k, n in kinds.items() if n)
                  + f"  | found {objects['found']} missed {objects['missed']}")
    t = out["inference_ms"]
    print(f"inference: {t['mean']} ms/image mean, {t['median']} median on {t['device']} ({out['num_images']} images)")
    print(f"wrote {args.json} (+ {', '.join(out['pictures'].values())})")
    if args.write_metadata:
        key = "fixed_proposals" if args.proposals_from else "metrics"
        print(f"wrote the metrics into {store_in_metadata(args.checkpoint, out, key)} ({key!r})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
