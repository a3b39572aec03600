"""Robust image loading for the app: any file a person may upload -> an RGB uint8 array, or a clear message.

Handled: non-images, truncated / corrupt files, huge images (decompression bombs), tiny images, grayscale,
palette, RGBA / LA (composited on white), 16-bit and 32-bit integer / float images, CMYK, animated images
(first frame), EXIF orientation (the pixels are rotated the way the camera meant).
"""
from __future__ import annotations

import functools
import hashlib
import io
import os
import warnings
from dataclasses import dataclass, field
from typing import Any, Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

#: Images above this many pixels are refused before they are decoded (a 50 MP photo needs ~150 MB as RGB).
MAX_PIXELS = 50_000_000
#: Longer side the app works with; larger images are downscaled (the detector resizes to ~512-1333 px anyway).
WORKING_SIDE = 2048
#: The side panel's preview of the loaded image fits in this many pixels (its 150 px high frame on a 2x screen).
PREVIEW_PX = (540, 300)
#: Smaller images are refused: the network's coarsest maps (stride 32-64) would have no content.
MIN_SIDE = 8

# PIL refuses (DecompressionBombError) at 2x this; we check the size ourselves first with a clearer message.
Image.MAX_IMAGE_PIXELS = MAX_PIXELS


class ImageError(ValueError):
    """An input that is not a usable image; the message says why, in words a user understands."""


@dataclass
class LoadedImage:
    """array: [H, W, 3] uint8 RGB, upright. sha1: hash of the pixels (cache key). notes: what was done to it."""

    array: np.ndarray
    sha1: str
    source: str = ""
    original_size: tuple[int, int] = (0, 0)  # (height, width) as stored in the file, before any downscale
    mode: str = "RGB"
    notes: list[str] = field(default_factory=list)

    @property
    def message(self) -> str:
        h, w = self.array.shape[:2]
        text = f"{w}x{h} px, {self.mode}"
        return text + ("; " + "; ".join(self.notes) if self.notes else "")


def _to_rgb(im: Image.Image, notes: list[str]) -> np.ndarray:
    mode = im.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        a = np.asarray(im).astype(np.float64)
        if mode.startswith("I;16"):
            top = 65535.0
        elif mode == "I":
            top = 65535.0 if a.max(initial=0) > 255 else 255.0
        else:  # float: [0, 1] if it looks like it, else its own range
            lo, hi = float(a.min(initial=0)), float(a.max(initial=0))
            a = a if 0 <= lo and hi <= 1 else (a - lo) / (hi - lo if hi > lo else 1.0)
            top = 1.0
        gray = (np.clip(a / top, 0, 1) * 255).round().astype(np.uint8)
        notes.append(f"{'16-bit' if top == 65535.0 else mode} grayscale scaled to 8 bits")
        return np.repeat(gray[..., None], 3, axis=2)
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        notes.append("transparency composited on white")
        return np.asarray(Image.alpha_composite(white, rgba).convert("RGB"))
    if mode in ("L", "1"):
        notes.append("grayscale shown as RGB")
    elif mode != "RGB":
        notes.append(f"converted from {mode} to RGB")
    return np.asarray(im.convert("RGB"))


def load_image(source: Union[str, os.PathLike, bytes, Image.Image, np.ndarray, None]) -> LoadedImage:
    """Read an image from a path, bytes, a PIL image or an array. Raises ImageError with a clear message."""
    if source is None:
        raise ImageError("No image: upload an image file or pick an example.")
    name = ""
    if isinstance(source, np.ndarray):
        return _from_array(source)
    if isinstance(source, (str, os.PathLike)):
        name = os.path.basename(os.fspath(source))
        if not os.path.isfile(source):
            raise ImageError(f"File not found: {name or source}")
        if os.path.getsize(source) == 0:
            raise ImageError(f"'{name}' is an empty file.")
        opener: Any = source
    elif isinstance(source, (bytes, bytearray)):
        if not source:
            raise ImageError("The uploaded file is empty.")
        opener = io.BytesIO(source)
    elif isinstance(source, Image.Image):
        return _finish(source, "", [])
    else:
        raise ImageError(f"Cannot read an image from a {type(source).__name__}.")
    label = f"'{name}'" if name else "The file"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(opener)
            w, h = im.size
            if w * h > MAX_PIXELS:
                raise ImageError(f"{label} is {w}x{h} = {w * h / 1e6:.0f} megapixels; the limit is "
                                 f"{MAX_PIXELS / 1e6:.0f} MP. Please downscale it first.")
            im.load()
    except ImageError:
        raise
    except UnidentifiedImageError:
        raise ImageError(f"{label} is not an image (or not in a format Pillow can read: PNG, JPEG, BMP, GIF, "
                         "TIFF, WebP, ...).") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageError(f"{label} exceeds the {MAX_PIXELS / 1e6:.0f} megapixel limit ({e}). Please downscale it "
                         "first.") from None
    except (OSError, SyntaxError, ValueError) as e:
        msg = str(e)
        if "truncated" in msg or "broken" in msg or "premature" in msg.lower():
            raise ImageError(f"{label} is truncated or corrupt ({msg}); upload the complete file.") from None
        raise ImageError(f"{label} could not be decoded: {msg}") from None
    return _finish(im, name, [])


def load_image_file(path: Union[str, os.PathLike]) -> LoadedImage:
    """`load_image(path)`, decoded once per file version: every view of one image reads the same path, and decoding
    plus hashing a photo costs ~8 ms a call. The result is shared between calls: do not modify its array."""
    try:
        stat = os.stat(path)
    except OSError:
        return load_image(path)  # its message names the problem
    return _load_file_version(os.fspath(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=8)
def _load_file_version(path: str, mtime_ns: int, size: int) -> LoadedImage:
    return load_image(path)


def _finish(im: Image.Image, name: str, notes: list[str]) -> LoadedImage:
    try:
        if getattr(im, "n_frames", 1) > 1:
            im.seek(0)
            notes.append("first frame of an animated image")
        mode = im.mode
        w0, h0 = im.size
        orientation = im.getexif().get(0x0112, 1) if hasattr(im, "getexif") else 1
        if orientation not in (1, None):
            im = ImageOps.exif_transpose(im)
            notes.append(f"rotated upright (EXIF orientation {orientation})")
        arr = _to_rgb(im, notes)
    except ImageError:
        raise
    except Exception as e:  # decoders raise many types on corrupt data
        raise ImageError(f"'{name or 'image'}' could not be decoded: {e}") from None
    loaded = _from_array(arr, notes)
    loaded.source, loaded.mode, loaded.original_size = name, mode, (h0, w0)
    return loaded


def _from_array(arr: np.ndarray, notes: list[str] | None = None) -> LoadedImage:
    notes = list(notes or [])
    a = np.asarray(arr)
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=2)
    if a.ndim != 3 or a.shape[2] not in (1, 3, 4):
        raise ImageError(f"Expected an HxW, HxWx3 or HxWx4 image, got an array of shape {a.shape}.")
    if a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    if a.shape[2] == 4:
        top = 65535.0 if a.dtype == np.uint16 else 255.0 if a.dtype == np.uint8 else 1.0
        alpha = a[..., 3:].astype(np.float32) / top
        a = (a[..., :3] * alpha + top * (1 - alpha)).astype(a.dtype)  # composited on white
    if a.dtype == np.uint16:
        a = (a.astype(np.float32) / 257.0).round().astype(np.uint8)
    elif a.dtype != np.uint8:
        a = (np.clip(a.astype(np.float32), 0, 1) * 255).round().astype(np.uint8)
    h, w = a.shape[:2]
    if h * w > MAX_PIXELS:
        raise ImageError(f"The image is {w}x{h} = {w * h / 1e6:.0f} megapixels; the limit is "
                         f"{MAX_PIXELS / 1e6:.0f} MP.")
    if min(h, w) < MIN_SIDE:
        raise ImageError(f"The image is only {w}x{h} px; the detector needs at least {MIN_SIDE} px per side "
                         "(its coarsest pyramid level has a stride of 32-64 px).")
    if max(h, w) > WORKING_SIDE:
        s = WORKING_SIDE / max(h, w)
        a = np.asarray(Image.fromarray(a).resize((max(round(w * s), 1), max(round(h * s), 1)), Image.BILINEAR))
        notes.append(f"downscaled from {w}x{h} to {a.shape[1]}x{a.shape[0]} px")
    a = np.ascontiguousarray(a)
    digest = hashlib.sha1(a.tobytes() + str(a.shape).encode()).hexdigest()
    return LoadedImage(a, digest, original_size=(h, w), notes=notes)


def preview(array: np.ndarray) -> np.ndarray:
    """The image [H, W, 3] uint8 shrunk to fit PREVIEW_PX (width, height) for the side panel, or itself if it fits:
    the page encodes the preview as WebP on every upload (33 ms for a 600 x 400 photo, a few ms at this size)."""
    height, width = array.shape[:2]
    if width <= PREVIEW_PX[0] and height <= PREVIEW_PX[1]:
        return array
    im = Image.fromarray(array)
    im.thumbnail(PREVIEW_PX, Image.Resampling.BILINEAR)
    return np.asarray(im)


def file_sha1(path: Union[str, os.PathLike]) -> str:
    """Hash of a file's bytes (recognises an example image whatever its path)."""
    h = hashlib.sha1()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
