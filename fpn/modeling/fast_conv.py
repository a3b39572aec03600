"""The fast inference path of the convolutions: BatchNorm folding, fused ReLU / residual sums, Winograd 3x3.

Backbone (`fused_stage`): at inference a frozen (or eval-mode) BatchNorm after a convolution is a per-channel affine
map, so conv -> BN is one convolution with weights W * scale[o] and bias b * scale + shift (scale = gamma /
sqrt(var + eps), shift = beta - mean * scale). On CPU, oneDNN then applies the ReLU and the residual sum of a ResNet
block inside that convolution (`torch.ops.mkldnn._convolution_pointwise`, the kernels torch.compile's CPU backend
fuses into), on channels-last maps: no map is written and read again for BN, ReLU or the sum.
Pyramid and RPN head (`head_conv`): their 3x3 convolutions on the large maps (P2..P4: most of the detector's
arithmetic) run as Winograd F(6x6, 3x3) convolutions (NNPACK, shipped with PyTorch's CPU builds), about 2.5x fewer
operations; 1x1 convolutions are one matrix product per image that reads channels-last input and writes row-major
maps, so RoIAlign and the Winograd kernels get their layout without a copy.
Same maps, other rounding: the README states how far the detections move; tests/test_fast_path.py bounds it.
Other devices and dtypes fall back to plain convolutions with the folded weights.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn
from torch.nn import functional as F
from torchvision.models.resnet import BasicBlock, Bottleneck


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


def _folded_for_inference(conv: nn.Conv2d, bn: Optional[nn.Module], channels_last: bool
                          ) -> tuple[Tensor, Optional[Tensor]]:
    """`fold_batch_norm`, remembered on the conv until one of the tensors it reads changes (its storage or version
    counter: load_state_dict, optimiser steps and .to() all change one) - folding on every call would cost a pass
    over all the weights per image."""
    sources = [conv.weight, conv.bias] + ([bn.weight, bn.bias, bn.running_mean, bn.running_var] if bn is not None
                                          else [])
    key = (channels_last, bn.eps if bn is not None else None,
           *[(id(t), t.data_ptr(), t._version) if t is not None else None for t in sources])
    cached = conv.__dict__.get("_fast_path_weights")
    if cached is not None and cached[0] == key:
        return cached[1], cached[2]
    weight, bias = fold_batch_norm(conv, bn)
    if channels_last:
        weight = weight.contiguous(memory_format=torch.channels_last)
    conv.__dict__["_fast_path_weights"] = (key, weight, bias)
    return weight, bias


def _onednn(x: Tensor, conv: nn.Conv2d) -> bool:
    """Whether oneDNN's fused kernels apply: fp32 on CPU, a zero-padded conv with numeric padding."""
    return (x.device.type == "cpu" and x.dtype == torch.float32 and torch.backends.mkldnn.is_available()
            and torch.backends.mkldnn.enabled and hasattr(torch.ops.mkldnn, "_convolution_pointwise")
            and conv.padding_mode == "zeros" and not isinstance(conv.padding, str))


def to_channels_last(x: Tensor) -> Tensor:
    """[N, C, H, W] stored channels-last on CPU (oneDNN's native layout: no reorder around every conv)."""
    return x.contiguous(memory_format=torch.channels_last) if x.device.type == "cpu" else x


def fused_conv(x: Tensor, conv: nn.Conv2d, bn: Optional[nn.Module] = None, relu: bool = False,
               residual: Optional[Tensor] = None, overwrite_residual: bool = False) -> Tensor:
    """relu?(bn(conv(x)) + residual?) as one convolution (inference only: no autograd through the folded weights).

    x: [N, C, H, W]; residual: [N, O, H', W'] like the output; overwrite_residual: the sum may be written into
    `residual` (its owner no longer needs it), which saves allocating one map.
    """
    onednn = _onednn(x, conv)
    weight, bias = _folded_for_inference(conv, bn, channels_last=onednn)
    if onednn:
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


def fused_residual_block(block: nn.Module, x: Tensor, overwrite_input: bool) -> Tensor:
    """One torchvision ResNet block (BasicBlock or Bottleneck) with its BNs folded and ReLU / sum fused.

    overwrite_input: `x` is needed by nobody else, so the block may write its output into it.
    """
    if isinstance(block, Bottleneck):
        pairs = [(block.conv1, block.bn1), (block.conv2, block.bn2), (block.conv3, block.bn3)]
    elif isinstance(block, BasicBlock):
        pairs = [(block.conv1, block.bn1), (block.conv2, block.bn2)]
    else:
        raise TypeError(f"not a torchvision ResNet block: {type(block).__name__}")
    if block.downsample is not None:
        identity, overwrite = fused_conv(x, block.downsample[0], block.downsample[1]), True
    else:
        identity, overwrite = x, overwrite_input
    y = x
    for conv, bn in pairs[:-1]:
        y = fused_conv(y, conv, bn, relu=True)
    return fused_conv(y, *pairs[-1], relu=True, residual=identity, overwrite_residual=overwrite)


def fused_stage(stage: nn.Sequential, x: Tensor, overwrite_input: bool = False) -> Tensor:
    """A ResNet stage (sequence of blocks) on the fused path; only its first block may get a shared input."""
    for i, block in enumerate(stage):
        x = fused_residual_block(block, x, overwrite_input or i > 0)
    return x


#: Winograd pays off from about this many output pixels per map (measured: 2.5x faster at 50 x 50 and above on
#: 256 channels, slower than oneDNN at 13 x 13)
WINOGRAD_MIN_PIXELS = 32 * 32


def _winograd(x: Tensor, conv: nn.Conv2d) -> bool:
    """Whether NNPACK's Winograd kernel applies: a dense 3x3, stride 1 convolution of fp32 CPU maps, large enough."""
    return (x.device.type == "cpu" and x.dtype == torch.float32 and conv.kernel_size == (3, 3)
            and conv.stride == (1, 1) and conv.dilation == (1, 1) and conv.groups == 1
            and conv.padding_mode == "zeros" and not isinstance(conv.padding, str)
            and x.shape[-2] * x.shape[-1] >= WINOGRAD_MIN_PIXELS and torch.backends.nnpack.is_available()
            and getattr(torch._C, "_get_nnpack_enabled", lambda: True)())  # torch.backends.nnpack.flags() honoured


def pointwise_conv(x: Tensor, weight: Tensor, bias: Optional[Tensor]) -> Tensor:
    """A 1x1 convolution as one matrix product per image: x [N, C, H, W] (row-major or channels-last) ->
    [N, O, H, W] row-major. weight [O, C, 1, 1], bias [O] or None."""
    n, c, h, w = x.shape
    weight = weight.reshape(weight.shape[0], c)
    out = x.new_empty((n, weight.shape[0], h * w))
    for i in range(n):
        # flatten(1) is a view for both layouts (channels-last gives the transposed operand, which GEMM reads as is)
        if bias is None:
            torch.mm(weight, x[i].flatten(1), out=out[i])
        else:
            torch.addmm(bias[:, None], weight, x[i].flatten(1), out=out[i])
    return out.view(n, -1, h, w)


def head_conv(x: Tensor, conv: nn.Conv2d, relu: bool = False) -> Tensor:
    """conv(x) -> ReLU? for the pyramid and the RPN head at inference: [N, C, H, W] (any layout) -> [N, O, H, W]."""
    if _winograd(x, conv):
        y = torch._nnpack_spatial_convolution(x.contiguous(), conv.weight, conv.bias, list(conv.padding))
    elif (conv.kernel_size == (1, 1) and conv.stride == (1, 1) and conv.groups == 1 and conv.padding in ((0, 0), 0)
          and x.device.type == "cpu"):
        y = pointwise_conv(x, conv.weight, conv.bias)
    else:
        y = conv(x)
    return F.relu_(y) if relu else y


def fast_path_active(module: nn.Module) -> bool:
    """Whether `module` takes its fast path now: asked to (`module.fast_path`), in eval mode, with no autograd graph."""
    return bool(getattr(module, "fast_path", False)) and not module.training and not torch.is_grad_enabled()
