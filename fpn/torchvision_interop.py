"""Weights interop with torchvision's `fasterrcnn_resnet50_fpn` (COCO_V1 layout).

torchvision implements the same paper; its state dict maps one-to-one onto our `fpn` R50 detector with frozen
BatchNorm. With the same weights both give the same detections (tests/test_torchvision_parity.py).
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Mapping, Union

import torch
from torch import Tensor

from .build import build_detector
from .detector import FasterRCNN

COCO_FILENAME = "fasterrcnn_resnet50_fpn_coco-258fb6c6.pth"

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
        if key.endswith("num_batches_tracked"):
            continue
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
                          **options: Any) -> torch.nn.Module:
    """torchvision's own `fasterrcnn_resnet50_fpn` as built for its COCO_V1 weights (frozen BN), in eval mode.

    The reference our detector is compared with (tests, scripts/benchmark.py). `options` go to torchvision's FasterRCNN
    (min_size, max_size, box_score_thresh, ...). With `state` None the weights stay randomly initialised.
    """
    from torchvision.models import resnet50
    from torchvision.models.detection.backbone_utils import _resnet_fpn_extractor
    from torchvision.models.detection.faster_rcnn import FasterRCNN as TorchvisionFasterRCNN
    from torchvision.ops.misc import FrozenBatchNorm2d as TorchvisionFrozenBN

    backbone = _resnet_fpn_extractor(resnet50(norm_layer=TorchvisionFrozenBN), 3)
    model = TorchvisionFasterRCNN(backbone, num_classes=num_classes, **options)
    if state is not None:
        model.load_state_dict(state)
    return model.eval()


def randomize_for_comparison(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Seeded random weights for a torchvision detector that make a comparison meaningful.

    BN statistics and affine terms are drawn at random (instead of identity), and the classifier and objectness
    weights are scaled so that scores spread over (0, 1) instead of all sitting near 1/num_classes.
    """
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in list(model.named_parameters()) + list(model.named_buffers()):
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
        model.roi_heads.box_predictor.cls_score.weight.mul_(20.0)
        model.rpn.head.cls_logits.weight.mul_(20.0)
    return model


def find_coco_weights() -> Path | None:
    """The COCO_V1 file in ./checkpoints/ or torch's hub cache, if present."""
    candidates = [Path("checkpoints") / COCO_FILENAME, Path(torch.hub.get_dir()) / "checkpoints" / COCO_FILENAME]
    return next((p for p in candidates if p.is_file()), None)


def _load(source: Union[str, os.PathLike, Mapping[str, Tensor]]) -> tuple[Mapping[str, Tensor], list[str] | None]:
    if isinstance(source, Mapping):
        return source, None
    if str(source) == "coco":
        from torchvision.models.detection import FasterRCNN_ResNet50_FPN_Weights

        weights = FasterRCNN_ResNet50_FPN_Weights.COCO_V1
        local = find_coco_weights()
        if local is not None:
            return torch.load(local, map_location="cpu", weights_only=True), list(weights.meta["categories"])
        try:
            return weights.get_state_dict(progress=True, check_hash=False), list(weights.meta["categories"])
        except Exception as err:
            raise RuntimeError(
                f"torchvision's COCO weights are not available offline ({err}). Download {weights.url} and put it at "
                f"checkpoints/{COCO_FILENAME} or {Path(torch.hub.get_dir()) / 'checkpoints' / COCO_FILENAME}."
            ) from err
    path = Path(source)
    if not path.is_file():
        raise FileNotFoundError(f"torchvision weights file not found: {path}")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path)), None
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, Mapping):
        raise ValueError(f"{path} does not hold a state dict")
    return state, None


def from_torchvision(source: Union[str, os.PathLike, Mapping[str, Tensor]] = "coco", **options: Any) -> FasterRCNN:
    """Our `fpn` ResNet-50 detector holding torchvision `fasterrcnn_resnet50_fpn` weights.

    Args:
        source: a state dict, a path to one (.pth read with weights_only=True, or .safetensors), or "coco" for the
            COCO_V1 weights (from checkpoints/ or torch's hub cache, else downloaded).
        **options: build_detector options (min_size, box_score_thresh, ...); num_classes is read from the weights.
    Returns the model in eval mode; with "coco" its `config["class_names"]` holds the 91 COCO category names.
    """
    state, class_names = _load(source)
    converted = convert_torchvision_state_dict(state)
    if "roi_heads.predictor.cls_score.weight" not in converted:
        raise ValueError("state dict has no roi_heads.box_predictor.cls_score.weight: not a Faster R-CNN")
    num_classes = converted["roi_heads.predictor.cls_score.weight"].shape[0]
    options = {"norm": "frozen_bn", "trainable_backbone_layers": 3, "anchor_strides": "torchvision",
               "class_names": class_names, **options}
    model = build_detector("fpn", "resnet50", num_classes=num_classes, **options)
    missing, unexpected = model.load_state_dict(converted, strict=False)
    if missing or unexpected:
        raise ValueError(f"weights do not fit the fpn R50 detector: missing {missing[:5]}, unexpected {unexpected[:5]}")
    return model.eval()
