"""The small MLP of Sec. 6, run fully convolutionally over a pyramid level (one per window size, shared by all levels).

    window (k x k conv, d -> hidden) -> ReLU -> sibling 1x1 convs: objectness (1) and mask (mask_size**2 logits)

At every position of P_k the MLP sees the k x k window of d-dim features centred there and predicts an objectness logit
and a mask_size x mask_size mask (row-major logits) of the window's image region (see scales.py). The mask 1x1 conv
is evaluated only where a mask is needed (sampled positives in training, top-scoring windows at inference): its output
at a position equals the dense 1x1 conv's, without computing mask_size**2 channels for every position.
"""
from __future__ import annotations

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
        """x [N, d, H_k, W_k] -> hidden [N, hidden, H_k, W_k], objectness logits [N, H_k, W_k]."""
        hidden = F.relu(self.window(x))
        return hidden, self.objectness(hidden)[:, 0]

    def masks_at(self, hidden: Tensor, batch: Tensor, ys: Tensor, xs: Tensor) -> Tensor:
        """Mask logits [P, mask_size, mask_size] at positions (batch[p], ys[p], xs[p]) of `hidden` [N, hidden, H, W]."""
        h = hidden[batch, :, ys, xs]  # [P, hidden]
        logits = F.linear(h, self.mask.weight.flatten(1), self.mask.bias)
        return logits.view(-1, self.mask_size, self.mask_size)
