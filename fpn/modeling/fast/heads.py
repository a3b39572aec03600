"""The pyramid and the heads on the fast path, in fp32 or bf16.

Pyramid and RPN head: their 3x3 convolutions on the large maps (P2..P4: most of the detector's arithmetic) run in fp32
as Winograd convolutions (about 2.5x fewer operations), in bf16 as oneDNN convolutions with the ReLU fused;
1x1 convolutions are one matrix product per image that reads channels-last input and writes row-major maps, so
RoIAlign and the Winograd kernels get their layout without a copy; the RPN's two sibling 1x1 convs are one product.
Where precision matters the fused modules hand over fp32: RPN logits and deltas (box decoding, NMS), RoIAlign's
input (its kernel wants the maps in the boxes' dtype, and box coordinates in bf16 would be rounded to 4 px at 800 px),
the box head's features (the predictor, softmax and box decoding).
"""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Optional

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ..roi_heads.box_head import TwoMLPHead
from ..roi_heads.pooler import LevelRoIPooler
from ..rpn.head import RPNHead
from .folding import inference_weights
from .fused import Fused
from .kernels import conv_pointwise, onednn_fusable, winograd_conv


def pointwise_conv(x: Tensor, weight: Tensor, bias: Optional[Tensor]) -> Tensor:
    """A 1x1 convolution as one matrix product per image: x [N, C, H, W] (row-major or channels-last) ->
    [N, O, H, W] row-major, in x's dtype. weight [O, C, 1, 1], bias [O] or None, in x's dtype."""
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


def head_conv(x: Tensor, conv: nn.Conv2d, dtype: torch.dtype = torch.float32, relu: bool = False) -> Tensor:
    """relu?(conv(x)) for the pyramid and the RPN head at inference, in `dtype`: [N, C, H, W] (any layout) ->
    [N, O, H, W]. fp32: Winograd for large 3x3 maps; bf16: oneDNN (channels-last); 1x1: `pointwise_conv`."""
    x = x.to(dtype)
    if conv.kernel_size == (1, 1) and conv.stride == (1, 1) and conv.groups == 1 and conv.padding in ((0, 0), 0) \
            and x.device.type == "cpu":
        y = pointwise_conv(x, *inference_weights(conv, dtype=dtype))
    elif dtype == torch.float32:
        y = winograd_conv(x, conv)
    else:
        fusable = onednn_fusable(x, conv)
        if fusable:
            x = x.contiguous(memory_format=torch.channels_last)
        return conv_pointwise(x, *inference_weights(conv, dtype=dtype, channels_last=fusable), conv, relu=relu)
    return F.relu_(y) if relu else y


class FusedConv2d(Fused, nn.Conv2d):
    """A convolution of the pyramid (lateral 1x1, output 3x3) by `head_conv` in `compute_dtype`; its output in
    `out_dtype` (None: `compute_dtype`; the mask proposer's MLPs read fp32). The pyramid's own forward runs around
    it unchanged."""

    out_dtype: Optional[torch.dtype] = None

    def forward(self, x: Tensor) -> Tensor:
        if not self.fused_now():
            return nn.Conv2d.forward(self, x)
        return head_conv(x, self, self.compute_dtype).to(self.out_dtype or self.compute_dtype)


class FusedRPNHead(Fused, RPNHead):
    """`RPNHead` with the 3x3 conv by `head_conv` and both sibling 1x1 convs as one product (the hidden map is read
    once), in `compute_dtype`; logits and deltas come out fp32 (box decoding and NMS are fp32)."""

    def forward(self, features: dict[str, Tensor]) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        if not self.fused_now():
            return RPNHead.forward(self, features)
        dtype = self.compute_dtype
        (w_obj, b_obj), (w_delta, b_delta) = (inference_weights(self.objectness, dtype=dtype),
                                              inference_weights(self.deltas, dtype=dtype))
        weight, bias, a = torch.cat([w_obj, w_delta]), torch.cat([b_obj, b_delta]), self.objectness.out_channels
        logits, deltas = {}, {}
        for level, x in features.items():
            both = pointwise_conv(head_conv(x, self.conv, dtype, relu=True), weight, bias).float()
            logits[level], deltas[level] = both[:, :a], both[:, a:]
        return logits, deltas


class FusedRoIPooler(Fused, LevelRoIPooler):
    """`LevelRoIPooler` on maps in any dtype, its RoIs split over the CPU threads: maps are pooled in fp32
    (torchvision's RoIAlign wants the maps in the boxes' dtype; boxes stay fp32), so pooled features are fp32.

    torchvision's CPU RoIAlign runs on one thread (1000 RoIs on a 128x128 map: 119 ms on one core, about a third of
    the bundled fpn's forward pass), so each level's RoIs are pooled in `torch.get_num_threads()` chunks on as many
    Python threads (the op releases the GIL): the same numbers, 2x faster on 2 cores (measured: 61 ms)."""

    def forward(self, features: dict[str, Tensor], boxes: list[Tensor]) -> tuple[Tensor, Tensor]:
        return LevelRoIPooler.forward(self, {k: features[k].float() for k in self.strides}, boxes)

    def _pool(self, x: Tensor, rois: Tensor, stride: int) -> Tensor:
        parts = min(torch.get_num_threads(), len(rois) // MIN_ROIS_PER_THREAD)
        if parts < 2 or not self.fused_now() or x.device.type != "cpu":
            return LevelRoIPooler._pool(self, x, rois, stride)
        pool = _threads(parts)
        return torch.cat(list(pool.map(lambda r: LevelRoIPooler._pool(self, x, r, stride), rois.chunk(parts))))


#: fewer RoIs than this per thread are pooled on one (a thread hand-off costs about what 32 RoIs take)
MIN_ROIS_PER_THREAD = 32
_pools: dict[int, ThreadPoolExecutor] = {}
_pools_lock = threading.Lock()


def _threads(count: int) -> ThreadPoolExecutor:
    """A shared pool of `count` threads (made once per count; concurrent requests queue on it)."""
    with _pools_lock:
        if count not in _pools:
            _pools[count] = ThreadPoolExecutor(count, thread_name_prefix="roi-pool")
        return _pools[count]


class FusedTwoMLPHead(Fused, TwoMLPHead):
    """`TwoMLPHead` with fc6 / fc7 in `compute_dtype`: pooled [R, C, S, S] -> [R, representation] fp32."""

    def forward(self, x: Tensor) -> Tensor:
        if not self.fused_now():
            return TwoMLPHead.forward(self, x)
        dtype = self.compute_dtype
        x = F.relu_(F.linear(x.flatten(start_dim=1).to(dtype), *inference_weights(self.fc6, dtype=dtype)))
        return F.relu_(F.linear(x, *inference_weights(self.fc7, dtype=dtype))).float()
