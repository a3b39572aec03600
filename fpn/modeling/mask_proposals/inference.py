"""Inference post-processing: dense window scores -> at most `num_proposals` mask proposals per image.

1. Scores: sigmoid of the objectness logit at every window of every (level, MLP) pair; windows whose centre lies in the
   batch padding are dropped.
2. Pre-selection: the `pre_nms_top_n` best windows of each pair (default 1000), then their mask_size**2 masks
   (sigmoid of the mask logits).
3. The FPN appendix (the default): the best `num_proposals` (1000) windows over all pairs, by score, with no
   non-maximum suppression or other post-processing. Options (DeepMask-style): `drop_empty_masks` drops masks that
   are empty at `mask_threshold`; `nms_thresh` (e.g. 0.7) runs class-agnostic box NMS on the masks' bounding boxes
   (mask_boxes: at the mask grid's resolution) over all pairs together before the cut.
4. Regions and boxes are mapped from the resized image to the input image (per-axis scale factors).

Output per image (original-image pixels): "scores" [P], "boxes" [P, 4] mask bounding boxes, "regions" [P, 4] the window
regions the masks cover, "mask_probs" [P, M, M], "levels" [P] (k of P_k), "mlps" [P] (0 = 5x5, 1 = 7x7), and
"masks" BoolTensor [min(P, num_masks_pasted), H, W]: the best proposals pasted (paste.py); the rest are pasted on
demand with paste_masks / iter_pasted_masks / encode_proposals, which keeps 1000 proposals of an 800x1333 image at a
few MB instead of 1 GB.
"""
from __future__ import annotations

import functools

import torch
from torch import Tensor, nn
from torchvision.ops import nms

from ...images import rescale_boxes
from ..trace import MaskProposalTrace
from .paste import mask_boxes, paste_masks
from .scales import WindowScale
from .targets import inside_image, window_centres, window_regions


TRACE_TOP = 100  # best windows (before any suppression) whose masks a trace records, for fpn.explain.explore


class MaskProposalPostProcessor(nn.Module):
    def __init__(
        self,
        pre_nms_top_n: int = 1000,
        nms_thresh: float | None = None,
        num_proposals: int = 1000,
        num_masks_pasted: int = 100,
        mask_threshold: float = 0.5,
        drop_empty_masks: bool = False,
    ) -> None:
        super().__init__()
        self.pre_nms_top_n = pre_nms_top_n
        self.nms_thresh = nms_thresh
        self.drop_empty_masks = drop_empty_masks
        self.num_proposals = num_proposals
        self.num_masks_pasted = num_masks_pasted
        self.mask_threshold = mask_threshold

    def candidates(
        self, scales: list[WindowScale], dense: list[tuple[Tensor, Tensor]], b: int, image_size: tuple[int, int],
    ) -> dict[str, Tensor]:
        """Top windows of image b of the batch over all pairs, best first: scores, regions (resized-image px), levels,
        mlps, and where to find each window's mask: pair (index into `scales`) and pos (flat index into its map)."""
        out: dict[str, list[Tensor]] = {k: [] for k in ("scores", "regions", "levels", "mlps", "pair", "pos")}
        for i, (scale, (_, obj)) in enumerate(zip(scales, dense)):
            h, w = obj.shape[-2:]
            centres = window_centres(h, w, scale.stride, device=obj.device)
            logits = obj[b].reshape(-1)
            keep = inside_image(centres, image_size).nonzero().squeeze(1)
            idx = keep[logits[keep].topk(min(self.pre_nms_top_n, keep.numel())).indices]
            out["scores"].append(logits[idx].sigmoid())
            out["regions"].append(window_regions(centres[idx], scale.region))
            out["levels"].append(torch.full_like(idx, scale.level_index))
            out["mlps"].append(torch.full_like(idx, scale.mlp_index))
            out["pair"].append(torch.full_like(idx, i))
            out["pos"].append(idx)
        cand = {k: torch.cat(v) for k, v in out.items()}
        order = cand["scores"].argsort(descending=True)
        return {k: v[order] for k, v in cand.items()}

    @staticmethod
    def masks(cand: dict[str, Tensor], scales: list[WindowScale], dense: list[tuple[Tensor, Tensor]],
              heads: nn.ModuleDict, b: int) -> Tensor:
        """Mask probabilities [K, M, M] of the candidate windows `cand` (pair, pos) of image b."""
        out = None
        for i, (scale, (hidden, _)) in enumerate(zip(scales, dense)):
            sel = (cand["pair"] == i).nonzero().squeeze(1)
            if sel.numel() == 0:
                continue
            w = hidden.shape[-1]
            pos = cand["pos"][sel]
            m = heads[scale.mlp].masks_at(hidden, torch.full_like(pos, b), pos // w, pos % w).sigmoid()
            if out is None:
                out = m.new_empty((cand["pos"].shape[0], *m.shape[1:]))
            out[sel] = m
        if out is None:
            size = heads[scales[0].mlp].mask_size
            return dense[0][1].new_zeros((cand["pos"].shape[0], size, size))
        return out

    def select(self, cand: dict[str, Tensor], mask_fn, image_size: tuple[int, int]) -> dict[str, Tensor]:
        """The best num_proposals of the candidates (resized-image pixels), their masks from `mask_fn(candidates)`.
        Without NMS or empty-mask dropping (the paper), masks are computed for the kept windows only."""
        if self.nms_thresh is None and not self.drop_empty_masks:
            out = {k: v[: self.num_proposals] for k, v in cand.items()}
            out["mask_probs"] = mask_fn(out)
            out["boxes"], _ = mask_boxes(out["mask_probs"], out["regions"], image_size, self.mask_threshold)
            return out
        probs = mask_fn(cand)
        boxes, nonempty = mask_boxes(probs, cand["regions"], image_size, self.mask_threshold)
        keep = nonempty.nonzero().squeeze(1) if self.drop_empty_masks else torch.arange(len(nonempty),
                                                                                         device=nonempty.device)
        if self.nms_thresh is not None:
            keep = keep[nms(boxes[keep], cand["scores"][keep], self.nms_thresh)]
        keep = keep[: self.num_proposals]
        out = {k: v[keep] for k, v in cand.items()}
        out["mask_probs"], out["boxes"] = probs[keep], boxes[keep]
        return out

    def forward(
        self,
        scales: list[WindowScale],
        dense: list[tuple[Tensor, Tensor]],
        heads: nn.ModuleDict,
        image_sizes: list[tuple[int, int]],
        original_sizes: list[tuple[int, int]],
        trace: MaskProposalTrace | None = None,
    ) -> list[dict[str, Tensor]]:
        results = []
        for b, (size, orig) in enumerate(zip(image_sizes, original_sizes)):
            cand = self.candidates(scales, dense, b, size)
            mask_fn = functools.partial(self.masks, scales=scales, dense=dense, heads=heads, b=b)
            if trace is not None:
                best = {k: v[:TRACE_TOP] for k, v in cand.items()}
                trace.candidates.append({**best, "mask_probs": mask_fn(best)})
            res = self.select(cand, mask_fn, size)
            del res["pair"], res["pos"]
            res["regions"] = rescale_boxes(res["regions"], size, orig)
            res["boxes"] = rescale_boxes(res["boxes"], size, orig)
            res["masks"] = paste_masks(
                res["mask_probs"][: self.num_masks_pasted], res["regions"][: self.num_masks_pasted], orig,
                self.mask_threshold,
            )
            results.append(res)
        return results
