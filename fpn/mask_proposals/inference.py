"""Inference post-processing: dense window scores -> at most `num_proposals` mask proposals per image.

1. Scores: sigmoid of the objectness logit at every window of every (level, MLP) pair; windows whose centre lies in the
   batch padding are dropped.
2. Pre-selection: the `pre_nms_top_n` best windows of each pair (default 1000), then their mask_size**2 masks
   (sigmoid of the mask logits).
3. Masks that are empty at threshold 0.5 are dropped. Duplicate suppression: class-agnostic box NMS (IoU >
   `nms_thresh`, default 0.7, None = off) on the masks' bounding boxes (mask_boxes: at the mask grid's resolution),
   over all pairs together, then the best `num_proposals` (default 1000) are kept, by score.
4. Regions and boxes are mapped from the resized image to the input image (per-axis scale factors).

Output per image (input-image pixels): "scores" [P], "boxes" [P, 4] mask bounding boxes, "regions" [P, 4] the window
regions the masks cover, "mask_probs" [P, M, M], "levels" [P] (k of P_k), "mlps" [P] (0 = 5x5, 1 = 7x7), and
"masks" BoolTensor [min(P, num_masks_pasted), H, W]: the best proposals pasted (paste.py); the rest are pasted on
demand with paste_masks / iter_pasted_masks / encode_proposals, which keeps 1000 proposals of an 800x1333 image at a
few MB instead of 1 GB.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn
from torchvision.ops import nms

from ..images import rescale_boxes
from .paste import mask_boxes, paste_masks
from .scales import WindowScale
from .targets import inside_image, window_centres, window_regions


class MaskProposalPostProcessor(nn.Module):
    def __init__(
        self,
        pre_nms_top_n: int = 1000,
        nms_thresh: float | None = 0.7,
        num_proposals: int = 1000,
        num_masks_pasted: int = 100,
        mask_threshold: float = 0.5,
    ) -> None:
        super().__init__()
        self.pre_nms_top_n = pre_nms_top_n
        self.nms_thresh = nms_thresh
        self.num_proposals = num_proposals
        self.num_masks_pasted = num_masks_pasted
        self.mask_threshold = mask_threshold

    def candidates(
        self, scales: list[WindowScale], dense: list[tuple[Tensor, Tensor]], heads: nn.ModuleDict, b: int,
        image_size: tuple[int, int],
    ) -> dict[str, Tensor]:
        """Top windows of image b of the batch, all pairs: scores, regions (resized-image px), mask_probs, levels, mlps."""
        out: dict[str, list[Tensor]] = {k: [] for k in ("scores", "regions", "mask_probs", "levels", "mlps")}
        for scale, (hidden, obj) in zip(scales, dense):
            h, w = obj.shape[-2:]
            centres = window_centres(h, w, scale.stride, device=obj.device)
            logits = obj[b].reshape(-1)
            keep = inside_image(centres, image_size).nonzero().squeeze(1)
            top = logits[keep].topk(min(self.pre_nms_top_n, keep.numel())).indices
            idx = keep[top]
            masks = heads[scale.mlp].masks_at(hidden, torch.full_like(idx, b), idx // w, idx % w).sigmoid()
            out["scores"].append(logits[idx].sigmoid())
            out["regions"].append(window_regions(centres[idx], scale.region))
            out["mask_probs"].append(masks)
            out["levels"].append(torch.full_like(idx, scale.level_index))
            out["mlps"].append(torch.full_like(idx, scale.mlp_index))
        return {k: torch.cat(v) for k, v in out.items()}

    def select(self, cand: dict[str, Tensor], image_size: tuple[int, int]) -> dict[str, Tensor]:
        """Drop empty masks, NMS on mask boxes, keep the best num_proposals (all in resized-image pixels)."""
        boxes, nonempty = mask_boxes(cand["mask_probs"], cand["regions"], image_size, self.mask_threshold)
        keep = nonempty.nonzero().squeeze(1)
        if self.nms_thresh is not None:
            keep = keep[nms(boxes[keep], cand["scores"][keep], self.nms_thresh)]
        else:
            keep = keep[cand["scores"][keep].argsort(descending=True)]
        keep = keep[: self.num_proposals]
        out = {k: v[keep] for k, v in cand.items()}
        out["boxes"] = boxes[keep]
        return out

    def forward(
        self,
        scales: list[WindowScale],
        dense: list[tuple[Tensor, Tensor]],
        heads: nn.ModuleDict,
        image_sizes: list[tuple[int, int]],
        original_sizes: list[tuple[int, int]],
        trace: dict | None = None,
    ) -> list[dict[str, Tensor]]:
        results = []
        for b, (size, orig) in enumerate(zip(image_sizes, original_sizes)):
            cand = self.candidates(scales, dense, heads, b, size)
            if trace is not None:
                trace.setdefault("candidates", []).append(cand)
            res = self.select(cand, size)
            res["regions"] = rescale_boxes(res["regions"], size, orig)
            res["boxes"] = rescale_boxes(res["boxes"], size, orig)
            res["masks"] = paste_masks(
                res["mask_probs"][: self.num_masks_pasted], res["regions"][: self.num_masks_pasted], orig,
                self.mask_threshold,
            )
            results.append(res)
        return results
