"""Lateral connections (Sec. 3, Fig. 3): a 1x1 conv that brings C_k to the pyramid's d channels."""
from __future__ import annotations

from torch import Tensor, nn


class LateralConnections(nn.Module):
    """One 1x1 conv per bottom-up level, C_k [N, in_channels[k], H, W] -> [N, d, H, W]; no non-linearity.

    Args:
        in_channels: channels of each bottom-up map, e.g. {"c2": 256, "c3": 512, "c4": 1024, "c5": 2048}.
        d: pyramid channels (256 in the paper, 128 for the mask proposals of Sec. 6).
    """

    def __init__(self, in_channels: dict[str, int], d: int = 256) -> None:
        super().__init__()
        self.convs = nn.ModuleDict({name: nn.Conv2d(c, d, kernel_size=1) for name, c in in_channels.items()})
        for conv in self.convs.values():
            nn.init.kaiming_uniform_(conv.weight, a=1)
            nn.init.zeros_(conv.bias)

    def forward(self, features: dict[str, Tensor]) -> dict[str, Tensor]:
        return {name: self.convs[name](features[name]) for name in self.convs}
