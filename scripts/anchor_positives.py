#!/usr/bin/env python
"""Which objects the RPN's objectness is trained on: how many positive anchors (Sec. 4.1's rule, as in training)
each object owns, per COCO size class, and the share of the positives an image samples (at most
`rpn_batch_size_per_image x rpn_positive_fraction` per image, drawn at random) that each size class receives.
Anchors and their labels depend only on the model's configuration and the image size, not on its weights, so the
model's network is run once per image just to get its maps' sizes. The images are generated again from the seed.

With all five anchor sizes on stride-4 P2 (`p2_only`) a large object owns over a hundred positive anchors (a 256-px
anchor shifted by 4 px still overlaps it at IoU > 0.7), so it takes most of the sampled positives; on the pyramid
each size meets its objects on a map whose stride grows with it.

    python scripts/anchor_positives.py --checkpoint checkpoints/fpn_rpn_resnet18_cpu checkpoints/p2_only_rpn_resnet18_cpu
"""
from __future__ import annotations

import argparse
import os
from collections import Counter

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from torchvision.ops import box_iou  # noqa: E402
from tqdm import tqdm  # noqa: E402

import fpn  # noqa: E402
from fpn.data.synthetic import generate_image  # noqa: E402
from fpn.evaluation.error_types import SIZES, size_of  # noqa: E402
from fpn.modeling.rpn.anchor_labels import POSITIVE  # noqa: E402


def positive_owners(model, image, gt_boxes: torch.Tensor) -> torch.Tensor:
    """Index into gt_boxes [G, 4] (original-image pixels) of the object each positive anchor is matched to -> [P]."""
    ex = fpn.explore(model, image)
    gt = ex.to_resized(gt_boxes)
    anchors = torch.cat([level.anchors for level in ex.rpn.values()])
    labels, matched = model.rpn.labeler(anchors, gt)  # all levels together, as in training
    positive = labels == POSITIVE
    # a positive anchor's matched box is its object's box: the object whose box it equals (IoU 1)
    return box_iou(matched[positive], gt).argmax(1)


def count(model, seed: int, split: str, images: int, positives_per_image: int) -> dict:
    """{size: {"objects", "positives", "sampled"}}: objects of that size, their positive anchors, and the expected
    number of them among the sampled positives (each image samples min(P, positives_per_image) of its P at random)."""
    out = {s: Counter() for s in SIZES}
    for index in tqdm(range(images), desc="images", leave=False):
        image, anns = generate_image(seed, split, index)
        boxes = torch.tensor([[x, y, x + w, y + h] for x, y, w, h in (a["bbox"] for a in anns)], dtype=torch.float32)
        sizes = size_of(torch.tensor([float(a["area"]) for a in anns]))
        owners = positive_owners(model, image, boxes).tolist()
        keep = min(1.0, positives_per_image / max(len(owners), 1))
        for s in sizes:
            out[s]["objects"] += 1
        for o in owners:
            out[sizes[o]]["positives"] += 1
            out[sizes[o]]["sampled"] += keep
    return out


def report(name: str, counts: dict) -> str:
    total_pos = sum(c["positives"] for c in counts.values()) or 1
    total_sampled = sum(c["sampled"] for c in counts.values()) or 1
    rows = [f"{name}", "| size | objects | positive anchors per object | share of positives | share of sampled positives |",
            "|---|---|---|---|---|"]
    for s, c in counts.items():
        per = c["positives"] / c["objects"] if c["objects"] else 0.0
        rows.append(f"| {s} | {c['objects']} | {per:.1f} | {100 * c['positives'] / total_pos:.1f} % "
                    f"| {100 * c['sampled'] / total_sampled:.1f} % |")
    return "\n".join(rows)


def draw(results: dict, path: str) -> None:
    fig, ax = plt.subplots(figsize=(7, 3.6), dpi=120)
    width = 0.8 / max(len(results), 1)
    for i, (name, counts) in enumerate(results.items()):
        total = sum(c["sampled"] for c in counts.values()) or 1
        shares = [100 * counts[s]["sampled"] / total for s in SIZES]
        bars = ax.bar([k + i * width for k in range(len(SIZES))], shares, width, label=name)
        ax.bar_label(bars, fmt="%.0f%%", fontsize=8)
    ax.set_xticks([k + width * (len(results) - 1) / 2 for k in range(len(SIZES))], SIZES)
    ax.set_ylabel("share of sampled positive anchors (%)")
    ax.set_title("Which objects the RPN's objectness is trained on")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", nargs="+", required=True, help="one or more checkpoints (CK or CK.json)")
    parser.add_argument("--images", type=int, default=40, help="generated images (default 40)")
    parser.add_argument("--split", default="train")
    parser.add_argument("--seed", type=int, default=0, help="data seed (default 0, the bundle's training images)")
    parser.add_argument("--out", default="runs/anchor_positives.png", help="bar chart (PNG)")
    args = parser.parse_args(argv)
    if args.images < 1:
        parser.error(f"--images must be at least 1, got {args.images}")
    results = {}
    for ck in args.checkpoint:
        model = fpn.load_checkpoint(ck).eval()
        sampler = model.rpn.loss.sampler  # the training's: rpn_batch_size_per_image x rpn_positive_fraction
        per_image = int(sampler.batch_size_per_image * sampler.positive_fraction)
        name = os.path.basename(ck).removesuffix(".json")
        results[name] = count(model, args.seed, args.split, args.images, per_image)
        print(report(f"{name}: split {args.split} seed {args.seed}, {args.images} images, at most {per_image} "
                     "sampled positives per image", results[name]), "\n")
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    draw(results, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
