#!/usr/bin/env python
"""Carry an unfinished training run to a fresh machine through git (fpn.training.carry): its resume.pt in parts of
at most 15 MiB with sha256 sums, and its log.csv / metrics.csv.

    python scripts/carry_run.py pack runs/bundled_cpu/c4 checkpoints_next/carry/c4     # after stopping the run (SIGINT)
    git add checkpoints_next/carry/c4 && git commit ...
    python scripts/carry_run.py unpack checkpoints_next/carry/c4 runs/bundled_cpu/c4   # on the next machine
    python scripts/carry_run.py show checkpoints_next/carry/c4

scripts/train_bundled.sh unpacks by itself when given CARRY=checkpoints_next/carry, and then resumes the run.
"""
from __future__ import annotations

import argparse
import sys

from fpn.training.carry import CarryError, pack, read_manifest, unpack


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    a = sub.add_parser("pack", help="RUN_DIR -> CARRY_DIR (replaces an earlier pack there)")
    a.add_argument("run_dir")
    a.add_argument("carry_dir")
    b = sub.add_parser("unpack", help="CARRY_DIR -> RUN_DIR, every sha256 checked")
    b.add_argument("carry_dir")
    b.add_argument("run_dir")
    b.add_argument("--force", action="store_true", help="replace a resume.pt in RUN_DIR that is at the carried "
                                                        "step or later (refused otherwise)")
    c = sub.add_parser("show", help="the carried step and files")
    c.add_argument("carry_dir")
    args = p.parse_args(argv)
    try:
        if args.command == "pack":
            m = pack(args.run_dir, args.carry_dir)
            mib = m["resume"]["bytes"] / 2 ** 20
            print(f"packed {args.run_dir} at step {m['step']} into {args.carry_dir}: resume.pt ({mib:.1f} MiB) in "
                  f"{len(m['resume']['parts'])} parts, {', '.join(m['logs']) or 'no logs'}")
        elif args.command == "unpack":
            step = unpack(args.carry_dir, args.run_dir, force=args.force)
            print(f"unpacked {args.carry_dir} into {args.run_dir}: resume with --resume at step {step}")
        else:
            m = read_manifest(args.carry_dir)
            print(f"{args.carry_dir}: step {m['step']}, resume.pt {m['resume']['bytes'] / 2 ** 20:.1f} MiB in "
                  f"{len(m['resume']['parts'])} parts, logs: {', '.join(m['logs']) or 'none'}")
    except CarryError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
