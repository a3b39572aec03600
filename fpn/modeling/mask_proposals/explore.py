"""What the mask proposer computes for one image, as plain tensors for drawing (the app, fpn.explain.explore).

Everything comes from one eval-mode forward pass of the model itself with a trace (a MaskProposalTrace); nothing is
recomputed.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

from ...images import as_image_tensor, unnormalize
from ..trace import MaskProposalTrace
from .scales import MLP_INDEX


@dataclass
class MaskProposalExploration:
    """Internals for one image. Pixel frames: "resized" = the image the network sees, "original" = the image given.

    image: [3, H, W] the input image (0..1).  resized_image: [3, h, w] resized, un-normalised (0..1).
    scale: (sy, sx) = resized / original size.  pyramid: level -> [d, h_k, w_k] features (the levels of the model).
    strides: level -> stride (resized px).  scales: "p3/5x5" -> {"canonical", "region", "tolerance", "band_lo",
    "band_hi"} in resized px (scales.py).  objectness: "p3/5x5" -> [h_k, w_k] sigmoid scores at every window
    (windows in the padding included).
    top_*: the `num_top` (at most inference.TRACE_TOP) best windows over all levels and MLPs, before any
    suppression:
        top_scores [T], top_levels [T] (k), top_mlps [T] (0 = 5x5, 1 = 7x7), top_regions [T, 4] (original px),
        top_masks [T, M, M] mask probabilities over their regions.
    proposals: the model's output dict for the image (original px; "levels"/"mlps" say where each proposal came from).
    """

    image: Tensor
    resized_image: Tensor
    scale: tuple[float, float]
    pyramid: dict[str, Tensor]
    strides: dict[str, int]
    scales: dict[str, dict[str, float]]
    objectness: dict[str, Tensor]
    top_scores: Tensor
    top_levels: Tensor
    top_mlps: Tensor
    top_regions: Tensor
    top_masks: Tensor
    proposals: dict[str, Tensor] = field(default_factory=dict)
    mlp_names: dict[int, str] = field(default_factory=lambda: {v: k for k, v in MLP_INDEX.items()})


@torch.no_grad()
def explore_mask_proposals(model, image, num_top: int = 20) -> MaskProposalExploration:
    """Run `model` (a MaskProposer) on one image and collect its internals.

    image: [3, H, W] float tensor in [0, 1] (uint8 tensors are scaled), PIL image or HxW(x3/4) numpy array.
    """
    image = as_image_tensor(image).to(next(model.parameters()).device)
    was_training = model.training
    model.eval()
    try:
        trace = MaskProposalTrace()
        proposals = model([image], trace=trace)[0]
    finally:
        model.train(was_training)
    h, w = trace.input.image_sizes[0]
    oh, ow = trace.input.original_sizes[0]
    resized = unnormalize(model.transform, trace.input.images[0], (h, w))
    levels = {s.level for s in model.scales}
    cand = trace.candidates[0]
    order = torch.arange(min(num_top, cand["scores"].shape[0]), device=cand["scores"].device)  # already best first
    ratio = torch.tensor([ow / w, oh / h] * 2, device=image.device)
    return MaskProposalExploration(
        image=image,
        resized_image=resized,
        scale=(h / oh, w / ow),
        pyramid={k: v[0] for k, v in trace.pyramid.pyramid.items() if k in levels},
        strides={s.level: s.stride for s in model.scales},
        scales={
            s.name: {"canonical": s.canonical, "region": s.region, "tolerance": s.tolerance,
                     "band_lo": s.band_lo, "band_hi": s.band_hi}
            for s in model.scales
        },
        objectness={name: obj[0].sigmoid() for name, obj in trace.objectness.items()},
        top_scores=cand["scores"][order],
        top_levels=cand["levels"][order],
        top_mlps=cand["mlps"][order],
        top_regions=cand["regions"][order] * ratio,
        top_masks=cand["mask_probs"][order],
        proposals=proposals,
    )
