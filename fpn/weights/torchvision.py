"""Weights interop with torchvision's `fasterrcnn_resnet50_fpn` (COCO_V1 layout).

torchvision implements the same paper; its state dict maps one-to-one onto our `fpn` R50 detector. With the same
weights and the same normalisation layers, our exact path (`FasterRCNN.exact()`) gives bit-identical detections
(tests/test_torchvision_parity.py). Two details decide the rounding and are read off the source:
  * torchvision builds its backbone with FrozenBatchNorm2d (x * scale + shift) for pre-trained weights, but with
    nn.BatchNorm2d when built from scratch (`weights=None, weights_backbone=None`); in eval mode that layer computes
    the same affine map with other rounding (boxes up to ~0.9 px apart on a randomly initialised R50). Its state dict
    is the one with `num_batches_tracked` buffers, so `from_torchvision` builds the same layer (norm="bn").
  * for its COCO_V1 weights torchvision sets the frozen BN's epsilon to 0 (`overwrite_eps`), not 1e-5.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from functools import partial
from typing import Any, Mapping, Union

import torch
from torch import Tensor, nn

from ..hub import coco_weights, hub_dir, read_state_dict
from ..modeling.build import build_detector
from ..modeling.detector import FasterRCNN

COCO_FILENAME = "fasterrcnn_resnet50_fpn_coco-258fb6c6.pth"
#: torchvision's frozen-BN epsilon for its COCO_V1 weights (torchvision.models.detection.faster_rcnn: overwrite_eps)
COCO_BN_EPS = 0.0

# (torchvision key pattern, our key template); the first matching rule wins
_RULES = [
    (r"^backbone\.body\.(.*)$", r"bottom_up.\1"),
    (r"^backbone\.fpn\.inner_blocks\.(\d)\.(?:0\.)?(weight|bias)$", "pyramid.lateral.convs.c{0}.{1}"),
    (r"^backbone\.fpn\.layer_blocks\.(\d)\.(?:0\.)?(weight|bias)$", "pyramid.output.p{0}.{1}"),
    (r"^rpn\.head\.conv\.(?:0\.0\.)?(weight|bias)$", r"rpn.head.conv.\1"),
    (r"^rpn\.head\.cls_logits\.(weight|bias)$", r"rpn.head.objectness.\1"),
    (r"^rpn\.head\.bbox_pred\.(weight|bias)$", r"rpn.head.deltas.\1"),
    (r"^roi_heads\.box_head\.(fc6|fc7)\.(weight|bias)$", r"roi_heads.box_head.\1.\2"),
    (r"^roi_heads\.box_predictor\.(cls_score|bbox_pred)\.(weight|bias)$", r"roi_heads.predictor.\1.\2"),
]


def convert_torchvision_state_dict(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """torchvision fasterrcnn_resnet50_fpn keys -> our `fpn` detector's keys. Unknown keys raise a ValueError."""
    out: dict[str, Tensor] = {}
    unknown = []
    for key, value in state.items():
        for pattern, template in _RULES:
            m = re.match(pattern, key)
            if m:
                if "{0}" in template:  # pyramid blocks are numbered 0..3 for C2..C5
                    out[template.format(int(m.group(1)) + 2, m.group(2))] = value
                else:
                    out[m.expand(template)] = value
                break
        else:
            unknown.append(key)
    if unknown:
        raise ValueError(f"not a torchvision fasterrcnn_resnet50_fpn state dict: unexpected keys {unknown[:5]}")
    return out


def torchvision_reference(state: Union[Mapping[str, Tensor], None] = None, num_classes: int = 91,
                          norm: str = "frozen_bn", bn_eps: float = 1e-5, **options: Any) -> torch.nn.Module:
    """torchvision's own `fasterrcnn_resnet50_fpn`, built as torchvision builds it, in eval mode.

    The reference our detector is compared with (tests, scripts/benchmark.py). `options` go to torchvision's FasterRCNN
    (min_size, max_size, box_score_thresh, ...). With `state` None the weights stay randomly initialised.
    norm: "frozen_bn" (FrozenBatchNorm2d, 3 trainable stages: torchvision's build for pre-trained weights) or "bn"
        (nn.BatchNorm2d, 5 trainable stages: `fasterrcnn_resnet50_fpn(weights=None, weights_backbone=None)`).
    bn_eps: the normalisation's epsilon; torchvision uses COCO_BN_EPS (0) with its COCO_V1 weights.
    """
    from torchvision.models import resnet50
    from torchvision.models.detection.backbone_utils import _resnet_fpn_extractor
    from torchvision.models.detection.faster_rcnn import FasterRCNN as TorchvisionFasterRCNN
    from torchvision.ops.misc import FrozenBatchNorm2d as TorchvisionFrozenBN

    if norm not in ("frozen_bn", "bn"):
        raise ValueError(f"norm must be 'frozen_bn' or 'bn', got {norm!r}")
    layer = TorchvisionFrozenBN if norm == "frozen_bn" else nn.BatchNorm2d
    backbone = _resnet_fpn_extractor(resnet50(norm_layer=partial(layer, eps=bn_eps)), 3 if norm == "frozen_bn" else 5)
    model = TorchvisionFasterRCNN(backbone, num_classes=num_classes, **options)
    if state is not None:
        model.load_state_dict(state)
    return model.eval()


def randomize_for_comparison(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Seeded random weights for a torchvision detector that make a comparison meaningful.

    BN statistics and affine terms are drawn at random (instead of identity), and the classifier and objectness
    weights are scaled so that scores spread over (0, 1) instead of all sitting near 1/num_classes. Every parameter
    and statistic comes from the seed: the same seed gives the same model in every process.
    """
    g = torch.Generator().manual_seed(seed)
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name, p in list(params.items()) + list(model.named_buffers()):
            is_bn = "bn" in name or "downsample.1" in name
            if name.endswith("running_mean"):
                p.copy_(torch.randn(p.shape, generator=g) * 0.1)
            elif name.endswith("running_var"):
                p.copy_(torch.rand(p.shape, generator=g) + 0.5)
            elif is_bn and name.endswith(".weight"):
                p.copy_(torch.rand(p.shape, generator=g) * 0.5 + 0.5)
            elif is_bn and name.endswith(".bias"):
                p.copy_(torch.randn(p.shape, generator=g) * 0.1)
            elif name.endswith(".weight") and p.dim() > 1:
                fan_in = p[0].numel()
                p.copy_(torch.randn(p.shape, generator=g) * (2.0 / fan_in) ** 0.5)
            elif name.endswith(".bias"):  # else torch's default init, from the unseeded global generator
                bound = params[name[: -len("bias")] + "weight"][0].numel() ** -0.5
                p.copy_((torch.rand(p.shape, generator=g) * 2 - 1) * bound)
        model.roi_heads.box_predictor.cls_score.weight.mul_(20.0)
        model.rpn.head.cls_logits.weight.mul_(20.0)
    return model


def sorted_detections(det: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """One image's detections in a canonical order: score descending, then label, then box (x1, y1, x2, y2).

    Two implementations may list detections with tied scores (saturated at 1.0, say) in either order; sorted, equal
    detections compare equal with torch.equal.
    """
    keys = [(-s, lab, *box) for s, lab, box in zip(det["scores"].tolist(), det["labels"].tolist(),
                                                  det["boxes"].tolist())]
    order = torch.as_tensor(sorted(range(len(keys)), key=keys.__getitem__), dtype=torch.int64)
    return {k: det[k][order] for k in ("boxes", "scores", "labels")}


def compare_detections(expected: Mapping[str, Tensor], got: Mapping[str, Tensor], min_iou: float = 0.5
                       ) -> dict[str, float]:
    """How far two detection sets of one image are apart, order-free.

    Greedy matching, best expected score first: each expected detection takes the unmatched detection of the same
    label that overlaps it most (IoU >= min_iou). Returns {"matched", "unmatched" (on either side), "max_box_px"
    (largest coordinate difference of a matched pair, original-image pixels), "max_score" (largest score difference of a
    matched pair), "max_unmatched_score" (the best score left unmatched)}.
    """
    from torchvision.ops import box_iou

    e, g = sorted_detections(expected), sorted_detections(got)
    iou = box_iou(e["boxes"], g["boxes"]) if len(e["boxes"]) and len(g["boxes"]) else torch.zeros(len(e["boxes"]), 0)
    iou = torch.where(e["labels"][:, None] == g["labels"][None, :], iou, torch.zeros(()))
    used = torch.zeros(len(g["boxes"]), dtype=torch.bool)
    box_diff = score_diff = 0.0
    unmatched_scores = []
    for i in range(len(e["boxes"])):
        candidates = iou[i].masked_fill(used, -1.0)
        j = int(candidates.argmax()) if len(candidates) else -1
        if j < 0 or float(candidates[j]) < min_iou:
            unmatched_scores.append(float(e["scores"][i]))
            continue
        used[j] = True
        box_diff = max(box_diff, float((e["boxes"][i] - g["boxes"][j]).abs().max()))
        score_diff = max(score_diff, abs(float(e["scores"][i] - g["scores"][j])))
    unmatched_scores += g["scores"][~used].tolist()
    return {"matched": int(used.sum()), "unmatched": len(unmatched_scores), "max_box_px": box_diff,
            "max_score": score_diff, "max_unmatched_score": max(unmatched_scores, default=0.0)}


def find_coco_weights() -> Path | None:
    """The COCO_V1 file in torch's hub cache (`fpn.hub_dir()`), if it was downloaded (`make weights`) or put there."""
    path = hub_dir() / COCO_FILENAME
    return path if path.is_file() else None


def _load(source: Union[str, os.PathLike, Mapping[str, Tensor]]) -> tuple[Mapping[str, Tensor], list[str] | None]:
    """(state dict, class names or None) of a source: a state dict, a file, or "coco" (torchvision's COCO_V1 file,
    from the hub cache or downloaded there through the one hash-checked path, `fpn.coco_weights`)."""
    if isinstance(source, Mapping):
        return source, None
    if str(source) == "coco":
        from torchvision.models.detection import FasterRCNN_ResNet50_FPN_Weights

        path = coco_weights()  # WeightsDownloadError offline: it names the file and where to put it
        return read_state_dict(path, "COCO weights"), list(FasterRCNN_ResNet50_FPN_Weights.COCO_V1.meta["categories"])
    state = read_state_dict(source, "torchvision weights")
    return state, None


def torchvision_norm(state: Mapping[str, Tensor]) -> str:
    """The normalisation torchvision built a detector with, from its state dict: "bn" (nn.BatchNorm2d, the only one
    with `num_batches_tracked` buffers: `fasterrcnn_resnet50_fpn(weights=None, weights_backbone=None)`) or "frozen_bn"
    (FrozenBatchNorm2d: its build for pre-trained weights, COCO_V1 included)."""
    return "bn" if any(k.startswith("backbone.body.") and k.endswith(".num_batches_tracked") for k in state) \
        else "frozen_bn"


def from_torchvision(source: Union[str, os.PathLike, Mapping[str, Tensor]] = "coco", **options: Any) -> FasterRCNN:
    """Our `fpn` ResNet-50 detector holding torchvision `fasterrcnn_resnet50_fpn` weights.

    Args:
        source: a state dict, a path to one (.pth read with weights_only=True, or .safetensors), or "coco" for the
            COCO_V1 weights (from checkpoints/ or torch's hub cache, else downloaded).
        **options: build_detector options (min_size, box_score_thresh, ...); num_classes is read from the weights.
            Derived from the source unless given: norm (`torchvision_norm`), trainable_backbone_layers (3 with frozen
            BN, 5 with BatchNorm2d, as torchvision), bn_eps (COCO_BN_EPS for "coco" or a file named COCO_FILENAME, as
            torchvision; else 1e-5: pass bn_eps=0.0 for weights fine-tuned from torchvision's COCO model).
    Returns the model in eval mode, on its fast inference path; `.exact()` switches to the path that gives
    torchvision's detections bit for bit. With "coco" its `config["class_names"]` holds the 91 COCO category names.
    """
    state, class_names = _load(source)
    converted = convert_torchvision_state_dict(state)
    if "roi_heads.predictor.cls_score.weight" not in converted:
        raise ValueError("state dict has no roi_heads.box_predictor.cls_score.weight: not a Faster R-CNN")
    num_classes = converted["roi_heads.predictor.cls_score.weight"].shape[0]
    norm = options.get("norm") or torchvision_norm(state)
    coco = not isinstance(source, Mapping) and (str(source) == "coco" or Path(source).name == COCO_FILENAME)
    options = {"norm": norm, "trainable_backbone_layers": 3 if norm == "frozen_bn" else 5,
               "bn_eps": COCO_BN_EPS if coco else 1e-5, "anchor_stride_rule": "padded_grid", "class_names": class_names,
               **options}
    model = build_detector("fpn", "resnet50", num_classes=num_classes, **options)
    missing, unexpected = model.load_state_dict(converted, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]  # a frozen-BN source into norm="bn"
    if missing or unexpected:
        raise ValueError(f"weights do not fit the fpn R50 detector: missing {missing[:5]}, unexpected {unexpected[:5]}")
    return model.eval()
