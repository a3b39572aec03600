"""Sharded checkpoint weights, the safetensors (Hugging Face) layout.

``CK.safetensors`` split into ``CK-00001-of-0000N.safetensors`` ... ``CK-0000N-of-0000N.safetensors`` plus
``CK.safetensors.index.json`` = {"metadata": {"total_size": bytes}, "weight_map": {tensor name: shard file name}}.
A tensor larger than a shard is cut along its first dimension into row blocks named ``NAME::partIofN`` (0-based I),
stored like any other tensor and joined again on load.  fpn.weights.checkpoint writes and reads the files.
"""
from __future__ import annotations

import json
import os
import re
from typing import Any

import torch

INDEX_SUFFIX = ".index.json"
# room left in a shard for the safetensors header (tensor names, dtypes, shapes, offsets), bytes
HEADER_ROOM = 64 * 1024

_PART = re.compile(r"^(?P<key>.+)::part(?P<i>\d+)of(?P<n>\d+)$")


def index_path(weights_path: str) -> str:
    """``CK.safetensors.index.json`` of the weights path ``CK.safetensors``."""
    return weights_path + INDEX_SUFFIX


def _nbytes(t: torch.Tensor) -> int:
    return t.numel() * t.element_size()


def split_shards(tensors: dict[str, torch.Tensor], max_shard_mb: float | None) -> list[dict[str, torch.Tensor]]:
    """Greedy split, in order, into shards of at most ``max_shard_mb`` MiB each (one shard when None or 0); a tensor
    larger than a shard is cut into ``KEY::partIofN`` row blocks first (a 0-d or one-row tensor stays whole)."""
    if not max_shard_mb:
        return [tensors]
    limit = max_shard_mb * 2 ** 20 - HEADER_ROOM
    pieces: dict[str, torch.Tensor] = {}
    for k, v in tensors.items():
        nbytes = _nbytes(v)
        if nbytes <= limit or v.dim() == 0 or v.shape[0] < 2:
            pieces[k] = v
            continue
        rows = max(1, int(limit // (nbytes / v.shape[0])))
        chunks = v.split(rows)
        pieces.update({f"{k}::part{i}of{len(chunks)}": c.contiguous() for i, c in enumerate(chunks)})
    shards: list[dict[str, torch.Tensor]] = [{}]
    size = 0
    for k, v in pieces.items():
        if shards[-1] and size + _nbytes(v) > limit:
            shards.append({})
            size = 0
        shards[-1][k] = v
        size += _nbytes(v)
    return shards


def shard_names(weights_path: str, count: int) -> list[str]:
    """File names (no folder) of the ``count`` shards of ``CK.safetensors``: ``CK-0000i-of-0000N.safetensors``."""
    stem = os.path.basename(weights_path)[: -len(".safetensors")]
    return [f"{stem}-{i:05d}-of-{count:05d}.safetensors" for i in range(1, count + 1)]


def shard_index(shards: list[dict[str, torch.Tensor]], names: list[str]) -> dict[str, Any]:
    """The index JSON of ``shards`` stored under ``names``: total tensor bytes and which file holds each tensor."""
    total = sum(_nbytes(v) for shard in shards for v in shard.values())
    weight_map = {k: name for shard, name in zip(shards, names) for k in shard}
    return {"metadata": {"total_size": total}, "weight_map": weight_map}


def shard_files(weights_path: str) -> list[str]:
    """Paths of the shard files the index of ``CK.safetensors`` lists, in index order, each once.

    Raises OSError when the index cannot be read, ValueError when it is not a shard index.
    """
    path = index_path(weights_path)
    with open(path) as f:
        try:
            names = dict.fromkeys(json.load(f)["weight_map"].values())
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as e:
            raise ValueError(f"{path} is not a safetensors shard index: {e}") from e
    folder = os.path.dirname(weights_path)
    return [os.path.join(folder, name) for name in names]


def join_parts(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Undo the cutting of oversized tensors done by :func:`split_shards`; ValueError when a part is missing."""
    parts: dict[str, dict[int, torch.Tensor]] = {}
    counts: dict[str, int] = {}
    out = {}
    for k, v in state.items():
        m = _PART.match(k)
        if m is None:
            out[k] = v
            continue
        parts.setdefault(m["key"], {})[int(m["i"])] = v
        counts[m["key"]] = int(m["n"])
    for key, got in parts.items():
        if sorted(got) != list(range(counts[key])):
            raise ValueError(f"tensor {key} is incomplete: parts {sorted(got)} of {counts[key]}")
        out[key] = torch.cat([got[i] for i in range(counts[key])])
    return out
