"""PyramidShapes: a procedurally generated, deterministic multi-scale detection dataset.

Each image (512-640 px per side) shows 1-30 shapes from 10 classes, drawn with solid, striped, checkered,
noisy or gradient fills over a background that is either a random crop of one of the real photos shipped
inside scikit-image's wheel (``skimage/data/*.png|jpg``) or a procedural texture.  Objects range from about
10 px to 450 px, with roughly COCO's size mix measured on the *visible* mask area (about 40% small < 32^2,
35% medium, 25% large >= 96^2).  Later objects paint over earlier ones; a placement that would hide more than
half of an earlier object is rejected, so every painted object stays annotated and mostly visible.  Boxes,
masks (RLE) and areas describe the visible pixels after painting.

Every image comes from its own RNG seeded by ``(seed, split, index)``: the same seed gives byte-identical
PNG and JSON files whatever the number of worker processes.
"""
from __future__ import annotations

import json
import os
import zlib
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from pycocotools import mask as mask_utils

from .fills import background, texture
from .shapes import CLASS_NAMES, make_shape

DATASET_NAME = "PyramidShapes"
DATASET_VERSION = "1.0"

# COCO's area thresholds (pixels of mask area).
SMALL_AREA = 32 ** 2
LARGE_AREA = 96 ** 2

# Probabilities of drawing a small / medium / large object (sqrt of the target mask area, pixels).  Occlusion
# shrinks visible areas, so the drawn mix leans slightly larger than the measured one (tuned on 400 images).
SIZE_BINS: tuple[tuple[float, float, float], ...] = (
    (0.38, 10.0, 32.0),
    (0.31, 33.0, 96.0),
    (0.31, 97.0, 380.0),
)
MIN_VISIBLE_AREA = 50  # pixels; objects that would fall below are not placed
MIN_VISIBLE_FRACTION = 0.5  # an earlier object must keep at least this share of its painted area

def split_code(split: str) -> int:
    return zlib.crc32(split.encode("utf-8"))


def image_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """The RNG of one image: a pure function of (seed, split, index)."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), split_code(split), int(index)]))


# ---------------------------------------------------------------------------------------------- images
@dataclass
class _Placed:
    cls: int
    x0: int
    y0: int
    mask: np.ndarray  # local uint8 [h, w]
    area: int  # painted pixels


def _sample_sqrt_area(rng: np.random.Generator) -> float:
    probs = np.array([b[0] for b in SIZE_BINS])
    b = SIZE_BINS[int(rng.choice(len(SIZE_BINS), p=probs / probs.sum()))]
    if b[1] < 32:
        return float(rng.uniform(b[1], b[2]))
    return float(np.exp(rng.uniform(np.log(b[1]), np.log(b[2]))))


def generate_image(seed: int, split: str, index: int) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """One PyramidShapes image and its annotations.

    Returns:
        image: uint8 [H, W, 3] RGB, 512 <= H, W <= 640.
        annotations: dicts with category_id (1..10), bbox [x, y, w, h] of the visible extent (pixels),
            area (visible mask pixels), segmentation (COCO RLE, counts as str), iscrowd 0; in painting order.
    """
    canvas = _paint(seed, split, index)
    return canvas.image, canvas.annotations()


def visible_shares(seed: int, split: str, index: int) -> list[float]:
    """Each annotated object's visible share of its painted pixels (0.5-1.0, in annotation order) in the image
    `generate_image(seed, split, index)` makes: its occlusion, which the painting order (mostly back to front by
    size) puts mostly on the large objects (`scripts/occlusion_recall.py`)."""
    canvas = _paint(seed, split, index)
    return [visible / placed.area for visible, placed in zip(canvas.visible, canvas.placed)]


def _paint(seed: int, split: str, index: int) -> "_Canvas":
    rng = image_rng(seed, split, index)
    img_h, img_w = (int(v) for v in rng.integers(512, 641, 2))
    canvas = _Canvas(background(rng, img_h, img_w))
    n_objects = 1 + int(29 * rng.random() ** 1.6)
    sizes = np.array([_sample_sqrt_area(rng) for _ in range(n_objects)])
    # Mostly back-to-front by size, with noise so that small objects are sometimes occluded too.
    order = np.argsort(-(np.log(sizes) + rng.normal(0, 0.6, n_objects)))
    for k in order:
        cls = int(rng.integers(len(CLASS_NAMES)))
        mask = make_shape(rng, cls, float(sizes[k]), img_h, img_w)
        if int(mask.sum()) >= MIN_VISIBLE_AREA and mask.shape[0] <= img_h and mask.shape[1] <= img_w:
            canvas.place(rng, cls, mask)
    return canvas


class _Canvas:
    """The image being painted, which object owns each pixel, and how much of each placed object is still visible."""

    ATTEMPTS = 8  # random positions tried per object before it is dropped

    def __init__(self, image: np.ndarray) -> None:
        self.image = image
        self.owner = np.full(image.shape[:2], -1, np.int16)  # index into `placed`, -1 for the background
        self.visible: list[int] = []  # visible pixels of each placed object
        self.placed: list[_Placed] = []

    def place(self, rng: np.random.Generator, cls: int, mask: np.ndarray) -> bool:
        """Paint the shape at the first of ATTEMPTS random positions that hides no earlier object too much."""
        h, w = mask.shape
        sel = mask.astype(bool)
        for _attempt in range(self.ATTEMPTS):
            y0 = int(rng.integers(0, self.image.shape[0] - h + 1))
            x0 = int(rng.integers(0, self.image.shape[1] - w + 1))
            if not self._cover(self.owner[y0:y0 + h, x0:x0 + w][sel]):
                continue
            region = self.image[y0:y0 + h, x0:x0 + w]
            region[sel] = texture(rng, h, w)[sel]
            self.owner[y0:y0 + h, x0:x0 + w][sel] = len(self.placed)
            self.placed.append(_Placed(cls, x0, y0, mask, int(mask.sum())))
            self.visible.append(int(mask.sum()))
            return True
        return False

    def _cover(self, under: np.ndarray) -> bool:
        """Whether painting over the pixels owned by `under` leaves every earlier object at least half visible (and
        MIN_VISIBLE_AREA pixels); if so, their visible counts are updated."""
        under = under[under >= 0]
        if not under.size:
            return True
        hidden = np.bincount(under, minlength=len(self.placed))
        left = np.array(self.visible) - hidden
        keep = np.array([p.area for p in self.placed]) * MIN_VISIBLE_FRACTION
        if np.any((hidden > 0) & ((left < keep) | (left < MIN_VISIBLE_AREA))):
            return False
        for i in np.nonzero(hidden)[0]:
            self.visible[i] -= int(hidden[i])
        return True

    def annotations(self) -> list[dict[str, Any]]:
        """COCO annotations of the visible pixels of every placed object, in painting order."""
        if not self.placed:
            return []
        ids = np.arange(len(self.placed), dtype=np.int16)
        masks = np.asfortranarray((self.owner[:, :, None] == ids[None, None, :]).astype(np.uint8))
        rles = mask_utils.encode(masks)
        return [{"category_id": p.cls + 1, "bbox": [float(v) for v in box], "area": float(area),
                 "segmentation": {"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode("ascii")},
                 "iscrowd": 0}
                for p, rle, area, box in zip(self.placed, rles, mask_utils.area(rles), mask_utils.toBbox(rles))]


def file_name(index: int) -> str:
    return f"{index + 1:012d}.png"


def _render_to_file(job: tuple[int, str, int, str]) -> tuple[int, int, int, list[dict[str, Any]]]:
    seed, split, index, folder = job
    image, anns = generate_image(seed, split, index)
    path = os.path.join(folder, file_name(index))
    tmp = path + ".tmp.png"
    if not cv2.imwrite(tmp, np.ascontiguousarray(image[:, :, ::-1]), [cv2.IMWRITE_PNG_COMPRESSION, 3]):
        raise OSError(f"could not write {tmp}")
    os.replace(tmp, path)
    return index, image.shape[0], image.shape[1], anns


def categories() -> list[dict[str, Any]]:
    return [{"id": i + 1, "name": n, "supercategory": "shape"} for i, n in enumerate(CLASS_NAMES)]


def size_mix(areas: list[float] | np.ndarray) -> dict[str, float]:
    """Fractions of small (< 32^2), medium and large (>= 96^2) objects among mask areas (pixels)."""
    a = np.asarray(areas, dtype=np.float64)
    n = max(len(a), 1)
    return {"small": float((a < SMALL_AREA).sum() / n),
            "medium": float(((a >= SMALL_AREA) & (a < LARGE_AREA)).sum() / n),
            "large": float((a >= LARGE_AREA).sum() / n)}


def write_split(out_dir: str, split: str, num_images: int, seed: int, workers: int = 0,
                progress: bool = True) -> dict[str, Any]:
    """Render ``num_images`` images of ``split`` into ``out_dir/split/`` and write
    ``out_dir/annotations/instances_{split}.json``.  Returns the COCO dict."""
    from tqdm import tqdm

    folder = os.path.join(out_dir, split)
    os.makedirs(folder, exist_ok=True)
    os.makedirs(os.path.join(out_dir, "annotations"), exist_ok=True)
    jobs = [(seed, split, i, folder) for i in range(num_images)]
    results = []
    bar = tqdm(total=num_images, desc=f"{DATASET_NAME} {split}", unit="img", disable=not progress)
    if workers and workers > 1:
        import multiprocessing as mp

        with mp.get_context("spawn" if os.name == "nt" else "fork").Pool(workers) as pool:
            for r in pool.imap(_render_to_file, jobs, chunksize=4):
                results.append(r)
                bar.update(1)
    else:
        for job in jobs:
            results.append(_render_to_file(job))
            bar.update(1)
    bar.close()
    images, annotations = [], []
    for index, h, w, anns in sorted(results, key=lambda r: r[0]):
        image_id = index + 1
        images.append({"id": image_id, "file_name": file_name(index), "height": h, "width": w})
        for a in anns:
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, **a})
    coco = {
        "info": {"description": f"{DATASET_NAME} (procedurally generated)", "version": DATASET_VERSION,
                 "dataset": DATASET_NAME, "seed": int(seed), "split": split, "num_images": int(num_images)},
        "licenses": [],
        "images": images,
        "annotations": annotations,
        "categories": categories(),
    }
    path = os.path.join(out_dir, "annotations", f"instances_{split}.json")
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(coco, f, separators=(",", ":"))
    os.replace(tmp, path)
    return coco
