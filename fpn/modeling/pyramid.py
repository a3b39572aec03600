"""The feature pyramid P2..P6 (Sec. 3) and its ablation variants (Table 1 d, e).

    fpn         P_k = conv3x3( lateral(C_k) + up2(M_{k+1}) )   k = 2..5,  P6 = subsample(P5)
    bottom_up   P_k = conv3x3( lateral(C_k) )                  no top-down pathway (Table 1d)
    no_lateral  P_k = conv3x3( up2(M_{k+1}) ), M_5 = lateral(C5) no lateral connections below C5 (Table 1e)

P_k has d channels and stride 2**k pixels; P6 (stride 64) is a stride-2 subsampling of P5 (max-pool, kernel 1) and exists
only to give the RPN a level for 512^2 anchors. No non-linearities in these layers (Sec. 3).
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Optional

from torch import Tensor, nn
from torch.nn import functional as F

from .lateral import LateralConnections
from .top_down import TopDownPathway
from .trace import PyramidTrace

MODES = ("fpn", "bottom_up", "no_lateral")


class FeaturePyramid(nn.Module):
    """C2..C5 -> P2..P6.

    Args:
        in_channels: channels of the bottom-up maps, e.g. {"c2": 256, "c3": 512, "c4": 1024, "c5": 2048}.
        d: channels of every pyramid map (256 for detection, 128 for Sec. 6 mask proposals).
        mode: "fpn", "bottom_up" or "no_lateral" (see module docstring).
        outputs: the P levels to return (default P2..P6). The P2-only variant asks for ("p2",): the whole top-down
            pathway still runs (P2 needs it) but no 3x3 convs are built for levels nobody reads.

    Input: {"c2": [N, C2, H/4, W/4], ...}. Output: OrderedDict {"p2": [N, d, H/4, W/4], ..., "p6": [N, d, H/64, W/64]}.
    `trace`, when a PyramidTrace, receives the lateral, top-down and merged terms (per level, keyed "p2".."p5") and
    the outputs.
    The fast inference paths swap fused convolutions in for its own (`fpn.modeling.fast.heads.FusedConv2d`: same
    parameters, other kernels); this forward runs around them unchanged.
    """

    def __init__(self, in_channels: dict[str, int], d: int = 256, mode: str = "fpn",
                 outputs: tuple[str, ...] = ("p2", "p3", "p4", "p5", "p6")) -> None:
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"pyramid mode must be one of {MODES}, got {mode!r}")
        self.mode = mode
        self.levels = list(in_channels)  # "c2".."c5", fine to coarse
        lateral_in = {self.levels[-1]: in_channels[self.levels[-1]]} if mode == "no_lateral" else dict(in_channels)
        self.lateral = LateralConnections(lateral_in, d)
        self.top_down = TopDownPathway() if mode != "bottom_up" else None
        top = _p(self.levels[-1])
        self.p6 = "p" + str(int(top[1:]) + 1) in outputs  # P6 is subsampled from the coarsest P, which it then needs
        self.outputs = tuple(outputs)
        convs = [_p(n) for n in in_channels if _p(n) in outputs or (self.p6 and _p(n) == top)]
        self.output = nn.ModuleDict({name: nn.Conv2d(d, d, kernel_size=3, padding=1) for name in convs})
        for conv in self.output.values():
            nn.init.kaiming_uniform_(conv.weight, a=1)
            nn.init.zeros_(conv.bias)
        self.d = d
        self.strides = {name: 2 ** int(name[1:]) for name in outputs}

    def forward(self, features: dict[str, Tensor], trace: Optional[PyramidTrace] = None
                ) -> "OrderedDict[str, Tensor]":
        laterals = self.lateral(features)
        top_down: Optional[dict[str, Tensor]] = {} if trace is not None else None
        if self.top_down is not None:
            sizes = {name: tuple(features[name].shape[-2:]) for name in self.levels}
            merged = self.top_down(laterals, sizes, top_down)
        else:
            merged = laterals
        out: "OrderedDict[str, Tensor]" = OrderedDict()
        for name in self.output:
            out[name] = self.output[name](merged["c" + name[1:]])
        if self.p6:
            last = _p(self.levels[-1])
            out["p" + str(int(last[1:]) + 1)] = F.max_pool2d(out[last], kernel_size=1, stride=2, padding=0)
        out = OrderedDict((name, out[name]) for name in self.outputs)
        if trace is not None:
            trace.lateral = {_p(k): v for k, v in laterals.items()}
            trace.top_down = {_p(k): v for k, v in top_down.items()}
            trace.merged = {_p(k): v for k, v in merged.items()}
            trace.pyramid = dict(out)
        return out


def _p(level: str) -> str:
    """"c3" -> "p3": the pyramid level built from a bottom-up stage keeps its index (and stride 2**k)."""
    return "p" + level[1:]
