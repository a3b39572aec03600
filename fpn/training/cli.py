"""The command line of ``scripts/train.py``: flags and a YAML file -> :class:`TrainConfig` -> :func:`train`.

    python scripts/train.py --variant fpn --backbone resnet50 --data data/pyramid_shapes --out runs/fpn --iters 20000
    python scripts/train.py --config cfg.yaml --lr 0.01            # CLI flags override the YAML file
    torchrun --nproc_per_node=4 scripts/train.py --data ... --out ...   # DistributedDataParallel
    python scripts/train.py ... --resume                            # continue exactly where it stopped

The YAML file holds the same keys as the flags (dashes or underscores) plus a `model:` mapping of extra
`fpn.build_detector` options, e.g.

    variant: fpn
    backbone: resnet18
    data: data/pyramid_shapes
    min_size: 512
    iters: 5000
    model: {pyramid_channels: 128, rpn_post_nms_top_n_train: 1000}

Exit status: 0 done, 2 bad arguments/config, 3 NaN/inf loss, 130 SIGINT / 143 SIGTERM (resume file written).
"""
from __future__ import annotations

import argparse
import os
import sys
from dataclasses import fields

from fpn.modeling.tasks import TASKS

from .config import TrainConfig, TrainingDiverged, TrainingInterrupted
from .loop import train
from .metadata import command_line

DESCRIPTION = "Train a detector (or mask proposer) of one of the paper's variants on a COCO-format dataset."


def _parse_steps(text: str) -> list[float]:
    try:
        return [float(v) for v in str(text).split(",") if v.strip()]
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"--steps wants comma-separated numbers, got {text!r}") from e


def _parse_set(text: str) -> tuple[str, object]:
    import yaml

    if "=" not in text:
        raise argparse.ArgumentTypeError(f"--set wants KEY=VALUE, got {text!r}")
    key, value = text.split("=", 1)
    return key.strip(), yaml.safe_load(value)


def build_parser() -> argparse.ArgumentParser:
    S = argparse.SUPPRESS
    p = argparse.ArgumentParser(description=DESCRIPTION,
                                formatter_class=argparse.RawDescriptionHelpFormatter, argument_default=S)
    p.add_argument("--config", help="YAML file of settings (flags given here override it)")
    g = p.add_argument_group("model")
    g.add_argument("--task", choices=list(TASKS),
                   help="detection (Faster R-CNN), rpn (the RPN alone: Table 1's protocol, evaluated for proposal "
                        "AR) or mask_proposals (Sec. 6)")
    g.add_argument("--variant", help="fpn, bottom_up, no_lateral, p2_only, c4 or c5 (fpn.VARIANTS)")
    g.add_argument("--backbone", help="resnet18 / resnet34 / resnet50 / resnet101")
    g.add_argument("--pretrained-backbone", action="store_const", const="imagenet", dest="backbone_weights",
                   help="start from torchvision's ImageNet weights (downloaded or from torch's hub cache)")
    g.add_argument("--backbone-weights", metavar="PATH", dest="backbone_weights",
                   help="ResNet state dict (.pth/.safetensors) to start from")
    g.add_argument("--min-size", type=int, help="shorter image side after resizing (pixels; paper: 800)")
    g.add_argument("--max-size", type=int, help="longest image side cap (pixels; paper: 1333)")
    g.add_argument("--set", type=_parse_set, action="append", dest="model_set", metavar="KEY=VALUE",
                   help="extra model option, e.g. --set pyramid_channels=128 (repeatable)")
    g = p.add_argument_group("data")
    g.add_argument("--data", help="COCO-layout folder: annotations/instances_train.json + train/ (or COCO 2017's)")
    g.add_argument("--max-images", type=int, help="train on the first N images only")
    g.add_argument("--hflip", type=float, nargs="?", const=0.5, metavar="P",
                   help="horizontal-flip probability (default 0.5)")
    g.add_argument("--no-hflip", action="store_const", const=0.0, dest="hflip")
    g.add_argument("--workers", type=int, help="DataLoader worker processes")
    g = p.add_argument_group("schedule (the paper's recipe: SGD, lr 0.02 per 16 images, one x0.1 drop at 3/4 of the run)")
    g.add_argument("--epochs", type=float)
    g.add_argument("--iters", type=int, help="optimizer steps (overrides --epochs)")
    g.add_argument("--batch-size", type=int, help="images per process per step")
    g.add_argument("--lr", type=float, help="learning rate for 16 images (paper 0.02); scaled by total batch/16")
    g.add_argument("--momentum", type=float)
    g.add_argument("--weight-decay", type=float)
    g.add_argument("--warmup-iters", type=int)
    g.add_argument("--steps", type=_parse_steps, help="lr x gamma at these steps (<=1: fractions of the run; default 0.75, the paper's; "
                   "Detectron's 1x schedule: 0.667,0.889)")
    g.add_argument("--gamma", type=float)
    g.add_argument("--grad-clip", type=float, help="clip the gradient norm to this value")
    g = p.add_argument_group("hardware")
    g.add_argument("--device", help="auto, cpu, cuda, cuda:1 (default auto)")
    g.add_argument("--amp", nargs="?", const="fp16", choices=["auto", "fp16", "bf16", "off"],
                   help="mixed precision: fp16 or bf16 on CUDA, bf16 on the CPU (default auto = fp16 on CUDA, "
                        "off on the CPU)")
    g.add_argument("--no-amp", action="store_const", const="off", dest="amp")
    g.add_argument("--no-channels-last", action="store_const", const=False, dest="channels_last",
                   help="keep NCHW maps (default: channels-last on CUDA and under bf16 on the CPU)")
    g = p.add_argument_group("run")
    g.add_argument("--out", help="run folder (logs, checkpoints, curves)")
    g.add_argument("--seed", type=int)
    g.add_argument("--resume", action="store_const", const=True, help="continue from OUT/resume.pt")
    g.add_argument("--checkpoint-every", type=int, help="steps between resume checkpoints (default 500)")
    g.add_argument("--eval-every", type=int, help="steps between validation runs (default 0: only at the end)")
    g.add_argument("--eval-from", type=int, help="skip the --eval-every validations before this step (default 0: "
                   "none skipped): an expensive model's early ones show no plateau")
    g.add_argument("--no-final-eval", action="store_const", const=False, dest="final_eval")
    g.add_argument("--eval-max-images", type=int, help="validate on the first N val images")
    g.add_argument("--log-every", type=int)
    g.add_argument("--fp16-checkpoint", action="store_const", const=True, help="store final weights as fp16")
    g.add_argument("--stop-at-step", type=int, help="stop as if interrupted after this step (testing resume)")
    g.add_argument("--quiet", action="store_const", const=False, dest="progress", help="no progress bar")
    return p


def load_config(argv: list[str] | None = None) -> TrainConfig:
    """TrainConfig from defaults < YAML file < flags (``argv``: the flags, default ``sys.argv[1:]``).  Bad
    settings exit through ``argparse`` (SystemExit 2)."""
    import yaml

    parser = build_parser()
    args = vars(parser.parse_args(argv))
    valid = {f.name for f in fields(TrainConfig)}
    merged: dict = {}
    if "config" in args:
        path = args.pop("config")
        if not os.path.isfile(path):
            parser.error(f"config file not found: {path}")
        try:
            with open(path) as f:
                loaded = yaml.safe_load(f) or {}
        except yaml.YAMLError as e:
            parser.error(f"{path} is not valid YAML: {e}")
        if not isinstance(loaded, dict):
            parser.error(f"{path}: expected a mapping of settings, got {type(loaded).__name__}")
        for k, v in loaded.items():
            key = str(k).replace("-", "_")
            if key == "pretrained_backbone":
                key, v = "backbone_weights", ("imagenet" if v else None)
            if key not in valid:
                parser.error(f"{path}: unknown setting {k!r}; valid: {', '.join(sorted(valid))}")
            if key == "steps" and isinstance(v, str):
                v = _parse_steps(v)
            merged[key] = v
    model = dict(merged.get("model") or {})
    if not isinstance(model, dict):
        parser.error("'model' must be a mapping of build options")
    model.update(dict(args.pop("model_set", [])))
    merged.update(args)
    merged["model"] = model
    for required in ("data", "out"):
        if not merged.get(required):
            parser.error(f"--{required} is required (flag or config file)")
    if not merged.get("iters") and not merged.get("epochs"):
        parser.error("give --iters or --epochs")
    for key in ("eval_every", "eval_from"):
        if (merged.get(key) or 0) < 0:
            parser.error(f"--{key.replace('_', '-')} must be >= 0, got {merged[key]}")
    if merged.get("iters") and (merged.get("eval_from") or 0) > merged["iters"]:
        parser.error(f"--eval-from {merged['eval_from']} is past --iters {merged['iters']}: no held-out evaluation "
                     "but the final one would run; give a step within the schedule (e.g. --iters / 2)")
    merged["command"] = command_line(sys.argv)
    return TrainConfig(**merged)


def main(argv: list[str] | None = None) -> int:
    """``scripts/train.py``: parse, train, print where the checkpoint went; returns the exit status."""
    cfg = load_config(argv)
    try:
        result = train(cfg)
    except TrainingDiverged as e:
        print(f"error: {e}", file=sys.stderr)
        return 3
    except TrainingInterrupted as e:
        print(str(e), file=sys.stderr)
        return 128 + e.signum
    except (FileNotFoundError, ValueError, TypeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if "checkpoint" in result:
        print(f"saved {result['checkpoint']}.safetensors / .json after {result['steps']} steps")
        if result.get("metrics"):
            m = result["metrics"]
            for section in ("bbox", "proposals", "segm_proposals"):
                if section in m:
                    print(f"{section}: " + ", ".join(f"{k} {v}" for k, v in m[section].items()))
    return 0

