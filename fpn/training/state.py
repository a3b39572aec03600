"""The resume file (``resume.pt``): weights, optimizer, scheduler, AMP scaler, step and every RNG state.

One ``torch.save`` file of tensors and plain Python values, read back with ``torch.load(weights_only=True)`` (no code
runs on load).  Writes go to a temporary file first and are moved into place with ``os.replace``.
"""
from __future__ import annotations

import os
import random
from typing import Any

import numpy as np
import torch

from fpn.weights.checkpoint import CheckpointError

FORMAT_VERSION = 1


def capture_rng_state() -> dict[str, Any]:
    """RNG states of python, numpy, torch (and CUDA) as tensors and plain values (weights_only-loadable)."""
    py = random.getstate()
    np_state = np.random.get_state()
    state = {
        "python": {"version": int(py[0]), "state": torch.tensor(py[1], dtype=torch.int64),
                   "gauss": py[2]},
        "numpy": {"name": str(np_state[0]), "keys": torch.from_numpy(np_state[1].astype(np.int64)),
                  "pos": int(np_state[2]), "has_gauss": int(np_state[3]), "cached_gaussian": float(np_state[4])},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Undo :func:`capture_rng_state`: every generator continues exactly where it was captured."""
    py = state["python"]
    random.setstate((py["version"], tuple(int(v) for v in py["state"].tolist()), py["gauss"]))
    n = state["numpy"]
    np.random.set_state((n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"],
                         n["cached_gaussian"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_training_state(path: str, state: dict[str, Any]) -> str:
    """Atomically ``torch.save`` a dict of tensors and plain values (model/optimizer/scheduler state dicts,
    step, epoch, RNG states from :func:`capture_rng_state`, ...)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"
    torch.save({"format_version": FORMAT_VERSION, **state}, tmp)
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path


def load_training_state(path: str, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a file written by :func:`save_training_state` without executing code (``weights_only=True``)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"training state not found: {path}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # torch raises several types for corrupt / unsafe files
        raise CheckpointError(f"cannot read training state {path}: {e}") from e
    if not isinstance(state, dict) or "step" not in state:
        raise CheckpointError(f"{path} is not a training state file (no 'step')")
    return state
