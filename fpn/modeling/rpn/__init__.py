"""Region Proposal Network on the pyramid (Sec. 4.1): head -> anchors and their labels -> loss / proposals."""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn
from torchvision.models.detection._utils import BoxCoder
from torchvision.models.detection.image_list import ImageList

from ..anchors import PyramidAnchors
from .anchor_labels import AnchorLabeler
from .head import RPNHead, flatten_level
from .loss import RPNLoss
from .proposals import ProposalSelector
from ..trace import RPNTrace, Trace

#: How the RPN's pre-NMS top-k is taken: per map, or per anchor size (see RegionProposalNetwork).
PRE_NMS_PER = ("map", "anchor_size")

__all__ = ["PRE_NMS_PER", "RegionProposalNetwork", "RPNHead", "AnchorLabeler", "RPNLoss", "ProposalSelector"]


class RegionProposalNetwork(nn.Module):
    """features {level: [N, C, H, W]} -> proposals per image [P, 4] (resized-input pixels) and, in training, losses.
    `trace`, when a Trace, receives `trace.rpn` (an RPNTrace).

    Args:
        anchors: anchor generator (one area per level).
        head: shared 3x3 + 1x1 head.
        labeler: IoU 0.7 / 0.3 anchor labelling.
        loss: sampling (256 per image) and loss.
        train_selector / test_selector: post-processing (2000 / 1000 proposals per image in the paper).
        pre_nms_per: "map" (top-k and NMS per RPN map: the pyramid's levels, or a baseline's one map) or
            "anchor_size" (per anchor size: for a single map carrying all five sizes, the pyramid's per-scale budget).
    """

    def __init__(self, anchors: PyramidAnchors, head: RPNHead, labeler: AnchorLabeler, loss: RPNLoss,
                 train_selector: ProposalSelector, test_selector: ProposalSelector, pre_nms_per: str = "map") -> None:
        super().__init__()
        if pre_nms_per not in PRE_NMS_PER:
            raise ValueError(f"pre_nms_per must be 'map' or 'anchor_size', got {pre_nms_per!r}")
        self.pre_nms_per = pre_nms_per
        self.anchors = anchors
        self.head = head
        self.labeler = labeler
        self.loss = loss
        self.train_selector = train_selector
        self.test_selector = test_selector
        self.box_coder = BoxCoder(weights=(1.0, 1.0, 1.0, 1.0))

    def forward(
        self, images: ImageList, features: dict[str, Tensor], targets: Optional[list[dict[str, Tensor]]] = None,
        trace: Optional[Trace] = None,
    ) -> tuple[list[Tensor], dict[str, Tensor]]:
        logits_map, deltas_map = self.head(features)
        grid_sizes = {k: tuple(v.shape[-2:]) for k, v in features.items()}
        image_size = tuple(images.tensors.shape[-2:])
        anchors = self.anchors(grid_sizes, image_size, device=images.tensors.device, dtype=images.tensors.dtype)
        levels = list(features)
        flat = [flatten_level(logits_map[k], deltas_map[k]) for k in levels]
        logits = torch.cat([f[0] for f in flat], dim=1)  # [N, sum A]
        deltas = torch.cat([f[1] for f in flat], dim=1)  # [N, sum A, 4]
        all_anchors = torch.cat([anchors[k] for k in levels])  # [sum A, 4], the same for every image of the batch
        num_per_level = [anchors[k].shape[0] for k in levels]
        n = logits.shape[0]
        # Faster R-CNN does not backpropagate through the proposal coordinates
        boxes = self.box_coder.decode_single(deltas.detach().reshape(-1, 4), all_anchors.repeat(n, 1)).view(n, -1, 4)
        selector = self.train_selector if self.training else self.test_selector
        groups = self.anchors.size_of_each(grid_sizes).to(logits.device) if self.pre_nms_per == "anchor_size" else None
        candidates: Optional[list[dict[str, Tensor]]] = [] if trace is not None else None
        selected = selector(boxes, logits, num_per_level, images.image_sizes, groups, candidates)
        proposals = [s[0] for s in selected]

        losses: dict[str, Tensor] = {}
        labels = matched = None
        if targets is not None and (self.training or trace is not None):
            labels, matched = zip(*[self.labeler(all_anchors, t["boxes"]) for t in targets])
        if self.training:
            if targets is None:
                raise ValueError("the RPN needs targets in training mode")
            regression_targets = [self.box_coder.encode_single(m, all_anchors) for m in matched]
            cls_loss, box_loss = self.loss(logits.reshape(-1), deltas.reshape(-1, 4), list(labels), regression_targets)
            losses = {"loss_objectness": cls_loss, "loss_rpn_box_reg": box_loss}

        if trace is not None:
            trace.rpn = RPNTrace(
                levels=levels, strides=self.anchors.strides(grid_sizes, image_size),
                anchor_sizes=dict(self.anchors.sizes), aspect_ratios=self.anchors.aspect_ratios, anchors=anchors,
                objectness=logits_map, deltas=deltas_map, num_per_level=num_per_level, proposals=proposals,
                proposal_scores=[s[1] for s in selected], proposal_levels=[s[2] for s in selected],
                proposal_anchors=[s[3] for s in selected], candidates=candidates,
                proposal_logits=[s[4] for s in selected],
                anchor_shapes={k: self.anchors.anchor_shapes(k) for k in levels},  # per channel of the head
                labels=list(labels) if labels is not None else None,
                matched_boxes=list(matched) if matched is not None else None,
            )
        return proposals, losses
