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
from typing import Any

import torch
from torch import Tensor, nn
from torchvision.models.detection.transform import GeneralizedRCNNTransform

from ..bottom_up import BottomUp, backbone_defaults, make_resnet, stage_channels
from ..fast import convert, model_device, resolve_precision
from ...images import IMAGENET_MEAN, IMAGENET_STD, check_images
from ..options import Option, choice, flag, integer, min_sizes, number, resolve, sequence
from ..pyramid import FeaturePyramid
from ..trace import InputTrace, MaskProposalTrace
from .inference import MaskProposalPostProcessor
from .loss import MaskProposalLoss
from .fused_mlp import FusedMaskMLP
from .mlp import MaskMLP
from .scales import LEVELS, MLP_CHOICES, MLP_WINDOWS, check_levels, check_mlps, window_scales
from .targets import RULES


class MaskProposer(nn.Module):
    """Feature pyramid + per-window-size MaskMLPs.

    Train:  model(images, targets) -> {"loss_objectness", "loss_mask"}; images: list of [3, H, W] floats in [0, 1];
            targets: per image "boxes" FloatTensor [N, 4] (x1, y1, x2, y2) and "masks" UInt8Tensor [N, H, W], both in
            original-image pixels ("labels" is accepted and ignored: proposals are class-agnostic).
    Eval:   model(images) -> list of dicts, original-image pixels: "scores" [P], "boxes" [P, 4], "regions" [P, 4],
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

    def precision(self, mode: str = "auto") -> "MaskProposer":
        """Run the bottom-up pathway and the pyramid on the fast path in "bf16", "fp32" or "auto", as
        `FasterRCNN.precision` (`fpn.modeling.fast.convert`), and in bf16 the MLPs' window convs too
        (`FusedMaskMLP`); the pyramid hands fp32 maps on and the MLPs fp32 hidden vectors, so scores, masks and NMS are
        fp32. Returns self."""
        dtype = resolve_precision(mode, model_device(self))
        convert(self, dtype, map_dtype=torch.float32)  # also puts the plain MLPs back
        if dtype != torch.float32:
            for name, head in self.heads.items():
                self.heads[name] = FusedMaskMLP.of(head, dtype)
        return self

    @torch.no_grad()
    def predict(self, images: list[Tensor]) -> list[dict[str, Tensor]]:
        """Eval-mode proposals, whatever the current mode (restored afterwards), as FasterRCNN.predict gives
        detections: per image the eval dict of the class docstring (original-image pixels); fpn.evaluation scores its
        "mask_probs" [P, M, M], "regions" [P, 4] and "scores" [P]."""
        was_training = self.training
        self.eval()
        try:
            return self(images)
        finally:
            self.train(was_training)


def _distinct_levels(levels: Any) -> bool:
    """Non-empty, distinct levels of p2..p6."""
    return bool(levels) and all(lv in LEVELS for lv in levels) and len(set(levels)) == len(levels)


#: Every option of build_mask_proposer: default, type and valid values (the checks: fpn.modeling.options).
OPTIONS: dict[str, Option] = dict(
    mlps=choice("dual", tuple(MLP_CHOICES)), mask_size=integer(14), pyramid_channels=integer(128),
    hidden=integer(512), levels=sequence(LEVELS, f"distinct levels of {LEVELS}", _distinct_levels),
    norm=choice(None, ("frozen_bn", "bn"), nullable=True),
    trainable_backbone_layers=integer(None, 0, 5, nullable=True), min_size=min_sizes(800), max_size=integer(1333),
    num_proposals=integer(1000), pre_nms_top_n=integer(1000),
    nms_thresh=number(None, 0.0, 1.0, open_low=True, nullable=True), num_masks_pasted=integer(100, low=0),
    mask_threshold=number(0.5, 0.0, 1.0, open_low=True, open_high=True), drop_empty_masks=flag(False),
    batch_size_per_image=integer(128), positive_fraction=number(0.25, 0.0, 1.0, open_low=True),
    mask_loss_weight=number(10.0, 0.0, open_low=True), window_labels=choice("paper", tuple(RULES)),
)


def build_mask_proposer(backbone: str = "resnet50", backbone_weights: str | os.PathLike | None = None,
                        **options: Any) -> MaskProposer:
    """Build the Sec. 6 mask proposer. `model.config` holds every option (resolved), so that
    build_mask_proposer(**model.config) rebuilds the same architecture; weights come from a state dict / checkpoint
    (config["backbone_weights"] is None: the initial weights are not part of the architecture).

    Args:
        backbone: "resnet18" | "resnet34" | "resnet50" | "resnet101".
        backbone_weights: None (random), "imagenet" or a state-dict file.
        **options (see `OPTIONS` for the defaults; each is checked there: an unknown option or a wrong type is a
        TypeError, a value out of range a ValueError, naming the option and its valid values):
        mlps: "5x5" | "7x7" | "dual" (Table 6 rows). mask_size: side of the predicted masks (14; 28 = "2x mask res").
        pyramid_channels: d, the pyramid's channels (128 in Sec. 6; stored configs that say "d" are read as it).
        hidden: hidden units of each MLP.
        levels: pyramid levels carrying MLPs, subset of p2..p6 (canonical object sizes 32..512 px for 5x5).
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
    o = resolve(OPTIONS, options, "build_mask_proposer")
    levels, mlps, d = check_levels(o["levels"]), o["mlps"], o["pyramid_channels"]
    min_sizes = (o["min_size"],) if isinstance(o["min_size"], int) else tuple(o["min_size"])
    norm, trainable = backbone_defaults(backbone_weights, o["norm"], o["trainable_backbone_layers"])
    resnet = make_resnet(backbone, backbone_weights, norm)
    bottom_up = BottomUp(resnet, last="c5", trainable_layers=trainable)
    finest = min(int(lv[1:]) for lv in levels + ("p5",))  # pyramid levels below the finest used one are not built
    in_channels = {c: n for c, n in stage_channels(backbone).items() if int(c[1:]) >= finest}
    pyramid = FeaturePyramid(in_channels, d=d, mode="fpn", outputs=tuple(levels))
    heads = nn.ModuleDict({m: MaskMLP(d, MLP_WINDOWS[m], o["hidden"], o["mask_size"]) for m in check_mlps(mlps)})
    transform = GeneralizedRCNNTransform(min_sizes, o["max_size"], list(IMAGENET_MEAN), list(IMAGENET_STD))
    config = {"backbone": backbone, **o, "levels": list(levels), "backbone_weights": None, "norm": norm,
              "trainable_backbone_layers": trainable,
              "min_size": min_sizes[0] if len(min_sizes) == 1 else list(min_sizes)}
    return MaskProposer(
        transform, bottom_up, pyramid, heads, levels, mlps,
        MaskProposalLoss(o["mask_size"], o["batch_size_per_image"], o["positive_fraction"], o["mask_loss_weight"],
                         o["window_labels"]),
        MaskProposalPostProcessor(o["pre_nms_top_n"], o["nms_thresh"], o["num_proposals"], o["num_masks_pasted"],
                                  o["mask_threshold"], o["drop_empty_masks"]),
        config,
    )
