#!/usr/bin/env python
"""The paper's ablations under one protocol: train (or reuse) one model per variant, evaluate each, and write
markdown tables laid out like Table 1 (RPN AR) and Table 3 (Faster R-CNN AP), with the paper's numbers beside ours;
optionally Table 6 (mask proposals).

    python scripts/ablation.py --out runs/ablation --variants fpn,c4,c5 \\
        --data data/pyramid_shapes --backbone resnet18 --min-size 512 --iters 3000 --batch-size 4

Protocols. Table 1: by default the proposals of the jointly trained Faster R-CNN (RPN and Fast R-CNN share the
backbone); `--table1 rpn` trains one RPN alone per variant (`--task rpn`, the paper's Table 1 protocol, Sec. 5.1)
and fills Table 1 from those. Table 3: our Faster R-CNN shares features between RPN and Fast R-CNN; the paper's
Table 3 does not (for simplicity; sharing is its Table 5), which each generated table says beside our numbers.

Every flag that is not an ablation flag below goes to scripts/train.py unchanged, so all variants share one
identical protocol (seed, data, schedule, backbone, image size).  A variant whose run folder already holds a final
checkpoint (OUT/<variant>/model.json) is reused, not retrained (--force retrains).

Table 6: --mask-variants rows.yaml maps a row name to mask-proposer config overrides, e.g.
    "single MLP 5x5": {mlps: "5x5"}
    "single MLP 7x7": {mlps: "7x7"}
    "dual [5x5, 7x7]": {mlps: dual}
    "+ 2x mask resolution": {mlps: dual, mask_size: 28}
(the keys are those of fpn.mask_proposals.build_mask_proposer; the detector's --set options are not passed to
mask rows).  Row names matching the paper's get its numbers.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys

# Paper numbers (NOTES.md).  Table 1: AR100, AR1k, AR_s, AR_m, AR_l.  Table 3: AP50, AP, AP_s, AP_m, AP_l.
TABLE1 = {
    "c4": ("(a)", "baseline on conv4", "C4", (36.1, 48.3, 32.0, 58.7, 62.2)),
    "c5": ("(b)", "baseline on conv5", "C5", (36.3, 44.9, 25.3, 55.5, 64.2)),
    "fpn": ("(c)", "FPN", "{P_k}", (44.0, 56.3, 44.9, 63.4, 66.2)),
    "bottom_up": ("(d)", "bottom-up pyramid", "{P_k}", (37.4, 49.5, 30.5, 59.9, 68.0)),
    "no_lateral": ("(e)", "top-down pyramid, w/o lateral", "{P_k}", (34.5, 46.1, 26.5, 57.4, 64.7)),
    "p2_only": ("(f)", "only finest level", "P2", (38.4, 51.3, 35.1, 59.7, 67.6)),
}
TABLE3 = {
    "c4": ("(a)", "baseline on conv4", (53.1, 31.6, 13.2, 35.6, 47.1)),
    "c5": ("(b)", "baseline on conv5", (51.7, 28.0, 9.6, 31.9, 43.1)),
    "fpn": ("(c)", "FPN", (56.9, 33.9, 17.8, 37.7, 45.8)),
}
# Table 2 (Fast R-CNN on fixed FPN proposals) numbers, shown for the variants Table 3 lacks.
TABLE2 = {
    "bottom_up": ("(d)", "bottom-up pyramid", (44.9, 24.9, 10.9, 24.4, 38.5)),
    "no_lateral": ("(e)", "top-down, no lateral", (54.0, 31.3, 13.3, 35.2, 45.3)),
    "p2_only": ("(f)", "only finest level", (56.3, 33.4, 17.3, 37.3, 45.6)),
}
# Table 6: AR, AR_s, AR_m, AR_l (1000 proposals), time (s).
TABLE6 = {
    "single mlp 5x5": (43.4, 32.5, 49.2, 53.7, 0.15),
    "single mlp 7x7": (43.5, 30.0, 49.6, 57.8, 0.19),
    "dual mlp 5x5 7x7": (45.7, 31.9, 51.5, 60.8, 0.24),
    "2x mask resolution": (46.7, 31.7, 53.1, 63.2, 0.25),
    "2x train schedule": (48.1, 32.6, 54.2, 65.6, 0.25),
}
ORDER = ("c4", "c5", "fpn", "bottom_up", "no_lateral", "p2_only")
PROTOCOL_TABLE1 = {
    "rpn": "Protocol: each RPN trained alone (`--task rpn`), as the paper's Table 1 (Sec. 5.1).",
    "joint": "Protocol: proposals of the jointly trained Faster R-CNN (RPN and Fast R-CNN share the backbone); the "
             "paper's Table 1 trains the RPN alone (`--table1 rpn` does).",
}
PROTOCOL_TABLE3 = ("Protocol: Faster R-CNN trained end to end with features shared between RPN and Fast R-CNN; the "
                   "paper's Table 3 does not share features (for simplicity; sharing is its Table 5), so our rows and "
                   "its numbers differ in protocol as well as in data, backbone and schedule.")


def _fmt(v) -> str:
    return "n/a" if v is None else f"{v:.1f}"


def _cell(ours, paper) -> str:
    return f"{_fmt(ours)} ({_fmt(paper)})" if paper is not None else _fmt(ours)


def paper_table6_row(name: str):
    key = re.sub(r"[^a-z0-9x ]+", " ", name.lower())
    key = " ".join(key.replace("single", "single mlp").replace("mlp mlp", "mlp").split())
    if "28" in key or "2x mask" in key:
        return TABLE6["2x mask resolution"]
    if "schedule" in key:
        return TABLE6["2x train schedule"]
    if "dual" in key:
        return TABLE6["dual mlp 5x5 7x7"]
    if "7x7" in key:
        return TABLE6["single mlp 7x7"]
    if "5x5" in key:
        return TABLE6["single mlp 5x5"]
    return None


def table1(results: dict[str, dict]) -> str:
    lines = ["| | RPN | feature | AR100 | AR1k | AR_s 1k | AR_m 1k | AR_l 1k |", "|---|---|---|---|---|---|---|---|"]
    for v in ORDER:
        if v not in results:
            continue
        row, name, feat, paper = TABLE1[v]
        p = results[v].get("proposals", {})
        ours = [p.get(k) for k in ("AR@100", "AR@1000", "AR_s@1000", "AR_m@1000", "AR_l@1000")]
        lines.append(f"| {row} | {name} (`{v}`) | {feat} | " + " | ".join(_cell(o, q) for o, q in zip(ours, paper))
                     + " |")
    return "\n".join(lines)


def table3(results: dict[str, dict]) -> str:
    lines = ["| | Faster R-CNN | AP@0.5 | AP | AP_s | AP_m | AP_l |", "|---|---|---|---|---|---|---|"]
    for v in ORDER:
        if v not in results:
            continue
        b = results[v].get("bbox", {})
        ours = [b.get(k) for k in ("AP50", "AP", "AP_s", "AP_m", "AP_l")]
        if v in TABLE3:
            row, name, paper = TABLE3[v]
            note = ""
        else:
            row, name, paper = TABLE2[v]
            note = " *"
        lines.append(f"| {row} | {name} (`{v}`){note} | " + " | ".join(_cell(o, q) for o, q in zip(ours, paper))
                     + " |")
    if any(v in results for v in TABLE2):
        lines.append("\n\\* not in the paper's Table 3; the number in parentheses is its Table 2 row (Fast R-CNN on "
                     "fixed FPN proposals, a different protocol).")
    return "\n".join(lines)


def table6(results: dict[str, dict]) -> str:
    lines = ["| mask proposals | AR | AR_s | AR_m | AR_l | time (s) |", "|---|---|---|---|---|---|"]
    for name, r in results.items():
        s = r.get("segm_proposals", {})
        ms = (r.get("inference_ms") or {}).get("mean")
        ours = [s.get(k) for k in ("AR@1000", "AR_s@1000", "AR_m@1000", "AR_l@1000")]
        ours.append(None if ms is None else ms / 1000)
        paper = paper_table6_row(name) or (None,) * 5
        cells = [_cell(o, q) for o, q in zip(ours[:4], paper[:4])]
        t = "n/a" if ours[4] is None else f"{ours[4]:.2f}"
        cells.append(t + (f" ({paper[4]:.2f})" if paper[4] is not None else ""))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(results: dict[str, dict], path: str, proposals: dict[str, dict] | None = None) -> str:
    """Grouped bars: AR of the Table 1 rows (`proposals`, default `results`) and AP of the Table 3 rows."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    vs = [v for v in ORDER if v in results]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, (section, keys, title) in zip(axes, (
            ("proposals", ("AR@100", "AR@1000", "AR_s@1000", "AR_m@1000", "AR_l@1000"), "RPN (Table 1)"),
            ("bbox", ("AP50", "AP", "AP_s", "AP_m", "AP_l"), "Faster R-CNN (Table 3)"))):
        w = 0.8 / max(len(vs), 1)
        for j, v in enumerate(vs):
            source = (proposals or results) if section == "proposals" else results
            vals = [source.get(v, {}).get(section, {}).get(k) or 0.0 for k in keys]
            ax.bar(np.arange(len(keys)) + (j - (len(vs) - 1) / 2) * w, vals, w, label=v)
        ax.set_xticks(np.arange(len(keys)), keys)
        ax.set_ylabel("percent")
        ax.set_title(title)
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def run_one(train_args: list[str], out_dir: str, force: bool, eval_split: str, eval_max: int | None,
            model_overrides: dict | None = None, task: str = "detection") -> dict:
    """Train (unless a final checkpoint exists) and evaluate one row; returns its metrics."""
    import torch

    from fpn.checkpoint import checkpoint_paths, load_checkpoint
    from fpn.data.coco import CocoDetection, find_coco_split
    from fpn.evaluation import evaluate_model, write_report
    from fpn.training import FINAL_NAME, train
    from fpn.training.cli import load_config

    cfg = load_config(train_args + ["--out", out_dir, "--task", task, "--no-final-eval"])
    if model_overrides:
        cfg.model.update(model_overrides)
    ck = os.path.join(out_dir, FINAL_NAME)
    if force or not os.path.isfile(checkpoint_paths(ck)[1]):
        train(cfg)
    else:
        print(f"reusing {ck}", file=sys.stderr)
    eval_json = os.path.join(out_dir, f"eval_{eval_split}.json")
    if os.path.isfile(eval_json) and os.path.getmtime(eval_json) >= os.path.getmtime(checkpoint_paths(ck)[0]):
        with open(eval_json) as f:
            return json.load(f)
    device = "cuda" if cfg.device in ("auto", "cuda") and torch.cuda.is_available() else "cpu"
    dataset = CocoDetection(*find_coco_split(cfg.data, eval_split))
    model = load_checkpoint(ck, map_location=device)
    metrics, evals = evaluate_model(model, dataset, device, eval_max, progress=cfg.progress)
    return write_report(metrics, evals, eval_json, {"checkpoint": ck, "variant": cfg.variant, "task": task})


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], add_help=True,
                                epilog="Other flags are passed to scripts/train.py (see its --help).")
    p.add_argument("--out", required=True, help="ablation folder: one run folder per variant + tables")
    p.add_argument("--variants", default=",".join(ORDER), help=f"comma-separated subset of {','.join(ORDER)}")
    p.add_argument("--mask-variants", help="YAML mapping Table 6 row name -> mask-proposer config overrides")
    p.add_argument("--table1", choices=("joint", "rpn"), default="joint",
                   help="Table 1 from the joint Faster R-CNN's proposals (default) or from RPNs trained alone "
                        "(the paper's protocol: one more run per variant, OUT/<variant>_rpn)")
    p.add_argument("--force", action="store_true", help="retrain even if a final checkpoint exists")
    p.add_argument("--eval-split", default="val")
    p.add_argument("--eval-images", type=int, default=None, help="evaluate on the first N images")
    args, train_args = p.parse_known_args(argv)
    if "--variant" in train_args or "--out" in train_args:
        p.error("--variant/--out are set per row by ablation.py; use --variants and --out")
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in variants if v not in ORDER]
    if unknown:
        p.error(f"unknown variant(s) {unknown}; choose from {', '.join(ORDER)}")
    mask_rows: dict = {}
    if args.mask_variants:
        import yaml

        with open(args.mask_variants) as f:
            mask_rows = yaml.safe_load(f) or {}
        if not isinstance(mask_rows, dict) or not all(isinstance(v, dict) for v in mask_rows.values()):
            p.error(f"{args.mask_variants}: expected a mapping of row name -> mapping of config overrides")
    os.makedirs(args.out, exist_ok=True)
    results = {}
    for v in variants:
        print(f"=== {v} ===", file=sys.stderr)
        results[v] = run_one(train_args + ["--variant", v], os.path.join(args.out, v), args.force,
                             args.eval_split, args.eval_images)
    rpn_results = {}
    if args.table1 == "rpn":
        for v in variants:
            print(f"=== {v} (RPN alone) ===", file=sys.stderr)
            rpn_results[v] = run_one(train_args + ["--variant", v], os.path.join(args.out, f"{v}_rpn"), args.force,
                                     args.eval_split, args.eval_images, task="rpn")
    # --set options are build_detector options; a mask row gets its model options from its YAML entry.
    mask_args = [a for i, a in enumerate(train_args)
                 if a != "--set" and not (i > 0 and train_args[i - 1] == "--set") and not a.startswith("--set=")]
    mask_results = {}
    for name, overrides in mask_rows.items():
        slug = "mask_" + re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
        print(f"=== {name} ===", file=sys.stderr)
        mask_results[name] = run_one(mask_args, os.path.join(args.out, slug), args.force, args.eval_split,
                                     args.eval_images, overrides, task="mask_proposals")
    parts = ["# FPN ablations", "",
             "Our numbers first, the paper's (COCO minival, ResNet-50, 800 px) in parentheses. Protocol "
             f"(identical for every row): `scripts/train.py {' '.join(train_args)}`; evaluated on split "
             f"`{args.eval_split}`" + (f" (first {args.eval_images} images)" if args.eval_images else "") + ".", ""]
    if results:
        parts += ["## Table 1: RPN (bounding-box proposals, AR in percent)", "", PROTOCOL_TABLE1[args.table1], "",
                  table1(rpn_results or results), "",
                  "## Table 3: Faster R-CNN (box AP in percent)", "", PROTOCOL_TABLE3, "", table3(results), ""]
        parts += ["![ablation](ablation.png)", ""]
        plot(results, os.path.join(args.out, "ablation.png"), rpn_results or None)
    if mask_results:
        parts += ["## Table 6: mask proposals (segment AR at 1000 proposals, percent)", "", table6(mask_results), ""]
    md = "\n".join(parts)
    with open(os.path.join(args.out, "tables.md"), "w") as f:
        f.write(md)
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump({"detection": results, "rpn": rpn_results, "mask_proposals": mask_results,
                   "protocols": {"table1": PROTOCOL_TABLE1[args.table1], "table3": PROTOCOL_TABLE3}}, f, indent=2)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
