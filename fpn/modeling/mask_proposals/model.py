"""Sec. 6: segmentation mask proposals from the feature pyramid (DeepMask-style MLPs run fully convolutionally).

    images -> GeneralizedRCNNTransform (resize shorter side to min_size, normalise, pad to /32)
           -> BottomUp ResNet C2..C5 -> FeaturePyramid (d = 128) P2..P6
           -> on every level in `levels`, every MLP in `mlps` (weights shared across levels)
           -> train: MaskProposalLoss        eval: MaskProposalPostProcessor

Geometry and scale bands: scales.py; training targets: targets.py; loss: loss.py; inference: inference.py.
"""
from __future__ import annotations

import os
from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torchvision.models.detection.transform import GeneralizedRCNNTransform

from ..bottom_up import BottomUp, backbone_defaults, make_resnet, stage_channels
from ...images import IMAGENET_MEAN, IMAGENET_STD, check_images
from ..pyramid import FeaturePyramid
from ..trace import InputTrace, MaskProposalTrace
from .inference import MaskProposalPostProcessor
from .loss import MaskProposalLoss
from .mlp import MaskMLP
from .scales import LEVELS, MLP_WINDOWS, check_levels, check_mlps, window_scales
from .targets import RULES


class MaskProposer(nn.Module):
    """Feature pyramid + per-window-size MaskMLPs.

    Train:  model(images, targets) -> {"loss_objectness", "loss_mask"}; images: list of [3, H, W] floats in [0, 1];
            targets: per image "boxes" FloatTensor [N, 4] (x1, y1, x2, y2) and "masks" UInt8Tensor [N, H, W], both in
            input-image pixels ("labels" is accepted and ignored: proposals are class-agnostic).
    Eval:   model(images) -> list of dicts, input-image pixels: "scores" [P], "boxes" [P, 4], "regions" [P, 4],
            "mask_probs" [P, M, M], "levels" [P], "mlps" [P] (0 = 5x5, 1 = 7x7), "masks" Bool [min(P, pasted), H, W]
            (see inference.py; paste.encode_proposals gives RLEs of all P).
    predict(images): the eval outputs in any mode, without gradients (the method fpn.evaluation calls).
    `trace`, when a MaskProposalTrace, receives the internals that fpn.modeling.mask_proposals.explore draws.
    """

    def __init__(
        self,
        transform: GeneralizedRCNNTransform,
        backbone: BottomUp,
        pyramid: FeaturePyramid,
        heads: nn.ModuleDict,
        levels: Sequence[str],
        mlps: str,
        loss: MaskProposalLoss,
        postprocess: MaskProposalPostProcessor,
        config: dict | None = None,
    ) -> None:
        super().__init__()
        self.transform, self.backbone, self.pyramid, self.heads = transform, backbone, pyramid, heads
        self.loss, self.postprocess = loss, postprocess
        self.scales = window_scales(levels, mlps)
        missing = {s.mlp for s in self.scales} - set(heads)
        if missing:
            raise ValueError(f"no MaskMLP for {sorted(missing)}")
        self.config = dict(config or {})

    def dense(self, pyramid: dict[str, Tensor]) -> list[tuple[Tensor, Tensor]]:
        """Per (level, MLP) pair of self.scales: (hidden [N, hidden, H_k, W_k], objectness logits [N, H_k, W_k])."""
        cache: dict[tuple[str, str], tuple[Tensor, Tensor]] = {}
        for s in self.scales:
            cache[(s.level, s.mlp)] = self.heads[s.mlp](pyramid[s.level])
        return [cache[(s.level, s.mlp)] for s in self.scales]

    def forward(
        self, images: list[Tensor], targets: list[dict[str, Tensor]] | None = None,
        trace: MaskProposalTrace | None = None,
    ):
        if self.training and targets is None:
            raise ValueError("MaskProposer in training mode needs targets (boxes and masks per image)")
        check_images(images)
        if targets is not None:
            for i, t in enumerate(targets):
                if "boxes" not in t or "masks" not in t:
                    raise ValueError(f"target {i}: needs 'boxes' [N, 4] and 'masks' [N, H, W]")
                if t["masks"].shape[0] != t["boxes"].shape[0] or t["masks"].shape[-2:] != images[i].shape[-2:]:
                    raise ValueError(
                        f"target {i}: masks {list(t['masks'].shape)} must be [N, H, W] with N boxes "
                        f"({t['boxes'].shape[0]}) and the image's size {list(images[i].shape[-2:])}"
                    )
            targets = [{"boxes": t["boxes"], "masks": t["masks"]} for t in targets]
        original_sizes = [tuple(img.shape[-2:]) for img in images]
        image_list, targets = self.transform(images, targets)
        features = self.backbone(image_list.tensors)
        pyramid = self.pyramid(features, trace=trace.pyramid if trace is not None else None)
        if self.training and trace is None:  # the loss runs the MLPs at the sampled windows only
            return self.loss(self.scales, pyramid, self.heads, image_list.image_sizes, targets)
        dense = self.dense(pyramid)
        if trace is not None:
            trace.input = InputTrace(image_list.tensors, list(image_list.image_sizes), original_sizes)
            trace.objectness = {s.name: obj for s, (_, obj) in zip(self.scales, dense)}
        if self.training:
            return self.loss(self.scales, pyramid, self.heads, image_list.image_sizes, targets)
        return self.postprocess(self.scales, dense, self.heads, image_list.image_sizes, original_sizes, trace)

    @torch.no_grad()
    def predict(self, images: list[Tensor]) -> list[dict[str, Tensor]]:
        """Eval-mode proposals, whatever the current mode (restored afterwards), as FasterRCNN.predict gives
        detections: per image the eval dict of the class docstring (input-image pixels); fpn.evaluation scores its
        "mask_probs" [P, M, M], "regions" [P, 4] and "scores" [P]."""
        was_training = self.training
        self.eval()
        try:
            return self(images)
        finally:
            self.train(was_training)


def build_mask_proposer(
    backbone: str = "resnet50",
    mlps: str = "dual",
    mask_size: int = 14,
    d: int = 128,
    hidden: int = 512,
    levels: Sequence[str] = LEVELS,
    backbone_weights: str | os.PathLike | None = None,
    norm: str | None = None,
    trainable_backbone_layers: int | None = None,
    min_size: int | Sequence[int] = 800,
    max_size: int = 1333,
    num_proposals: int = 1000,
    pre_nms_top_n: int = 1000,
    nms_thresh: float | None = None,
    num_masks_pasted: int = 100,
    mask_threshold: float = 0.5,
    drop_empty_masks: bool = False,
    batch_size_per_image: int = 128,
    positive_fraction: float = 0.25,
    mask_loss_weight: float = 10.0,
    window_labels: str = "paper",
) -> MaskProposer:
    """Build the Sec. 6 mask proposer. `model.config` holds every argument (resolved), so that
    build_mask_proposer(**model.config) rebuilds the same architecture; weights come from a state dict / checkpoint
    (config["backbone_weights"] is None: the initial weights are not part of the architecture).

    Args:
        backbone: "resnet18" | "resnet34" | "resnet50" | "resnet101".
        mlps: "5x5" | "7x7" | "dual" (Table 6 rows). mask_size: side of the predicted masks (14; 28 = "2x mask res").
        d: pyramid channels (128 in Sec. 6). hidden: hidden units of each MLP.
        levels: pyramid levels carrying MLPs, subset of p2..p6 (canonical object sizes 32..512 px for 5x5).
        backbone_weights: None (random), "imagenet" or a state-dict file.
        norm: "frozen_bn" | "bn"; default frozen_bn with weights, bn without.
        trainable_backbone_layers: 0..5 ResNet stages fine-tuned; default 3 with weights, 5 without.
        min_size / max_size: resize of the transform (shorter / longer side, pixels).
        num_proposals: max proposals per image. pre_nms_top_n: windows kept per (level, MLP) before the cut.
        nms_thresh: IoU of mask boxes above which the lower-scored proposal is dropped (None, the paper: no
            suppression). drop_empty_masks: drop masks empty at mask_threshold (the paper: False, no post-processing).
        num_masks_pasted: how many of the best proposals get a pasted full-image "masks" entry in eval outputs.
        mask_threshold: probability threshold of pasted masks.
        batch_size_per_image / positive_fraction: windows sampled per image and the most positives among them
            (the paper: 128 at 1 : 3). mask_loss_weight: mask loss / score loss (the paper: 10).
        window_labels: "paper" (positive within one cell of the object centre and in scale band, every other window
            negative) or "deepmask" (DeepMask's tolerance c / 8 and ignore zone); see targets.py.
    The DeepMask-style choices this project used before following the appendix: nms_thresh=0.7,
    drop_empty_masks=True, batch_size_per_image=256, positive_fraction=0.5, mask_loss_weight=1, window_labels="deepmask".
    """
    levels = check_levels(levels)
    check_mlps(mlps)
    for name, value in (("mask_size", mask_size), ("d", d), ("hidden", hidden), ("max_size", max_size),
                        ("num_proposals", num_proposals), ("pre_nms_top_n", pre_nms_top_n),
                        ("batch_size_per_image", batch_size_per_image)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if isinstance(num_masks_pasted, bool) or not isinstance(num_masks_pasted, int) or num_masks_pasted < 0:
        raise ValueError(f"num_masks_pasted must be an integer >= 0, got {num_masks_pasted!r}")
    min_sizes = (min_size,) if isinstance(min_size, int) else tuple(min_size)
    if not min_sizes or any(isinstance(m, bool) or not isinstance(m, int) or m < 1 for m in min_sizes):
        raise ValueError(f"min_size must be a positive integer or a list of them, got {min_size!r}")
    if nms_thresh is not None and not 0.0 < nms_thresh <= 1.0:
        raise ValueError(f"nms_thresh must be in (0, 1] or None, got {nms_thresh!r}")
    if not 0.0 < mask_threshold < 1.0:
        raise ValueError(f"mask_threshold must be in (0, 1), got {mask_threshold!r}")
    if not 0.0 < positive_fraction <= 1.0:
        raise ValueError(f"positive_fraction must be in (0, 1], got {positive_fraction!r}")
    if not mask_loss_weight > 0:
        raise ValueError(f"mask_loss_weight must be > 0, got {mask_loss_weight!r}")
    if window_labels not in RULES:
        raise ValueError(f"window_labels must be one of {RULES}, got {window_labels!r}")
    norm, trainable_backbone_layers = backbone_defaults(backbone_weights, norm, trainable_backbone_layers)

    resnet = make_resnet(backbone, backbone_weights, norm)
    bottom_up = BottomUp(resnet, last="c5", trainable_layers=trainable_backbone_layers)
    finest = min(int(lv[1:]) for lv in levels + ("p5",))  # pyramid levels below the finest used one are not built
    in_channels = {c: n for c, n in stage_channels(backbone).items() if int(c[1:]) >= finest}
    pyramid = FeaturePyramid(in_channels, d=d, mode="fpn", outputs=tuple(levels))
    heads = nn.ModuleDict({m: MaskMLP(d, MLP_WINDOWS[m], hidden, mask_size) for m in check_mlps(mlps)})
    transform = GeneralizedRCNNTransform(min_sizes, max_size, list(IMAGENET_MEAN), list(IMAGENET_STD))
    config = {
        "backbone": backbone, "mlps": mlps, "mask_size": mask_size, "d": d, "hidden": hidden, "levels": list(levels),
        "backbone_weights": None, "norm": norm, "trainable_backbone_layers": trainable_backbone_layers,
        "min_size": min_sizes[0] if len(min_sizes) == 1 else list(min_sizes), "max_size": max_size,
        "num_proposals": num_proposals, "pre_nms_top_n": pre_nms_top_n, "nms_thresh": nms_thresh,
        "num_masks_pasted": num_masks_pasted, "mask_threshold": mask_threshold, "drop_empty_masks": drop_empty_masks,
        "batch_size_per_image": batch_size_per_image, "positive_fraction": positive_fraction,
        "mask_loss_weight": mask_loss_weight, "window_labels": window_labels,
    }
    return MaskProposer(
        transform, bottom_up, pyramid, heads, levels, mlps,
        MaskProposalLoss(mask_size, batch_size_per_image, positive_fraction, mask_loss_weight, window_labels),
        MaskProposalPostProcessor(pre_nms_top_n, nms_thresh, num_proposals, num_masks_pasted, mask_threshold,
                                  drop_empty_masks),
        config,
    )
