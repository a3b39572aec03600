"""Fast R-CNN on a fixed set of proposals: the paper's Table 2 protocol, at test time.

The paper compares its Fast R-CNN heads (Table 2) on one set of proposals, those of the FPN RPN of Table 1 (c), so
that a row's AP measures the head and its features, not the proposals they were given. `FixedProposals` runs one
detector's backbone, pyramid and Fast R-CNN on the proposals of another model's RPN (an RPN trained alone, as the
paper's, or a detector's):

    on_fpn = FixedProposals(p2_only, proposer=fpn_rpn)      # both fpn.FasterRCNN
    out = on_fpn.predict([image])[0]                         # p2_only's detections on fpn_rpn's 1000 proposals

Only the test is the paper's: a bundled head was trained on its own RPN's proposals (end to end), whereas the paper
trains each Table 2 head on the fixed proposals too. `scripts/evaluate.py --proposals-from` scores it.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from .detector import FasterRCNN

# The proposer's outputs handed on with the detections: its proposals are the ones the boxes came from.
_PROPOSAL_KEYS = ("proposals", "proposal_scores", "proposal_logits", "proposal_levels", "input_scale")
# Build options that must agree: the two models must see an image at the same size for `input_scale` (the frame
# Eq. (1) and the per-level metrics read) to hold for both.
_SAME_INPUT = ("min_size", "max_size")


class FixedProposals(nn.Module):
    """`detector`'s Fast R-CNN on `proposer`'s proposals.

    predict(images): per image the detector's "boxes" [D, 4] (original-image pixels), "scores" [D], "labels" [D],
    plus the proposer's "proposals" [P, 4] (original-image pixels), "proposal_scores" [P], "proposal_levels" [P] and
    "input_scale" [2], as `FasterRCNN.predict` gives them.
    config: the detector's build options, with the proposer's "anchor_sizes" (the maps the proposals came from).
    """

    def __init__(self, detector: FasterRCNN, proposer: FasterRCNN) -> None:
        super().__init__()
        for role, model in (("detector", detector), ("proposer", proposer)):
            if not isinstance(model, FasterRCNN):
                raise ValueError(f"the {role} is a {type(model).__name__}, not a fpn.FasterRCNN (a detector or an "
                                 "RPN trained alone)")
        if detector.roi_heads is None:
            raise ValueError("the detector is an RPN trained alone: it has no Fast R-CNN to run on the proposals "
                             "(pass a detection checkpoint as the detector, the RPN as the proposer)")
        for key in _SAME_INPUT:
            mine, theirs = detector.config.get(key), proposer.config.get(key)
            if mine != theirs:
                raise ValueError(f"the detector resizes with {key}={mine} but the proposer with {key}={theirs}: "
                                 "both must see an image at the same size (rebuild one with the other's option)")
        self.detector = detector
        self.proposer = proposer
        self.config: dict[str, Any] = {**detector.config, "anchor_sizes": proposer.config.get("anchor_sizes")}

    @torch.no_grad()
    def predict(self, images: list[Tensor]) -> list[dict[str, Tensor]]:
        proposed = self.proposer.predict(images, detect=False)  # its proposals; its own head (if any) not run
        was_training = self.detector.training
        self.detector.eval()
        try:
            detections, _, _ = self.detector.run(images, proposals=[p["proposals"] for p in proposed])
        finally:
            self.detector.train(was_training)
        for det, prop in zip(detections, proposed):
            det.update({k: prop[k] for k in _PROPOSAL_KEYS if k in prop})
        return detections
