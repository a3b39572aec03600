"""Reading any COCO-format detection dataset (an images folder + an instances JSON), COCO 2017 included.

Category ids (COCO's run 1..90 with gaps) are mapped to contiguous training labels 1..K (0 = background) and
back for evaluation.
"""
from __future__ import annotations

import json
import os
import random
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset


def find_coco_split(root: str, split: str = "train") -> tuple[str, str]:
    """(images folder, annotation file) of ``split`` under ``root``.

    Accepts this project's layout (``root/annotations/instances_{split}.json`` + ``root/{split}/``) and
    COCO 2017's (``root/annotations/instances_{split}2017.json`` + ``root/{split}2017/``).
    """
    if not os.path.isdir(root):
        raise FileNotFoundError(f"dataset folder not found: {root}")
    tried = []
    for name in (split, f"{split}2017"):
        ann = os.path.join(root, "annotations", f"instances_{name}.json")
        img = os.path.join(root, name)
        tried.append(f"{ann} + {img}/")
        if os.path.isfile(ann) and os.path.isdir(img):
            return img, ann
    raise FileNotFoundError(
        f"no COCO-format split {split!r} under {root}: expected one of " + "; ".join(tried)
        + " (make one with scripts/make_dataset.py)")


def load_coco_json(path: str) -> dict[str, Any]:
    """The instances JSON, checked for the keys the readers need."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"annotation file not found: {path}")
    try:
        with open(path) as f:
            data = json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} is not valid JSON: {e}") from e
    if not isinstance(data, dict):
        raise TypeError(f"{path}: expected a COCO instances JSON object, got {type(data).__name__}")
    missing = [k for k in ("images", "categories") if k not in data]
    if missing:
        raise ValueError(f"{path}: not a COCO instances file, missing key(s) {missing}")
    data.setdefault("annotations", [])
    for i, im in enumerate(data["images"]):
        if "id" not in im or "file_name" not in im:
            raise ValueError(f"{path}: images[{i}] needs 'id' and 'file_name'")
    for i, ann in enumerate(data["annotations"]):
        for k in ("image_id", "category_id", "bbox"):
            if k not in ann:
                raise ValueError(f"{path}: annotations[{i}] has no {k!r}")
    return data


def ann_to_mask(ann: dict[str, Any], height: int, width: int) -> np.ndarray:
    """uint8 [height, width] mask of an annotation's segmentation (polygons, RLE or uncompressed RLE)."""
    from pycocotools import mask as mask_utils

    seg = ann.get("segmentation")
    if not seg:
        # No mask: fall back to the box, so that mask targets always exist.
        m = np.zeros((height, width), np.uint8)
        x, y, w, h = ann["bbox"]
        m[int(y):int(np.ceil(y + h)), int(x):int(np.ceil(x + w))] = 1
        return m
    if isinstance(seg, list):
        rle = mask_utils.merge(mask_utils.frPyObjects(seg, height, width))
    elif isinstance(seg.get("counts"), list):
        rle = mask_utils.frPyObjects(seg, height, width)
    else:
        rle = dict(seg)
        if isinstance(rle["counts"], str):
            rle["counts"] = rle["counts"].encode("ascii")
    return mask_utils.decode(rle)


class CocoDetection(Dataset):
    """A COCO-format detection dataset.

    Args:
        images_dir: folder holding the images named by ``images[].file_name``.
        annotation_file: instances JSON.
        masks: also return instance masks.
        transforms: callable ``(image, target) -> (image, target)`` applied last (e.g. RandomHorizontalFlip).
        skip_crowd: leave ``iscrowd`` objects out of the targets (training); evaluation uses the JSON itself.

    Item ``i``: ``(image, target)`` with image FloatTensor[3, H, W] in [0, 1] and target dict:
        boxes FloatTensor[N, 4] (x1, y1, x2, y2 in pixels), labels Int64Tensor[N] in 1..K, image_id int,
        area FloatTensor[N], iscrowd Int64Tensor[N], and masks UInt8Tensor[N, H, W] when ``masks=True``.
    """

    def __init__(self, images_dir: str, annotation_file: str, masks: bool = False,
                 transforms: Callable | None = None, skip_crowd: bool = True) -> None:
        if not os.path.isdir(images_dir):
            raise FileNotFoundError(f"images folder not found: {images_dir}")
        self.images_dir = images_dir
        self.annotation_file = annotation_file
        self.data = load_coco_json(annotation_file)
        self.masks = masks
        self.transforms = transforms
        self.skip_crowd = skip_crowd
        cats = sorted(self.data["categories"], key=lambda c: c["id"])
        self.category_ids: list[int] = [int(c["id"]) for c in cats]
        self.class_names: list[str] = ["__background__"] + [str(c.get("name", c["id"])) for c in cats]
        self.category_id_to_label: dict[int, int] = {cid: i + 1 for i, cid in enumerate(self.category_ids)}
        self.label_to_category_id: dict[int, int] = {i + 1: cid for i, cid in enumerate(self.category_ids)}
        self.images: list[dict[str, Any]] = sorted(self.data["images"], key=lambda im: im["id"])
        self.ids: list[int] = [int(im["id"]) for im in self.images]
        self._anns: dict[int, list[dict[str, Any]]] = {i: [] for i in self.ids}
        for ann in self.data["annotations"]:
            if ann["image_id"] in self._anns:
                if ann["category_id"] not in self.category_id_to_label:
                    raise ValueError(f"{annotation_file}: annotation {ann.get('id')} has category_id "
                                     f"{ann['category_id']} which is not in 'categories'")
                self._anns[ann["image_id"]].append(ann)

    @property
    def num_classes(self) -> int:
        """K + 1 (background included), the detector's ``num_classes``."""
        return len(self.class_names)

    @property
    def info(self) -> dict[str, Any]:
        return dict(self.data.get("info") or {})

    def __len__(self) -> int:
        return len(self.images)

    def load_image(self, index: int) -> Image.Image:
        path = os.path.join(self.images_dir, self.images[index]["file_name"])
        if not os.path.isfile(path):
            raise FileNotFoundError(f"image file not found: {path} (listed in {self.annotation_file})")
        try:
            with Image.open(path) as im:
                return im.convert("RGB")
        except (UnidentifiedImageError, OSError) as e:
            raise ValueError(f"cannot read image {path}: {e}") from e

    def annotations(self, index: int) -> list[dict[str, Any]]:
        return self._anns[self.ids[index]]

    def target(self, index: int, height: int, width: int) -> dict[str, Any]:
        anns = [a for a in self.annotations(index) if not (self.skip_crowd and a.get("iscrowd", 0))]
        boxes, keep = [], []
        for a in anns:
            x, y, w, h = (float(v) for v in a["bbox"])
            x1, y1 = max(x, 0.0), max(y, 0.0)
            x2, y2 = min(x + w, float(width)), min(y + h, float(height))
            if x2 > x1 and y2 > y1:  # degenerate boxes are dropped
                boxes.append([x1, y1, x2, y2])
                keep.append(a)
        target: dict[str, Any] = {
            "boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
            "labels": torch.tensor([self.category_id_to_label[a["category_id"]] for a in keep], dtype=torch.int64),
            "image_id": self.ids[index],
            "area": torch.tensor([float(a.get("area", a["bbox"][2] * a["bbox"][3])) for a in keep],
                                 dtype=torch.float32),
            "iscrowd": torch.tensor([int(a.get("iscrowd", 0)) for a in keep], dtype=torch.int64),
        }
        if self.masks:
            if keep:
                target["masks"] = torch.from_numpy(np.stack([ann_to_mask(a, height, width) for a in keep]))
            else:
                target["masks"] = torch.zeros((0, height, width), dtype=torch.uint8)
        return target

    def __getitem__(self, index: int) -> tuple[torch.Tensor, dict[str, Any]]:
        pil = self.load_image(index)
        image = torch.from_numpy(np.asarray(pil, dtype=np.uint8).copy()).permute(2, 0, 1).float().div_(255.0)
        target = self.target(index, image.shape[1], image.shape[2])
        if self.transforms is not None:
            image, target = self.transforms(image, target)
        return image, target


def hflip(image: torch.Tensor, target: dict[str, Any]) -> tuple[torch.Tensor, dict[str, Any]]:
    """Mirror an image [3, H, W] and its target (boxes in pixels, masks [N, H, W]) left-right."""
    width = image.shape[-1]
    target = dict(target)
    boxes = target["boxes"].clone()
    boxes[:, [0, 2]] = width - target["boxes"][:, [2, 0]]
    target["boxes"] = boxes
    if "masks" in target:
        target["masks"] = target["masks"].flip(-1)
    return image.flip(-1), target


class RandomHorizontalFlip:
    """Flip with probability ``p``.  ``rng`` (a ``random.Random``) makes the draw reproducible; without one the
    module-level ``random`` is used."""

    def __init__(self, p: float = 0.5) -> None:
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"flip probability must be in [0, 1], got {p}")
        self.p = p

    def __call__(self, image: torch.Tensor, target: dict[str, Any],
                 rng: random.Random | None = None) -> tuple[torch.Tensor, dict[str, Any]]:
        draw = (rng or random).random()
        if draw < self.p:
            return hflip(image, target)
        return image, target


def collate(batch: list[tuple[torch.Tensor, dict[str, Any]]]) -> tuple[list[torch.Tensor], list[dict[str, Any]]]:
    """Keep images of different sizes as a list (the detector batches them itself)."""
    images, targets = zip(*batch) if batch else ((), ())
    return list(images), list(targets)
