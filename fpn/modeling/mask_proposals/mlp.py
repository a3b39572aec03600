"""The small MLP of Sec. 6, run fully convolutionally over a pyramid level (one per window size, shared by all levels).

    window (k x k conv, d -> hidden) -> ReLU -> sibling 1x1 convs: objectness (1) and mask (mask_size**2 logits)

At every position of P_k the MLP sees the k x k window of d-dim features centred there and predicts an objectness logit
and a mask_size x mask_size mask (row-major logits) of the window's image region (see scales.py). The mask 1x1 conv
is evaluated only where a mask is needed (sampled positives in training, top-scoring windows at inference): its output
at a position equals the dense 1x1 conv's, without computing mask_size**2 channels for every position. In training
the whole MLP runs only at the sampled windows (`at`): the k x k window conv at one position is a dot product of the
zero-padded k x k patch with the conv's weights, so the sampled windows' outputs equal the dense ones (up to rounding)
at a fraction of the cost (128 windows instead of every position of P2..P6).
"""
from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F


class MaskMLP(nn.Module):
    """Args: d (input channels), window (5 or 7), hidden (hidden units), mask_size (14 or 28)."""

    def __init__(self, d: int, window: int, hidden: int, mask_size: int) -> None:
        super().__init__()
        self.window_size = window
        self.mask_size = mask_size
        self.window = nn.Conv2d(d, hidden, kernel_size=window, padding=window // 2)
        self.objectness = nn.Conv2d(hidden, 1, kernel_size=1)
        self.mask = nn.Conv2d(hidden, mask_size * mask_size, kernel_size=1)
        for conv in (self.window, self.objectness, self.mask):
            nn.init.normal_(conv.weight, std=0.01)
            nn.init.zeros_(conv.bias)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """x [N, d, H_k, W_k] -> hidden [N, hidden, H_k, W_k] (fp32), objectness logits [N, H_k, W_k] (fp32).

        The window conv is nearly all of the proposer's arithmetic (d * hidden * k^2 per position of every level: 90%
        of the FLOPs at 384 px with ResNet-18); `MaskProposer.precision("bf16")` swaps in `FusedMaskMLP`, which runs
        it in bf16 (fused_mlp.py)."""
        hidden = F.relu_(self.window(x))  # in place: the conv's output is not needed (nor kept by autograd)
        return hidden, self.objectness(hidden)[:, 0]

    def masks_at(self, hidden: Tensor, batch: Tensor, ys: Tensor, xs: Tensor) -> Tensor:
        """Mask logits [P, mask_size, mask_size] at positions (batch[p], ys[p], xs[p]) of `hidden` [N, hidden, H, W]."""
        return self.mask_logits(hidden[batch, :, ys, xs])

    def mask_logits(self, hidden: Tensor) -> Tensor:
        """Mask logits [P, mask_size, mask_size] of hidden vectors [P, hidden]."""
        logits = F.linear(hidden, self.mask.weight.flatten(1), self.mask.bias)
        return logits.view(-1, self.mask_size, self.mask_size)

    def at(self, x: Tensor, batch: Tensor, ys: Tensor, xs: Tensor) -> tuple[Tensor, Tensor]:
        """The MLP at positions (batch[p], ys[p], xs[p]) of the level x [N, d, H_k, W_k] only: hidden [P, hidden] and
        objectness logits [P], equal to forward(x) at those positions."""
        k = self.window_size
        padded = F.pad(x, (k // 2,) * 4)  # the window conv's zero padding
        offsets = torch.arange(k, device=x.device)
        rows = (ys[:, None] + offsets)[:, :, None]  # [P, k, 1]
        cols = (xs[:, None] + offsets)[:, None, :]  # [P, 1, k]
        patches = padded.permute(0, 2, 3, 1)[batch[:, None, None], rows, cols]  # [P, k, k, d]
        patches = patches.permute(0, 3, 1, 2).flatten(1)  # [P, d * k * k], the conv weight's order
        hidden = F.relu(F.linear(patches, self.window.weight.flatten(1), self.window.bias))
        return hidden, F.linear(hidden, self.objectness.weight.flatten(1), self.objectness.bias)[:, 0]
