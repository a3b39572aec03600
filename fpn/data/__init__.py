"""Datasets: the bundled PyramidShapes generator (synthetic.py; its shapes.py and fills.py) and a reader for any
COCO-format dataset (coco.py)."""
from fpn.data.coco import (
    CocoDetection,
    RandomHorizontalFlip,
    collate,
    find_coco_split,
)
from fpn.data.synthetic import CLASS_NAMES as PYRAMID_SHAPES_CLASSES
from fpn.data.synthetic import DATASET_NAME, generate_image, size_mix, write_split

__all__ = [
    "DATASET_NAME",
    "PYRAMID_SHAPES_CLASSES",
    "CocoDetection",
    "RandomHorizontalFlip",
    "collate",
    "find_coco_split",
    "generate_image",
    "size_mix",
    "write_split",
]
