"""Carry an unfinished training run to another machine through git: its resume file in parts small enough to commit,
with sha256 sums, beside the logs it appends to.

A run that outlasts a session (the CPU's ``c4``: about 14 thread-hours) is lost when the next session gets a fresh
machine without ``runs/``; the repository is what survives. ``pack`` writes the run's ``resume.pt`` as parts of at
most ``PART_BYTES`` (the bundle's 15 MiB file limit) plus ``log.csv`` / ``metrics.csv`` and a manifest into a carry
folder; ``unpack`` checks every sum and puts them back, after which ``scripts/train.py --resume`` continues
bit-exactly (the resume file is unchanged byte for byte and still read with ``torch.load(weights_only=True)``).

    carry folder: carry.json, resume.pt.part000, resume.pt.part001, ..., log.csv, metrics.csv
"""
from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil
from typing import Any

from .config import LOG_FILE, METRICS_FILE, RESUME_FILE
from .state import load_training_state

PART_BYTES = 15 * 2 ** 20
MANIFEST = "carry.json"
FORMAT_VERSION = 1
LOGS = (LOG_FILE, METRICS_FILE)  # what a resumed run appends to (it drops rows after the step it resumes at)


class CarryError(ValueError):
    """A carry folder that is missing, incomplete or corrupt, or that would overwrite newer progress."""


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _progress(resume_path: str) -> tuple[int, float]:
    """(step, training seconds so far) of a resume file, read without executing code."""
    state = load_training_state(resume_path)
    return int(state["step"]), float(state.get("train_seconds", 0.0))


def read_manifest(carry_dir: str) -> dict[str, Any]:
    """The manifest of a carry folder: {"format", "step", "train_seconds", "resume": {"bytes", "sha256", "parts":
    [{"file", "bytes", "sha256"}]}, "logs": {name: sha256}}. CarryError when absent or unreadable."""
    path = os.path.join(carry_dir, MANIFEST)
    try:
        with open(path) as f:
            manifest = json.load(f)
    except FileNotFoundError:
        raise CarryError(f"no carried run in {carry_dir} (no {MANIFEST})") from None
    except (OSError, ValueError) as e:
        raise CarryError(f"cannot read {path}: {e}") from e
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_VERSION:
        raise CarryError(f"{path} is not a carry manifest of format {FORMAT_VERSION}")
    return manifest


def pack(run_dir: str, carry_dir: str, part_bytes: int = PART_BYTES) -> dict[str, Any]:
    """Write ``run_dir``'s resume file (split into parts of <= ``part_bytes``) and logs into ``carry_dir``, replacing
    what an earlier pack left there. Returns the manifest."""
    resume = os.path.join(run_dir, RESUME_FILE)
    if not os.path.isfile(resume):
        raise CarryError(f"nothing to carry: no {RESUME_FILE} in {run_dir} (stop the run with Ctrl-C / SIGINT, "
                         f"which saves it, before packing)")
    step, seconds = _progress(resume)  # also proves the file is a readable training state
    os.makedirs(carry_dir, exist_ok=True)
    for stale in glob.glob(os.path.join(carry_dir, f"{RESUME_FILE}.part*")):
        os.remove(stale)
    parts, whole = [], hashlib.sha256()
    with open(resume, "rb") as f:  # one read: the parts and the whole file's sum
        for i, block in enumerate(iter(lambda: f.read(part_bytes), b"")):
            whole.update(block)
            name = f"{RESUME_FILE}.part{i:03d}"
            with open(os.path.join(carry_dir, name), "wb") as out:
                out.write(block)
            parts.append({"file": name, "bytes": len(block), "sha256": hashlib.sha256(block).hexdigest()})
    logs = {}
    for name in LOGS:
        if os.path.isfile(os.path.join(run_dir, name)):
            shutil.copyfile(os.path.join(run_dir, name), os.path.join(carry_dir, name))
            logs[name] = _sha256(os.path.join(carry_dir, name))
    manifest = {"format": FORMAT_VERSION, "step": step, "train_seconds": seconds,
                "resume": {"bytes": sum(p["bytes"] for p in parts), "sha256": whole.hexdigest(), "parts": parts},
                "logs": logs}
    tmp = os.path.join(carry_dir, MANIFEST + ".tmp")
    with open(tmp, "w") as f:
        json.dump(manifest, f, indent=1)
    os.replace(tmp, os.path.join(carry_dir, MANIFEST))  # last: a pack cut short leaves no manifest that lies
    return manifest


def unpack(carry_dir: str, run_dir: str, force: bool = False) -> int:
    """Check every part and log against the manifest and put the run back into ``run_dir`` (resume file and logs).
    Refuses to replace a resume file already at the carried step or later unless ``force``. Returns the step."""
    manifest = read_manifest(carry_dir)
    for name, digest in [(p["file"], p["sha256"]) for p in manifest["resume"]["parts"]] + list(
            manifest["logs"].items()):
        path = os.path.join(carry_dir, name)
        if not os.path.isfile(path):
            raise CarryError(f"{carry_dir} is incomplete: {name} is missing")
        if _sha256(path) != digest:
            raise CarryError(f"{path} does not match its sha256 in {MANIFEST} (corrupt or from another pack)")
    resume = os.path.join(run_dir, RESUME_FILE)
    if os.path.isfile(resume) and not force:
        here = _progress(resume)[0]
        if here >= manifest["step"]:
            raise CarryError(f"{resume} is at step {here}, the carried run at {manifest['step']}: keeping the newer "
                             f"one here (force to replace it)")
    os.makedirs(run_dir, exist_ok=True)
    tmp = f"{resume}.carry{os.getpid()}"
    with open(tmp, "wb") as out:
        for part in manifest["resume"]["parts"]:
            with open(os.path.join(carry_dir, part["file"]), "rb") as f:
                shutil.copyfileobj(f, out)
    if _sha256(tmp) != manifest["resume"]["sha256"]:
        os.remove(tmp)
        raise CarryError(f"the parts in {carry_dir} join into a file whose sha256 is not the manifest's")
    for name in manifest["logs"]:
        shutil.copyfile(os.path.join(carry_dir, name), os.path.join(run_dir, name))
    os.replace(tmp, resume)
    return int(manifest["step"])
