"""Detectron2's Faster R-CNN / RPN weights (its model zoo's .pkl files, or its .pth checkpoints) in our detector.

The result is our one detector with Detectron2's conventions set as options (`DETECTRON2_OPTIONS`, all verified
against Detectron2's source at fpn.weights.detectron2_zoo.SOURCE_COMMIT; README "Detectron2's model zoo"): on its exact
path (`model.exact()`) it gives Detectron2's proposals, boxes, scores and labels bit for bit
(tests/test_detectron2_parity.py, from fixtures made by scripts/make_detectron2_fixtures.py).

Names: Detectron2's modules map one-to-one onto ours (`convert_detectron2_state_dict`): R50/R101-FPN -> variant
"fpn", R50/R101-C4 -> "c4" (its res5 is our C4 head's conv5), rpn_* -> the RPN-only task, labels 1..80 = its classes
0..79 (its background, the LAST logit, is our label 0).
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Mapping, Union

import numpy as np
import torch
from torch import Tensor

from ..hub import read_state_dict
from ..modeling.build import build_detector
from ..modeling.detector import FasterRCNN
from .detectron2_zoo import COCO_THING_CLASSES, ZOO, zoo_model, zoo_weights
from .safe_pickle import load_numpy_pickle

#: Detectron2's defaults (detectron2/config/defaults.py) and conventions, as our build options
DETECTRON2_OPTIONS: dict[str, Any] = dict(
    input_format="bgr255", image_mean=[103.530, 116.280, 123.675], image_std=[1.0, 1.0, 1.0], min_size=800,
    max_size=1333, stride_in_1x1=True, norm="frozen_bn", bn_kernel="batch_norm", bn_eps=1e-5,
    trainable_backbone_layers=3, anchor_cells="detectron2", anchor_stride_rule="level", rpn_selection="detectron2",
    rpn_min_size=0.0, roi_sampling_ratio=0, roi_aligned=True, roi_level_mapper="detectron2", background_last=True,
    box_min_size=0.0,
)
#: per variant: padding (its backbone's size_divisibility) and the RPN's candidates (Base-RCNN-C4 / -FPN.yaml)
_VARIANT_OPTIONS = {"fpn": dict(size_divisible=32, rpn_pre_nms_top_n_train=2000, rpn_pre_nms_top_n_test=1000,
                                rpn_post_nms_top_n_train=1000, rpn_post_nms_top_n_test=1000),
                    "c4": dict(size_divisible=0, rpn_pre_nms_top_n_train=12000, rpn_pre_nms_top_n_test=6000,
                               rpn_post_nms_top_n_train=2000, rpn_post_nms_top_n_test=1000)}
#: the RPN-only models' test settings (rpn_R_50_C4_1x.yaml, rpn_R_50_FPN_1x.yaml)
_RPN_ONLY_OPTIONS = {"fpn": dict(rpn_post_nms_top_n_test=2000),
                     "c4": dict(rpn_pre_nms_top_n_test=12000, rpn_post_nms_top_n_test=2000)}

_BLOCK = r"(\d+)\.(conv1|conv2|conv3|shortcut)(\.norm)?\.(weight|bias|running_mean|running_var)"
_CONV = {"conv1": "conv1", "conv2": "conv2", "conv3": "conv3", "shortcut": "downsample.0"}
_NORM = {"conv1": "bn1", "conv2": "bn2", "conv3": "bn3", "shortcut": "downsample.1"}
_STAGE = {"res2": "layer1", "res3": "layer2", "res4": "layer3", "res5": "layer4"}
#: keys Detectron2 itself does not load into its model (old files carry its anchors; buffers of old versions)
_IGNORED = re.compile(r"^(proposal_generator\.anchor_generator\.cell_anchors\.\d+|pixel_mean|pixel_std)$")


def _rename(key: str) -> str | None:
    """One Detectron2 key -> ours, or None when no rule applies."""
    m = re.fullmatch(r"backbone\.(?:bottom_up\.)?stem\.conv1(\.norm)?\.(weight|bias|running_mean|running_var)", key)
    if m:
        return f"bottom_up.{'bn1' if m.group(1) else 'conv1'}.{m.group(2)}"
    m = re.fullmatch(r"backbone\.(?:bottom_up\.)?(res[2-5])\." + _BLOCK, key)
    if m:
        stage, block, conv, norm, param = m.groups()
        return f"bottom_up.{_STAGE[stage]}.{block}.{(_NORM if norm else _CONV)[conv]}.{param}"
    m = re.fullmatch(r"roi_heads\.res5\." + _BLOCK, key)
    if m:
        block, conv, norm, param = m.groups()
        return f"roi_heads.box_head.conv5.{block}.{(_NORM if norm else _CONV)[conv]}.{param}"
    rules = [(r"backbone\.fpn_lateral([2-5])\.(weight|bias)", r"pyramid.lateral.convs.c\1.\2"),
             (r"backbone\.fpn_output([2-5])\.(weight|bias)", r"pyramid.output.p\1.\2"),
             (r"proposal_generator\.rpn_head\.conv\.(weight|bias)", r"rpn.head.conv.\1"),
             (r"proposal_generator\.rpn_head\.objectness_logits\.(weight|bias)", r"rpn.head.objectness.\1"),
             (r"proposal_generator\.rpn_head\.anchor_deltas\.(weight|bias)", r"rpn.head.deltas.\1"),
             (r"roi_heads\.box_head\.fc1\.(weight|bias)", r"roi_heads.box_head.fc6.\1"),
             (r"roi_heads\.box_head\.fc2\.(weight|bias)", r"roi_heads.box_head.fc7.\1"),
             (r"roi_heads\.box_predictor\.(cls_score|bbox_pred)\.(weight|bias)", r"roi_heads.predictor.\1.\2")]
    for pattern, template in rules:
        m = re.fullmatch(pattern, key)
        if m:
            return m.expand(template)
    return None


def convert_detectron2_state_dict(state: Mapping[str, Any]) -> dict[str, Tensor]:
    """Detectron2 Faster R-CNN / RPN keys (numpy arrays or tensors) -> our detector's keys (tensors).

    Raises ValueError naming the keys no rule knows (a Mask R-CNN's mask head, a RetinaNet, a Caffe2 file...)."""
    out, unknown = {}, []
    for key, value in state.items():
        if _IGNORED.match(key):
            continue
        ours = _rename(key)
        if ours is None:
            unknown.append(key)
            continue
        out[ours] = torch.from_numpy(np.ascontiguousarray(value)) if isinstance(value, np.ndarray) else \
            torch.as_tensor(value)
    if unknown:
        hint = " (a Mask R-CNN: its mask head is not part of this detector)" if any("mask_head" in k for k in
                                                                                   unknown) else ""
        raise ValueError(f"not a Detectron2 Faster R-CNN / RPN with a ResNet C4 or FPN backbone: {len(unknown)} "
                         f"unexpected key(s), e.g. {unknown[:4]}{hint}. from_detectron2 reads the models of "
                         f"fpn.weights.detectron2_zoo.ZOO.")
    return out


def read_detectron2_file(path: Union[str, os.PathLike]) -> dict[str, Any]:
    """The weights {Detectron2 name: array} of a zoo .pkl (restricted unpickler: numpy arrays only) or a .pth saved
    by Detectron2's checkpointer ({"model": state dict, ...}, or a bare state dict; torch.load weights_only=True)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Detectron2 weights file not found: {path}")
    if path.suffix == ".pkl":
        data = load_numpy_pickle(path)
        if not isinstance(data, dict) or not isinstance(data.get("model"), dict):
            raise ValueError(f"{path} is a pickle but not in Detectron2's model-zoo format ({{'model': {{name: "
                             "array}}, '__author__': ...}}): a Caffe2 / Detectron1 or ImageNet file? Those are not "
                             "supported.")
        return data["model"]
    return read_state_dict(path, "Detectron2 weights", wrapper="model")


def describe(state: Mapping[str, Tensor]) -> dict[str, Any]:
    """What a converted state dict holds: variant ("fpn" / "c4"), backbone depth, rpn_only, num_classes."""
    if "pyramid.lateral.convs.c2.weight" in state:
        variant = "fpn"
    elif "rpn.head.conv.weight" not in state and "roi_heads.box_head.conv5.0.conv1.weight" not in state:
        raise ValueError("the file has neither an FPN (backbone.fpn_lateral2) nor an RPN / res5 head: is it a "
                         "Detectron2 Faster R-CNN or RPN?")
    elif "rpn.head.conv.weight" in state and state["rpn.head.conv.weight"].shape[1] == 1024:
        variant = "c4"
    elif "roi_heads.box_head.conv5.0.conv1.weight" in state:
        variant = "c4"
    else:
        raise ValueError("cannot tell the architecture: the file has neither an FPN (backbone.fpn_lateral2) nor a "
                         "C4 model's RPN / res5 head; is it a Detectron2 Faster R-CNN or RPN?")
    blocks = {int(k.split(".")[2]) for k in state if k.startswith("bottom_up.layer3.")}
    depth = {6: "resnet50", 23: "resnet101"}.get(len(blocks))
    if depth is None:
        raise ValueError(f"unsupported backbone: res4 has {len(blocks)} blocks (R50: 6, R101: 23)")
    rpn_only = not any(k.startswith("roi_heads.") for k in state)
    cls = state.get("roi_heads.predictor.cls_score.weight")
    return {"variant": variant, "backbone": depth, "rpn_only": rpn_only,
            "num_classes": int(cls.shape[0]) if cls is not None else 81}


def from_detectron2(source: Union[str, os.PathLike, Mapping[str, Any]],
                    proposals: Union[str, os.PathLike, Mapping[str, Any], FasterRCNN, None] = None,
                    **options: Any) -> FasterRCNN:
    """Our detector holding Detectron2 weights, with Detectron2's conventions set (`DETECTRON2_OPTIONS`).

    Args:
        source: a model-zoo name ("COCO-Detection/faster_rcnn_R_50_C4_1x"; see fpn.weights.detectron2_zoo.ZOO;
            from torch's hub cache, else downloaded with its md5 prefix checked), a local .pkl (the zoo's format, read
            with a numpy-only unpickler) or .pth (saved by Detectron2), or a state dict with Detectron2's names.
        proposals: for a Fast R-CNN file (fast_rcnn_R_50_FPN_1x: no RPN of its own), the RPN model whose proposals
            it runs on, as a source like `source` (Detectron2 used "COCO-Detection/rpn_R_50_FPN_1x") or a loaded
            model; see fpn.weights.detectron2_pair (top 1000 proposals; Detectron2's method, not its bits).
        **options: build_detector options overriding the conventions (min_size, box_score_thresh, ...).
    Returns the model in eval mode on its fast inference path; `.exact()` gives Detectron2's outputs bit for bit.
    80 COCO classes: `config["class_names"]` (index 0 the background) when the file has 81 outputs. RPN-only files
    give the "rpn" task (`config["rpn_only"]`): `predict` returns their proposals and no detections.
    Raises ValueError (wrong model, missing or misshapen weights), UnsafePickleError / TruncatedPickleError (.pkl).
    """
    name = None
    if isinstance(source, Mapping):
        raw, where = source, "the state dict"
    else:
        text = str(source)
        is_zoo = not Path(text).exists() and not text.endswith((".pkl", ".pth"))
        if is_zoo:
            name = zoo_model(text).name
        path = zoo_weights(name) if is_zoo else Path(text)
        raw, where = read_detectron2_file(path), str(path)
    state = convert_detectron2_state_dict(raw)
    info = describe(state)
    if "rpn.head.conv.weight" not in state:
        return _fast_rcnn(state, info, where, proposals, options)
    if name is not None and (ZOO[name].variant, ZOO[name].task == "rpn") != (info["variant"], info["rpn_only"]):
        kind = "RPN" if info["rpn_only"] else "detector"
        raise ValueError(f"{where} is not {name}: it holds a {info['variant']} {kind}; delete it and download it "
                         "again")
    num_classes = info["num_classes"]
    defaults = {**DETECTRON2_OPTIONS, **_VARIANT_OPTIONS[info["variant"]],
                **(_RPN_ONLY_OPTIONS[info["variant"]] if info["rpn_only"] else {}), "rpn_only": info["rpn_only"],
                "class_names": COCO_THING_CLASSES if num_classes == 81 else None}
    model = build_detector(info["variant"], info["backbone"], num_classes=num_classes, **{**defaults, **options})
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    if missing:
        raise ValueError(f"{where} lacks {len(missing)} weight(s) of the {info['backbone']}-{info['variant']} model, "
                         f"e.g. {[detectron2_key(k, info['variant']) for k in missing[:4]]}: a damaged or partial file?")
    wrong = [f"{k}: {tuple(v.shape)} (expected {tuple(expected[k].shape)})" for k, v in state.items()
             if k in expected and v.shape != expected[k].shape]
    if wrong:
        raise ValueError(f"{where}: weights of the wrong shape for the {info['backbone']}-{info['variant']} model: "
                         f"{wrong[:3]}")
    model.load_state_dict(state, strict=True)
    return model.eval()


def _fast_rcnn(state: dict[str, Tensor], info: dict[str, Any], where: str, proposals: Any,
               options: dict[str, Any]) -> FasterRCNN:
    """A Fast R-CNN file (no RPN): the detector on the proposals of the RPN model `proposals`."""
    from .detectron2_pair import fast_rcnn_on_proposals

    if proposals is None:
        raise ValueError(f"{where} is a Fast R-CNN model (no RPN of its own): it runs on another model's proposals; "
                         "pass proposals=\"COCO-Detection/rpn_R_50_FPN_1x\" (the RPN Detectron2 used) or a loaded "
                         "RPN model.")
    sizes = {k: options[k] for k in ("min_size", "max_size") if k in options}
    rpn = proposals if isinstance(proposals, FasterRCNN) else from_detectron2(proposals, **sizes)
    if not rpn.config.get("rpn_only"):
        raise ValueError("proposals= must be an RPN-only model (rpn_R_50_FPN_1x, rpn_R_50_C4_1x)")
    defaults = {**DETECTRON2_OPTIONS, **_VARIANT_OPTIONS[info["variant"]], "class_names": COCO_THING_CLASSES
                if info["num_classes"] == 81 else None}
    return fast_rcnn_on_proposals(state, rpn, info["variant"], info["backbone"], info["num_classes"],
                                  {**defaults, **options}, where)


def detectron2_key(ours: str, variant: str) -> str:
    """Our key -> the Detectron2 key it is read from ("c4" backbones have no "bottom_up." level), for messages."""
    prefix = "backbone.bottom_up." if variant == "fpn" else "backbone."
    m = re.fullmatch(r"bottom_up\.(conv1|bn1)\.(\w+)", ours)
    if m:
        return f"{prefix}stem.conv1{'.norm' if m.group(1) == 'bn1' else ''}.{m.group(2)}"
    m = re.fullmatch(r"(?:bottom_up\.layer([1-4])|roi_heads\.box_head\.conv5)\.(\d+)\.(conv\d|bn\d|downsample\.[01])"
                     r"\.(\w+)", ours)
    if m:
        layer, block, part, param = m.groups()
        stage = f"{prefix}res{int(layer) + 1}" if layer else "roi_heads.res5"
        inverse = {**{v: k for k, v in _CONV.items()}, **{v: f"{k}.norm" for k, v in _NORM.items()}}
        return f"{stage}.{block}.{inverse[part]}.{param}"
    for a, b in [("pyramid.lateral.convs.c", "backbone.fpn_lateral"), ("pyramid.output.p", "backbone.fpn_output"),
                 ("rpn.head.objectness", "proposal_generator.rpn_head.objectness_logits"),
                 ("rpn.head.deltas", "proposal_generator.rpn_head.anchor_deltas"),
                 ("rpn.head.", "proposal_generator.rpn_head."), ("roi_heads.box_head.fc6", "roi_heads.box_head.fc1"),
                 ("roi_heads.box_head.fc7", "roi_heads.box_head.fc2"), ("roi_heads.predictor.", "roi_heads.box_predictor.")]:
        if ours.startswith(a):
            return b + ours[len(a):]
    return ours
