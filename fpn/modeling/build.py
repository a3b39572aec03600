"""`build_detector`: one Faster R-CNN per variant name, with torchvision's option names."""
from __future__ import annotations

import os
from typing import Any, Optional, Union

from torchvision.models.detection.transform import GeneralizedRCNNTransform

from .anchors import ASPECT_RATIOS, STRIDE_RULES, PyramidAnchors
from .bottom_up import BottomUp, backbone_defaults, make_resnet
from .detector import FasterRCNN
from ..images import IMAGENET_MEAN, IMAGENET_STD
from .options import Option, choice, flag, integer, mapping, min_sizes, number, numbers, resolve, sequence
from .pyramid import FeaturePyramid
from .uint8_transform import Uint8BGRTransform
from .roi_heads import (POOL_MODES, DetectionPostProcessor, FastRCNNHeads, FastRCNNPredictor, LevelRoIPooler, ResNetConv5Head,
                        RoISampler, TwoMLPHead, box_coder)
from .rpn import PRE_NMS_PER, AnchorLabeler, ProposalSelector, RegionProposalNetwork, RPNHead, RPNLoss
from .variants import get_variant

#: Every option of build_detector: default (None: derived, see build_detector's docstring), type and valid values.
OPTIONS: dict[str, Option] = dict(
    rpn_only=flag(False), class_names=sequence(None, "class names", nullable=True),
    norm=choice(None, ("frozen_bn", "bn"), nullable=True), bn_eps=number(1e-5, 0.0),
    trainable_backbone_layers=integer(None, 0, 5, nullable=True), pyramid_channels=integer(256),
    min_size=min_sizes(800), max_size=integer(1333),
    image_mean=numbers(IMAGENET_MEAN, count=3), image_std=numbers(IMAGENET_STD, count=3, positive=True),
    anchor_sizes=mapping(None, "RPN map -> anchor sizes", nullable=True),
    aspect_ratios=numbers(ASPECT_RATIOS, positive=True),
    anchor_stride_rule=choice("level", STRIDE_RULES), rpn_hidden_channels=integer(None, nullable=True),
    rpn_fg_iou_thresh=number(0.7, 0.0, 1.0), rpn_bg_iou_thresh=number(0.3, 0.0, 1.0),
    rpn_batch_size_per_image=integer(256), rpn_positive_fraction=number(0.5, 0.0, 1.0, open_low=True),
    rpn_pre_nms_top_n_train=integer(None, nullable=True), rpn_pre_nms_top_n_test=integer(None, nullable=True),
    rpn_pre_nms_per=choice(None, PRE_NMS_PER, nullable=True), rpn_post_nms_top_n_train=integer(2000),
    rpn_post_nms_top_n_test=integer(1000), rpn_nms_thresh=number(0.7, 0.0, 1.0, open_low=True),
    rpn_score_thresh=number(0.0, 0.0, 1.0),
    roi_pool=choice("align", POOL_MODES), roi_output_size=integer(None, nullable=True),
    representation_size=integer(1024),
    box_fg_iou_thresh=number(0.5, 0.0, 1.0), box_bg_iou_thresh=number(0.5, 0.0, 1.0),
    box_batch_size_per_image=integer(512), box_positive_fraction=number(0.25, 0.0, 1.0, open_low=True),
    box_score_thresh=number(0.05, 0.0, 1.0), box_nms_thresh=number(0.5, 0.0, 1.0, open_low=True),
    box_detections_per_img=integer(100),
    # Detectron2's conventions (`fpn.from_detectron2` sets them; see fpn.weights.detectron2): our defaults are
    # torchvision's
    input_format=choice("rgb", ("rgb", "bgr255")), size_divisible=integer(32, 0),
    stride_in_1x1=flag(False), bn_kernel=choice("scale_shift", ("scale_shift", "batch_norm")),
    anchor_cells=choice("torchvision", ("torchvision", "detectron2")),
    rpn_selection=choice("torchvision", ("torchvision", "detectron2")), rpn_min_size=number(1e-3, 0.0),
    roi_sampling_ratio=integer(2, 0), roi_aligned=flag(False),
    roi_level_mapper=choice("torchvision", ("torchvision", "detectron2")), background_last=flag(False),
    box_min_size=number(1e-2, 0.0),
)
#: Every option of build_detector with its default (None: derived, see build_detector's docstring).
DEFAULTS: dict[str, Any] = {name: option.default for name, option in OPTIONS.items()}


def build_detector(variant: str = "fpn", backbone: str = "resnet50", num_classes: int = 91,
                   backbone_weights: Optional[Union[str, os.PathLike]] = None, **options: Any) -> FasterRCNN:
    """Build a Faster R-CNN of one of the paper's variants (see `fpn.modeling.variants`).

    Args:
        variant: "fpn", "bottom_up", "no_lateral", "p2_only", "c4" or "c5".
        backbone: "resnet18", "resnet34", "resnet50" or "resnet101".
        num_classes: classes including the background (91 for torchvision's COCO layout).
        backbone_weights: None (random init), "imagenet" (torchvision's ImageNet weights; downloaded, or read from torch's
            hub cache), or a path to a ResNet state dict (.pth / .safetensors). Not stored in `model.config`: a
            checkpoint carries all weights itself.
        **options: see `DEFAULTS`. rpn_only: build no Fast R-CNN head (the RPN trained alone, Table 1's protocol;
            fpn.build_model("rpn", config) sets it). class_names: label -> name, index 0 the background (a list of num_classes names,
            or num_classes - 1 without the background, which is then prepended); kept in `model.config` so that
            checkpoints carry it. Derived ones: norm = "frozen_bn" with backbone weights, else "bn";
            trainable_backbone_layers = 3 with backbone weights, else 5; anchor_sizes = the variant's
            ({"p2": [32], ..., "p6": [512]} or all five sizes on the single map); rpn_hidden_channels = the input
            width; roi_output_size = 14 for "c4" (conv5 head), else 7; rpn_pre_nms_top_n_train / _test = the
            variant's candidates before NMS (2000 / 1000 per pyramid level; 12000 / 6000 on C4 / C5; 2000 / 1000 per
            anchor size on p2_only); rpn_pre_nms_per = the variant's "map" or "anchor_size" (see fpn.modeling.variants).
            anchor_stride_rule: how an RPN map's anchor stride is found: "level" (2**k for map k, the paper's) or
            "padded_grid" (padded input size // grid size, torchvision's rule; see `fpn.modeling.anchors`). Stored
            configs that say anchor_strides="exact" / "torchvision" are read as "level" / "padded_grid".
            pyramid_channels: d, the channels of every pyramid map (256 in the paper).
        Each option is checked against `OPTIONS` (fpn.modeling.options): an unknown option or a value of the wrong
        type is a TypeError, a value out of range a ValueError, naming the option and its valid values.
            bn_eps: the backbone normalisation's epsilon (torchvision's COCO_V1 weights use 0: fpn.weights.torchvision).
            Conventions (defaults: torchvision's; `fpn.from_detectron2` sets Detectron2's):
            input_format: "rgb" (torchvision's transform: float resize, ImageNet mean / std in [0, 1]) or "bgr255"
            (`fpn.modeling.uint8_transform`: uint8 PIL resize, BGR 0-255, image_mean / image_std in 0-255 units);
            size_divisible: batch padding (32; 0 = none, Detectron2's C4); stride_in_1x1: MSRA ResNet stride
            placement; bn_kernel: "scale_shift" or "batch_norm" (frozen BN's arithmetic); anchor_cells:
            "torchvision" (rounded, ratio-major) or "detectron2" (unrounded, size-major); rpn_selection:
            "torchvision" or "detectron2" (NMS on logits, boxes must be wider than rpn_min_size); rpn_min_size;
            roi_sampling_ratio / roi_aligned: RoIAlign's (2 / False; Detectron2 0 / True); roi_level_mapper: Eq. (1)'s
            rounding guard; background_last: Detectron2's predictor layout (`FastRCNNPredictor`); box_min_size:
            detections narrower than this are dropped (0: none).
    """
    o = resolve(OPTIONS, options, "build_detector")
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"num_classes must be an int >= 2 (classes + background), got {num_classes!r}")
    v = get_variant(variant)
    o["class_names"] = class_names_with_background(o["class_names"], num_classes)
    o["norm"], o["trainable_backbone_layers"] = backbone_defaults(backbone_weights, o["norm"],
                                                                  o["trainable_backbone_layers"])
    o["anchor_sizes"] = {k: tuple(s) for k, s in (o["anchor_sizes"] or v.rpn_anchors).items()}
    o["roi_output_size"] = o["roi_output_size"] or v.roi_output_size
    o["rpn_pre_nms_top_n_train"] = o["rpn_pre_nms_top_n_train"] or v.rpn_pre_nms_top_n[0]
    o["rpn_pre_nms_top_n_test"] = o["rpn_pre_nms_top_n_test"] or v.rpn_pre_nms_top_n[1]
    o["rpn_pre_nms_per"] = o["rpn_pre_nms_per"] or v.rpn_pre_nms_per
    o["aspect_ratios"] = tuple(o["aspect_ratios"])
    o["image_mean"], o["image_std"] = list(o["image_mean"]), list(o["image_std"])
    if set(o["anchor_sizes"]) != set(v.rpn_anchors):
        raise ValueError(f"anchor_sizes for variant {variant!r} must have the maps {list(v.rpn_anchors)}, "
                         f"got {list(o['anchor_sizes'])}")

    resnet = make_resnet(backbone, backbone_weights, o["norm"], o["bn_eps"], o["stride_in_1x1"], o["bn_kernel"])
    bottom_up = BottomUp(resnet, last=v.last_stage, trainable_layers=o["trainable_backbone_layers"])
    d = o["pyramid_channels"]
    pyramid = None
    widths = dict(bottom_up.out_channels)
    if v.pyramid is not None:
        pyramid = FeaturePyramid(bottom_up.out_channels, d, mode=v.pyramid, outputs=v.pyramid_outputs)
        widths = {k: d for k in v.pyramid_outputs}

    rpn_in = {widths[k] for k in o["anchor_sizes"]}.pop()
    anchors = PyramidAnchors(o["anchor_sizes"], o["aspect_ratios"], o["anchor_stride_rule"], o["anchor_cells"])
    num_anchors = set(anchors.num_anchors_per_location().values())
    if len(num_anchors) != 1:
        raise ValueError("the shared RPN head needs the same number of anchors at every level")
    rpn = RegionProposalNetwork(
        anchors,
        RPNHead(rpn_in, num_anchors.pop(), o["rpn_hidden_channels"]),
        AnchorLabeler(o["rpn_fg_iou_thresh"], o["rpn_bg_iou_thresh"]),
        RPNLoss(o["rpn_batch_size_per_image"], o["rpn_positive_fraction"]),
        train_selector=ProposalSelector(o["rpn_pre_nms_top_n_train"], o["rpn_post_nms_top_n_train"],
                                        o["rpn_nms_thresh"], o["rpn_score_thresh"], o["rpn_min_size"],
                                        o["rpn_selection"]),
        test_selector=ProposalSelector(o["rpn_pre_nms_top_n_test"], o["rpn_post_nms_top_n_test"],
                                       o["rpn_nms_thresh"], o["rpn_score_thresh"], o["rpn_min_size"],
                                       o["rpn_selection"]),
        pre_nms_per=o["rpn_pre_nms_per"],
    )

    roi_heads = None if o["rpn_only"] else _fast_rcnn(v, o, resnet, widths, num_classes)
    transform = _transform(o)
    config = {"variant": variant, "backbone": backbone, "num_classes": num_classes, **o}
    config["anchor_sizes"] = {k: list(s) for k, s in o["anchor_sizes"].items()}
    config["aspect_ratios"] = list(o["aspect_ratios"])
    return FasterRCNN(transform, bottom_up, pyramid, rpn, roi_heads, config).exact(False)  # the fp32 fast path


def _transform(o: dict[str, Any]) -> Any:
    """The input transform of `o["input_format"]`: torchvision's ("rgb") or Detectron2's ("bgr255")."""
    if o["input_format"] == "bgr255":
        return Uint8BGRTransform(o["min_size"], o["max_size"], o["image_mean"], o["image_std"], o["size_divisible"])
    if o["input_format"] != "rgb":
        raise ValueError(f"input_format must be 'rgb' or 'bgr255', got {o['input_format']!r}")
    return GeneralizedRCNNTransform(o["min_size"], o["max_size"], o["image_mean"], o["image_std"],
                                    size_divisible=o["size_divisible"] or 1)


def class_names_with_background(names: Optional[Any], num_classes: int) -> Optional[list[str]]:
    """Class names indexed by label (0 = background) from a list with or without the background entry."""
    if names is None:
        return None
    names = [str(n) for n in names]
    if len(names) == num_classes - 1:
        names = ["__background__"] + names
    if len(names) != num_classes:
        raise ValueError(f"class_names has {len(names)} names for num_classes={num_classes} (give {num_classes} "
                         f"names with the background first, or {num_classes - 1} without it)")
    return names


def _fast_rcnn(v: Any, o: dict[str, Any], resnet: Any, widths: dict[str, int], num_classes: int) -> FastRCNNHeads:
    """Sec. 4.2: the pooler over the variant's RoI maps (Eq. (1)), its box head, predictor, sampler, post-processor."""
    strides = {k: 2 ** int(k[1:]) for k in v.roi_maps}
    pooler = LevelRoIPooler(strides, o["roi_output_size"], mode=o["roi_pool"], sampling_ratio=o["roi_sampling_ratio"],
                            aligned=o["roi_aligned"], mapper=o["roi_level_mapper"])
    if v.box_head == "conv5":
        box_head = ResNetConv5Head(resnet.layer4, widths[v.roi_maps[0]] * 2)
    else:
        box_head = TwoMLPHead(widths[v.roi_maps[0]] * o["roi_output_size"] ** 2, o["representation_size"])
    coder = box_coder()
    return FastRCNNHeads(
        pooler, box_head, FastRCNNPredictor(box_head.out_features, num_classes, o["background_last"]),
        RoISampler(coder, o["box_batch_size_per_image"], o["box_positive_fraction"],
                   o["box_fg_iou_thresh"], o["box_bg_iou_thresh"]),
        DetectionPostProcessor(coder, o["box_score_thresh"], o["box_nms_thresh"], o["box_detections_per_img"],
                               o["box_min_size"]),
    )
