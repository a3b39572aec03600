#!/usr/bin/env python
"""Per-image inference time of the Sec. 6 mask proposer (Table 6's time column), on CPU and CUDA when available.

Every Table 6 row (single 5x5, single 7x7, dual, dual + 28x28 masks) is timed in the same process on the same
image (shorter side resized to --min-size, default 800 px), median over --runs after --warmup runs, with the split
features (transform + ResNet + pyramid) / MLPs (dense scores) / post-processing (top-k, masks, NMS, pasting the best
--num-masks-pasted). Each row's time is also given as a ratio to the single 5x5 row, the paper's being
0.15 : 0.19 : 0.24 : 0.25 s on an M40 (1 : 1.27 : 1.60 : 1.67). Weights are random: timing does not depend on them,
except post-processing a little (how many masks survive).

    python scripts/benchmark_mask_proposals.py --out results/benchmark_mask_proposals.json

--bundled times the app's mask proposer instead (checkpoints/mask_proposals_dual_resnet18_cpu, its own 384 px) on
real images (skimage's photos and --images), stage by stage, three ways in the same process: the reference
implementation (the MLPs as conv -> ReLU, masks pasted with grid_sample one image-sized mask at a time, as before
the fast path), the fast path in fp32 (the library as it is), and the fast path with the MLPs' window convs in bf16
(CPUs with native bf16 only). It prints per-stage medians, the total per image, the fast / reference ratios and the
app's own call (fpn.explore, which also records the trace the app draws):

    python scripts/benchmark_mask_proposals.py --bundled --threads 2 --images '/tmp/ps_val_m/val/*.png'
"""
from __future__ import annotations

import argparse
import copy
import glob
import json
import os
import platform
import statistics
import time

import torch
from torch.nn import functional as F

import fpn
from fpn.devices import native_bf16
from fpn.images import as_image_tensor
from fpn.mask_proposals import build_mask_proposer, encode_proposals, paste_masks
from fpn.modeling.mask_proposals.inference import rescale_boxes
from fpn.modeling.mask_proposals.paste import sample_window_reference

BUNDLED = "checkpoints/mask_proposals_dual_resnet18_cpu"
STAGES = ("transform", "backbone", "pyramid", "mlps", "candidates", "masks", "paste")

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


def _reference_dense(model, pyramid: dict) -> list:
    """MaskProposer.dense as before the fast path: conv -> ReLU (a new tensor) -> objectness, in fp32."""
    out = []
    for s in model.scales:
        head = model.heads[s.mlp]
        hidden = F.relu(head.window(pyramid[s.level]))
        out.append((hidden, head.objectness(hidden)[:, 0]))
    return out


def _reference_paste(probs, regions, size, threshold):
    """paste_masks as before the fast path: grid_sample per mask into its own image-sized mask, then stacked."""
    h, w = size
    if probs.shape[0] == 0:
        return torch.zeros((0, h, w), dtype=torch.bool)
    return torch.stack([paste_masks(p[None], r[None], size, threshold, sample=sample_window_reference)[0]
                        for p, r in zip(probs, regions)])


@torch.no_grad()
def staged_forward(model, image: torch.Tensor, reference: bool, clock=time.perf_counter) -> tuple[dict, dict]:
    """One eval forward pass of a MaskProposer split into STAGES (the calls MaskProposer.forward and
    MaskProposalPostProcessor.forward make): (seconds of `clock` per stage, the output dict)."""
    pp, times = model.postprocess, {}
    t = clock()

    def lap(name: str) -> None:
        nonlocal t
        now = clock()
        times[name], t = now - t, now

    image_list, _ = model.transform([image])
    lap("transform")
    features = model.backbone(image_list.tensors)
    lap("backbone")
    pyramid = model.pyramid(features)
    lap("pyramid")
    dense = _reference_dense(model, pyramid) if reference else model.dense(pyramid)
    lap("mlps")
    size, orig = image_list.image_sizes[0], tuple(image.shape[-2:])
    cand = pp.candidates(model.scales, dense, 0, size)
    lap("candidates")
    res = pp.select(cand, lambda c: pp.masks(c, model.scales, dense, model.heads, 0), size)
    lap("masks")
    res["regions"], res["boxes"] = rescale_boxes(res["regions"], size, orig), rescale_boxes(res["boxes"], size, orig)
    paste = _reference_paste if reference else paste_masks
    n = pp.num_masks_pasted
    res["masks"] = paste(res["mask_probs"][:n], res["regions"][:n], orig, pp.mask_threshold)
    lap("paste")
    return times, res


def bundled(args) -> dict:
    """--bundled: the app's proposer on real images, reference / fast fp32 / precision("bf16") (see the docstring)."""
    from PIL import Image
    from skimage import data

    model = fpn.load_checkpoint(args.checkpoint).eval()
    images = {name: as_image_tensor(getattr(data, name)()) for name in ("astronaut", "coffee", "chelsea", "rocket")}
    for path in sorted(glob.glob(args.images))[: args.max_images] if args.images else []:
        images[os.path.basename(path)] = as_image_tensor(Image.open(path).convert("RGB"))
    paths = {"reference": (model, True), "fast fp32": (model, False)}
    if native_bf16("cpu"):
        paths["fast bf16"] = (copy.deepcopy(model).precision("bf16"), False)  # backbone, pyramid, MLP window convs
    else:
        print("this CPU has no native bf16 (AVX-512 BF16 / AMX): the bf16 path is not timed")
    clock = time.process_time if args.cpu_time else time.perf_counter
    times = {name: {st: [] for st in (*STAGES, "total")} for name in paths}
    explore = {"reference": [], "fast fp32": []}
    for run in range(args.warmup + args.runs):
        for image in images.values():
            for name, (m, reference) in paths.items():  # interleaved: the machine's load hits every path alike
                stage, out = staged_forward(m, image, reference, clock)
                if run >= args.warmup:
                    for st, sec in stage.items():
                        times[name][st].append(sec)
                    times[name]["total"].append(sum(stage.values()))
            t0 = clock()
            fpn.explore(model, image)  # the app's call: forward + trace
            if run >= args.warmup:
                explore["fast fp32"].append(clock() - t0)
    med = {name: {st: statistics.median(v) for st, v in per.items()} for name, per in times.items()}
    header = f"{'stage (median s per image)':28s}" + "".join(f"{n:>17s}" for n in paths) + "".join(
        f"{'ratio ' + n:>22s}" for n in list(paths)[1:])
    print(f"{len(images)} images x {args.runs} runs, {torch.get_num_threads()} threads, {args.checkpoint}, "
          + ("CPU time (all threads)" if args.cpu_time else "wall time"))
    print(header)
    for st in (*STAGES, "total"):
        row = f"{st:28s}" + "".join(f"{med[n][st]:17.3f}" for n in paths)
        row += "".join(f"{med[n][st] / max(med['reference'][st], 1e-9):22.2f}" for n in list(paths)[1:])
        print(row)
    explore_s = statistics.median(explore["fast fp32"])
    print(f"{'app: fpn.explore (fast fp32)':28s}{explore_s:17.3f}")
    return {"checkpoint": args.checkpoint, "images": list(images), "runs": args.runs, "threads": torch.get_num_threads(),
            "clock": "process_time" if args.cpu_time else "perf_counter",
            "median_s": med, "explore_fast_fp32_s": explore_s,
            "ratios": {n: med[n]["total"] / med["reference"]["total"] for n in list(paths)[1:]}}


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
    p.add_argument("--bundled", action="store_true",
                   help="time the app's bundled proposer on real images: reference vs fast path, per stage")
    p.add_argument("--checkpoint", default=BUNDLED, help="--bundled: the mask proposer checkpoint")
    p.add_argument("--images", default=None, help="--bundled: a glob of more images (e.g. PyramidShapes val)")
    p.add_argument("--max-images", type=int, default=6, help="--bundled: at most this many from --images")
    p.add_argument("--cpu-time", action="store_true",
                   help="--bundled: time the process's CPU time (all threads) instead of wall time: steadier on a "
                        "shared machine; with --threads 1 it is the work of one core")
    args = p.parse_args(argv)
    if args.bundled:
        if args.threads:
            torch.set_num_threads(args.threads)
        report = bundled(args)
        if args.out:
            os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
            with open(args.out, "w") as f:
                f.write(json.dumps(report, indent=2) + "\n")
        return report
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
