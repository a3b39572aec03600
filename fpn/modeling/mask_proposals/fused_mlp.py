"""The Sec. 6 MLP on the fast path (`MaskProposer.precision("bf16")`), as a conversion like `fpn.modeling.fast`'s.

Its k x k window conv is nearly all of the proposer's arithmetic (d * hidden * k^2 per position of every level of
P2..P6: 90% of the FLOPs at 384 px with ResNet-18). The fused MLP runs it in bf16 on channels-last maps (oneDNN's
native kernels: about 2x on AVX-512 BF16, measured with scripts/benchmark_mask_proposals.py --bundled) and hands
fp32 on: the objectness and mask layers, and so the scores that rank the windows, stay fp32. In fp32 the plain
`MaskMLP` is already what runs, so only bf16 swaps this module in.
"""
from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as F

from ..fast.folding import inference_weights
from ..fast.fused import Fused
from .mlp import MaskMLP


class FusedMaskMLP(Fused, MaskMLP):
    """`MaskMLP` with its window conv in `compute_dtype` at inference (the plain forward in training / autograd)."""

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """x [N, d, H_k, W_k] (any dtype) -> hidden [N, hidden, H_k, W_k] fp32, objectness logits [N, H_k, W_k] fp32."""
        if not self.fused_now() or self.compute_dtype == torch.float32:
            return MaskMLP.forward(self, x.float())
        weight, bias = inference_weights(self.window, dtype=self.compute_dtype, channels_last=True)
        x = x.to(dtype=self.compute_dtype, memory_format=torch.channels_last)
        hidden = F.relu_(F.conv2d(x, weight, bias, padding=self.window.padding)).float()
        return hidden, self.objectness(hidden)[:, 0]
