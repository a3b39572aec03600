"""Where models run: "auto" picks the GPU when there is one."""
from __future__ import annotations

from typing import Optional, Union

import torch


def resolve_device(name: Optional[Union[str, torch.device]] = "auto", local_rank: int = 0) -> torch.device:
    """"auto" (or None / "") -> "cuda" when available, else "cpu"; "cpu", "cuda", "cuda:1" as given.

    A bare "cuda" becomes "cuda:<local_rank>" (one GPU per torchrun process). Asking for CUDA without a GPU is a
    ValueError that says what to use instead.
    """
    if name in (None, "", "auto"):
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except RuntimeError as e:
        raise ValueError(f"unknown device {name!r}: use auto, cpu, cuda or cuda:N") from e
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {name!r} was asked for but no CUDA GPU is available; use cpu or auto")
        if device.index is None:
            device = torch.device("cuda", local_rank)
    return device
