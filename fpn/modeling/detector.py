"""Faster R-CNN with a feature pyramid: resize -> bottom-up -> pyramid -> RPN -> Fast R-CNN -> boxes in original-image
pixels."""
from __future__ import annotations

from typing import Any, Optional

import torch
from torch import Tensor, nn

from .bottom_up import BottomUp
from . import fast
from ..images import check_images, rescale_boxes
from .pyramid import FeaturePyramid
from .roi_heads import FastRCNNHeads
from .rpn import RegionProposalNetwork
from .trace import InputTrace, PyramidTrace, Trace, standard_layout


class FasterRCNN(nn.Module):
    """The detector of the paper, in torchvision's conventions.

    Args:
        transform: resizes (shorter side `min_size`, longer side at most `max_size`), normalises and pads to /32:
            torchvision's GeneralizedRCNNTransform, or `fpn.modeling.uint8_transform.Uint8BGRTransform` (Detectron2's).
        bottom_up: ResNet stages -> {"c2".."c5"}.
        pyramid: {"c2".."c5"} -> {"p2".."p6"}; None for the single-scale baselines (their heads read C4 or C5).
        rpn: proposals from the maps named by its anchors.
        roi_heads: Fast R-CNN on the maps named by its pooler; None for an RPN trained alone (Table 1's protocol):
            its losses are the RPN's, and in eval mode it returns no detections (`predict` gives the proposals).
        config: the build options (JSON-serialisable), so that `fpn.build_detector(**config)` rebuilds this model.

    forward(images, targets=None):
        images: list of [3, H_i, W_i] float tensors in [0, 1], any sizes.
        targets (training): list of {"boxes": [G, 4] float (x1, y1, x2, y2, original-image pixels), "labels": [G] int64}.
        returns, in training mode, {"loss_objectness", "loss_rpn_box_reg", "loss_classifier", "loss_box_reg"};
        in eval mode, per image {"boxes": [D, 4] original-image pixels, "scores": [D], "labels": [D]}.

    Inference path: the modules given, as written (`exact()`: torchvision's order of operations, bit-identical
    detections with torchvision's weights), unless converted: `exact(False)` / `precision("fp32")` swap in the fast
    fp32 modules (`fpn.modeling.fast`: BatchNorm folded into the convolutions, ReLU / residual sums fused, channels-last
    maps, Winograd 3x3 convolutions), `precision("bf16")` the same in bf16 where the CPU has native kernels.
    Detections move by float rounding only (README: "torchvision weights and speed", "bf16"). `fpn.build_detector`
    returns models converted to the fp32 fast path; this constructor converts nothing, so a detector built on
    another's modules (a view) runs the path they are on. Training, and eval with autograd on, run the plain modules.
    """

    def __init__(self, transform: nn.Module, bottom_up: BottomUp, pyramid: Optional[FeaturePyramid],
                 rpn: RegionProposalNetwork, roi_heads: Optional[FastRCNNHeads],
                 config: Optional[dict[str, Any]] = None) -> None:
        super().__init__()
        self.transform = transform
        self.bottom_up = bottom_up
        self.pyramid = pyramid
        self.rpn = rpn
        self.roi_heads = roi_heads
        self.config = dict(config or {})
        self.rpn_maps = list(rpn.anchors.sizes)
        self.roi_maps = list(roi_heads.pooler.strides) if roi_heads is not None else []

    def exact(self, enabled: bool = True) -> "FasterRCNN":
        """Choose the inference path: True, the paper's modules as written, in fp32 (torchvision's order of
        operations: bit-identical detections with torchvision's weights); False, the fp32 fast path
        (`fpn.modeling.fast.convert`). Returns self."""
        if enabled:
            fast.revert(self)
        else:
            fast.convert(self, torch.float32)
        return self

    def precision(self, mode: str = "auto") -> "FasterRCNN":
        """Run inference on the fast path in "bf16" (convolutions and fc layers in bf16 where oneDNN has native
        kernels; box decoding, NMS, softmax, Eq. (1) and RoIAlign in fp32), "fp32", or "auto" (bf16 where the
        model's device runs it natively, `fpn.devices.native_bf16`; else fp32, said once in the log). Detections are
        fp32 either way. `exact()` undoes it (and `precision` undoes `exact()`). Returns self."""
        fast.convert(self, fast.resolve_precision(mode, fast.model_device(self)))
        return self

    @property
    def is_exact(self) -> bool:
        """Whether inference runs the paper's modules as written (see `exact`)."""
        return self.inference_precision == "exact"

    @property
    def inference_precision(self) -> str:
        """The inference path: "exact", "fp32" (fast) or "bf16" (see `exact`, `precision`)."""
        return fast.inference_precision(self)

    def forward(self, images: list[Tensor], targets: Optional[list[dict[str, Tensor]]] = None):
        detections, losses, _ = self.run(images, targets)
        return losses if self.training else detections

    @torch.no_grad()
    def predict(self, images: list[Tensor], detect: bool = True) -> list[dict[str, Tensor]]:
        """Eval-mode detections (none when ``detect`` is False: the RPN's proposals only, the Fast R-CNN not run)
        plus the RPN's "proposals" [P, 4] (original-image pixels), "proposal_scores" [P],
        "proposal_logits" [P] (the objectness before the sigmoid: what Detectron2 returns),
        "proposal_levels" [P] (int64 k of the RPN map each came from: 2..6, or 4 / 5 for C4 / C5) and "input_scale"
        [2] (sx, sy: resized-input pixels per original-image pixel, the scale Eq. (1) sees boxes at)."""
        was_training = self.training
        self.eval()
        try:
            trace = Trace()
            detections, _, _ = self.run(images, trace=trace, detect=detect)
        finally:
            self.train(was_training)
        rpn, inputs = trace.rpn, trace.input
        map_levels = torch.tensor([int(name[1:]) for name in rpn.levels], dtype=torch.int64)
        for det, props, scores, levels, logits, resized, original in zip(
            detections, rpn.proposals, rpn.proposal_scores, rpn.proposal_levels, rpn.proposal_logits,
            inputs.image_sizes, inputs.original_sizes,
        ):
            if hasattr(self.transform, "rescale"):  # its own rule (Detectron2's drops boxes left empty)
                props, keep = self.transform.rescale(props, resized, original)
                scores, levels, logits = scores[keep], levels[keep], logits[keep]
            else:
                props = rescale_boxes(props, resized, original)
            det["proposals"] = props
            det["proposal_scores"] = scores
            det["proposal_logits"] = logits
            det["proposal_levels"] = map_levels.to(levels.device)[levels]
            det["input_scale"] = torch.tensor([resized[1] / original[1], resized[0] / original[0]])
        return detections

    def run(self, images: list[Tensor], targets: Optional[list[dict[str, Tensor]]] = None,
            trace: Optional[Trace] = None, proposals: Optional[list[Tensor]] = None, detect: bool = True
            ) -> tuple[list[dict[str, Tensor]], dict[str, Tensor], Optional[Trace]]:
        """The one code path: detections, losses, and (when `trace` is a `fpn.modeling.trace.Trace`) every
        intermediate result, one record per stage.

        Intermediate boxes (anchors, proposals, RoIs) are in resized-input pixels; trace.input holds the resized
        batch and the sizes that map them back to original-image pixels.

        proposals: per image [P_i, 4] (x1, y1, x2, y2, original-image pixels) for Fast R-CNN to read instead of
            this model's RPN, which is then not run (no RPN losses, no trace.rpn): "Fast R-CNN on a fixed set of
            proposals", the paper's Table 2 protocol (`fpn.modeling.fixed_proposals`).
        detect: False stops after the RPN (no Fast R-CNN, no detections, no head losses): a model asked only for
            its proposals, as a detector lending them to another's head, skips its head's cost (the C4 baseline's
            conv5 head is most of its time).
        """
        _check_inputs(images, targets, self.training)
        _check_proposals(proposals, images, self.roi_heads is not None)
        original_sizes = [(int(img.shape[-2]), int(img.shape[-1])) for img in images]
        image_list, targets = self.transform(images, targets)
        if trace is not None:
            trace.input = InputTrace(image_list.tensors, list(image_list.image_sizes), original_sizes, targets)
        bottom_up = self.bottom_up(image_list.tensors)
        if trace is not None:
            trace.bottom_up = dict(bottom_up)
        features = bottom_up
        if self.pyramid is not None:
            if trace is not None:
                trace.pyramid = PyramidTrace()
            features = self.pyramid(bottom_up, trace.pyramid if trace is not None else None)
        if proposals is None:
            proposals, rpn_losses = self.rpn(image_list, {k: features[k] for k in self.rpn_maps}, targets, trace)
        else:
            proposals, rpn_losses = [rescale_boxes(p.to(image_list.tensors.device, torch.float32), original, resized)
                                     for p, original, resized in zip(proposals, original_sizes,
                                                                     image_list.image_sizes)], {}
        if self.roi_heads is None or not detect:
            detections, det_losses = [_no_detections(p) for p in proposals], {}
        else:
            detections, det_losses = self.roi_heads({k: features[k] for k in self.roi_maps}, proposals,
                                                    image_list.image_sizes, targets, trace)
        if not self.training:
            detections = self.transform.postprocess(detections, image_list.image_sizes, original_sizes)
        if trace is not None:
            standard_layout(trace)
        return detections, {**rpn_losses, **det_losses}, trace


def _no_detections(like: Tensor) -> dict[str, Tensor]:
    return {"boxes": like.new_zeros((0, 4)), "scores": like.new_zeros((0,)),
            "labels": torch.zeros((0,), dtype=torch.int64, device=like.device)}


def _check_proposals(proposals: Any, images: list[Tensor], has_head: bool) -> None:
    if proposals is None:
        return
    if not has_head:
        raise ValueError("proposals were given to an RPN trained alone: it has no Fast R-CNN to read them")
    if len(proposals) != len(images):
        raise ValueError(f"{len(images)} images but {len(proposals)} proposal sets (one [P, 4] tensor per image)")
    for i, p in enumerate(proposals):
        if not isinstance(p, Tensor) or p.dim() != 2 or p.shape[-1] != 4:
            got = tuple(p.shape) if isinstance(p, Tensor) else type(p).__name__
            raise ValueError(f"proposals of image {i}: expected a [P, 4] tensor (x1, y1, x2, y2, original-image "
                             f"pixels), got {got}")


def _check_inputs(images: Any, targets: Any, training: bool) -> None:
    check_images(images)
    if training and targets is None:
        raise ValueError("targets are required in training mode")
    if targets is None:
        return
    if len(targets) != len(images):
        raise ValueError(f"{len(images)} images but {len(targets)} targets")
    for i, t in enumerate(targets):
        boxes = t.get("boxes") if isinstance(t, dict) else None
        if boxes is None or "labels" not in t:
            raise ValueError(f"target {i}: needs 'boxes' and 'labels'")
        if boxes.dim() != 2 or boxes.shape[-1] != 4:
            raise ValueError(f"target {i}: boxes must be [G, 4], got {tuple(boxes.shape)}")
        if boxes.numel() and bool((boxes[:, 2:] <= boxes[:, :2]).any()):
            bad = int(torch.where((boxes[:, 2:] <= boxes[:, :2]).any(dim=1))[0][0])
            raise ValueError(f"target {i}: box {bad} {boxes[bad].tolist()} has no positive width and height "
                             "(boxes are x1, y1, x2, y2 with x2 > x1, y2 > y1)")
