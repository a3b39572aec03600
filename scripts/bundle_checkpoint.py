#!/usr/bin/env python
"""Copy a trained checkpoint into checkpoints/ for the app: weights stored as int8 per output channel (default; or
float16 / float32, fpn.weights.storage) in safetensors shards of at most --max-shard-mb MiB, with a note on how it was
trained. Evaluate the bundled checkpoint afterwards, so that its metrics are those of the weights as stored:

    python scripts/bundle_checkpoint.py --checkpoint runs/fpn/model --out checkpoints/fpn_r18 --profile cpu
    python scripts/evaluate.py --checkpoint checkpoints/fpn_r18 --data data/pyramid_shapes --json runs/fpn/eval.json \\
        --write-metadata

The training metrics of the source (if any) are dropped: they describe other weights. The run's plateau evidence
(its held-out metric at 50%, 75% and 100% of the schedule, from the run folder's metrics.csv: fpn.training.plateau)
is kept under "plateau" when the run was evaluated at those steps (--eval-every ITERS/4).
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from fpn.training.plateau import plateau
from fpn.weights.checkpoint import checkpoint_files, load_checkpoint, read_metadata, save_checkpoint
from fpn.weights.storage import STORAGES

TRAINED_ON = {"gpu": "GPU", "cpu": "CPU", "smoke": "CPU (smoke test)"}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True, help="trained checkpoint (CK, CK.json or CK.safetensors)")
    p.add_argument("--out", required=True, help="bundled checkpoint name, e.g. checkpoints/fpn_r18")
    p.add_argument("--storage", choices=STORAGES, default="int8",
                   help="how weights are stored (default int8: per output channel, dequantised to float32 on load)")
    p.add_argument("--max-shard-mb", type=float, default=15.0, help="largest weights file, MiB (default 15)")
    p.add_argument("--profile", choices=sorted(TRAINED_ON),
                   help="which configuration of scripts/train_bundled.sh trained it (recorded as 'trained_on')")
    p.add_argument("--note", default="", help="a sentence on what this model is, shown in the metadata")
    p.add_argument("--protocol", default="",
                   help="the training settings shared by its bundle (scripts/train_bundled.sh's OUT/protocol.txt), "
                        "recorded so that a rerun of that script keeps this model instead of training it again")
    args = p.parse_args(argv)

    model = load_checkpoint(args.checkpoint)
    meta = dict(read_metadata(args.checkpoint))
    meta["metrics"] = {}
    meta["bundle"] = {"source": os.fspath(args.checkpoint), "note": args.note, "storage": args.storage}
    try:
        run_dir = os.path.dirname(os.fspath(args.checkpoint)) or "."
        meta["plateau"] = plateau(run_dir, int(meta["training"]["iters"]), meta.get("task", "detection"))
        print(f"plateau: {meta['plateau']}")
    except (ValueError, KeyError) as err:
        print(f"warning: no plateau evidence stored: {err}", file=sys.stderr)
    if args.profile:
        meta["bundle"]["trained_on"] = TRAINED_ON[args.profile]
        meta["bundle"]["configuration"] = f"PROFILE={args.profile} bash scripts/train_bundled.sh"
    if args.protocol:
        meta["bundle"]["protocol"] = args.protocol
    for old in checkpoint_files(args.out):  # a former bundle of this name may have had more shards
        os.remove(old)
    save_checkpoint(model, args.out, meta, storage=args.storage, task=meta.get("task"), max_shard_mb=args.max_shard_mb)
    folder, stem = Path(args.out).parent, Path(args.out).name
    files = sorted(f for f in folder.iterdir() if f.name == stem + ".json" or f.name.startswith(stem + ".")
                   or f.name.startswith(stem + "-"))
    too_big = []
    for f in files:
        size = f.stat().st_size / 2 ** 20
        print(f"{f}  {size:.2f} MiB")
        if size > args.max_shard_mb:
            too_big.append(f.name)
    print(f"total {sum(f.stat().st_size for f in files) / 2 ** 20:.2f} MiB ({args.storage})")
    if too_big:
        print(f"error: {too_big} exceed {args.max_shard_mb} MiB", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
