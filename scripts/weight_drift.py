#!/usr/bin/env python
"""How far training moved each part of a model from its initialisation: ||W_final - W_init|| / ||W_init|| over the
weight matrices and kernels of each module group (the stem, each ResNet stage, the pyramid's lateral and output
convolutions, the RPN head, the Fast R-CNN head). The initial weights are rebuilt as `scripts/train.py` drew them:
`torch.manual_seed(training.seed)` then `fpn.build_model(task, config)` from the checkpoint's JSON, so runs with the
same seed start from the same backbone and can be compared stage by stage (a stage that barely moved got little
gradient). Stored int8 weights are fine: their rounding (~0.5 % of a weight's scale) is far below the changes.

    python scripts/weight_drift.py --checkpoint checkpoints/fpn_rpn_resnet18_cpu checkpoints/p2_only_rpn_resnet18_cpu
"""
from __future__ import annotations

import argparse
import os
from collections import defaultdict

import torch

import fpn
from fpn.modeling.tasks import build_model
from fpn.weights.checkpoint import model_config, read_metadata


def group_of(key: str) -> str:
    """'bottom_up.layer3.0.conv1.weight' -> 'bottom_up.layer3'; 'rpn.head.conv.weight' -> 'rpn.head'."""
    parts = key.split(".")
    return ".".join(parts[:2])


def drift(initial: dict[str, torch.Tensor], final: dict[str, torch.Tensor]) -> dict[str, float]:
    """{group: relative change} over the floating tensors of two or more dimensions (BN and biases left out)."""
    num, den = defaultdict(float), defaultdict(float)
    for key, w0 in initial.items():
        if not w0.is_floating_point() or w0.dim() < 2:
            continue
        group = group_of(key)
        num[group] += (final[key].float() - w0.float()).pow(2).sum().item()
        den[group] += w0.float().pow(2).sum().item()
    return {g: (num[g] / den[g]) ** 0.5 for g in num if den[g] > 0}


def initial_state(meta: dict) -> dict[str, torch.Tensor]:
    seed = meta.get("training", {}).get("seed")
    if seed is None:
        raise SystemExit("error: the checkpoint's JSON has no training.seed; its initialisation cannot be rebuilt")
    torch.manual_seed(int(seed))
    return build_model(meta.get("task", "detection"), model_config(meta)).state_dict()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", nargs="+", required=True, help="one or more checkpoints (CK or CK.json)")
    args = parser.parse_args(argv)
    table: dict[str, dict[str, float]] = {}
    for ck in args.checkpoint:
        path = ck.removesuffix(".json")
        meta = read_metadata(path + ".json")
        table[os.path.basename(path)] = drift(initial_state(meta), fpn.load_checkpoint(path).state_dict())
    groups = list(dict.fromkeys(g for d in table.values() for g in d))
    print("relative change from the initialisation, ||W - W0|| / ||W0||")
    print("| group | " + " | ".join(table) + " |")
    print("|---|" + "---|" * len(table))
    for g in groups:
        print(f"| {g} | " + " | ".join(f"{d[g]:.3f}" if g in d else "" for d in table.values()) + " |")


if __name__ == "__main__":
    main()
