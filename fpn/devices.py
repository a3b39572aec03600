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


def native_bf16(device: Union[str, torch.device] = "cpu") -> bool:
    """Whether `device` runs bf16 arithmetic natively (so a bf16 path is faster, not just emulated).

    CPU: AVX-512 BF16 or AMX tiles (oneDNN's bf16 kernels; elsewhere bf16 is converted to fp32 in software and slower
    than fp32). CUDA: compute capability 8.0 or newer (Ampere on). Anything else: False.
    """
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported(including_emulation=False)
    if device.type != "cpu":
        return False
    cpu = torch.cpu
    checks = [getattr(cpu, "_is_avx512_bf16_supported", None), getattr(cpu, "_is_amx_tile_supported", None)]
    return any(check() for check in checks if check is not None)


def cpu_has_bf16_kernels() -> bool:
    """Whether oneDNN has bf16 kernels on this CPU: AVX-512 (BW, VL, DQ; native arithmetic with AVX512-BF16 / AMX,
    see `native_bf16`) or AVX-NE-CONVERT. Without them (an AVX2-only CPU, e.g. a Zen 3 AMD EPYC) bf16 falls back
    to generic code or fails: there a bf16 matmul ran at 0.3 GFLOP/s against 151 in fp32, a `c4` training step under
    bf16 autocast took 236 s against 15.5 s in fp32, and oneDNN's fused bf16 convolution refuses to run
    ("bf16 path needs the cpu support avx_ne_convert or avx512bw, avx512vl and avx512dq")."""
    check = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
    try:
        return bool(check()) if check is not None else True
    except RuntimeError:  # a build without oneDNN: nothing to say
        return True
