"""The private torch kernels of the fast path, each behind one function with its plain fallback.

- oneDNN's fused convolution (`torch.ops.mkldnn._convolution_pointwise`, the kernel torch.compile's CPU backend fuses
  into): conv -> (+ residual) -> ReLU in one pass over channels-last maps, fp32 or bf16 (native on AVX-512 BF16 / AMX).
- NNPACK's Winograd F(6x6, 3x3) convolution (`torch._nnpack_spatial_convolution`, shipped with PyTorch's CPU builds):
  about 2.5x fewer operations for dense 3x3 convolutions on large fp32 maps.

Everything else (other devices, dtypes, conv settings, torch builds without these ops) runs `F.conv2d`: the same map.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn
from torch.nn import functional as F

#: Winograd pays off from about this many output pixels per map (measured: 2.5x faster at 50 x 50 and above on
#: 256 channels, slower than oneDNN at 13 x 13)
WINOGRAD_MIN_PIXELS = 32 * 32


def onednn_fusable(x: Tensor, conv: nn.Conv2d) -> bool:
    """Whether oneDNN's fused kernels apply: fp32 / bf16 maps on CPU, a zero-padded conv with numeric padding."""
    return (x.device.type == "cpu" and x.dtype in (torch.float32, torch.bfloat16)
            and torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled
            and hasattr(torch.ops.mkldnn, "_convolution_pointwise")
            and conv.padding_mode == "zeros" and not isinstance(conv.padding, str))


def conv_pointwise(x: Tensor, weight: Tensor, bias: Optional[Tensor], conv: nn.Conv2d, relu: bool = False,
                   residual: Optional[Tensor] = None, overwrite_residual: bool = False) -> Tensor:
    """relu?(conv(x; weight, bias) + residual?), `conv` giving stride, padding, dilation and groups.

    x: [N, C, H, W]; residual: [N, O, H', W'] like the output; overwrite_residual: the sum may be written into
    `residual` (its owner no longer needs it). Inference only (no autograd through the private kernel).
    """
    if onednn_fusable(x, conv):
        args = (weight, bias, list(conv.padding), list(conv.stride), list(conv.dilation), conv.groups)
        if residual is None:
            return torch.ops.mkldnn._convolution_pointwise(x, *args, "relu" if relu else "none", [], "")
        unary = "relu" if relu else None
        if overwrite_residual and residual.is_contiguous(memory_format=torch.channels_last):
            return torch.ops.mkldnn._convolution_pointwise_.binary(residual, x, *args, "add", 1.0, unary, [], None)
        return torch.ops.mkldnn._convolution_pointwise.binary(x, residual, *args, "add", 1.0, unary, [], None)
    y = F.conv2d(x, weight, bias, conv.stride, conv.padding, conv.dilation, conv.groups)
    if residual is not None:
        y = y.add_(residual)
    return F.relu_(y) if relu else y


def winograd_applies(x: Tensor, conv: nn.Conv2d) -> bool:
    """Whether NNPACK's Winograd kernel applies: a dense 3x3, stride 1 convolution of fp32 CPU maps, large enough."""
    return (x.device.type == "cpu" and x.dtype == torch.float32 and conv.kernel_size == (3, 3)
            and conv.stride == (1, 1) and conv.dilation == (1, 1) and conv.groups == 1
            and conv.padding_mode == "zeros" and not isinstance(conv.padding, str)
            and x.shape[-2] * x.shape[-1] >= WINOGRAD_MIN_PIXELS and torch.backends.nnpack.is_available()
            and getattr(torch._C, "_get_nnpack_enabled", lambda: True)())  # torch.backends.nnpack.flags() honoured


def winograd_conv(x: Tensor, conv: nn.Conv2d) -> Tensor:
    """conv(x) as NNPACK's Winograd convolution where `winograd_applies`, else torch's convolution: [N, C, H, W]
    (any layout) -> [N, O, H, W]."""
    if winograd_applies(x, conv):
        return torch._nnpack_spatial_convolution(x.contiguous(), conv.weight, conv.bias, list(conv.padding))
    return conv._conv_forward(x, conv.weight, conv.bias)  # the plain kernel (also for a fused module in `conv`'s place)
