"""What every view returns, and its export: the pictures (full-resolution PNG), the numbers they show (JSON) and the
few lines of Python (the library's public API) that redraw them.

Gradio-free: `Explorer`'s views return a `ViewResult`; the tabs show it and offer `write_files(result)` for download.
"""
from __future__ import annotations

import functools
import json
import os
import shutil
import tempfile
import threading
import uuid
import weakref
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

#: Export folders kept on disk (Gradio copies the files it serves into its cache; older folders are deleted).
KEEP_FOLDERS = 64
_folders: "deque[str]" = deque()
_lock = threading.Lock()
#: PNG zlib level: 1 encodes a photo-sized view 3x faster than PIL's default 6 for ~10% more bytes (lossless both).
PNG_LEVEL = 1
#: id(array) -> (weak reference to it, its PNG file): each picture is encoded once while it lives (png_file).
_encoded: dict[int, tuple[weakref.ref, str]] = {}
_encoded_lock = threading.RLock()  # re-entrant: a weak reference's callback may run inside the lock's holder


@dataclass
class ViewResult:
    """One view drawn on one image.

    name: the view ("pyramid"), the stem of its JSON file; images: file stem -> [H, W, 3] uint8 RGB, in display order
    (the first is the main figure); data: the numbers the view shows (JSON-able: boxes in pixels, counts, values);
    code: Python that redraws every image of `images` into a variable of the same name; text: Markdown shown beside
    the pictures (notes, a filled-in formula, a cell's reading).
    """

    name: str
    images: dict[str, np.ndarray]
    data: dict[str, Any] = field(default_factory=dict)
    code: str = ""
    text: str = ""

    @property
    def image(self) -> np.ndarray:
        """The main figure."""
        return next(iter(self.images.values()))


def to_json(value: Any) -> Any:
    """numpy / torch scalars and arrays -> plain Python (json.dumps' `default`)."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def write_files(result: ViewResult, root: str | None = None) -> list[str]:
    """The result's images as `<stem>.png` (lossless, full resolution), its data as `<name>.json` and its code as
    `<name>.py`, in a new folder under `root` (default: the system's temp folder). Returns the paths, PNGs first."""
    folder = tempfile.mkdtemp(prefix=f"fpn-{result.name}-", dir=root)
    paths = []
    for stem, img in result.images.items():
        path = os.path.join(folder, f"{stem}.png")
        shutil.copyfile(png_file(img), path)
        paths.append(path)
    path = os.path.join(folder, f"{result.name}.json")
    with open(path, "w") as f:
        json.dump({"view": result.name, **result.data}, f, indent=1, default=to_json)
    paths.append(path)
    if result.code:
        path = os.path.join(folder, f"{result.name}.py")
        with open(path, "w") as f:
            f.write(result.code)
        paths.append(path)
    _forget_old(folder)
    return paths


def _forget_old(folder: str) -> None:
    with _lock:
        _folders.append(folder)
        while len(_folders) > KEEP_FOLDERS:
            shutil.rmtree(_folders.popleft(), ignore_errors=True)


def png_file(img: np.ndarray) -> str:
    """The picture as a lossless PNG file, encoded once while `img` lives (a drawn view kept by app/view_cache.py is
    served and exported many times): the same path for the same array object; the file is deleted with the array.
    Written under a temporary name and renamed, so a reader never sees a partial file."""
    with _encoded_lock:
        known = _encoded.get(id(img))
        if known is not None and known[0]() is img:
            return known[1]
    folder = os.path.join(tempfile.gettempdir(), f"fpn-served-{os.getpid()}")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"{uuid.uuid4().hex}.png")
    Image.fromarray(np.ascontiguousarray(img)).save(path + ".part", format="png", compress_level=PNG_LEVEL)
    os.replace(path + ".part", path)
    with _encoded_lock:
        _encoded[id(img)] = (weakref.ref(img, functools.partial(_forget_png, id(img), path)), path)
    return path


def _forget_png(key: int, path: str, _ref: weakref.ref) -> None:
    with _encoded_lock:
        if key in _encoded and _encoded[key][1] == path:
            del _encoded[key]
    try:
        os.remove(path)
    except OSError:
        pass
