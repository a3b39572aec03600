"""How a checkpoint stores its floating-point tensors: float32, float16, or int8 per output channel.

int8 ("symmetric, per output channel"): a weight W of a convolution or linear layer (a floating tensor with >= 2
dimensions, output channels first) is stored as

    q = round(W / s) in int8 [-127, 127],   s[o] = max |W[o, ...]| / 127   (s = 1 where a row is all zero)

under the names ``NAME::int8`` (int8, W's shape) and ``NAME::scale`` (float32 [O]); loading gives back
W' = q * s[:, None, ...] in float32 (each weight off by at most s[o] / 2). 1-d tensors (biases, normalisation
parameters and statistics) stay float32: they are a few percent of a ResNet's bytes and the most sensitive to rounding.
A ResNet-18 FPN detector shrinks from 62 MB (float32) to 16 MB. Metrics of a bundled model are measured on W'.
"""
from __future__ import annotations

import torch

STORAGES = ("float32", "float16", "int8")
INT8_SUFFIX, SCALE_SUFFIX = "::int8", "::scale"


def quantisable(t: torch.Tensor) -> bool:
    """True for the tensors int8 storage quantises: floating point, at least 2-d (conv / linear weights)."""
    return t.is_floating_point() and t.dim() >= 2 and t.numel() > 0


def encode(tensors: dict[str, torch.Tensor], storage: str) -> dict[str, torch.Tensor]:
    """The tensors to write for ``storage`` ("float32", "float16" or "int8"; see the module docstring)."""
    if storage not in STORAGES:
        raise ValueError(f"weights storage must be one of {STORAGES}, got {storage!r}")
    out: dict[str, torch.Tensor] = {}
    for k, v in tensors.items():
        if not v.is_floating_point():
            out[k] = v
        elif storage == "float16":
            out[k] = v.half()
        elif storage == "int8" and quantisable(v):
            w = v.float()
            scale = w.abs().flatten(1).amax(dim=1) / 127.0
            scale = torch.where(scale > 0, scale, torch.ones_like(scale))
            shape = (-1,) + (1,) * (w.dim() - 1)
            out[k + INT8_SUFFIX] = torch.round(w / scale.view(shape)).clamp_(-127, 127).to(torch.int8)
            out[k + SCALE_SUFFIX] = scale
        else:
            out[k] = v.float()
    return out


def decode(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """float32 tensors back from :func:`encode`'s output (float16 is cast by the model's load); ValueError when an
    int8 tensor has no scale or a scale no int8 tensor."""
    out: dict[str, torch.Tensor] = {}
    for k, v in state.items():
        if k.endswith(SCALE_SUFFIX):
            if k[: -len(SCALE_SUFFIX)] + INT8_SUFFIX not in state:
                raise ValueError(f"int8 scale {k} has no int8 tensor {k[: -len(SCALE_SUFFIX)] + INT8_SUFFIX}")
            continue
        if not k.endswith(INT8_SUFFIX):
            out[k] = v
            continue
        name = k[: -len(INT8_SUFFIX)]
        scale = state.get(name + SCALE_SUFFIX)
        if scale is None or scale.dim() != 1 or scale.shape[0] != v.shape[0] or v.dtype != torch.int8:
            raise ValueError(f"int8 tensor {k} needs a float scale of shape [{v.shape[0]}] named {name + SCALE_SUFFIX}")
        out[name] = v.float() * scale.float().view((-1,) + (1,) * (v.dim() - 1))
    return out


def stored_dtype(tensors: dict[str, torch.Tensor]) -> str:
    """"int8", "float16" or "float32": how a state dict read from a checkpoint was stored."""
    if any(k.endswith(INT8_SUFFIX) for k in tensors):
        return "int8"
    floats = [v for v in tensors.values() if v.is_floating_point()]
    return "float16" if floats and all(v.dtype == torch.float16 for v in floats) else "float32"
