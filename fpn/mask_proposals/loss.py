"""Training loss of the mask proposer: objectness on sampled windows, per-pixel mask loss on positives only.

Per image, every window of every (level, MLP) pair is labelled (targets.py); `batch_size_per_image` windows are
sampled with at most `positive_fraction` positives (torchvision's balanced sampler). The FPN appendix: 128 windows at
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
        dense: list[tuple[Tensor, Tensor]],
        heads: nn.ModuleDict,
        image_sizes: list[tuple[int, int]],
        targets: list[dict[str, Tensor]],
    ) -> dict[str, Tensor]:
        """
        Args:
            scales: the model's (level, MLP) pairs, fine to coarse.
            dense: per pair, (hidden [N, hidden, H_k, W_k], objectness logits [N, H_k, W_k]).
            heads: MLP name -> MaskMLP (to evaluate mask logits at the sampled positives).
            image_sizes: (height, width) of each resized, un-padded image.
            targets: per image "boxes" [M, 4] and "masks" [M, H, W] in resized-image pixels.
        """
        obj_logits, obj_labels, mask_logits, mask_targets = [], [], [], []
        for b, (size, target) in enumerate(zip(image_sizes, targets)):
            boxes = target["boxes"]
            labels, matched, centres = [], [], []
            for g, (scale, (_, obj)) in enumerate(zip(scales, dense)):
                h, w = obj.shape[-2:]
                c = window_centres(h, w, scale.stride, device=obj.device)
                lab, mat = assign_windows(c, scale, boxes, inside_image(c, size), g == 0, g == len(scales) - 1,
                                          self.rule)
                labels.append(lab)
                matched.append(mat)
                centres.append(c)
            (pos,), (neg,) = self.sampler([torch.cat(labels)])
            sampled = (pos | neg).nonzero().squeeze(1)
            all_logits = torch.cat([obj[b].reshape(-1) for _, obj in dense])
            obj_logits.append(all_logits[sampled])
            obj_labels.append(pos[sampled].to(all_logits.dtype))
            # masks of the sampled positives, pair by pair
            start = 0
            for scale, (hidden, _), lab, mat, c in zip(scales, dense, labels, matched, centres):
                k = lab.numel()
                idx = pos[start : start + k].nonzero().squeeze(1)
                start += k
                if idx.numel() == 0:
                    continue
                w = hidden.shape[-1]
                batch = torch.full_like(idx, b)
                mask_logits.append(heads[scale.mlp].masks_at(hidden, batch, idx // w, idx % w))
                regions = window_regions(c[idx], scale.region)
                mask_targets.append(crop_mask_targets(target["masks"], mat[idx], regions, self.mask_size))
        logits = torch.cat(obj_logits)
        zero = sum(obj.sum() for _, obj in dense) * 0.0 + sum(h.sum() for h, _ in dense) * 0.0
        if logits.numel() > 0:
            loss_obj = F.binary_cross_entropy_with_logits(logits, torch.cat(obj_labels))
        else:
            loss_obj = zero
        if mask_logits:
            loss_mask = self.mask_loss_weight * F.binary_cross_entropy_with_logits(torch.cat(mask_logits),
                                                                                   torch.cat(mask_targets))
        else:
            loss_mask = zero
        return {"loss_objectness": loss_obj, "loss_mask": loss_mask}
