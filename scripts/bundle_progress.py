"""Where a run of scripts/train_bundled.sh stands: each run's state, its step, its held-out metrics so far, the
training hours it took or has taken, and an estimate of the hours left (one thread per run), read from its folders
without touching them. Run it through the script, which passes its settings and run list:

    STATUS=1 PROFILE=cpu bash scripts/train_bundled.sh

States: "bundled" (trained, stored and evaluated as stored), "bundled, run folder gone" (its JSON records this
protocol: a fresh machine), "trained" (bundling or evaluation to do), "training" / "stopped at step K" (resume.pt;
"training" while a process of it runs here), "carried at step K" (packed into CARRY by scripts/carry_run.py on
another machine; the next run unpacks it), "queued". Estimates: a run in progress continues at its own pace so far
(held-out evaluations included); a queued one takes the hours its model in the checkpoint folder took (another
protocol's, scaled by the schedule's length) or is "unknown". Last, the Table 2 step that follows the runs: which
bundled detectors were evaluated on the proposals of the FPN RPN trained alone (fpn_rpn).
"""
from __future__ import annotations

import argparse
import csv
import glob
import json
import os
import sys


from fpn.evaluation.report import proposer_name
from fpn.training.carry import MANIFEST, CarryError, read_manifest
from fpn.training.config import METRICS_FILE, RESUME_FILE
from fpn.training.state import load_training_state
from fpn.weights.checkpoint import CheckpointError

METRIC = {"rpn": "AR@1000", "mask_proposals": "mask_AR@1000"}  # the plateau metric per task; "AP" otherwise


def _rows(path: str) -> list[dict[str, str]]:
    if not os.path.isfile(path):
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _running(flag: str, path: str) -> bool:
    """Does a process on this machine have ``flag path`` among its arguments, ``path`` resolved against the process's
    working folder (Linux /proc; False elsewhere)?"""
    target = os.path.realpath(path)
    for proc in glob.glob("/proc/[0-9]*"):
        try:
            with open(os.path.join(proc, "cmdline"), "rb") as f:
                args = f.read().decode(errors="replace").split("\0")
            for i, arg in enumerate(args[:-1]):
                if arg == flag and os.path.realpath(os.path.join(os.readlink(os.path.join(proc, "cwd")),
                                                                 args[i + 1])) == target:
                    return True
        except OSError:  # the process ended while we looked, or is not ours to read
            continue
    return False


def _json(path: str) -> dict:
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def _hours_left(seconds: float, saved_step: int, step: int, iters: int) -> float:
    """Hours for the steps after ``step`` at the pace so far: ``seconds`` of training up to ``saved_step``."""
    return seconds / 3600 / max(saved_step, 1) * (iters - step)


def run_state(name: str, out: str, target: str, iters: int, protocol: str, carry: str = "") -> dict:
    """One run's row: state, step, held-out metric by step, hours spent, hours left (None: unknown). ``carry``: the
    folder of runs packed by scripts/carry_run.py (CARRY of train_bundled.sh), read where OUT has no resume.pt."""
    task = "mask_proposals" if name.startswith("mask_proposals") else "rpn" if name.endswith("_rpn") else "detection"
    d, meta = os.path.join(out, name), _json(target + ".json")
    metric = METRIC.get(task, "AP")
    heldout = {int(r["step"]): r.get(metric, "") for r in _rows(os.path.join(d, METRICS_FILE))}
    row = {"run": name, "metric": metric, "heldout": heldout, "step": 0, "spent_h": None, "left_h": None}
    final = os.path.join(d, "model.json")
    evaluated = os.path.join(d, "eval_bundled.json")
    if os.path.isfile(final):
        row.update(step=iters, spent_h=_json(final).get("training", {}).get("train_seconds", 0) / 3600, left_h=0.0)
        done = os.path.isfile(evaluated) and os.path.getmtime(evaluated) > os.path.getmtime(final) and meta
        row["state"] = ("bundled" if done else "trained, evaluating as stored" if _running("--checkpoint", target)
                        else "trained")
        return row
    if meta.get("bundle", {}).get("protocol") == protocol and meta.get("metrics"):
        t = meta.get("training", {})
        row.update(state="bundled, run folder gone", step=t.get("iters", iters), left_h=0.0,
                   spent_h=t.get("train_seconds", 0) / 3600,
                   heldout={round(float(k) * iters): v for k, v in meta.get("plateau", {}).items()
                            if k.replace(".", "").isdigit()})
        return row
    resume = os.path.join(d, RESUME_FILE)
    if os.path.isfile(resume):
        try:
            state = load_training_state(resume)
        except (OSError, CheckpointError) as e:  # a status report never dies of one bad file
            row["state"] = f"unreadable {RESUME_FILE} ({e})"
            return row
        logged = [int(r["step"]) for r in _rows(os.path.join(d, "log.csv"))]
        step, seconds = max([int(state["step"]), *logged]), float(state.get("train_seconds", 0.0))
        running = _running("--out", d)
        row.update(state="training" if running else f"stopped at step {int(state['step'])}", step=step,
                   spent_h=seconds / 3600, left_h=_hours_left(seconds, int(state["step"]), step, iters))
        return row
    if carry and os.path.isfile(os.path.join(carry, name, MANIFEST)):
        try:
            m = read_manifest(os.path.join(carry, name))
        except CarryError as e:
            row["state"] = f"unreadable carry ({e})"
            return row
        seconds, step = float(m.get("train_seconds", 0.0)), int(m["step"])
        heldout = {int(r["step"]): r.get(metric, "") for r in _rows(os.path.join(carry, name, METRICS_FILE))}
        row.update(state=f"carried at step {step} (unpacked by the next run)", step=step, heldout=heldout,
                   spent_h=seconds / 3600, left_h=_hours_left(seconds, step, step, iters))
        return row
    t = meta.get("training", {})
    if t.get("train_seconds") and t.get("iters"):  # another protocol's model of this name: its pace
        row["left_h"] = t["train_seconds"] / 3600 * iters / t["iters"]
    row["state"] = "queued"
    return row


def table(rows: list[dict], iters: int, parallel: int) -> str:
    """The rows as a markdown table and a line of totals."""
    quarters = [iters * q // 4 for q in (1, 2, 3, 4)]
    lines = ["| run | state | step | held-out at 25 / 50 / 75 / 100 % | hours spent | hours left (est.) |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        held = " / ".join(str(r["heldout"].get(q, "-")) for q in quarters)
        spent = "-" if r["spent_h"] is None else f"{r['spent_h']:.1f}"
        left = "unknown" if r["left_h"] is None else f"{r['left_h']:.1f}" + ("" if r["state"] != "queued" else " ~")
        lines.append(f"| {r['run']} | {r['state']} | {r['step']}/{iters} | {r['metric']} {held} | {spent} | {left} |")
    done = sum(r["state"].startswith("bundled") for r in rows)
    spent = sum(r["spent_h"] or 0 for r in rows)
    left = sum(r["left_h"] or 0 for r in rows)
    unknown = sum(r["left_h"] is None for r in rows)
    lines.append(f"\n{done} of {len(rows)} runs bundled; {spent:.1f} training hours spent (one thread each); about "
                 f"{left:.1f} thread-hours left, ~{left / max(parallel, 1):.1f} h with {parallel} runs side by side"
                 + (f", not counting {unknown} run(s) of unknown length" if unknown else "") + ".")
    return "\n".join(lines)


def table2_line(runs: list[str], checkpoints: str, suffix: str) -> str:
    """Where the Table 2 step stands: the bundled detectors (runs that are neither an RPN alone nor the mask proposer)
    with and without a "fixed_proposals" evaluation on the fpn_rpn's proposals."""
    proposer = "fpn_rpn" + suffix
    detectors = [n for n in runs if not n.endswith("_rpn") and not n.startswith("mask_proposals")]
    done = [n for n in detectors
            if proposer_name(_json(os.path.join(checkpoints, n + suffix + ".json")).get("fixed_proposals")) == proposer]
    todo = [n for n in detectors if n not in done]
    return (f"Table 2 (each detector's Fast R-CNN on the proposals of {proposer}, after the runs): "
            + (f"done for {', '.join(done)}" if done else "none done") + (f"; to do: {', '.join(todo)}" if todo else "")
            + ".")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+", help="run names, as in train_bundled.sh's JOBS")
    p.add_argument("--out", required=True, help="the runs' folder (OUT of train_bundled.sh)")
    p.add_argument("--checkpoints", required=True, help="where the runs are bundled (CKPTS)")
    p.add_argument("--suffix", required=True, help="checkpoint name after the run's (e.g. _resnet18_cpu)")
    p.add_argument("--iters", type=int, required=True, help="the schedule's length")
    p.add_argument("--protocol", required=True, help="the protocol string of the script's settings")
    p.add_argument("--parallel", type=int, default=1, help="runs side by side")
    p.add_argument("--carry", default="", help="runs carried from another machine (CARRY of train_bundled.sh)")
    args = p.parse_args(argv)
    if not os.path.isdir(args.out) and not args.carry:
        p.error(f"{args.out}: no such folder; nothing has been trained with these settings here")
    rows = [run_state(n, args.out, os.path.join(args.checkpoints, n + args.suffix), args.iters, args.protocol,
                      args.carry) for n in args.runs]
    print(table(rows, args.iters, args.parallel))
    print(table2_line(args.runs, args.checkpoints, args.suffix))
    return 0


if __name__ == "__main__":
    sys.exit(main())
