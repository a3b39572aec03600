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

import functools
import json
import os
import zlib
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from pycocotools import mask as mask_utils

DATASET_NAME = "PyramidShapes"
DATASET_VERSION = "1.0"

CLASS_NAMES: tuple[str, ...] = (
    "ellipse", "rectangle", "triangle", "star", "hexagon",
    "ring", "cross", "heart", "arrow", "crescent",
)

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
MAX_EXTENT = 450  # pixels, longest side of an object's box
MIN_VISIBLE_AREA = 50  # pixels; objects that would fall below are not placed
MIN_VISIBLE_FRACTION = 0.5  # an earlier object must keep at least this share of its painted area

PHOTO_NAMES: tuple[str, ...] = (
    "astronaut.png", "coffee.png", "chelsea.png", "rocket.jpg", "motorcycle_left.png", "brick.png",
    "grass.png", "gravel.png", "hubble_deep_field.jpg", "camera.png", "moon.png", "coins.png", "retina.jpg",
)


def photo_dir() -> str:
    """Folder of the photos shipped inside scikit-image's wheel (no download involved)."""
    import skimage.data

    return os.path.dirname(skimage.data.__file__)


@functools.lru_cache(maxsize=1)
def load_photos() -> tuple[np.ndarray, ...]:
    """The background photos as RGB uint8 arrays [H, W, 3], read with OpenCV (never skimage's fetchers)."""
    folder = photo_dir()
    photos = []
    for name in PHOTO_NAMES:
        path = os.path.join(folder, name)
        if not os.path.isfile(path):
            continue
        img = cv2.imread(path, cv2.IMREAD_COLOR)
        if img is None or min(img.shape[:2]) < 64:
            continue
        photos.append(np.ascontiguousarray(img[:, :, ::-1]))
    if not photos:
        raise FileNotFoundError(
            f"no background photos found in {folder}; PyramidShapes needs scikit-image's bundled data "
            f"files ({', '.join(PHOTO_NAMES[:4])}, ...)")
    return tuple(photos)


def split_code(split: str) -> int:
    return zlib.crc32(split.encode("utf-8"))


def image_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """The RNG of one image: a pure function of (seed, split, index)."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), split_code(split), int(index)]))


# ---------------------------------------------------------------------------------------------- shapes
def _circle(n: int = 48, r: float = 1.0, cx: float = 0.0, cy: float = 0.0) -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.stack([cx + r * np.cos(t), cy + r * np.sin(t)], 1)


def _regular(k: int, phase: float = -np.pi / 2) -> np.ndarray:
    t = phase + np.arange(k) * 2 * np.pi / k
    return np.stack([np.cos(t), np.sin(t)], 1)


def _star() -> np.ndarray:
    t = -np.pi / 2 + np.arange(10) * np.pi / 5
    r = np.where(np.arange(10) % 2 == 0, 1.0, 0.45)
    return np.stack([r * np.cos(t), r * np.sin(t)], 1)


def _heart() -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, 64, endpoint=False)
    x = 16 * np.sin(t) ** 3
    y = -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
    pts = np.stack([x, y], 1)
    pts -= pts.mean(0)
    return pts / np.abs(pts).max()


_CROSS = np.array([[-0.3, -1], [0.3, -1], [0.3, -0.3], [1, -0.3], [1, 0.3], [0.3, 0.3], [0.3, 1], [-0.3, 1],
                   [-0.3, 0.3], [-1, 0.3], [-1, -0.3], [-0.3, -0.3]], dtype=np.float64)
_ARROW = np.array([[-1, -0.17], [0.25, -0.17], [0.25, -0.5], [1, 0], [0.25, 0.5], [0.25, 0.17], [-1, 0.17]],
                  dtype=np.float64)


def _shape_polygons(cls: int, rng: np.random.Generator) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(filled polygons, hole polygons) of class ``cls`` in unit coordinates around the origin."""
    name = CLASS_NAMES[cls]
    if name == "ellipse":
        return [_circle(64)], []
    if name == "rectangle":
        return [np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], dtype=np.float64)], []
    if name == "triangle":
        return [_regular(3)], []
    if name == "star":
        return [_star()], []
    if name == "hexagon":
        return [_regular(6, 0.0)], []
    if name == "ring":
        return [_circle(64)], [_circle(64, float(rng.uniform(0.45, 0.65)))]
    if name == "cross":
        return [_CROSS.copy()], []
    if name == "heart":
        return [_heart()], []
    if name == "arrow":
        return [_ARROW.copy()], []
    if name == "crescent":
        return [_circle(64)], [_circle(64, 0.85, cx=float(rng.uniform(0.35, 0.55)))]
    raise ValueError(name)


# Stretch (x scale / y scale) allowed per class: ellipses/rectangles/hexagons also give the 1:2 and 2:1 boxes.
_STRETCH = {"ellipse": (0.5, 2.0), "rectangle": (0.5, 2.0), "hexagon": (0.7, 1.4), "arrow": (0.8, 1.5)}


def _rasterize(polys: list[np.ndarray], holes: list[np.ndarray], h: int, w: int) -> np.ndarray:
    """Binary mask [h, w] (uint8 0/1) of polygons given in local pixel coordinates.  No anti-aliasing,
    so the mask is exactly the set of painted pixels."""
    m = np.zeros((h, w), np.uint8)
    cv2.fillPoly(m, [np.round(p).astype(np.int32) for p in polys], 1, lineType=cv2.LINE_8)
    if holes:
        cv2.fillPoly(m, [np.round(p).astype(np.int32) for p in holes], 0, lineType=cv2.LINE_8)
    return m


# ---------------------------------------------------------------------------------------------- textures
def _random_color(rng: np.random.Generator) -> np.ndarray:
    hsv = np.array([[[rng.integers(0, 180), rng.integers(90, 256), rng.integers(90, 256)]]], np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32)


def _texture(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """An object fill [h, w, 3] uint8: solid, stripes, checker, noise or gradient."""
    kind = rng.choice(5, p=[0.3, 0.2, 0.15, 0.2, 0.15])
    c1, c2 = _random_color(rng), _random_color(rng)
    if kind == 0:
        tex = np.broadcast_to(c1, (h, w, 3)).astype(np.float32)
    elif kind in (1, 2, 4):
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        if kind == 1:
            theta = rng.uniform(0, np.pi)
            period = rng.uniform(4, 14)
            u = xx * np.cos(theta) + yy * np.sin(theta)
            sel = (np.floor(u / (period / 2)) % 2).astype(bool)
        elif kind == 2:
            cell = rng.uniform(3, 11)
            sel = ((np.floor(xx / cell) + np.floor(yy / cell)) % 2).astype(bool)
        else:
            theta = rng.uniform(0, 2 * np.pi)
            u = xx * np.cos(theta) + yy * np.sin(theta)
            a = (u - u.min()) / max(float(u.max() - u.min()), 1.0)
            return (c1 * (1 - a[..., None]) + c2 * a[..., None]).astype(np.uint8)
        tex = np.where(sel[..., None], c1, c2)
    else:
        tex = c1 + rng.normal(0, 28, (h, w, 3)).astype(np.float32)
    return np.clip(tex, 0, 255).astype(np.uint8)


def _background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Background [h, w, 3] uint8: a crop of a real photo (70%) or a procedural texture, sometimes blended."""
    procedural = None
    if rng.random() < 0.45:
        grid = (max(2, h // int(rng.integers(16, 128))), max(2, w // int(rng.integers(16, 128))))
        coarse = rng.uniform(40, 215, (1, 1, 3)) + rng.normal(0, rng.uniform(10, 45), (*grid, 3))
        coarse = np.clip(coarse, 0, 255).astype(np.uint8)
        procedural = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC).astype(np.float32)
        procedural += rng.normal(0, rng.uniform(2, 20), (h, w, 1)).astype(np.float32)
    if procedural is None or rng.random() < 0.4:
        photos = load_photos()
        photo = photos[int(rng.integers(len(photos)))]
        ph, pw = photo.shape[:2]
        scale = rng.uniform(0.35, 1.0)
        ch = int(min(ph, pw * h / w) * scale)
        cw = int(ch * w / h)
        y0 = int(rng.integers(0, ph - ch + 1))
        x0 = int(rng.integers(0, pw - cw + 1))
        crop = cv2.resize(photo[y0:y0 + ch, x0:x0 + cw], (w, h), interpolation=cv2.INTER_LINEAR).astype(np.float32)
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        crop = crop * rng.uniform(0.6, 1.2, (1, 1, 3)).astype(np.float32)
        if procedural is None:
            out = crop
        else:
            alpha = rng.uniform(0.3, 0.7)
            out = alpha * crop + (1 - alpha) * procedural
    else:
        out = procedural
    return np.clip(out, 0, 255).astype(np.uint8)


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


def _make_shape(rng: np.random.Generator, cls: int, sqrt_area: float, img_h: int, img_w: int):
    """Local mask of a shape with about ``sqrt_area ** 2`` pixels, rotated and stretched."""
    polys, holes = _shape_polygons(cls, rng)
    lo, hi = _STRETCH.get(CLASS_NAMES[cls], (0.85, 1.2))
    stretch = np.exp(rng.uniform(np.log(lo), np.log(hi)))
    theta = rng.uniform(0, 2 * np.pi)
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    lin = rot @ np.diag([np.sqrt(stretch), 1 / np.sqrt(stretch)])
    polys = [p @ lin.T for p in polys]
    holes = [p @ lin.T for p in holes]
    unit_area = sum(cv2.contourArea(p.astype(np.float32)) for p in polys) - sum(
        cv2.contourArea(p.astype(np.float32)) for p in holes)
    scale = sqrt_area / np.sqrt(max(unit_area, 1e-6))
    allpts = np.concatenate(polys)
    extent = float((allpts.max(0) - allpts.min(0)).max())
    max_extent = min(MAX_EXTENT, 0.9 * min(img_h, img_w))
    scale = min(scale, max_extent / extent)
    polys = [p * scale for p in polys]
    holes = [p * scale for p in holes]
    allpts = np.concatenate(polys)
    lo_xy = np.floor(allpts.min(0)) - 1
    polys = [p - lo_xy for p in polys]
    holes = [p - lo_xy for p in holes]
    w, h = (np.ceil(np.concatenate(polys).max(0)) + 2).astype(int)
    return _rasterize(polys, holes, int(h), int(w))


def generate_image(seed: int, split: str, index: int) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """One PyramidShapes image and its annotations.

    Returns:
        image: uint8 [H, W, 3] RGB, 512 <= H, W <= 640.
        annotations: dicts with category_id (1..10), bbox [x, y, w, h] of the visible extent (pixels),
            area (visible mask pixels), segmentation (COCO RLE, counts as str), iscrowd 0; in painting order.
    """
    rng = image_rng(seed, split, index)
    img_h, img_w = (int(v) for v in rng.integers(512, 641, 2))
    image = _background(rng, img_h, img_w)
    n_objects = 1 + int(29 * rng.random() ** 1.6)
    sizes = np.array([_sample_sqrt_area(rng) for _ in range(n_objects)])
    # Mostly back-to-front by size, with noise so that small objects are sometimes occluded too.
    order = np.argsort(-(np.log(sizes) + rng.normal(0, 0.6, n_objects)))
    owner = np.full((img_h, img_w), -1, np.int16)
    visible: list[int] = []
    placed: list[_Placed] = []
    for k in order:
        cls = int(rng.integers(len(CLASS_NAMES)))
        mask = _make_shape(rng, cls, float(sizes[k]), img_h, img_w)
        h, w = mask.shape
        area = int(mask.sum())
        if area < MIN_VISIBLE_AREA or h > img_h or w > img_w:
            continue
        for _attempt in range(8):
            y0 = int(rng.integers(0, img_h - h + 1))
            x0 = int(rng.integers(0, img_w - w + 1))
            under = owner[y0:y0 + h, x0:x0 + w][mask.astype(bool)]
            under = under[under >= 0]
            if under.size:
                hidden = np.bincount(under, minlength=len(placed))
                left = np.array(visible) - hidden
                keep = np.array([p.area for p in placed]) * MIN_VISIBLE_FRACTION
                if np.any((hidden > 0) & ((left < keep) | (left < MIN_VISIBLE_AREA))):
                    continue
                for i in np.nonzero(hidden)[0]:
                    visible[i] -= int(hidden[i])
            sel = mask.astype(bool)
            region = image[y0:y0 + h, x0:x0 + w]
            region[sel] = _texture(rng, h, w)[sel]
            owner[y0:y0 + h, x0:x0 + w][sel] = len(placed)
            placed.append(_Placed(cls, x0, y0, mask, area))
            visible.append(area)
            break
    annotations = []
    if placed:
        ids = np.arange(len(placed), dtype=np.int16)
        masks = np.asfortranarray((owner[:, :, None] == ids[None, None, :]).astype(np.uint8))
        rles = mask_utils.encode(masks)
        areas = mask_utils.area(rles)
        boxes = mask_utils.toBbox(rles)
        for p, rle, area, box in zip(placed, rles, areas, boxes):
            annotations.append({
                "category_id": p.cls + 1,
                "bbox": [float(v) for v in box],
                "area": float(area),
                "segmentation": {"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode("ascii")},
                "iscrowd": 0,
            })
    return image, annotations


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
