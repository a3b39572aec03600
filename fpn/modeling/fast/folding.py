"""Inference weights of a convolution or linear layer: BatchNorm folded in, cast to the compute dtype, laid out for
the kernel, and remembered until the tensors they come from change.

At inference a frozen (or eval-mode) BatchNorm after a convolution is a per-channel affine map, so conv -> BN is one
convolution with weights W * scale[o] and bias b * scale + shift (scale = gamma / sqrt(var + eps),
shift = beta - mean * scale).
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn


def fold_batch_norm(conv: nn.Conv2d, bn: Optional[nn.Module]) -> tuple[Tensor, Optional[Tensor]]:
    """Weights [O, I/groups, kh, kw] and bias [O] (or None) of `conv` followed by `bn` (frozen or in eval mode)."""
    if bn is None:
        return conv.weight, conv.bias
    scale = (bn.running_var + bn.eps).rsqrt()
    if bn.weight is not None:
        scale = scale * bn.weight
    shift = -bn.running_mean * scale
    if bn.bias is not None:
        shift = shift + bn.bias
    weight = conv.weight * scale.reshape(-1, 1, 1, 1)
    bias = shift if conv.bias is None else conv.bias * scale + shift
    return weight, bias


def inference_weights(layer: nn.Module, bn: Optional[nn.Module] = None, dtype: torch.dtype = torch.float32,
                      channels_last: bool = False) -> tuple[Tensor, Optional[Tensor]]:
    """(weight, bias) of `layer` (a Conv2d, with `bn` folded in, or a Linear) in `dtype`, channels-last if asked.

    Remembered on the layer, per (dtype, layout), until one of the tensors it reads changes (its storage or version
    counter: load_state_dict, optimiser steps and .to() all change one): folding and casting on every call would
    cost a pass over all the weights per image.
    """
    sources = [layer.weight, layer.bias] + ([bn.weight, bn.bias, bn.running_mean, bn.running_var]
                                            if bn is not None else [])
    key = (bn.eps if bn is not None else None,
           *[(id(t), t.data_ptr(), t._version) if t is not None else None for t in sources])
    cache = layer.__dict__.setdefault("_inference_weights", {})
    cached = cache.get((dtype, channels_last))
    if cached is not None and cached[0] == key:
        return cached[1], cached[2]
    with torch.no_grad():
        weight, bias = fold_batch_norm(layer, bn) if bn is not None else (layer.weight, layer.bias)
        weight = weight.detach().to(dtype)
        bias = bias.detach().to(dtype) if bias is not None else None
        if channels_last and weight.dim() == 4:
            weight = weight.contiguous(memory_format=torch.channels_last)
    cache[(dtype, channels_last)] = (key, weight, bias)
    return weight, bias
