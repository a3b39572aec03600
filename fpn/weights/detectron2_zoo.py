"""Detectron2's COCO model zoo: the models of the paper's tables, their files, checksums and published numbers.

Names, URL suffixes and numbers are copied from Detectron2's source (facebookresearch/detectron2 at SOURCE_COMMIT):
detectron2/model_zoo/model_zoo.py (`_ModelZooUrls`: URL = S3_PREFIX + name + "/" + suffix) and MODEL_ZOO.md (box AP
on COCO val2017; proposal AR@1000 for the RPN-only models). MODEL_ZOO.md (line 26): "any model on this page contains
its md5 prefix in its file name": the 6 hex digits of `model_final_721ade.pkl` begin the file's md5, which
`fpn.hub.download_weights(..., md5=...)` checks. The 80 class names and their COCO category ids are those of
detectron2/data/datasets/builtin_meta.py (COCO_CATEGORIES with isthing=1, in id order: Detectron2's contiguous ids).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

#: the Detectron2 commit the table and the parity fixtures were taken from
SOURCE_COMMIT = "02b5c4e295e990042a714712c21dc79b731e8833"
S3_PREFIX = "https://dl.fbaipublicfiles.com/detectron2/"


@dataclass(frozen=True)
class ZooModel:
    """One model of Detectron2's zoo. variant / task: ours ("fpn" or "c4"; "detection", "rpn" or "fast_rcnn").
    metric: "AP" (box AP) or "AR" (proposal AR@1000), value: the published number; size_mb: the file's approximate
    size (float32 parameters; not published); paper: the row of Lin et al. 2017 it stands for, if any."""

    name: str
    suffix: str
    variant: str
    backbone: str
    task: str
    metric: str
    value: float
    schedule: str
    size_mb: int
    paper: Optional[str] = None

    @property
    def url(self) -> str:
        return f"{S3_PREFIX}{self.name}/{self.suffix}"

    @property
    def filename(self) -> str:
        """Unique in the hub cache: the zoo's files are all named model_final_*.pkl."""
        return self.name.split("/")[-1] + "-" + self.suffix.replace("/", "-")

    @property
    def md5_prefix(self) -> str:
        return re.fullmatch(r".*_([0-9a-f]{6})\.pkl", self.suffix).group(1)

    @property
    def label(self) -> str:
        """e.g. "Detectron2 R50-C4 1x, COCO, AP 35.7" (the app's model list)."""
        depth = self.backbone.replace("resnet", "R")
        kind = {"detection": "", "rpn": "RPN ", "fast_rcnn": "Fast R-CNN "}[self.task]
        return f"Detectron2 {kind}{depth}-{self.variant.upper()} {self.schedule}, COCO, {self.metric} {self.value}"


def _m(name: str, suffix: str, variant: str, depth: int, task: str, metric: str, value: float, size_mb: int,
       paper: Optional[str] = None) -> ZooModel:
    return ZooModel(name, suffix, variant, f"resnet{depth}", task, metric, value, name.rsplit("_", 1)[-1], size_mb,
                    paper)


#: name -> model; Detectron2's COCO-Detection Faster R-CNN / RPN / Fast R-CNN models with ResNet C4 or FPN
ZOO: dict[str, ZooModel] = {m.name: m for m in [
    _m("COCO-Detection/faster_rcnn_R_50_C4_1x", "137257644/model_final_721ade.pkl", "c4", 50, "detection", "AP",
       35.7, 136, "Table 3 (a)"),
    _m("COCO-Detection/faster_rcnn_R_50_C4_3x", "137849393/model_final_f97cb7.pkl", "c4", 50, "detection", "AP",
       38.4, 136),
    _m("COCO-Detection/faster_rcnn_R_50_FPN_1x", "137257794/model_final_b275ba.pkl", "fpn", 50, "detection", "AP",
       37.9, 167, "Table 3 (c)"),
    _m("COCO-Detection/faster_rcnn_R_50_FPN_3x", "137849458/model_final_280758.pkl", "fpn", 50, "detection", "AP",
       40.2, 167),
    _m("COCO-Detection/faster_rcnn_R_101_C4_3x", "138204752/model_final_298dad.pkl", "c4", 101, "detection", "AP",
       41.1, 209),
    _m("COCO-Detection/faster_rcnn_R_101_FPN_3x", "137851257/model_final_f6e8b1.pkl", "fpn", 101, "detection", "AP",
       42.0, 242),
    _m("COCO-Detection/rpn_R_50_C4_1x", "137258005/model_final_450694.pkl", "c4", 50, "rpn", "AR", 51.6, 43,
       "Table 1 (a)"),
    _m("COCO-Detection/rpn_R_50_FPN_1x", "137258492/model_final_02ce48.pkl", "fpn", 50, "rpn", "AR", 58.0, 110,
       "Table 1 (c)"),
    _m("COCO-Detection/fast_rcnn_R_50_FPN_1x", "137635226/model_final_e5f7ce.pkl", "fpn", 50, "fast_rcnn", "AP",
       37.8, 165, "Table 2 (c), on rpn_R_50_FPN_1x's proposals"),
]}

COCO_THING_CLASSES = [
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow", "elephant",
    "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard",
    "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle",
    "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange", "broccoli",
    "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch", "potted plant", "bed", "dining table", "toilet",
    "tv", "laptop", "mouse", "remote", "keyboard", "cell phone", "microwave", "oven", "toaster", "sink",
    "refrigerator", "book", "clock", "vase", "scissors", "teddy bear", "hair drier", "toothbrush"]
#: COCO category id of each class above (Detectron2's contiguous id i, our label i + 1)
COCO_THING_IDS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 27, 28, 31,
                  32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57,
                  58, 59, 60, 61, 62, 63, 64, 65, 67, 70, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 84, 85, 86, 87,
                  88, 89, 90]


def zoo_model(name: str) -> ZooModel:
    """The zoo entry of `name` ("COCO-Detection/faster_rcnn_R_50_C4_1x"; the "COCO-Detection/" prefix and a ".yaml"
    suffix may be left out)."""
    key = name[:-5] if name.endswith(".yaml") else name
    key = key if "/" in key else f"COCO-Detection/{key}"
    if key not in ZOO:
        raise ValueError(f"{name!r} is not a Detectron2 model-zoo model offered here; choose one of: "
                         f"{', '.join(ZOO)} (or pass a local .pkl / .pth file)")
    return ZOO[key]


def zoo_weights(name: str, download: bool = True, progress=True, url: Optional[str] = None):
    """The zoo file of `name` in torch's hub cache (fpn.hub.hub_dir()), downloaded there when missing (md5 prefix
    checked, atomic rename, progress). url: another source of the same file (a mirror; the md5 is still checked).
    $FPN_DETECTRON2_MIRROR, when set, is a base URL serving the zoo's paths (S3_PREFIX's layout)."""
    import os

    from ..hub import download_weights, hub_dir

    model = zoo_model(name)
    path = hub_dir() / model.filename
    if path.is_file():
        return path
    if not download:
        raise FileNotFoundError(f"{path} not found (download it: make weights ARGS=\"detectron2 {model.name}\")")
    mirror = os.environ.get("FPN_DETECTRON2_MIRROR", "").strip()
    source = url or (f"{mirror.rstrip('/')}/{model.name}/{model.suffix}" if mirror else model.url)
    return download_weights(source, hub_dir(), filename=model.filename, md5=model.md5_prefix, progress=progress)
