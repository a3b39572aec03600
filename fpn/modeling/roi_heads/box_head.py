"""Fast R-CNN feature extractors (Sec. 4.2): the 2-fc MLP head of FPN and the conv5 head of the C4 baseline."""
from __future__ import annotations

from torch import Tensor, nn
from torch.nn import functional as F


class TwoMLPHead(nn.Module):
    """Pooled RoI features [R, C, S, S] -> [R, representation] through two hidden fc layers with ReLU (1024 in the paper).

    Randomly initialised: ResNets have no pre-trained fc layers (Sec. 4.2).
    """

    def __init__(self, in_features: int, representation: int = 1024) -> None:
        super().__init__()
        self.fc6 = nn.Linear(in_features, representation)
        self.fc7 = nn.Linear(representation, representation)
        self.out_features = representation

    def forward(self, x: Tensor) -> Tensor:
        x = x.flatten(start_dim=1)
        return F.relu(self.fc7(F.relu(self.fc6(x))))


class ResNetConv5Head(nn.Module):
    """The C4 baseline's head (Table 2a/3a, after He et al.): all conv5 blocks on 14x14 RoI features, then average pooling.

    [R, C4 channels, 14, 14] -> conv5 (first block has stride 2) -> [R, C5 channels, 7, 7] -> [R, C5 channels].
    The fast inference paths swap in `fpn.modeling.fast.backbone.FusedConv5Head` (as the bottom-up's).
    """

    def __init__(self, conv5: nn.Module, out_features: int) -> None:
        super().__init__()
        self.conv5 = conv5
        self.out_features = out_features

    def forward(self, x: Tensor) -> Tensor:
        return self.conv5(x).mean(dim=(2, 3))
