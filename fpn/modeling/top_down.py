"""Top-down pathway (Sec. 3, Fig. 3): upsample the coarser map x2 (nearest neighbour) and add the lateral term."""
from __future__ import annotations

from typing import Optional

from torch import Tensor, nn
from torch.nn import functional as F


class TopDownPathway(nn.Module):
    """Builds the merged maps M_k from the lateral terms L_k, coarsest first.

    M_top = L_top;  M_k = L_k + up2(M_{k+1})   (merge by element-wise addition)
    A level without a lateral term (Table 1e: no lateral connections) gets M_k = up2(M_{k+1}).

    Args (forward):
        laterals: {level: L_k [N, d, H_k, W_k]} for the levels that have a lateral connection; must include the coarsest.
        sizes: {level: (H_k, W_k)} for every level, ordered fine to coarse.
        top_down_out: when a dict, receives the top-down terms {level: up2(M_{k+1})} (the pyramid's trace keeps them).
    Returns {level: M_k [N, d, H_k, W_k]} for every level of `sizes`, fine to coarse.
    """

    def forward(
        self, laterals: dict[str, Tensor], sizes: dict[str, tuple[int, int]],
        top_down_out: Optional[dict[str, Tensor]] = None
    ) -> dict[str, Tensor]:
        names = list(sizes)
        merged = {names[-1]: laterals[names[-1]]}
        top_down: dict[str, Tensor] = {}
        for name, coarser in zip(reversed(names[:-1]), reversed(names[1:])):
            # size= rather than scale_factor=2: exact for odd sizes too, and it is what torchvision does
            up = F.interpolate(merged[coarser], size=sizes[name], mode="nearest")
            top_down[name] = up
            merged[name] = laterals[name] + up if name in laterals else up
        if top_down_out is not None:
            top_down_out.update(top_down)
        return {name: merged[name] for name in names}
