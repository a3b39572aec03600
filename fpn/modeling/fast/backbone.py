"""The ResNet on the fast path: BatchNorm folded into the convolutions, ReLU and residual sums fused into them by
oneDNN, channels-last maps, in fp32 or bf16 (`FusedBottomUp`, and `FusedConv5Head` for the C4 baseline's head)."""
from __future__ import annotations

from collections import OrderedDict
from typing import Optional

import torch
from torch import Tensor, nn
from torchvision.models.resnet import BasicBlock, Bottleneck

from ..bottom_up import STAGE_OF, BottomUp
from ..roi_heads.box_head import ResNetConv5Head
from .folding import inference_weights
from .fused import Fused
from .kernels import conv_pointwise, onednn_fusable


def to_channels_last(x: Tensor, dtype: torch.dtype) -> Tensor:
    """[N, C, H, W] in `dtype`, stored channels-last on CPU (oneDNN's native layout: no reorder around every conv)."""
    x = x.to(dtype)
    return x.contiguous(memory_format=torch.channels_last) if x.device.type == "cpu" else x


def fused_conv(x: Tensor, conv: nn.Conv2d, bn: Optional[nn.Module] = None, relu: bool = False,
               residual: Optional[Tensor] = None, overwrite_residual: bool = False) -> Tensor:
    """relu?(bn(conv(x)) + residual?) as one convolution in x's dtype (inference only).

    x: [N, C, H, W]; residual: [N, O, H', W'] like the output; overwrite_residual: the sum may be written into
    `residual` (its owner no longer needs it), which saves allocating one map.
    """
    weight, bias = inference_weights(conv, bn, x.dtype, channels_last=onednn_fusable(x, conv))
    return conv_pointwise(x, weight, bias, conv, relu, residual, overwrite_residual)


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


class FusedBottomUp(Fused, BottomUp):
    """`BottomUp` with BN folded and ReLU / sums fused: [N, 3, H, W] fp32 -> C2..C5 in `compute_dtype`, channels-last."""

    def forward(self, x: Tensor) -> "OrderedDict[str, Tensor]":
        if not self.fused_now():
            return BottomUp.forward(self, x)
        x = self.maxpool(fused_conv(to_channels_last(x, self.compute_dtype), self.conv1, self.bn1, relu=True))
        out: "OrderedDict[str, Tensor]" = OrderedDict()
        for name in self.names:
            # the stem's output is private; a stage output (C_k) is returned, so the next stage must not overwrite it
            x = fused_stage(getattr(self, STAGE_OF[name]), x, overwrite_input=not out)
            out[name] = x
        return out


class FusedConv5Head(Fused, ResNetConv5Head):
    """`ResNetConv5Head` fused as the bottom-up: pooled RoIs [R, C4, 14, 14] (any dtype) -> [R, C5] fp32, conv5 in
    `compute_dtype` on channels-last maps."""

    def forward(self, x: Tensor) -> Tensor:
        if not self.fused_now():
            return ResNetConv5Head.forward(self, x)
        y = fused_stage(self.conv5, to_channels_last(x, self.compute_dtype))
        return y.mean(dim=(2, 3), dtype=torch.float32)
