#!/usr/bin/env python
"""Latency of our `fpn` ResNet-50 detector against torchvision's fasterrcnn_resnet50_fpn: same weights, same images,
same process, interleaved runs. Writes the medians and the ratio ours / torchvision as JSON, and a bar chart as PNG.

    python scripts/benchmark.py                      # CPU (and CUDA fp32 + bf16 autocast when a GPU is present)
    python scripts/benchmark.py --runs 7 --json runs/benchmark.json --weights coco
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

import fpn
from fpn.torchvision_interop import (find_coco_weights, randomize_for_comparison,
                                     torchvision_reference)

PHOTOS = ["astronaut.png", "coffee.png", "chelsea.png", "motorcycle_left.png", "rocket.jpg"]


def load_photos(n: int) -> list[torch.Tensor]:
    """Real photos shipped inside scikit-image (no download), as [3, H, W] floats in [0, 1]."""
    import skimage

    folder = Path(skimage.__file__).parent / "data"
    images = []
    for name in PHOTOS[:n]:
        arr = np.asarray(Image.open(folder / name).convert("RGB"))
        images.append(torch.from_numpy(arr.copy()).permute(2, 0, 1).float() / 255)
    return images


def time_models(models: dict, images: list[torch.Tensor], runs: int, device: torch.device, autocast_dtype=None,
                desc: str = "") -> dict[str, list[float]]:
    """Per-image latencies (seconds) of each model; the order of the models alternates between runs."""
    images = [im.to(device) for im in images]
    times: dict[str, list[float]] = {name: [] for name in models}
    names = list(models)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for run in tqdm(range(runs + 1), desc=desc, unit="run"):  # run 0 warms up
        order = names if run % 2 == 0 else names[::-1]
        for name in order:
            for im in images:
                with torch.inference_mode(), torch.autocast(device.type, dtype=autocast_dtype or torch.float32,
                                                             enabled=autocast_dtype is not None):
                    sync()
                    start = time.perf_counter()
                    models[name]([im])
                    sync()
                if run > 0:
                    times[name].append(time.perf_counter() - start)
    return times


def summarize(times: dict[str, list[float]]) -> dict:
    med = {name: statistics.median(t) * 1000 for name, t in times.items()}
    out = {f"{name}_ms": round(v, 1) for name, v in med.items()}
    for name in med:
        if name != "torchvision":
            out[f"ratio_{name}_over_torchvision"] = round(med[name] / med["torchvision"], 3)
    return out


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="timed runs over all images (after one warm-up run)")
    parser.add_argument("--images", type=int, default=3, help=f"how many of the photos {PHOTOS} to use")
    parser.add_argument("--min-size", type=int, default=800, help="shorter side after resizing, pixels")
    parser.add_argument("--max-size", type=int, default=1333, help="longer side limit after resizing, pixels")
    parser.add_argument("--weights", default="random",
                        help="'random' (seeded, torchvision's COCO layout), 'coco' (torchvision's COCO_V1 file if "
                             "present), or a path to a torchvision fasterrcnn_resnet50_fpn state dict")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                        help="auto: CPU, plus CUDA when available")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's default)")
    parser.add_argument("--json", default="runs/benchmark.json", help="where to write the results")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    sizes = dict(min_size=args.min_size, max_size=args.max_size)
    if args.weights == "random":
        state = randomize_for_comparison(torchvision_reference(), seed=0).state_dict()
    elif args.weights == "coco":
        path = find_coco_weights()
        if path is None:
            parser.error("--weights coco: torchvision's COCO file is not in checkpoints/ nor torch's hub cache")
        state = torch.load(path, map_location="cpu", weights_only=True)
    else:
        state = torch.load(args.weights, map_location="cpu", weights_only=True)
    reference = torchvision_reference(state, **sizes)
    ours = fpn.from_torchvision(state, **sizes)
    images = load_photos(args.images)

    devices = [torch.device("cpu")] if args.device in ("auto", "cpu") else []
    if args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available()):
        devices.append(torch.device("cuda"))
    result = {"weights": args.weights, "images": PHOTOS[: args.images], "runs": args.runs, **sizes,
              "torch": torch.__version__, "cpu_threads": torch.get_num_threads(), "machine": platform.machine(),
              "results": {}}
    for device in devices:
        reference.to(device)
        ours.to(device)
        precisions = [("fp32", None)] + ([("bf16_autocast", torch.bfloat16)] if device.type == "cuda" else [])
        for label, dtype in precisions:
            key = f"{device.type}_{label}"
            times = time_models({"torchvision": reference, "ours": ours}, images, args.runs, device, dtype, desc=key)
            result["results"][key] = summarize(times)
            if device.type == "cuda":
                result["gpu"] = torch.cuda.get_device_name(device)
            print(key, json.dumps(result["results"][key]))

    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    _plot(result, out.with_suffix(".png"))
    print(f"wrote {out} and {out.with_suffix('.png')}")
    return result


def _plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = list(result["results"])
    fig, ax = plt.subplots(figsize=(1.8 + 1.6 * len(keys), 3.2))
    width = 0.38
    for i, (name, colour) in enumerate([("torchvision", "#9e9e9e"), ("ours", "#1f77b4")]):
        vals = [result["results"][k][f"{name}_ms"] for k in keys]
        bars = ax.bar(np.arange(len(keys)) + (i - 0.5) * width, vals, width, label=name, color=colour)
        ax.bar_label(bars, fmt="%.0f", fontsize=8)
    ax.set_xticks(np.arange(len(keys)), keys)
    ax.set_ylabel("median ms / image")
    ax.set_title(f"Faster R-CNN R50-FPN, {result['min_size']} px shorter side")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
