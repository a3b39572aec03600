#!/usr/bin/env python
"""Save a trained model's ResNet (its bottom-up pathway, conv1 to conv5) as a safetensors state dict with
torchvision's key names, to start another run from it: `scripts/train.py --backbone-weights FILE` (add `--set
norm=bn --set trainable_backbone_layers=5` to keep training BN and every stage, as from scratch; with weights the
default is the paper's fine-tuning setting, frozen BN and three trainable stages). Weights stored as int8 are saved
dequantised (float32). Models whose conv5 is their box head (`c4`) have no whole ResNet to export.

    python scripts/export_backbone.py --checkpoint checkpoints/p2_only_resnet18_cpu --out runs/p2_only_backbone.safetensors
"""
from __future__ import annotations

import argparse
import os

import torch
from safetensors.torch import save_file

import fpn

PREFIX = "bottom_up."


def backbone_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """{torchvision ResNet key: float32 tensor} of the model's bottom-up pathway (BN statistics included)."""
    state = {k[len(PREFIX):]: v for k, v in model.state_dict().items() if k.startswith(PREFIX)}
    if not any(k.startswith("layer4.") for k in state):
        raise ValueError("this model has no conv5 stage in its bottom-up pathway (the C4 baseline runs conv5 as its "
                         "box head): there is no whole ResNet to export")
    return {k: (v.float() if v.is_floating_point() else v).contiguous() for k, v in state.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", required=True, help="CK or CK.json")
    parser.add_argument("--out", required=True, help="the .safetensors file to write")
    args = parser.parse_args(argv)
    if not args.out.endswith(".safetensors"):
        parser.error(f"--out must end in .safetensors, got {args.out!r}")
    try:
        state = backbone_state(fpn.load_checkpoint(args.checkpoint.removesuffix(".json")))
    except ValueError as err:
        raise SystemExit(f"error: {args.checkpoint}: {err}")
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    save_file(state, args.out)
    print(f"wrote {args.out}: {len(state)} tensors; start a run from it with --backbone-weights {args.out}")


if __name__ == "__main__":
    main()
