"""Run a model once per (image, model) and keep the result: every view draws from the cached `Exploration`.

An LRU cache bounded by `max_entries` and by the explorations' tensor bytes, `max_bytes`: a 512 px image takes ~50 MB
with the bundled R18 FPN (half of it the 1000 RoIs' pooled features), ~200 MB with a C4 head (14x14x256 per RoI)
and several hundred MB with torchvision's R50 at 800 px. Anchor labels against pseudo ground truth (detections) and
pooled features of other boxes are derived from the cached anchors and maps with the model's own rules, so changing
the score threshold never re-runs the network; each analysis keeps its last `MAX_DERIVED` derived results and its last
`MAX_VIEWS` drawn views (app/view_cache.py: a request repeated on an analysed image is not drawn again).
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import torch

import fpn

from .images import LoadedImage
from .models import ModelRegistry

#: Analyses the Analyzer keeps by default, and the most bytes of tensors they may hold together (the newest is kept
#: even when it alone is larger).
MAX_ENTRIES = 8
MAX_BYTES = 1 << 30
#: Forward passes run at once: each already uses every core through torch's threads, so more would only slow all.
MAX_RUNS = 1
#: Derived results (pseudo-GT labels, pooled boxes) kept per analysis, least recently used dropped.
MAX_DERIVED = 8
#: Drawn views kept per analysis (a few MB of pictures each), least recently used dropped.
MAX_VIEWS = 6


def tensor_bytes(obj: Any) -> int:
    """Bytes of the distinct tensor storages reachable from obj (dataclass fields, dicts, lists, tuples)."""
    seen: dict[int, int] = {}
    stack = [obj]
    while stack:
        x = stack.pop()
        if isinstance(x, torch.Tensor):
            storage = x.untyped_storage()
            seen[storage.data_ptr()] = storage.nbytes()
        elif isinstance(x, dict):
            stack.extend(x.values())
        elif isinstance(x, (list, tuple)):
            stack.extend(x)
        elif hasattr(x, "__dataclass_fields__"):
            stack.extend(getattr(x, name) for name in x.__dataclass_fields__)
    return sum(seen.values())


@dataclass
class Analysis:
    """One model run on one image. gt: {"boxes" [G, 4] original px, "labels" [G]} when the image has ground truth
    (then exploration.rpn[*].labels are against it). seconds: model time. nbytes: the exploration's tensors.
    cache: derived results (pseudo-GT labels, pooled boxes), at most MAX_DERIVED (Analyzer.derived); views: drawn
    views (app.export.ViewResult), at most MAX_VIEWS (Analyzer.view)."""

    model_name: str
    image: LoadedImage
    exploration: Any
    gt: Optional[dict]
    seconds: float
    nbytes: int = 0
    cache: "OrderedDict[tuple, Any]" = field(default_factory=OrderedDict)
    views: "OrderedDict[tuple, Any]" = field(default_factory=OrderedDict)

    @property
    def class_names(self) -> Optional[list[str]]:
        return getattr(self.exploration, "class_names", None)


class Analyzer:
    """analyze(image, model_name, gt) -> Analysis, computed once per (image hash, model, with/without GT); the least
    recently used analyses are dropped beyond max_entries or max_bytes (see MAX_ENTRIES, MAX_BYTES); max_runs: forward
    passes at once (MAX_RUNS). A cache hit never waits for a model run."""

    def __init__(self, registry: ModelRegistry, max_entries: int = MAX_ENTRIES, max_bytes: int = MAX_BYTES,
                 max_runs: int = MAX_RUNS) -> None:
        self.registry = registry
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._cache: "OrderedDict[tuple, Analysis]" = OrderedDict()
        self._lock = threading.Lock()  # the cache's dict only: held for microseconds, never across a model run
        self._key_locks: dict[tuple, threading.Lock] = {}  # one per (image, model, gt) being analysed now
        self._runs = threading.BoundedSemaphore(max(int(max_runs), 1))
        self._derived_lock = threading.Lock()
        self.runs = 0  # model forward passes made (tests check the cache with it)

    @property
    def cached(self) -> list[Analysis]:
        """The analyses held now, least recently used first."""
        with self._lock:
            return list(self._cache.values())

    def analyze(self, image: LoadedImage, model_name: str, gt: Optional[dict] = None,
                progress: Optional[Callable[[float, str], None]] = None) -> Analysis:
        """The cached analysis, or the model run now. Locks: a hit takes only the short cache lock; a miss waits on
        its own (image, model) key's lock (two requests for the same new image run the model once), never on other
        keys' runs, and the model is fetched (downloaded, loaded) before any of the Analyzer's locks is taken; at
        most `max_runs` forward passes run at once (more would only share the same cores)."""
        key = (image.sha1, model_name, gt is not None)
        hit = self._hit(key)
        if hit is not None:
            return hit
        if progress:
            progress(0.1, f"loading {model_name}")
        model = self.registry.get(model_name, progress)  # COCO / zoo: downloaded first when missing (its own lock)
        with self._lock:
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            hit = self._hit(key)  # another request ran it while this one waited
            if hit is not None:
                return hit
            if progress:
                progress(0.4, f"running {model_name} on {image.array.shape[1]}x{image.array.shape[0]} px")
            try:
                with self._runs:
                    start = time.perf_counter()
                    ex = fpn.explore(model, image.array, targets=gt)  # dispatches to the mask proposer's explore
                    seconds = time.perf_counter() - start
            except BaseException:
                with self._lock:
                    self._key_locks.pop(key, None)  # a failed key leaves no lock behind (the next request retries)
                raise
            result = Analysis(model_name, image, ex, gt, seconds, tensor_bytes(ex))
            with self._lock:
                self.runs += 1
                self._cache[key] = result
                self._key_locks.pop(key, None)  # waiters hold it still; they find the result in the cache
                while len(self._cache) > max(self.max_entries, 1) or (
                        len(self._cache) > 1 and sum(a.nbytes for a in self._cache.values()) > self.max_bytes):
                    self._cache.popitem(last=False)
        if progress:
            progress(1.0, "done")
        return result

    def _hit(self, key: tuple) -> Optional[Analysis]:
        """The cached analysis of key (made the most recent), or None."""
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        return None

    # ------------------------------------------------------------------ derived results (no network re-run)
    def derived(self, analysis: Analysis, key: tuple, compute: Callable[[], Any]) -> Any:
        """analysis.cache[key], computed by compute() on a miss; the cache keeps the MAX_DERIVED most recent."""
        return self._memo(analysis.cache, MAX_DERIVED, key, compute)

    def view(self, analysis: Analysis, key: tuple, draw: Callable[[], Any]) -> Any:
        """analysis.views[key]: a view drawn from this analysis (app/view_cache.py), drawn by draw() on a miss; the
        MAX_VIEWS most recent are kept, and go with the analysis when the Analyzer drops it."""
        return self._memo(analysis.views, MAX_VIEWS, key, draw)

    def _memo(self, store: "OrderedDict[tuple, Any]", limit: int, key: tuple, compute: Callable[[], Any]) -> Any:
        with self._derived_lock:
            if key in store:
                store.move_to_end(key)
                return store[key]
        value = compute()  # outside the lock: other requests go on meanwhile
        with self._derived_lock:
            store[key] = value
            while len(store) > limit:
                store.popitem(last=False)
        return value

    def anchor_labels(self, analysis: Analysis, score_thresh: float) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """Labels of every RPN anchor against pseudo ground truth = the detections with score >= score_thresh.

        Returns ({level: labels [H*W*A]}, pseudo-GT boxes [G, 4] in resized-input pixels). The labeller is the
        model's own (same IoU thresholds), run on all levels' anchors together as in training. Keyed by the set of
        detections kept, so a threshold slider that keeps the same detections costs nothing.
        """
        det = analysis.exploration.detections
        keep = det["scores"] >= score_thresh
        boxes = analysis.exploration.detection_boxes_resized[keep]

        def compute():
            return fpn.label_anchors(self.registry.get(analysis.model_name), analysis.exploration, boxes), boxes

        return self.derived(analysis, ("pseudo", keep.numpy().tobytes()), compute)

    def pool_boxes(self, analysis: Analysis, boxes_resized: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Pooled features [N, C, S, S] and Eq. (1) levels [N] of boxes (resized-input px), with the model's own
        RoI pooler on the cached feature maps."""
        boxes = torch.as_tensor(boxes_resized, dtype=torch.float32).reshape(-1, 4)
        return self.derived(analysis, ("pool", boxes.numpy().tobytes()),
                            lambda: fpn.pool_boxes(self.registry.get(analysis.model_name), analysis.exploration, boxes))

    def clear(self) -> None:
        with self._lock:
            self._cache.clear()
