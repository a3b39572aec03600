#!/usr/bin/env python
"""Write the PyramidShapes dataset in COCO 2017's layout.

    python scripts/make_dataset.py --out data/pyramid_shapes --train 2000 --val 200 --seed 0 --workers 2

gives DIR/train/*.png, DIR/val/*.png, DIR/annotations/instances_train.json and instances_val.json.
The same seed gives byte-identical files whatever --workers is.
"""
from __future__ import annotations

import argparse
import os
import sys
import time


from fpn.data.synthetic import DATASET_NAME, size_mix, write_split


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=f"Generate the {DATASET_NAME} dataset (COCO format).")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--train", type=int, default=2000, help="number of training images")
    p.add_argument("--val", type=int, default=200, help="number of validation images")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes (0/1: in-process)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    args = p.parse_args(argv)
    if args.train < 0 or args.val < 0:
        p.error("--train and --val must be >= 0")
    total_images, areas, start = 0, [], time.perf_counter()
    for split, n in (("train", args.train), ("val", args.val)):
        if n == 0:
            continue
        coco = write_split(args.out, split, n, args.seed, workers=args.workers, progress=not args.quiet)
        split_areas = [a["area"] for a in coco["annotations"]]
        mix = size_mix(split_areas)
        print(f"{split}: {n} images, {len(split_areas)} objects ({len(split_areas) / max(n, 1):.1f}/image), "
              f"small {mix['small']:.1%} medium {mix['medium']:.1%} large {mix['large']:.1%}")
        total_images += n
        areas += split_areas
    elapsed = time.perf_counter() - start
    print(f"wrote {total_images} images to {args.out} in {elapsed:.1f} s "
          f"({total_images / max(elapsed, 1e-9):.1f} images/s with {args.workers} worker(s))")
    return 0


if __name__ == "__main__":
    sys.exit(main())
