"""Training loss of the mask proposer: objectness on sampled windows, per-pixel mask loss on positives only.

Per image, every window of every (level, MLP) pair is labelled (targets.py); `batch_size_per_image` windows are
sampled with at most `positive_fraction` positives (torchvision's balanced sampler), and the MLPs run at those
windows only (MaskMLP.at: the same outputs as the dense MLP there, without computing every position). The FPN appendix: 128 windows at
1 positive : 3 negatives (positive_fraction 0.25), the mask loss weighted 10x the score loss.

    loss_objectness = mean over the sampled windows of the batch of BCE(objectness logit, label)
    loss_mask       = mask_loss_weight x mean over the sampled positives and their mask_size**2 pixels of
                      BCE(mask logit, mask target)          (negatives never reach the mask branch)

Both are zero (with a graph) when there is nothing to sample.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F
from torchvision.models.detection._utils import BalancedPositiveNegativeSampler

from .scales import WindowScale
from .targets import (
    assign_windows,
    crop_mask_targets,
    inside_image,
    window_centres,
    window_regions,
)


class MaskProposalLoss(nn.Module):
    def __init__(self, mask_size: int, batch_size_per_image: int = 128, positive_fraction: float = 0.25,
                 mask_loss_weight: float = 10.0, rule: str = "paper") -> None:
        super().__init__()
        self.mask_size = mask_size
        self.sampler = BalancedPositiveNegativeSampler(batch_size_per_image, positive_fraction)
        self.mask_loss_weight = mask_loss_weight
        self.rule = rule

    def forward(
        self,
        scales: list[WindowScale],
        pyramid: dict[str, Tensor],
        heads: nn.ModuleDict,
        image_sizes: list[tuple[int, int]],
        targets: list[dict[str, Tensor]],
    ) -> dict[str, Tensor]:
        """
        Args:
            scales: the model's (level, MLP) pairs, fine to coarse.
            pyramid: level name -> features [N, d, H_k, W_k].
            heads: MLP name -> MaskMLP, run only at the sampled windows (MaskMLP.at).
            image_sizes: (height, width) of each resized, un-padded image.
            targets: per image "boxes" [M, 4] and "masks" [M, H, W] in resized-image pixels.
        """
        obj_logits, obj_labels, mask_logits, mask_targets = [], [], [], []
        for b, (size, target) in enumerate(zip(image_sizes, targets)):
            labels, matched, centres = [], [], []
            for g, scale in enumerate(scales):
                h, w = pyramid[scale.level].shape[-2:]
                c = window_centres(h, w, scale.stride, device=target["boxes"].device)
                lab, mat = assign_windows(c, scale, target["boxes"], inside_image(c, size), g == 0,
                                          g == len(scales) - 1, self.rule)
                labels.append(lab)
                matched.append(mat)
                centres.append(c)
            (pos,), (neg,) = self.sampler([torch.cat(labels)])
            start = 0
            for scale, lab, mat, c in zip(scales, labels, matched, centres):
                k = lab.numel()
                pair_pos, idx = pos[start : start + k], (pos | neg)[start : start + k].nonzero().squeeze(1)
                start += k
                if idx.numel() == 0:
                    continue
                w = pyramid[scale.level].shape[-1]
                head = heads[scale.mlp]
                hidden, logits = head.at(pyramid[scale.level], torch.full_like(idx, b), idx // w, idx % w)
                obj_logits.append(logits)
                is_pos = pair_pos[idx].bool()
                obj_labels.append(is_pos.to(logits.dtype))
                if is_pos.any():  # negatives never reach the mask branch
                    mask_logits.append(head.mask_logits(hidden[is_pos]))
                    regions = window_regions(c[idx[is_pos]], scale.region)
                    mask_targets.append(crop_mask_targets(target["masks"], mat[idx[is_pos]], regions, self.mask_size))
        zero = sum(p.sum() for p in pyramid.values()) * 0.0
        if obj_logits:
            loss_obj = F.binary_cross_entropy_with_logits(torch.cat(obj_logits).float(), torch.cat(obj_labels).float())
        else:
            loss_obj = zero
        if mask_logits:
            loss_mask = self.mask_loss_weight * F.binary_cross_entropy_with_logits(torch.cat(mask_logits).float(),
                                                                                   torch.cat(mask_targets))
        else:
            loss_mask = zero
        return {"loss_objectness": loss_obj, "loss_mask": loss_mask}
