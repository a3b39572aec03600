"""A tiny COCO-format dataset for tests: a few small images with a handful of large, easy objects."""
from __future__ import annotations

import json
import os

import cv2
import numpy as np
from pycocotools import mask as mask_utils

TOY_CLASSES = ("square", "disc")


def read_json(path) -> dict:
    with open(path) as f:
        return json.load(f)


def make_toy_coco(root: str, num_images: int = 4, size: int = 160, seed: int = 0,
                  splits: tuple[str, ...] = ("train", "val"), objects: tuple[int, int] = (1, 3)) -> str:
    """Write ``root/{split}/*.png`` + ``root/annotations/instances_{split}.json`` (same images in every split,
    so a model can be scored on what it was trained on).  Class 1: red squares, class 2: blue discs."""
    rng = np.random.default_rng(seed)
    images, anns = [], []
    pictures = []
    for i in range(num_images):
        img = np.clip(rng.normal(128, 12, (size, size, 3)), 0, 255).astype(np.uint8)
        owner = np.full((size, size), -1, np.int32)
        objs = []
        for _ in range(int(rng.integers(objects[0], objects[1] + 1))):
            cls = int(rng.integers(1, 3))
            s = int(rng.integers(size // 4, size // 2))
            x0, y0 = (int(v) for v in rng.integers(0, size - s, 2))
            m = np.zeros((size, size), np.uint8)
            if cls == 1:
                cv2.rectangle(m, (x0, y0), (x0 + s - 1, y0 + s - 1), 1, -1)
                color = (40, 40, 220)  # BGR red
            else:
                cv2.circle(m, (x0 + s // 2, y0 + s // 2), s // 2, 1, -1)
                color = (220, 60, 30)  # BGR blue
            img[m.astype(bool)] = color
            owner[m.astype(bool)] = len(objs)
            objs.append(cls)
        for k, cls in enumerate(objs):
            m = np.asfortranarray((owner == k).astype(np.uint8))
            if m.sum() < 30:
                continue
            rle = mask_utils.encode(m)
            anns.append({"id": len(anns) + 1, "image_id": i + 1, "category_id": cls,
                         "bbox": [float(v) for v in mask_utils.toBbox(rle)], "area": float(mask_utils.area(rle)),
                         "segmentation": {"size": list(rle["size"]), "counts": rle["counts"].decode()},
                         "iscrowd": 0})
        images.append({"id": i + 1, "file_name": f"{i + 1:06d}.png", "height": size, "width": size})
        pictures.append(img)
    os.makedirs(os.path.join(root, "annotations"), exist_ok=True)
    for split in splits:
        os.makedirs(os.path.join(root, split), exist_ok=True)
        for im, pic in zip(images, pictures):
            cv2.imwrite(os.path.join(root, split, im["file_name"]), pic)
        with open(os.path.join(root, "annotations", f"instances_{split}.json"), "w") as f:
            json.dump({"info": {"dataset": "toy", "seed": seed}, "images": images, "annotations": anns,
                       "categories": [{"id": i + 1, "name": n} for i, n in enumerate(TOY_CLASSES)]}, f)
    return root
