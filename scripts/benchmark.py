#!/usr/bin/env python
"""Latency of our `fpn` ResNet-50 detector against torchvision's fasterrcnn_resnet50_fpn: same weights, same photos,
same process, runs interleaved (the models take turns on every photo, in rotating order). Ours is timed on its exact
path (`model.exact()`, bit-identical to torchvision), its fp32 fast path (`exact(False)`) and, where
`model.precision(--precision)` resolves to bf16 (default "auto": CPUs with AVX-512 BF16 / AMX, CUDA sm80+), its bf16
path. Prints, per photo, the median latencies and the ratios ours / torchvision, then the median ratio over the
photos, and how far the fast paths' detections are from the exact ones (order-free matching: largest box difference
in pixels, largest score difference, detections without a partner).
Then the roofline (scripts/roofline.py): the model's GFLOP per stage at the benchmark size, the machine's measured
matmul peak (fp32, bf16) and each path's achieved GFLOP/s per stage (bottom-up, pyramid, RPN head, proposals + NMS,
RoI heads, post-processing). Writes it all as JSON, and a bar chart as PNG.

    python scripts/benchmark.py --threads 2          # CPU (and CUDA fp32 + bf16 autocast when a GPU is present)
    python scripts/benchmark.py --runs 7 --json runs/benchmark.json --weights coco
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

import fpn
from roofline import print_roofline, roofline, roofline_markdown
from fpn.weights.torchvision import (COCO_BN_EPS, compare_detections, find_coco_weights,
                                     randomize_for_comparison, sorted_detections, torchvision_norm,
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
                desc: str = "") -> dict[str, list[list[float]]]:
    """Latencies (seconds) {model: [per photo: [per run]]}. Every run visits each photo once, and on each photo every
    model runs back to back, their order rotating between runs, so that machine noise hits all of them alike."""
    images = [im.to(device) for im in images]
    times = {name: [[] for _ in images] for name in models}
    names = list(models)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for run in tqdm(range(runs + 1), desc=desc, unit="run"):  # run 0 warms up
        order = names[run % len(names):] + names[:run % len(names)]
        for i, im in enumerate(images):
            for name in order:
                with torch.inference_mode(), torch.autocast(device.type, dtype=autocast_dtype or torch.float32,
                                                             enabled=autocast_dtype is not None):
                    sync()
                    start = time.perf_counter()
                    models[name]([im])
                    sync()
                if run > 0:
                    times[name][i].append(time.perf_counter() - start)
    return times


def summarize(times: dict[str, list[list[float]]], photos: list[str]) -> dict:
    """Per photo the median ms of each model and the ratios ours / torchvision; the median ratio over the photos."""
    per_photo = []
    for i, photo in enumerate(photos):
        row = {"photo": photo, **{f"{name}_ms": round(statistics.median(t[i]) * 1000, 1) for name, t in times.items()}}
        for name in times:
            if name != "torchvision":
                row[f"ratio_{name}"] = round(row[f"{name}_ms"] / row["torchvision_ms"], 3)
        per_photo.append(row)
    medians = {key: round(statistics.median(r[key] for r in per_photo), 3) for key in per_photo[0] if key != "photo"}
    return {"per_photo": per_photo, "median": medians}


def fast_path_difference(models: dict[str, torch.nn.Module], images: list[torch.Tensor], names: list[str]) -> dict:
    """Per photo: whether the exact path equals torchvision bit for bit, and each fast path's distance to it
    (keys "fast_*" for the fp32 one, "bf16_*" for the bf16 one)."""
    out = {}
    with torch.inference_mode():
        for name, image in zip(names, images):
            ref, ex = models["torchvision"]([image])[0], models["ours_exact"]([image])[0]
            identical = all(torch.equal(a, b) for a, b in zip(sorted_detections(ref).values(),
                                                              sorted_detections(ex).values()))
            out[name] = {"exact_bit_identical_to_torchvision": identical, "detections": len(ex["boxes"])}
            for key, label in (("ours_fast", "fast"), ("ours_bf16", "bf16")):
                if key in models:
                    d = compare_detections(ex, models[key]([image])[0])
                    out[name].update({f"{label}_{k}": v for k, v in d.items()})
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
    parser.add_argument("--precision", choices=["auto", "bf16"], default="auto",
                        help="the bf16 path's model.precision(): auto times it only where the device runs bf16 "
                             "natively; bf16 times it anyway")
    parser.add_argument("--roofline-runs", type=int, default=3,
                        help="timed runs per path for the roofline's stage times (0: no roofline)")
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
    reference = torchvision_reference(state, norm=torchvision_norm(state),
                                      bn_eps=COCO_BN_EPS if args.weights == "coco" else 1e-5, **sizes)
    bn_eps = {"bn_eps": COCO_BN_EPS} if args.weights == "coco" else {}
    models = {"torchvision": reference, "ours_exact": fpn.from_torchvision(state, **sizes, **bn_eps).exact(),
              "ours_fast": fpn.from_torchvision(state, **sizes, **bn_eps)}
    try:
        bf16 = fpn.from_torchvision(state, **sizes, **bn_eps).precision(args.precision)
    except ValueError as e:  # --precision bf16 on a CPU without oneDNN bf16 kernels (AVX2 only)
        parser.error(str(e))
    if bf16.inference_precision == "bf16":
        models["ours_bf16"] = bf16
    else:
        print("this CPU runs bf16 in software only (no AVX-512 BF16 / AMX): no bf16 column (--precision bf16 "
              "times it anyway where oneDNN has bf16 kernels, AVX-512)")
    images = load_photos(args.images)
    photos = PHOTOS[: args.images]

    devices = [torch.device("cpu")] if args.device in ("auto", "cpu") else []
    if args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available()):
        devices.append(torch.device("cuda"))
    result = {"weights": args.weights, "images": photos, "runs": args.runs, **sizes,
              "torch": torch.__version__, "cpu_threads": torch.get_num_threads(), "machine": platform.machine(),
              "results": {}, "fast_path_difference": {}}
    for device in devices:
        for model in models.values():
            model.to(device)
        result["fast_path_difference"][device.type] = fast_path_difference(
            models, [im.to(device) for im in images], photos)
        precisions = [("fp32", None)] + ([("bf16_autocast", torch.bfloat16)] if device.type == "cuda" else [])
        for label, dtype in precisions:
            key = f"{device.type}_{label}"
            times = time_models(models, images, args.runs, device, dtype, desc=key)
            result["results"][key] = summarize(times, photos)
            if device.type == "cuda":
                result["gpu"] = torch.cuda.get_device_name(device)
            _print(key, result["results"][key], result["fast_path_difference"][device.type])
        if args.roofline_runs > 0:
            ours = {k: v for k, v in models.items() if k.startswith("ours_")}
            result.setdefault("roofline", {})[device.type] = r = roofline(
                ours, models["ours_exact"], images[0], args.roofline_runs, device)
            print_roofline(r)

    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    _plot(result, out.with_suffix(".png"))
    out.with_suffix(".md").write_text(markdown(result))
    print(f"wrote {out}, {out.with_suffix('.png')} and {out.with_suffix('.md')} (the README's tables)")
    return result


def _print(key: str, summary: dict, difference: dict) -> None:
    ours = [n for n in ("ours_exact", "ours_fast", "ours_bf16") if f"{n}_ms" in summary["median"]]

    def line(name: str, r: dict) -> str:
        return (f"{name:20s} {r['torchvision_ms']:11.0f}" + "".join(f" {r[f'{n}_ms']:10.0f}" for n in ours)
                + "".join(f" {r[f'ratio_{n}']:9.3f}" for n in ours))

    print(f"\n{key}: median ms per image, ratio ours / torchvision")
    print(f"{'photo':20s} {'torchvision':>11s}" + "".join(f" {n:>10s}" for n in ours)
          + "".join(f" {n[5:] + '/tv':>9s}" for n in ours) + "  vs exact: max box px, max score, unmatched")
    for row in summary["per_photo"]:
        d = difference[row["photo"]]
        exact = "" if d["exact_bit_identical_to_torchvision"] else "  (exact path NOT bit-identical to torchvision)"
        paths = "; ".join(f"{p} {d[f'{p}_max_box_px']:.1e}, {d[f'{p}_max_score']:.1e}, {d[f'{p}_unmatched']}"
                          for p in ("fast", "bf16") if f"{p}_max_box_px" in d)
        print(f"{line(row['photo'], row)}  {paths}{exact}")
    print(line("median over photos", summary["median"]))


def markdown(result: dict) -> str:
    """The README's tables from a result: latency per photo and path, ratios to torchvision; the roofline."""
    parts = []
    for key, summary in result["results"].items():
        ours = [n for n in ("ours_exact", "ours_fast", "ours_bf16") if f"{n}_ms" in summary["median"]]
        parts.append(f"{key}, median ms per image (ratio to torchvision):\n\n| photo ({result['min_size']} px) | "
                     "torchvision | " + " | ".join(n[5:] for n in ours) + " |\n|" + "---|" * (2 + len(ours)))
        for row in summary["per_photo"] + [{"photo": "**median over photos**", **summary["median"]}]:
            parts[-1] += (f"\n| {row['photo']} | {row['torchvision_ms']:.0f} | "
                          + " | ".join(f"{row[f'{n}_ms']:.0f} ({row[f'ratio_{n}']:.3f})" for n in ours) + " |")
    for device, r in result.get("roofline", {}).items():
        parts.append(f"{device} roofline (network input {r['input_size'][0]}x{r['input_size'][1]}, measured peak "
                     f"fp32 {r['peak_gflops_per_s']['fp32']:.0f} / bf16 {r['peak_gflops_per_s']['bf16']:.0f} "
                     f"GFLOP/s):\n\n" + roofline_markdown(r))
    return "\n\n".join(parts) + "\n"


def _plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = list(result["results"])
    fig, ax = plt.subplots(figsize=(2.2 + 2.0 * len(keys), 3.2))
    series = [(n, c) for n, c in [("torchvision", "#9e9e9e"), ("ours_exact", "#9ecae1"), ("ours_fast", "#1f77b4"),
                                  ("ours_bf16", "#08306b")] if f"{n}_ms" in result["results"][keys[0]]["median"]]
    width = 0.8 / len(series)
    for i, (name, colour) in enumerate(series):
        vals = [result["results"][k]["median"][f"{name}_ms"] for k in keys]
        bars = ax.bar(np.arange(len(keys)) + (i - (len(series) - 1) / 2) * width, vals, width, label=name,
                      color=colour)
        ax.bar_label(bars, fmt="%.0f", fontsize=8)
    ax.set_xticks(np.arange(len(keys)), keys)
    ax.set_ylabel("median ms / image (median over photos)")
    ax.set_title(f"Faster R-CNN R50-FPN, {result['min_size']} px shorter side")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
