#!/usr/bin/env python
"""Benchmark the app's full analysis of a 512 px image: model forward + fpn.explore + every view drawn.

    python scripts/benchmark_app.py                       # first detection checkpoint in checkpoints/
    python scripts/benchmark_app.py --checkpoint checkpoints/fpn_r18 --runs 7

Prints the median seconds of (a) the bare model forward (model([image]) in eval mode, no grad) and (b) the full
analysis the app does for a new (image, model), in the same process, and their ratio. Target: (b) < 2 s on a 2-core
CPU. Without a trained checkpoint it builds a random-weight resnet18 FPN (min_size 512), the bundled model's
architecture, and says so.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time


def full_analysis(explorer, path: str, model: str) -> None:
    """What a user triggers by opening every view once on a new image (the cache is cleared first)."""
    from app.views import GT_SOURCES, ROI_SOURCES

    explorer.analyzer.clear()
    explorer.detect(path, model, 0.05)
    explorer.pyramid(path, model, "l2", 0, "p3")
    explorer.anchors(path, model, "p3", "1:1", "point", -1, -1, GT_SOURCES[1], 0.05)
    explorer.anchors(path, model, "p4", "all", "density", -1, -1, GT_SOURCES[1], 0.05)
    explorer.roi_levels(path, model, ROI_SOURCES[0], 0, 100, 0.05)
    explorer.roi_levels(path, model, ROI_SOURCES[1], 0, 100, 0.05)
    explorer.mask_proposals(path, None, 10)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", help="CK (.json/.safetensors); default: first detection model in --checkpoints")
    p.add_argument("--checkpoints", default="checkpoints")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--size", type=int, default=512, help="image side, px")
    p.add_argument("--device", default="cpu")
    args = p.parse_args(argv)

    import tempfile

    import numpy as np
    import torch
    from PIL import Image

    import fpn
    from app.analysis import Analyzer
    from app.examples import ExampleLibrary
    from app.models import ModelRegistry
    from app.views import Explorer
    from fpn.checkpoint import checkpoint_files, save_checkpoint

    tmp = tempfile.mkdtemp(prefix="fpn_bench_")
    ckdir = args.checkpoints
    if args.checkpoint:
        ckdir = tempfile.mkdtemp(prefix="fpn_bench_ck_")
        files = checkpoint_files(args.checkpoint)
        if len(files) < 2:
            p.error(f"--checkpoint {args.checkpoint}: no CK.json with its weights found")
        for f in files:
            os.symlink(os.path.abspath(f), os.path.join(ckdir, os.path.basename(f)))
    registry = ModelRegistry(ckdir, args.device) if os.path.isdir(ckdir) else None
    if registry is None or not registry.names("detection"):
        print("no trained checkpoint found: using a RANDOM-WEIGHT resnet18 FPN (min_size 512), the bundled model's "
              "architecture; timings hold, detections are meaningless")
        torch.manual_seed(0)
        m = fpn.build_detector("fpn", "resnet18", num_classes=11, min_size=512, max_size=853)
        save_checkpoint(m, os.path.join(tmp, "fpn_r18_random"), {})
        registry = ModelRegistry(tmp, args.device)
    name = registry.names("detection")[0]
    explorer = Explorer(registry, Analyzer(registry), ExampleLibrary(dataset_dirs=()))
    model = registry.get(name)
    print(f"model: {name} ({registry.entry(name).description}) on {registry.device_info()}")

    import skimage.data

    photo = Image.open(os.path.join(os.path.dirname(skimage.data.__file__), "astronaut.png")).convert("RGB")
    path = os.path.join(tmp, "astronaut_512.png")
    photo.resize((args.size, args.size)).save(path)
    image = torch.from_numpy(np.asarray(Image.open(path).convert("RGB")).copy()).permute(2, 0, 1).float().div(255)
    image = image.to(registry.device)

    def forward():
        with torch.no_grad():
            model([image])

    forward()
    full_analysis(explorer, path, name)  # warm-up (first-call allocations, lazy imports)
    fwd, full = [], []
    for _ in range(args.runs):
        t = time.perf_counter()
        forward()
        fwd.append(time.perf_counter() - t)
        t = time.perf_counter()
        full_analysis(explorer, path, name)
        full.append(time.perf_counter() - t)
    f, a = statistics.median(fwd), statistics.median(full)
    print(f"image {args.size}x{args.size} px, {args.runs} runs, torch threads {torch.get_num_threads()}")
    print(f"bare model forward:                      median {f:.3f} s  (runs: {', '.join(f'{x:.2f}' for x in fwd)})")
    print(f"full analysis (forward+explore+all views): median {a:.3f} s  (runs: {', '.join(f'{x:.2f}' for x in full)})")
    print(f"ratio full / forward: {a / f:.2f}x   target < 2 s: {'met' if a < 2.0 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
