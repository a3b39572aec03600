"""Example images available offline: real photos shipped inside scikit-image's and matplotlib's packages, and images
of the bundled dataset (PyramidShapes, COCO JSON) with their ground truth when it has been generated; small
thumbnails of all of them for the page's gallery."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional, Sequence

import torch
from PIL import Image

from .images import ImageError, file_sha1, load_image

PHOTOS = ("astronaut.png", "coffee.png", "chelsea.png", "motorcycle_left.png", "rocket.jpg")
# data/ holds a generated dataset when there is one (scripts/make_dataset.py); examples/ ships six held-out
# PyramidShapes images (seed 1, never used for training) so a fresh clone has ground-truth examples too.
DATASET_DIRS = ("data/pyramid_shapes", "examples/pyramid_shapes")
THUMBNAIL_PX = 128  # longest side of a gallery thumbnail


@dataclass
class Example:
    """name: shown in the picker; gt: {"boxes" [G, 4] original-image pixels (x1, y1, x2, y2), "labels" [G]} or None."""

    name: str
    path: str
    kind: str  # "photo" or "dataset"
    gt: Optional[dict] = None
    class_names: Optional[list[str]] = None

    @property
    def caption(self) -> str:
        """Its label under a thumbnail, short enough to fit: "astronaut" (photo) or "17 objects" (with ground truth)."""
        if self.kind == "photo":
            return self.name.removeprefix("photo: ")
        return f"{len(self.gt['labels']) if self.gt else 0} objects"


def photo_examples() -> list[Example]:
    """scikit-image's astronaut, coffee, chelsea, motorcycle, rocket and matplotlib's grace_hopper (no download)."""
    out = []
    try:
        import skimage.data

        folder = os.path.dirname(skimage.data.__file__)
        out += [Example(f"photo: {os.path.splitext(n)[0]}", os.path.join(folder, n), "photo") for n in PHOTOS
                if os.path.isfile(os.path.join(folder, n))]
    except ImportError:
        pass
    try:
        import matplotlib

        path = os.path.join(matplotlib.get_data_path(), "sample_data", "grace_hopper.jpg")
        if os.path.isfile(path):
            out.append(Example("photo: grace_hopper", path, "photo"))
    except ImportError:
        pass
    return out


def dataset_examples(root: str, split: str = "val", limit: int = 12) -> list[Example]:
    """The first `limit` images of a COCO-format split under root (this project's layout or COCO 2017's), with GT;
    [] when there is none."""
    from fpn.data import CocoDetection, find_coco_split

    try:
        images_dir, ann = find_coco_split(root, split)
        ds = CocoDetection(images_dir, ann)
    except (FileNotFoundError, ValueError):
        return []
    out = []
    for i in range(min(limit, len(ds))):
        meta = ds.images[i]
        path = os.path.join(images_dir, meta["file_name"])
        if not os.path.isfile(path):
            continue
        t = ds.target(i, int(meta.get("height", 0) or 10 ** 6), int(meta.get("width", 0) or 10 ** 6))
        gt = {"boxes": t["boxes"], "labels": t["labels"]}
        name = f"{os.path.basename(os.path.normpath(root))}: {meta['file_name']} ({len(t['labels'])} objects)"
        out.append(Example(name, path, "dataset", gt, list(ds.class_names)))
    return out


class ExampleLibrary:
    """All examples by name, and the ground truth of an image file recognised by its bytes (an uploaded copy of a
    dataset image keeps its ground truth)."""

    def __init__(self, dataset_dirs: Sequence[str] = DATASET_DIRS, limit: int = 12) -> None:
        self.examples: dict[str, Example] = {}
        for ex in photo_examples():
            self.examples[ex.name] = ex
        for root in dataset_dirs:
            for ex in dataset_examples(root, limit=limit):
                self.examples[ex.name] = ex
        self._by_hash: Optional[dict[str, Example]] = None
        self._thumbnails: dict[str, Image.Image] = {}

    def names(self, kind: Optional[str] = None) -> list[str]:
        """Names of all examples, or of one kind ("photo" or "dataset")."""
        return [n for n, e in self.examples.items() if kind is None or e.kind == kind]

    def thumbnail(self, name: str) -> Image.Image:
        """An RGB thumbnail of the example, at most THUMBNAIL_PX a side; made once."""
        if name not in self._thumbnails:
            try:
                im = Image.fromarray(load_image(self.path(name)).array)
            except (ImageError, OSError):  # a damaged package file: a grey square, its caption still shows
                im = Image.new("RGB", (THUMBNAIL_PX, THUMBNAIL_PX), (200, 200, 200))
            im.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX))
            self._thumbnails[name] = im
        return self._thumbnails[name]

    def path(self, name: str) -> str:
        if name not in self.examples:
            raise KeyError(f"unknown example {name!r}")
        return self.examples[name].path

    def match(self, path: Optional[str]) -> Optional[Example]:
        """The dataset example whose file has the same bytes as `path`, if any."""
        if not path or not os.path.isfile(path):
            return None
        if self._by_hash is None:
            self._by_hash = {file_sha1(e.path): e for e in self.examples.values() if e.kind == "dataset"}
        if not self._by_hash:
            return None
        try:
            return self._by_hash.get(file_sha1(path))
        except OSError:
            return None

    def has_dataset(self) -> bool:
        return any(e.kind == "dataset" for e in self.examples.values())


def as_targets(gt: Optional[dict]) -> Optional[dict]:
    if gt is None:
        return None
    return {"boxes": torch.as_tensor(gt["boxes"], dtype=torch.float32).reshape(-1, 4),
            "labels": torch.as_tensor(gt["labels"], dtype=torch.int64).reshape(-1)}
