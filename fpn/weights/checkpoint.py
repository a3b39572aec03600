"""Checkpoints that load without executing code.

A model checkpoint ``CK`` is two files:
    ``CK.safetensors``  the weights (stored as float32, float16 or int8 per output channel: fpn.weights.storage;
                        always loaded back as float32); with ``max_shard_mb`` a large
                        model is split the safetensors way instead: ``CK-00001-of-0000N.safetensors`` ... plus
                        ``CK.safetensors.index.json`` (the layout: fpn.weights.shards);
    ``CK.json``         metadata: {"format_version", "task", "model" (the model's ``config``, class names included),
                        "training" {...}, "metrics" {...}, ...}.
``load_checkpoint(CK)`` rebuilds the architecture from the JSON alone and loads the weights.
All writes go to a temporary file first and are moved into place with ``os.replace``.
(The training state for ``--resume`` is fpn.training.state.)
"""
from __future__ import annotations

import json
import os
from typing import Any

import torch

from .shards import index_path, join_parts, shard_files, shard_index, shard_names, split_shards
from ..modeling.tasks import TASKS, build_model, task_of
from .storage import STORAGES, decode, encode

FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint is missing, unreadable, or does not fit the architecture its metadata describes."""


def checkpoint_paths(path: str) -> tuple[str, str]:
    """(weights path, metadata path) of a checkpoint named ``CK``, ``CK.safetensors``, ``CK.json`` or
    ``CK.safetensors.index.json``."""
    path = os.fspath(path)
    for ext in (".safetensors.index.json", ".safetensors", ".json"):
        if path.endswith(ext):
            path = path[: -len(ext)]
            break
    return path + ".safetensors", path + ".json"


def checkpoint_files(path: str) -> list[str]:
    """Every file of checkpoint ``CK`` that exists: ``CK.json``, and ``CK.safetensors`` or the shard index + shards."""
    weights_path, meta_path = checkpoint_paths(path)
    files = [f for f in (meta_path, weights_path) if os.path.isfile(f)]
    if not os.path.isfile(weights_path) and os.path.isfile(index_path(weights_path)):
        files.append(index_path(weights_path))
        try:
            files += [p for p in shard_files(weights_path) if os.path.isfile(p)]
        except (ValueError, OSError):
            pass  # a broken index still names its own file, for deletion or copying
    return files


def is_checkpoint(meta_path: str) -> bool:
    """True for a ``CK.json`` with its weights (``CK.safetensors`` or a shard index) beside it; False for other JSON
    files, the shard index included."""
    weights_path, own_meta = checkpoint_paths(meta_path)
    if os.path.abspath(own_meta) != os.path.abspath(meta_path):
        return False
    return os.path.isfile(weights_path) or os.path.isfile(index_path(weights_path))


def find_checkpoints(folder: str, max_depth: int = 3) -> list[str]:
    """Checkpoint names ``CK`` (path without extension) under ``folder``, at most ``max_depth`` folders deep, sorted;
    a ``CK.json`` without weights beside it (a run's config, a shard index, ...) is not one."""
    import glob

    found = []
    for depth in range(1, max_depth + 1):
        pattern = os.path.join(folder, *(["*"] * (depth - 1)), "*.json")
        found += [checkpoint_paths(p)[0][: -len(".safetensors")] for p in sorted(glob.glob(pattern)) if is_checkpoint(p)]
    return found


def _unwrap(model: torch.nn.Module) -> torch.nn.Module:
    return model.module if hasattr(model, "module") and isinstance(model.module, torch.nn.Module) else model


def _atomic_write_bytes(path: str, data: bytes) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def save_checkpoint(model: torch.nn.Module, path: str, metadata: dict[str, Any] | None = None,
                    fp16: bool = False, task: str | None = None, max_shard_mb: float | None = None,
                    storage: str | None = None) -> tuple[str, str]:
    """Write ``CK.safetensors`` (or shards + index, see the module docstring) + ``CK.json``.  Returns the weights
    path (the index file when sharded) and the metadata path.

    Args:
        model: a detector from ``fpn.build_detector`` (or a mask proposer); needs a JSON-serialisable ``config``.
            A DistributedDataParallel wrapper is unwrapped.
        metadata: extra keys ("training", "metrics", ...) merged into the JSON (class names belong in the model's
            config: ``build_detector(..., class_names=...)``).
        fp16: store floating-point tensors as float16 (half the size; loaded back as float32); the same as
            ``storage="float16"``.
        storage: "float32", "float16" or "int8" (conv / linear weights as int8 with one float32 scale per output
            channel, a quarter of the size; see fpn.weights.storage). Default: "float16" if fp16 else "float32".
        task: "detection", "rpn" or "mask_proposals"; ``metadata["task"]``, else the model's own (``task_of``), when
            not given.
        max_shard_mb: split the weights into files of at most this many MiB (None: one file).
    """
    from safetensors.torch import save as st_save

    model = _unwrap(model)
    meta = dict(metadata or {})
    task = task or meta.get("task") or task_of(model)
    if task not in TASKS:
        raise CheckpointError(f"unknown task {task!r}; expected one of {tuple(TASKS)}")
    config = getattr(model, "config", None)
    if not isinstance(config, dict):
        raise CheckpointError("the model has no `config` dict; cannot record how to rebuild it")
    storage = storage or ("float16" if fp16 else "float32")
    if storage not in STORAGES:
        raise CheckpointError(f"unknown weights storage {storage!r}; expected one of {STORAGES}")
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    tensors = {k: v.contiguous().clone() for k, v in encode(state, storage).items()}
    meta.update({"format_version": FORMAT_VERSION, "task": task, "model": config, "weights_dtype": storage})
    meta.setdefault("training", {})
    meta.setdefault("metrics", {})
    try:
        meta_text = json.dumps(meta, indent=2, sort_keys=False)
    except TypeError as e:
        raise CheckpointError(f"checkpoint metadata is not JSON-serialisable: {e}") from e
    weights_path, meta_path = checkpoint_paths(path)
    os.makedirs(os.path.dirname(os.path.abspath(weights_path)), exist_ok=True)
    header = {"format": "fpn-explorer", "task": task}
    shards = split_shards(tensors, max_shard_mb)
    index = index_path(weights_path)
    if len(shards) == 1:
        _atomic_write_bytes(weights_path, st_save(tensors, metadata=header))
        _remove_if_exists(index)
    else:
        names = shard_names(weights_path, len(shards))
        for name, shard in zip(names, shards):
            _atomic_write_bytes(os.path.join(os.path.dirname(weights_path), name), st_save(shard, metadata=header))
        _atomic_write_bytes(index, json.dumps(shard_index(shards, names), indent=1).encode("utf-8"))
        _remove_if_exists(weights_path)  # an older single-file save of the same name would shadow the shards
        weights_path = index
    _atomic_write_bytes(meta_path, meta_text.encode("utf-8"))
    return weights_path, meta_path


def _remove_if_exists(path: str) -> None:
    if os.path.isfile(path):
        os.remove(path)


def read_metadata(path: str) -> dict[str, Any]:
    """The JSON metadata of a checkpoint, validated."""
    _, meta_path = checkpoint_paths(path)
    if not os.path.isfile(meta_path):
        raise FileNotFoundError(f"checkpoint metadata not found: {meta_path}")
    try:
        with open(meta_path) as f:
            meta = json.load(f)
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{meta_path} is not valid JSON: {e}") from e
    if not isinstance(meta, dict) or "model" not in meta or not isinstance(meta["model"], dict):
        raise CheckpointError(f"{meta_path}: not an FPN Explorer checkpoint (no 'model' config)")
    task = meta.get("task", "detection")
    if task not in TASKS:
        raise CheckpointError(f"{meta_path}: unknown task {task!r}; expected one of {tuple(TASKS)}")
    if int(meta.get("format_version", FORMAT_VERSION)) > FORMAT_VERSION:
        raise CheckpointError(f"{meta_path}: format_version {meta['format_version']} is newer than this code "
                              f"({FORMAT_VERSION})")
    return meta


def _read_weights(weights_path: str) -> dict[str, torch.Tensor]:
    """All tensors of ``CK.safetensors``, or of the shards listed by ``CK.safetensors.index.json``, int8 ones
    dequantised (fpn.weights.storage)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    files = [weights_path]
    if not os.path.isfile(weights_path) and os.path.isfile(index_path(weights_path)):
        try:
            files = shard_files(weights_path)
        except ValueError as e:
            raise CheckpointError(str(e)) from e
    state: dict[str, torch.Tensor] = {}
    for file in files:
        if not os.path.isfile(file):
            raise FileNotFoundError(f"checkpoint weights not found: {file}")
        try:
            state.update(load_file(file, device="cpu"))
        except (SafetensorError, OSError, ValueError) as e:
            raise CheckpointError(f"{file} is not a readable safetensors file: {e}") from e
    try:
        return decode(join_parts(state))
    except ValueError as e:
        raise CheckpointError(f"{weights_path}: {e}") from e


def load_state_dict_checked(model: torch.nn.Module, state: dict[str, torch.Tensor], source: str = "") -> None:
    """``model.load_state_dict`` with errors that name the offending keys and shapes; casts to the model's
    dtypes (fp16 storage -> fp32)."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing key(s), e.g. {missing[:5]}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected key(s), e.g. {unexpected[:5]}")
        raise CheckpointError(f"{source}: weights do not match the architecture: " + "; ".join(parts))
    converted = {}
    for k, v in own.items():
        w = state[k]
        if tuple(w.shape) != tuple(v.shape):
            raise CheckpointError(f"{source}: shape mismatch for {k}: checkpoint {tuple(w.shape)}, "
                                  f"model {tuple(v.shape)}")
        converted[k] = w.to(v.dtype)
    model.load_state_dict(converted, strict=True)


def model_config(meta: dict[str, Any]) -> dict[str, Any]:
    """The builder's arguments recorded in a checkpoint's metadata. Checkpoints written before class names moved
    into the model's config keep them at the top level of the JSON; they are moved into the config here."""
    config = dict(meta["model"])
    if "backbone_weights" in config:
        config["backbone_weights"] = None  # the checkpoint holds all weights; never fetch ImageNet ones
    if meta.get("task", "detection") != "mask_proposals" and config.get("class_names") is None and meta.get("class_names"):
        config["class_names"] = meta["class_names"]
    return config


def load_checkpoint(path: str, map_location: str | torch.device = "cpu", **options: Any) -> torch.nn.Module:
    """Rebuild a model from ``CK.json`` + ``CK.safetensors`` (``path`` may name either or the stem).

    options: build options that replace the recorded ones, for inference settings such as
    ``rpn_post_nms_top_n_test=300`` (proposals the Fast R-CNN head reads per image), ``box_score_thresh`` or
    ``min_size``; one that changes the architecture makes the weights not fit (CheckpointError).
    Returns the model in eval mode on ``map_location``; ``read_metadata(path)`` gives the rest of the JSON
    (training command, metrics, ...).
    """
    weights_path, _ = checkpoint_paths(path)
    meta = read_metadata(path)
    state = _read_weights(weights_path)
    task, config = meta.get("task", "detection"), {**model_config(meta), **options}
    try:
        model = build_model(task, config)
    except (TypeError, ValueError, KeyError) as e:
        raise CheckpointError(f"{checkpoint_paths(path)[1]}: cannot build a {task} model from its config: {e}") from e
    load_state_dict_checked(model, state, weights_path)
    return model.to(map_location).eval()
