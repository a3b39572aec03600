"""RPN post-processing: decode deltas, keep the top-k per group, clip, drop tiny boxes, NMS per group, keep the best.

A group is a pyramid level (the paper) or, on a single map carrying every anchor size (`p2_only`), one anchor size:
the same per-scale budget and per-scale NMS the pyramid gets from its one-size-per-level anchors.
"""
from __future__ import annotations

import torch
from torch import Tensor
from torchvision.ops import boxes as box_ops

from ..fates import BELOW_SCORE, TOO_SMALL, Fates


class ProposalSelector:
    """Proposals of one image from its decoded boxes and objectness logits over all levels.

    Args:
        pre_nms_top_n: boxes kept per group before NMS (by objectness).
        post_nms_top_n: proposals kept per image after NMS (2000 for training, 1000 for testing in the paper).
        nms_thresh: IoU threshold of the NMS, run independently on each group (0.7).
        score_thresh: minimum objectness probability.
        min_size: boxes narrower or shorter than this (pixels) are dropped.
        rule: "torchvision" (keep boxes at least min_size wide and high, NMS on the sigmoid probabilities) or
            "detectron2" (keep boxes wider and higher than min_size, NMS on the logits: sigmoid ties where logits
            do not, which changes NMS's order; detectron2/modeling/proposal_generator/proposal_utils.py).

    __call__(boxes [N, sum A, 4], logits [N, sum A], num_per_level, image_sizes, groups=None, candidates=None) ->
        per image (boxes [P, 4], scores [P] (sigmoid), source level index [P], anchor index [P] into the concatenation,
        logits [P]).
        groups: [sum A] int64 group id of every anchor (None: one group per level).
        candidates: a list (traces only) that receives, per image, the pre-NMS candidates {"anchors" [C] (index into
            the concatenation), "boxes" [C, 4] (decoded, clipped), "scores" [C], "fates" [C] (`fpn.modeling.fates`: rank among
            the proposals, or the step that removed it)}.
    """

    def __init__(self, pre_nms_top_n: int, post_nms_top_n: int, nms_thresh: float = 0.7,
                 score_thresh: float = 0.0, min_size: float = 1e-3, rule: str = "torchvision") -> None:
        if rule not in ("torchvision", "detectron2"):
            raise ValueError(f"proposal selection rule must be 'torchvision' or 'detectron2', got {rule!r}")
        self.rule = rule
        self.pre_nms_top_n = pre_nms_top_n
        self.post_nms_top_n = post_nms_top_n
        self.nms_thresh = nms_thresh
        self.score_thresh = score_thresh
        self.min_size = min_size

    def __call__(
        self, boxes: Tensor, logits: Tensor, num_per_level: list[int], image_sizes: list[tuple[int, int]],
        groups: Tensor | None = None, candidates: list[dict[str, Tensor]] | None = None,
    ) -> list[tuple[Tensor, Tensor, Tensor, Tensor]]:
        logits = logits.detach()
        device = logits.device
        levels = torch.cat([torch.full((n,), i, dtype=torch.int64, device=device) for i, n in enumerate(num_per_level)])
        top_idx = []
        if groups is None:
            offset = 0
            for level_logits in logits.split(num_per_level, dim=1):
                k = min(self.pre_nms_top_n, level_logits.shape[1])
                top_idx.append(level_logits.topk(k, dim=1).indices + offset)
                offset += level_logits.shape[1]
        else:
            for g in torch.unique(groups):
                members = torch.where(groups == g)[0]
                k = min(self.pre_nms_top_n, members.numel())
                top_idx.append(members[logits[:, members].topk(k, dim=1).indices])
        top_idx = torch.cat(top_idx, dim=1)
        nms_groups = (levels if groups is None else groups)[top_idx]
        batch = torch.arange(logits.shape[0], device=device)[:, None]
        top_logits = logits[batch, top_idx]
        scores = torch.sigmoid(top_logits)
        boxes = boxes[batch, top_idx]
        levels = levels[top_idx]

        out = []
        d2 = self.rule == "detectron2"
        for b, s, lg, lvl, grp, idx, size in zip(boxes, scores, top_logits, levels, nms_groups, top_idx, image_sizes):
            b = box_ops.clip_boxes_to_image(b, size)
            fates = Fates(idx.shape[0], device) if candidates is not None else None
            if fates is not None:
                candidates.append({"anchors": idx, "boxes": b, "scores": s})
            if d2:
                w, h = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
                keep = torch.where((w > self.min_size) & (h > self.min_size))[0]
            else:
                keep = box_ops.remove_small_boxes(b, self.min_size)
            if fates is not None:
                fates.filter(keep, TOO_SMALL)
            b, s, lg, lvl, grp, idx = b[keep], s[keep], lg[keep], lvl[keep], grp[keep], idx[keep]
            keep = torch.where(s >= self.score_thresh)[0]
            if fates is not None:
                fates.filter(keep, BELOW_SCORE)
            b, s, lg, lvl, grp, idx = b[keep], s[keep], lg[keep], lvl[keep], grp[keep], idx[keep]
            keep = box_ops.batched_nms(b, lg if d2 else s, grp, self.nms_thresh)
            if fates is not None:
                candidates[-1]["fates"] = fates.rank(keep, self.post_nms_top_n)
            keep = keep[: self.post_nms_top_n]
            out.append((b[keep], s[keep], lvl[keep], idx[keep], lg[keep]))
        return out
