#!/usr/bin/env python
"""The paper's ablations under one protocol: train (or reuse) one model per variant, evaluate each, and write
markdown tables laid out like Table 1 (RPN AR) and Table 3 (Faster R-CNN AP), with the paper's numbers beside ours;
optionally Table 6 (mask proposals). Or read the rows from bundled checkpoints' metadata (--from-checkpoints).

    python scripts/ablation.py --out runs/ablation --variants fpn,c4,c5 \\
        --data data/pyramid_shapes --backbone resnet18 --min-size 512 --iters 3000 --batch-size 4
    python scripts/ablation.py --out runs/tables --from-checkpoints checkpoints --profile cpu

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

--from-checkpoints DIR: the rows are the bundled checkpoints in DIR (scripts/bundle_checkpoint.py, evaluated with
scripts/evaluate.py --write-metadata): detectors by variant, RPN-only models for Table 1, mask proposers by their MLPs,
and Table 2 from the detectors evaluated on fixed proposals (scripts/evaluate.py --proposals-from CK
--write-metadata, stored under "fixed_proposals"); --profile keeps those bundled by that configuration of
scripts/train_bundled.sh.

--readme FILE writes the tables into FILE between the markers README_START and README_END (headings one level
down; the bar chart copied to --readme-figure and linked, or left out): how scripts/train_bundled.sh keeps the
README's bundle tables its own output.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys

from fpn.evaluation.paper_tables import (ORDER, PROTOCOL_TABLE1, PROTOCOL_TABLE2, PROTOCOL_TABLE3, document,
                                        mask_row_name, proposers_of)

README_START = "<!-- the bundle's tables: written by scripts/ablation.py --readme; edits here are overwritten -->"
README_END = "<!-- end of the bundle's tables -->"


AMP_FLAG = re.compile(r" --amp \S+")
AMP_RECORDED = {"bf16": "bfloat16", "fp16": "float16", "off": "off"}  # --amp -> training.segments' "amp"


def precision_notes(metas: list, command: str) -> str:
    """" (except ...)" naming the rows some of whose steps ran in another precision than `command`'s --amp
    (training.segments; "unrecorded" and step-less segments, e.g. a resume for the final evaluation, not counted)."""
    from fpn.training.metadata import merged_spans

    flag = AMP_FLAG.search(command)
    protocol_amp = AMP_RECORDED.get(flag.group(0).split()[-1]) if flag else None
    notes = []
    for task, key, meta, _ in metas:
        other = [s for s in meta.get("training", {}).get("segments") or []
                 if s["amp"] not in (protocol_amp, "unrecorded") and s["to_step"] > s["from_step"]]
        if protocol_amp and other:
            names = {"off": "fp32 (`--amp off`)", "bfloat16": "bf16"}
            spans = ", ".join(f"{a}-{b} in {names.get(amp, amp)}" for a, b, amp in merged_spans(other))
            notes.append(f"`{key}`{' (RPN alone)' if task == 'rpn' else ''} trained steps {spans}")
    return (" (except: " + "; ".join(notes) + ", resumed on a CPU without bf16 kernels; its JSON's "
            "`training.segments`)") if notes else ""


def run_one(train_args: list[str], out_dir: str, force: bool, eval_split: str, eval_max: int | None,
            model_overrides: dict | None = None, task: str = "detection") -> dict:
    """Train (unless a final checkpoint exists) and evaluate one row; returns its metrics."""
    import torch

    from fpn.weights.checkpoint import checkpoint_paths, load_checkpoint
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


def from_checkpoints(folder: str, profile: str | None) -> tuple[dict, dict, dict, str, str, dict]:
    """(detection, rpn, mask) rows, the protocol sentence, the training table (hours, plateau evidence:
    fpn.training.plateau.training_table) and the Table 2 rows (detectors' "fixed_proposals" reports) of the
    evaluated, bundled checkpoints in ``folder``."""
    from fpn.training.metadata import protocol_of
    from fpn.training.plateau import training_table
    from fpn.weights.checkpoint import find_checkpoints, read_metadata

    rows: dict[str, dict[str, dict]] = {"detection": {}, "rpn": {}, "mask_proposals": {}}
    sources: dict[tuple[str, str], str] = {}
    fixed: dict[str, dict] = {}  # variant -> its Fast R-CNN on another model's proposals (Table 2's protocol)
    metas: list[tuple[str, str, dict, str]] = []  # (task, row name, metadata, checkpoint stem)
    for stem in find_checkpoints(folder, max_depth=1):
        meta = read_metadata(stem)
        bundle = meta.get("bundle") or {}
        if profile and not str(bundle.get("configuration", "")).startswith(f"PROFILE={profile} "):
            continue
        if not meta.get("metrics"):
            print(f"skipping {stem}: no metrics (evaluate it with scripts/evaluate.py --write-metadata)", file=sys.stderr)
            continue
        task = meta.get("task", "detection")
        key = mask_row_name(meta["model"]) if task == "mask_proposals" else meta["model"]["variant"]
        if (task, key) in sources:
            raise SystemExit(f"error: {stem} and {sources[(task, key)]} are both {task} row {key!r}; use --profile "
                             "or a folder holding one bundle")
        sources[(task, key)] = stem
        rows[task][key] = meta["metrics"]
        if task == "detection" and meta.get("fixed_proposals"):
            fixed[key] = meta["fixed_proposals"]
        metas.append((task, key, meta, stem))
    if not metas:
        raise SystemExit(f"error: no evaluated bundled checkpoint in {folder}" + (f" for --profile {profile}" if profile else ""))
    task, key, meta, _ = next((m for m in metas if m[1] == "fpn"), metas[0])
    m, bundle = meta["metrics"], meta.get("bundle") or {}
    # The rows' commands without what differs by design (variant, task, the detectors' --set, the run folder, whether
    # its last process resumed): one protocol, or several while a bundle is being retrained (each named with its
    # rows, never one claimed for all).
    # The precision apart: a run resumed on a CPU without bf16 kernels went on in fp32 (its training.segments say
    # which steps); the protocol shown is the command most rows' last process ran, with its --amp.
    commands: dict[str, list[str]] = {}
    full: dict[str, list[str]] = {}
    for task_, key_, meta_, _ in metas:
        command = protocol_of(meta_.get("training", {}).get("command", "?"))
        same = AMP_FLAG.sub("", command)
        full.setdefault(same, []).append(command)
        commands.setdefault(same, []).append(f"`{key_}`" + (" (RPN alone)" if task_ == "rpn" else ""))
    commands = {max(full[c], key=full[c].count): names for c, names in commands.items()}
    if len(commands) == 1:
        said = f"Protocol (identical for every row but `--variant` / `--task` / `--set`): `{next(iter(commands))}`"
        said += precision_notes(metas, next(iter(commands)))
    else:
        said = ("**The rows were trained under different protocols** (a bundle being retrained): "
                + "; ".join(f"`{c}` for {', '.join(names)}" for c, names in commands.items()))
    protocol = (said + (f", trained on the {bundle['trained_on']} (`{bundle['configuration']}`)"
                        if bundle.get("trained_on") else "")
                + f"; weights stored as {meta.get('weights_dtype', 'float32')} and evaluated as stored on "
                f"`{m.get('data', '?')}` split `{m.get('split', '?')}` ({m.get('num_images', '?')} images).")
    training = training_table([(os.path.basename(stem), meta_) for _, _, meta_, stem in metas])
    return rows["detection"], rows["rpn"], rows["mask_proposals"], protocol, training, fixed


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
    p.add_argument("--from-checkpoints", metavar="DIR",
                   help="no training: the rows are the evaluated bundled checkpoints in DIR")
    p.add_argument("--readme", metavar="FILE",
                   help="also write the tables into FILE between its markers (README_START / README_END)")
    p.add_argument("--readme-figure", metavar="PNG", help="with --readme: copy the bar chart here and link it")
    p.add_argument("--profile", help="with --from-checkpoints: only checkpoints bundled by this configuration of "
                                     "scripts/train_bundled.sh (cpu, gpu)")
    args, train_args = p.parse_known_args(argv)
    if (args.readme or args.readme_figure or args.profile) and not args.from_checkpoints:
        p.error("--readme, --readme-figure and --profile read bundled checkpoints: add --from-checkpoints DIR")
    if args.readme_figure and not args.readme:
        p.error("--readme-figure goes with --readme FILE")
    os.makedirs(args.out, exist_ok=True)
    if args.from_checkpoints:
        if train_args:
            p.error(f"--from-checkpoints trains nothing; unexpected flags {train_args}")
        results, rpn_results, mask_results, protocol, training, fixed = from_checkpoints(args.from_checkpoints,
                                                                                         args.profile)
        status = write_tables(args.out, protocol, results, rpn_results, mask_results, training, fixed)
        if args.readme:
            update_readme(args.readme, os.path.join(args.out, "tables.md"), args.readme_figure)
        return status
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
    protocol = (f"Protocol (identical for every row): `scripts/train.py {' '.join(train_args)}`; evaluated on split "
                f"`{args.eval_split}`" + (f" (first {args.eval_images} images)" if args.eval_images else "") + ".")
    return write_tables(args.out, protocol, results, rpn_results, mask_results)


def write_tables(out: str, protocol: str, results: dict, rpn_results: dict, mask_results: dict,
                 training: str | None = None, fixed: dict | None = None) -> int:
    """OUT/tables.md (+ OUT/ablation.png) and OUT/results.json; prints the markdown."""
    from fpn.viz import plot_ablation

    figure = None
    if results:
        figure = "ablation.png"
        plot_ablation(results, os.path.join(out, figure), rpn_results or None)
    md = document(protocol, results, rpn_results or None, mask_results, figure, training, fixed or None)
    with open(os.path.join(out, "tables.md"), "w") as f:
        f.write(md)
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump({"detection": results, "rpn": rpn_results, "mask_proposals": mask_results,
                   "fixed_proposals": fixed or {}, "protocols": {"rows": protocol, "table1": PROTOCOL_TABLE1["rpn" if rpn_results else "joint"],
                                 "table2": PROTOCOL_TABLE2.format(proposer=proposers_of(fixed)) if fixed else None,
                                 "table3": PROTOCOL_TABLE3}}, f, indent=2)
    print(md)
    return 0


def update_readme(readme: str, tables_md: str, figure: str | None = None) -> None:
    """Replace what lies between README_START and README_END in ``readme`` with ``tables_md`` (its title dropped,
    headings one level down). The bar chart beside ``tables_md`` is copied to ``figure`` and linked relative to the
    README, or its line dropped. A README without both markers is left as it is, with a warning (nothing is lost)."""
    import shutil

    with open(readme) as f:
        text = f.read()
    if text.count(README_START) != 1 or text.count(README_END) != 1 or text.index(README_START) > text.index(README_END):
        print(f"warning: {readme} has no single {README_START!r} ... {README_END!r} pair: not updated", file=sys.stderr)
        return
    with open(tables_md) as f:
        lines = f.read().splitlines()
    body = []
    for line in lines[1:] if lines and lines[0].startswith("# ") else lines:
        if line.startswith("![ablation](") and line.endswith(")"):
            if not figure:
                continue
            source = os.path.join(os.path.dirname(tables_md), line[len("![ablation]("):-1])
            os.makedirs(os.path.dirname(os.path.abspath(figure)), exist_ok=True)
            shutil.copyfile(source, figure)
            link = os.path.relpath(os.path.abspath(figure), os.path.dirname(os.path.abspath(readme)))
            line = f"![our Table 3 next to the paper's]({link})"
        body.append("#" + line if line.startswith("## ") else line)
    head, rest = text.split(README_START)
    tail = rest.split(README_END, 1)[1]
    with open(readme, "w") as f:
        f.write(head + README_START + "\n" + "\n".join(body).strip("\n") + "\n" + README_END + tail)
    print(f"wrote the tables into {readme}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
