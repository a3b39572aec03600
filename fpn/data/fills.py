"""PyramidShapes' pixels: object fills (solid, stripes, checker, noise, gradient) and backgrounds (crops of the real
photos inside scikit-image's wheel, procedural textures, or a blend of both). No download is involved."""
from __future__ import annotations

import functools
import os

import cv2
import numpy as np

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


def _random_color(rng: np.random.Generator) -> np.ndarray:
    hsv = np.array([[[rng.integers(0, 180), rng.integers(90, 256), rng.integers(90, 256)]]], np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32)


def texture(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
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


def background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
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
