#!/usr/bin/env python
"""Train a detector (or mask proposer) of one of the paper's variants on a COCO-format dataset.

    python scripts/train.py --variant fpn --backbone resnet50 --data data/pyramid_shapes --out runs/fpn --iters 20000
    python scripts/train.py --config cfg.yaml --lr 0.01            # CLI flags override the YAML file
    torchrun --nproc_per_node=4 scripts/train.py --data ... --out ...   # DistributedDataParallel
    python scripts/train.py ... --resume                            # continue exactly where it stopped

`python scripts/train.py --help` lists the flags; the YAML keys and exit statuses are in `fpn/training/cli.py`, the
loop in `fpn/training/` (docs/training.md).
"""
from __future__ import annotations

import sys

from fpn.training.cli import main

if __name__ == "__main__":
    sys.exit(main())
