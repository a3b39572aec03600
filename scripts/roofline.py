"""How far each stage of a detector is from the machine's limit (scripts/benchmark.py prints and stores it).

- The model's arithmetic: `torch.utils.flop_counter.FlopCounterMode` on the paper's modules (`exact()`), per stage,
  one image at the benchmark size. FLOPs count 2 per multiply-add of the direct convolution / matrix product, so on
  the fast paths (Winograd 3x3: fewer operations) the achieved rate is an effective one.
- The machine's peak, measured in the same process: the best of a few large square matrix products, fp32 and bf16.
- Each stage's time: forward hooks around the stage modules (the fused modules share the plain ones' hook dicts), the
  median over the runs; achieved GFLOP/s = stage FLOPs / stage time.
"""
from __future__ import annotations

import statistics
import time
from typing import Callable

import torch
from torch import nn

#: stage name -> how to find its module(s) in `fpn.FasterRCNN`; "proposals + NMS" is the RPN minus its head,
#: "RoI heads" Fast R-CNN minus its post-processing, "post-processing" that plus the rescale to the original image.
STAGES = ("bottom-up", "pyramid", "RPN head", "proposals + NMS", "RoI heads", "post-processing")


def _stage_modules(model: nn.Module) -> dict[str, nn.Module]:
    return {"bottom_up": model.bottom_up, "pyramid": model.pyramid, "rpn": model.rpn, "rpn_head": model.rpn.head,
            "roi_heads": model.roi_heads, "postprocessor": model.roi_heads.postprocessor}


def _by_stage(seconds_or_flops: dict[str, float]) -> dict[str, float]:
    """Raw per-module numbers -> STAGES (the rest of the whole forward, the input transform and the rescale to the
    original image, is in "total" only)."""
    s = seconds_or_flops
    return {"bottom-up": s["bottom_up"], "pyramid": s["pyramid"], "RPN head": s["rpn_head"],
            "proposals + NMS": s["rpn"] - s["rpn_head"], "RoI heads": s["roi_heads"] - s["postprocessor"],
            "post-processing": s["postprocessor"]}


def stage_flops(model: nn.Module, image: torch.Tensor) -> dict[str, float]:
    """FLOPs per stage of one forward of `model` (an fpn.FasterRCNN on its exact path) on `image` [3, H, W]."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), counter:
        model([image])
    counts = counter.get_flop_counts()

    def total(name: str) -> float:
        return float(sum(counts.get(f"FasterRCNN.{name}", {}).values()))

    raw = {"bottom_up": total("bottom_up"), "pyramid": total("pyramid"), "rpn": total("rpn"),
           "rpn_head": total("rpn.head"), "roi_heads": total("roi_heads"),
           "postprocessor": total("roi_heads.postprocessor")}
    out = _by_stage(raw)
    out["total"] = float(counter.get_total_flops())
    return out


class _Timed:
    """`inner` called between `before()` and `after()`; its other attributes read through."""

    def __init__(self, inner: Callable, before: Callable[[], None], after: Callable[[], None]) -> None:
        self.inner, self.before, self.after = inner, before, after

    def __call__(self, *args, **kwargs):
        self.before()
        out = self.inner(*args, **kwargs)
        self.after()
        return out

    def __getattr__(self, name: str):
        return getattr(self.inner, name)


def stage_seconds(model: nn.Module, image: torch.Tensor, runs: int, sync: Callable[[], None] = lambda: None
                  ) -> dict[str, float]:
    """Median seconds per stage of `model([image])` over `runs` runs (after one warm-up), and "total"."""
    modules = _stage_modules(model)
    samples: dict[str, list[float]] = {name: [] for name in [*modules, "total"]}
    started: dict[str, float] = {}
    handles = []
    for name, module in modules.items():
        def pre(_m, _a, name=name):
            sync()
            started[name] = time.perf_counter()

        def post(_m, _a, _o, name=name):
            sync()
            samples[name].append(time.perf_counter() - started[name])

        if isinstance(module, nn.Module):
            handles += [module.register_forward_pre_hook(pre), module.register_forward_hook(post)]
    # the post-processor is a plain callable: timed by a wrapper in its place for the runs
    post_processor = model.roi_heads.postprocessor
    model.roi_heads.postprocessor = _Timed(post_processor, lambda: pre(None, None, "postprocessor"),
                                           lambda: post(None, None, None, "postprocessor"))
    try:
        with torch.inference_mode():
            for run in range(runs + 1):
                if run == 1:
                    for values in samples.values():
                        values.clear()
                sync()
                start = time.perf_counter()
                model([image])
                sync()
                samples["total"].append(time.perf_counter() - start)
    finally:
        for h in handles:
            h.remove()
        model.roi_heads.postprocessor = post_processor
    medians = {name: statistics.median(v) for name, v in samples.items()}
    out = _by_stage(medians)
    out["total"] = medians["total"]
    return out


def peak_gflops(dtype: torch.dtype, device: torch.device, n: int = 4096, repeats: int = 3) -> float:
    """The best GFLOP/s of an n x n x n matrix product in `dtype` on `device` over `repeats` tries."""
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    best = float("inf")
    with torch.inference_mode():
        torch.mm(a, b)
        for _ in range(repeats):
            sync()
            start = time.perf_counter()
            torch.mm(a, b)
            sync()
            best = min(best, time.perf_counter() - start)
    return 2 * n ** 3 / best / 1e9


def roofline(models: dict[str, nn.Module], flops_model: nn.Module, image: torch.Tensor, runs: int,
             device: torch.device, peak_size: int = 4096) -> dict:
    """The roofline table: FLOPs per stage (of `flops_model`, the exact path), the measured fp32 / bf16 peaks, and per
    model {stage: {"ms", "gflops_per_s", "share_of_peak"}} (the bf16 peak for a model whose name says bf16)."""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    image = image.to(device)
    flops = stage_flops(flops_model, image)
    peaks = {"fp32": peak_gflops(torch.float32, device, peak_size), "bf16": peak_gflops(torch.bfloat16, device,
                                                                                         peak_size)}
    table = {}
    for name, model in models.items():
        seconds = stage_seconds(model, image, runs, sync)
        peak = peaks["bf16" if "bf16" in name else "fp32"]
        table[name] = {stage: {"ms": round(seconds[stage] * 1000, 1),
                               "gflops_per_s": round(flops[stage] / max(seconds[stage], 1e-9) / 1e9, 1),
                               "share_of_peak": round(flops[stage] / max(seconds[stage], 1e-9) / 1e9 / peak, 3)}
                       for stage in [*STAGES, "total"]}
    padded = flops_model.transform([image])[0].tensors
    return {"input_size": list(padded.shape[-2:]), "gflop": {k: round(v / 1e9, 2) for k, v in flops.items()},
            "peak_gflops_per_s": {k: round(v, 1) for k, v in peaks.items()}, "peak_matmul_size": peak_size,
            "stages": table}


def print_roofline(r: dict) -> None:
    models = list(r["stages"])
    print(f"\nroofline: GFLOP per stage (one image, network input {r['input_size'][0]}x{r['input_size'][1]}), "
          f"achieved GFLOP/s and share of the measured peak "
          f"(matmul {r['peak_matmul_size']}^3: fp32 {r['peak_gflops_per_s']['fp32']}, "
          f"bf16 {r['peak_gflops_per_s']['bf16']} GFLOP/s)")
    print(f"{'stage':16s} {'GFLOP':>7s}" + "".join(f" {m + ' ms':>17s} {'GFLOP/s':>8s} {'peak':>5s}" for m in models))
    for stage in [*STAGES, "total"]:
        cells = "".join(f" {r['stages'][m][stage]['ms']:17.1f} {r['stages'][m][stage]['gflops_per_s']:8.1f} "
                        f"{r['stages'][m][stage]['share_of_peak']:5.0%}" for m in models)
        print(f"{stage:16s} {r['gflop'][stage]:7.2f}{cells}")


def roofline_markdown(r: dict) -> str:
    """The roofline as a README table: per stage GFLOP, then per path ms, GFLOP/s and share of the peak."""
    models = list(r["stages"])
    head = "| stage | GFLOP | " + " | ".join(f"{m[5:]}: ms, GFLOP/s, % peak" for m in models) + " |"
    rows = [head, "|" + "---|" * (2 + len(models))]
    for stage in [*STAGES, "total"]:
        cells = " | ".join(f"{r['stages'][m][stage]['ms']:.0f}, {r['stages'][m][stage]['gflops_per_s']:.0f}, "
                           f"{r['stages'][m][stage]['share_of_peak']:.0%}" for m in models)
        rows.append(f"| {stage} | {r['gflop'][stage]:.1f} | {cells} |")
    return "\n".join(rows)
