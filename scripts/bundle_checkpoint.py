#!/usr/bin/env python
"""Copy a trained checkpoint into checkpoints/ for the app: fp16 weights in safetensors shards of at most
--max-shard-mb MiB, the evaluation numbers of scripts/evaluate.py attached to its JSON metadata.

    python scripts/bundle_checkpoint.py --checkpoint runs/fpn/model --eval runs/fpn/eval.json --out checkpoints/fpn_r18
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from fpn.checkpoint import load_checkpoint, read_metadata, save_checkpoint


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True, help="trained checkpoint (CK, CK.json or CK.safetensors)")
    p.add_argument("--out", required=True, help="bundled checkpoint name, e.g. checkpoints/fpn_r18")
    p.add_argument("--eval", help="scripts/evaluate.py JSON whose numbers go into the metadata's 'metrics'")
    p.add_argument("--max-shard-mb", type=float, default=15.0, help="largest weights file, MiB (default 15)")
    p.add_argument("--fp32", action="store_true", help="keep float32 weights (default: store float16)")
    p.add_argument("--note", default="", help="a sentence on what this model is, shown in the metadata")
    args = p.parse_args(argv)

    model = load_checkpoint(args.checkpoint)
    meta = dict(read_metadata(args.checkpoint))
    if args.eval:
        with open(args.eval) as f:
            meta["metrics"] = {**meta.get("metrics", {}), **json.load(f)}
    meta["bundle"] = {"source": os.fspath(args.checkpoint), "note": args.note}
    weights, meta_path = save_checkpoint(model, args.out, meta, fp16=not args.fp32,
                                         task=meta.get("task"), max_shard_mb=args.max_shard_mb)
    folder = Path(args.out).parent
    stem = Path(args.out).name
    files = sorted(f for f in folder.iterdir() if f.name == stem + ".json" or f.name.startswith(stem + ".")
                   or f.name.startswith(stem + "-"))
    too_big = []
    for f in files:
        size = f.stat().st_size / 2 ** 20
        print(f"{f}  {size:.2f} MiB")
        if size > args.max_shard_mb:
            too_big.append(f.name)
    if too_big:
        print(f"error: {too_big} exceed {args.max_shard_mb} MiB", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
