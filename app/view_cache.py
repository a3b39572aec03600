"""Drawn views, kept with their analysis: a view asked again with the same image, model and widget values (a page
reload, another user on the same photo, an API client polling) is answered without drawing it again.

`cache_views` wraps the single-analysis views of `Explorer` (those that read one model's analysis of one image): the
view's result is stored in that analysis (`Analyzer.view`, at most MAX_VIEWS each), so it goes when the Analyzer
drops the analysis and no view outlives it. Keyed by the view, the image path (the snippet names it), the model and
every widget value; the progress callback is not part of the key. A request the analysis refuses (no image, an
unknown model) is passed to the view itself, which gives its own message.
"""
from __future__ import annotations

import functools
import inspect
from typing import Any, Callable

import numpy as np

from .errors import AppError
from .images import ImageError

#: Views of one model's analysis of one image, and the task of that model.
CACHED_VIEWS = {"detect": "detection", "pyramid": "detection", "anchors": "detection", "roi_levels": "detection",
                "why": "detection", "lost": "detection", "receptive_field": "detection",
                "scale_sweep": "detection", "mask_proposals": "mask_proposals"}


def frozen(value: Any) -> Any:
    """A hashable stand-in for a widget value (lists and tuples -> tuples, dicts -> sorted items, arrays -> bytes)."""
    if isinstance(value, (list, tuple)):
        return tuple(frozen(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, frozen(v)) for k, v in value.items()))
    if hasattr(value, "numpy") or isinstance(value, np.ndarray):
        arr = np.asarray(value)
        return (arr.dtype.str, arr.shape, arr.tobytes())
    return value


def cached_view(view: Callable, task: str) -> Callable:
    """`view(self, path, model, *controls, progress=None, ...)`, answered from the analysis' drawn views. The arguments
    are bound to the view's signature (defaults filled in), so positional and keyword calls share one entry."""
    signature = inspect.signature(view)

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        values = dict(bound.arguments)
        self, progress = values.pop("self"), values.get("progress")
        if not self.registry.names(task):  # the view says so itself (e.g. no mask-proposal model bundled)
            return view(*args, **kwargs)
        try:
            analysis = self.analysis(values["path"], values["model"], progress, task)
        except (AppError, ImageError):
            return view(*args, **kwargs)  # its own message, in its own order of checks
        key = (view.__name__, *((name, frozen(v)) for name, v in values.items() if name != "progress"))
        return self.analyzer.view(analysis, key, lambda: view(*args, **kwargs))

    return wrapper


def cache_views(cls: type) -> type:
    """Class decorator of app.views.Explorer: its CACHED_VIEWS answered from the analyses' drawn views."""
    for name, task in CACHED_VIEWS.items():
        setattr(cls, name, cached_view(getattr(cls, name), task))
    return cls
