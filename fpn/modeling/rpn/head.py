"""RPN head (Sec. 4.1): a 3x3 conv and two sibling 1x1 convs, shared by all pyramid levels."""
from __future__ import annotations

from torch import Tensor, nn
from torch.nn import functional as F


class RPNHead(nn.Module):
    """Per level [N, C, H, W] -> objectness logits [N, A, H, W] and box deltas [N, 4A, H, W] (dx, dy, dw, dh per anchor).

    Args:
        in_channels: channels of the maps (d = 256 for the pyramid; C4 / C5 widths for the single-scale baselines).
        num_anchors: anchors per position A (3 on a pyramid level, 15 on a single-scale map).
        hidden_channels: width of the 3x3 conv (default: in_channels, as in the paper's FPN head).
    """

    def __init__(self, in_channels: int, num_anchors: int, hidden_channels: int | None = None) -> None:
        super().__init__()
        hidden = hidden_channels or in_channels
        self.conv = nn.Conv2d(in_channels, hidden, kernel_size=3, padding=1)
        self.objectness = nn.Conv2d(hidden, num_anchors, kernel_size=1)
        self.deltas = nn.Conv2d(hidden, num_anchors * 4, kernel_size=1)
        for layer in (self.conv, self.objectness, self.deltas):
            nn.init.normal_(layer.weight, std=0.01)
            nn.init.zeros_(layer.bias)

    def forward(self, features: dict[str, Tensor]) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        logits, deltas = {}, {}
        for level, x in features.items():
            t = F.relu_(self.conv(x))  # in place, as torchvision's head: the conv output is private
            logits[level] = self.objectness(t)
            deltas[level] = self.deltas(t)
        return logits, deltas


def flatten_level(logits: Tensor, deltas: Tensor) -> tuple[Tensor, Tensor]:
    """[N, A, H, W], [N, 4A, H, W] -> [N, H*W*A], [N, H*W*A, 4], in the anchors' (row, column, anchor) order."""
    n, a, h, w = logits.shape
    logits = logits.permute(0, 2, 3, 1).reshape(n, -1)
    deltas = deltas.view(n, a, 4, h, w).permute(0, 3, 4, 1, 2).reshape(n, -1, 4)
    return logits, deltas
