"""Run a model once per (image, model) and keep the result: every view draws from the cached `Exploration`.

An LRU cache bounded by `max_entries` (an Exploration of a 512 px image with a 256-channel pyramid and 1000 pooled
RoIs takes ~100 MB). Anchor labels against pseudo ground truth (detections) are derived from the cached anchors
with the model's own labeller (Sec. 4.1 rule), so changing the score threshold never re-runs the network.
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


@dataclass
class Analysis:
    """One model run on one image. gt: {"boxes" [G, 4] original px, "labels" [G]} when the image has ground truth
    (then exploration.rpn[*].labels are against it). seconds: model time."""

    model_name: str
    image: LoadedImage
    exploration: Any
    gt: Optional[dict]
    seconds: float
    cache: dict = field(default_factory=dict)  # derived results (pseudo-GT labels, pooled boxes)

    @property
    def class_names(self) -> Optional[list[str]]:
        return getattr(self.exploration, "class_names", None)


class Analyzer:
    """analyze(image, model_name, gt) -> Analysis, computed once per (image hash, model, with/without GT)."""

    def __init__(self, registry: ModelRegistry, max_entries: int = 8) -> None:
        self.registry = registry
        self.max_entries = max_entries
        self._cache: "OrderedDict[tuple, Analysis]" = OrderedDict()
        self._lock = threading.Lock()
        self.runs = 0  # model forward passes made (tests check the cache with it)

    def analyze(self, image: LoadedImage, model_name: str, gt: Optional[dict] = None,
                progress: Optional[Callable[[float, str], None]] = None) -> Analysis:
        key = (image.sha1, model_name, gt is not None)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
            if progress:
                progress(0.1, f"loading {model_name}")
            model = self.registry.get(model_name)
            if progress:
                progress(0.4, f"running {model_name} on {image.array.shape[1]}x{image.array.shape[0]} px")
            start = time.perf_counter()
            ex = fpn.explore(model, image.array, targets=gt)  # dispatches to the mask proposer's own explore
            seconds = time.perf_counter() - start
            self.runs += 1
            result = Analysis(model_name, image, ex, gt, seconds)
            self._cache[key] = result
            while len(self._cache) > self.max_entries:
                self._cache.popitem(last=False)
            if progress:
                progress(1.0, "done")
            return result

    # ------------------------------------------------------------------ derived results (no network re-run)
    def anchor_labels(self, analysis: Analysis, score_thresh: float) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """Labels of every RPN anchor against pseudo ground truth = the detections with score >= score_thresh.

        Returns ({level: labels [H*W*A]}, pseudo-GT boxes [G, 4] in resized-input pixels). The labeller is the
        model's own (same IoU thresholds), run on all levels' anchors together as in training.
        """
        key = ("pseudo", round(float(score_thresh), 4))
        if key in analysis.cache:
            return analysis.cache[key]
        det = analysis.exploration.detections
        boxes = analysis.exploration.to_resized(det["boxes"][det["scores"] >= score_thresh])
        out = fpn.label_anchors(self.registry.get(analysis.model_name), analysis.exploration, boxes)
        analysis.cache[key] = (out, boxes)
        return out, boxes

    def pool_boxes(self, analysis: Analysis, boxes_resized: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Pooled features [N, C, S, S] and Eq. (1) levels [N] of boxes (resized-input px), with the model's own
        RoI pooler on the cached feature maps."""
        return fpn.pool_boxes(self.registry.get(analysis.model_name), analysis.exploration, boxes_resized)

    def clear(self) -> None:
        with self._lock:
            self._cache.clear()
