"""What happened to each candidate of a selection (the RPN's proposals, Fast R-CNN's detections): kept, at which rank,
or removed, by which step. Recorded only when a trace asks for it; `fpn.explain.provenance` reads the record.

A fate is an int: r >= 0 for the candidate kept at rank r (its position in the selection's output, best first), or
one of the negative codes below for the step that removed it.
"""
from __future__ import annotations

import torch
from torch import Tensor

TOO_SMALL = -1
BELOW_SCORE = -2
SUPPRESSED = -3  # by NMS
CUT = -4  # survived NMS but fell beyond the top-N kept

FATE_NAMES = {TOO_SMALL: "removed as too small", BELOW_SCORE: "below the score threshold",
              SUPPRESSED: "suppressed by NMS", CUT: "cut by the top-N limit"}


class Fates:
    """Follows candidates 0..n-1 through a selection's filters, given as the positional keep indices it applies.

    Args:
        n: number of candidates entering the selection.
        device: where the selection's tensors live.
    """

    def __init__(self, n: int, device: torch.device | None = None) -> None:
        self.alive = torch.arange(n, device=device)
        self.fate = torch.full((n,), CUT, dtype=torch.int64, device=device)

    def filter(self, keep: Tensor, removed: int) -> None:
        """keep: [k] positions, into the current survivors, that pass this filter; the others get the fate `removed`."""
        dropped = torch.ones(self.alive.shape[0], dtype=torch.bool, device=self.alive.device)
        dropped[keep] = False
        self.fate[self.alive[dropped]] = removed
        self.alive = self.alive[keep]

    def rank(self, order: Tensor, top_n: int) -> Tensor:
        """order: [k] positions, into the survivors, that NMS kept, best first; the first `top_n` are the selection.

        Returns the fates [n] (int64): rank r >= 0 of the kept, SUPPRESSED / CUT / earlier codes for the others.
        """
        self.filter(order, SUPPRESSED)
        kept = self.alive[:top_n]
        self.fate[kept] = torch.arange(kept.shape[0], device=kept.device)
        return self.fate
