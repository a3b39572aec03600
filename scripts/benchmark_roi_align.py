#!/usr/bin/env python
"""RoIAlign's backward on the CPU: ours (`fpn.modeling.roi_heads.roi_align`, a sparse x dense product) against
torchvision's kernel, in the same process, interleaved, at the bundle's training shapes; then whole training steps of
the bundle's models with each backward (`--steps`). Prints the medians and the ratios ours / torchvision, and the
largest gradient difference.

    python scripts/benchmark_roi_align.py --threads 1            # the op at C4's and an FPN level's shapes
    python scripts/benchmark_roi_align.py --threads 1 --steps 3  # and three training steps of c4 and fpn
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
from torchvision.ops import roi_align as tv_roi_align

import fpn
from fpn.modeling.roi_heads.roi_align import roi_align, sparse_backward

# (name, images, channels, feature H, W, RoIs, output size, stride): the bundle's CPU configuration (4 images at 384 x
# 480 px, 128 RoIs each): C4's conv5 head pools 14 x 14 from stride 16; an FPN head 7 x 7, here all RoIs on P2 (stride 4).
SHAPES = [("c4: C4, 14x14", 4, 256, 24, 30, 512, 14, 16), ("fpn: P2, 7x7", 4, 128, 96, 120, 512, 7, 4)]


def _rois(images: int, count: int, width: int, height: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    centre = torch.rand(count, 2, generator=g) * torch.tensor([float(width), float(height)])
    size = torch.rand(count, 2, generator=g) * 200 + 8
    index = torch.randint(0, images, (count, 1), generator=g).float()
    return torch.cat([index, centre - size / 2, centre + size / 2], 1)


def time_op(runs: int) -> None:
    for name, n, c, h, w, r, size, stride in SHAPES:
        x = torch.randn(n, c, h, w).to(memory_format=torch.channels_last).requires_grad_()
        rois = _rois(n, r, w * stride, h * stride)
        times: dict[str, list[float]] = {"ours": [], "torchvision": []}
        grads = {}
        for i in range(runs + 1):  # the first round warms up
            for label in (("ours", "torchvision") if i % 2 else ("torchvision", "ours")):
                op = roi_align if label == "ours" else (
                    lambda *a: tv_roi_align(a[0], a[1], a[2], spatial_scale=a[3], sampling_ratio=a[4], aligned=a[5]))
                out = op(x, rois, size, 1.0 / stride, 2, False)
                grad_out = torch.ones_like(out)
                t = time.perf_counter()
                (grads[label],) = torch.autograd.grad(out, x, grad_out)
                if i:
                    times[label].append(time.perf_counter() - t)
        ours, tv = statistics.median(times["ours"]), statistics.median(times["torchvision"])
        diff = (grads["ours"] - grads["torchvision"]).abs().max().item()
        print(f"{name}: backward ours {ours * 1e3:.0f} ms, torchvision {tv * 1e3:.0f} ms, ratio {ours / tv:.2f}; "
              f"largest gradient difference {diff:.1e} (largest gradient {grads['torchvision'].abs().max():.1f})")


def time_steps(steps: int) -> None:
    """Whole training steps (forward, backward, SGD) of a random-weight model of the bundle's shape, per variant."""
    torch.manual_seed(0)
    images = [torch.rand(3, 384, 480) for _ in range(4)]
    targets = [{"boxes": _rois(1, 12, 480, 384)[:, 1:].clamp(0, 380) + torch.tensor([0., 0., 4., 4.]),
                "labels": torch.randint(1, 11, (12,))} for _ in images]
    for variant in ("c4", "fpn"):
        model = fpn.build_detector(variant, backbone="resnet18", num_classes=11, min_size=384, max_size=480,
                                   pyramid_channels=128, representation_size=512, box_batch_size_per_image=128)
        model = model.to(memory_format=torch.channels_last).train()
        opt = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9)
        times: dict[bool, list[float]] = {True: [], False: []}
        for i in range(steps + 1):
            for sparse in ((True, False) if i % 2 else (False, True)):
                with sparse_backward(sparse), torch.autocast("cpu", dtype=torch.bfloat16):
                    t = time.perf_counter()
                    loss = sum(model(images, targets).values())
                loss.backward()
                opt.step()
                opt.zero_grad(set_to_none=True)
                if i:
                    times[sparse].append(time.perf_counter() - t)
        ours, tv = statistics.median(times[True]), statistics.median(times[False])
        print(f"{variant} training step (4 images at 384 px, 128 RoIs each, bf16 autocast): ours {ours:.2f} s, "
              f"torchvision's backward {tv:.2f} s, ratio {ours / tv:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (the bundle trains on 1 per run)")
    parser.add_argument("--runs", type=int, default=5, help="timed backward passes of the op, each way")
    parser.add_argument("--steps", type=int, default=0, help="timed training steps per model, each way (0: none)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    time_op(args.runs)
    if args.steps:
        time_steps(args.steps)


if __name__ == "__main__":
    main()
