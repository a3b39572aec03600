#!/usr/bin/env python
"""Per-image inference time of the Sec. 6 mask proposer (Table 6's time column), on CPU and CUDA when available.

Every Table 6 row (single 5x5, single 7x7, dual, dual + 28x28 masks) is timed in the same process on the same
image (shorter side resized to --min-size, default 800 px), median over --runs after --warmup runs, with the split
features (transform + ResNet + pyramid) / MLPs (dense scores) / post-processing (top-k, masks, NMS, pasting the best
--num-masks-pasted). Each row's time is also given as a ratio to the single 5x5 row, the paper's being
0.15 : 0.19 : 0.24 : 0.25 s on an M40 (1 : 1.27 : 1.60 : 1.67). Weights are random: timing does not depend on them,
except post-processing a little (how many masks survive).

    python scripts/benchmark_mask_proposals.py --out results/benchmark_mask_proposals.json
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

import torch

from fpn.mask_proposals import build_mask_proposer, encode_proposals

ROWS = {  # Table 6 rows (short name: paper's row, build_mask_proposer overrides, the paper's M40 time in s)
    "5x5": ("single MLP [5x5]", {"mlps": "5x5"}, 0.15),
    "7x7": ("single MLP [7x7]", {"mlps": "7x7"}, 0.19),
    "dual": ("dual MLP [5x5, 7x7]", {"mlps": "dual"}, 0.24),
    "dual-28": ("+ 2x mask resolution", {"mlps": "dual", "mask_size": 28}, 0.25),
}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@torch.no_grad()
def time_model(model, image: torch.Tensor, runs: int, warmup: int, device: torch.device) -> dict:
    """Median seconds per image: total forward, and its stages (the same calls MaskProposer.forward makes)."""
    model.eval()
    stages: dict[str, list[float]] = {"total": [], "features": [], "mlps": [], "postprocess": [], "rle_all": []}
    for i in range(warmup + runs):
        _sync(device)
        t0 = time.perf_counter()
        out = model([image])[0]
        _sync(device)
        t1 = time.perf_counter()
        image_list, _ = model.transform([image])
        pyramid = model.pyramid(model.backbone(image_list.tensors))
        _sync(device)
        t2 = time.perf_counter()
        dense = model.dense(pyramid)
        _sync(device)
        t3 = time.perf_counter()
        model.postprocess(model.scales, dense, model.heads, image_list.image_sizes, [tuple(image.shape[-2:])])
        _sync(device)
        t4 = time.perf_counter()
        encode_proposals(out, tuple(image.shape[-2:]))
        t5 = time.perf_counter()
        if i >= warmup:
            for key, value in zip(stages, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4)):
                stages[key].append(value)
    result = {f"{k}_s": statistics.median(v) for k, v in stages.items()}
    result["num_proposals"] = int(out["scores"].numel())
    return result


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backbone", default="resnet50")
    p.add_argument("--min-size", type=int, default=800)
    p.add_argument("--max-size", type=int, default=1333)
    p.add_argument("--image-size", default="480x640", help="HxW of the (random) input image, resized by the model")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--num-masks-pasted", type=int, default=100)
    p.add_argument("--devices", default="auto", help="comma list of cpu,cuda; auto = cpu (+ cuda when available)")
    p.add_argument("--rows", default=",".join(ROWS), help="comma list of Table 6 rows to time: " + ", ".join(ROWS))
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--out", default=None, help="write the JSON here too")
    args = p.parse_args(argv)
    try:
        h, w = (int(v) for v in args.image_size.lower().split("x"))
    except ValueError:
        p.error(f"--image-size must be HxW, e.g. 480x640, got {args.image_size!r}")
    rows = [r.strip() for r in args.rows.split(",") if r.strip()]
    for r in rows:
        if r not in ROWS:
            p.error(f"unknown row {r!r}; choose from {', '.join(ROWS)}")
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else []) if args.devices == "auto" \
        else [d.strip() for d in args.devices.split(",")]
    if "cuda" in devices and not torch.cuda.is_available():
        p.error("--devices cuda asked for but CUDA is not available")
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    image = torch.rand(3, h, w)
    report = {
        "backbone": args.backbone, "input_image": [h, w], "min_size": args.min_size, "max_size": args.max_size,
        "runs": args.runs, "warmup": args.warmup, "torch": torch.__version__, "cpu_threads": torch.get_num_threads(),
        "machine": platform.processor() or platform.machine(), "paper": "NVIDIA M40, 800 px, ResNet-50", "devices": {},
    }
    for dev in devices:
        device = torch.device(dev)
        if device.type == "cuda":
            report["gpu"] = torch.cuda.get_device_name(device)
        results = {}
        for name in rows:
            row, overrides, paper_s = ROWS[name]
            model = build_mask_proposer(args.backbone, min_size=args.min_size, max_size=args.max_size,
                                        num_masks_pasted=args.num_masks_pasted, **overrides).to(device)
            r = time_model(model, image.to(device), args.runs, args.warmup, device)
            r.update(row=row, overrides=overrides, paper_s=paper_s)
            results[name] = r
            print(f"[{dev}] {row:22s} total {r['total_s']:.3f} s  (features {r['features_s']:.3f}, mlps "
                  f"{r['mlps_s']:.3f}, post {r['postprocess_s']:.3f}; RLE of all {r['num_proposals']}: "
                  f"{r['rle_all_s']:.3f})  paper {paper_s:.2f} s", flush=True)
            del model
        base_name = next(iter(results))
        for name, r in results.items():
            r["ratio_to_" + base_name] = r["total_s"] / results[base_name]["total_s"]
            r["paper_ratio"] = ROWS[name][2] / ROWS[base_name][2]
        report["devices"][dev] = results
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:
            f.write(text + "\n")
    return report


if __name__ == "__main__":
    main()
