"""The views' picture component: a gr.Image served as lossless PNG, each drawn array encoded once.

Feature maps and charts must not pass through lossy WebP (Gradio's default), and Gradio's own PNG path re-encodes
every array at zlib level 6 on every request (0.1-0.2 s for a 1000 px figure) into one file per content, rewritten in
place, which a concurrent download of the same picture can get truncated. `AnalyticImage.postprocess` hands Gradio
`app.export.png_file(array)` instead: one file per array object, written once at level 1 and renamed into place.

Why a subclass and not a per-instance override: a handler that returns `gr.skip()` (every hidden tab does, on each
new image) is a property update for Gradio, which then rebuilds that output in the session from its constructor
arguments (`block.__class__(**constructor_args)`, gradio/blocks.py `postprocess_data`). An attribute set on the
instance is lost there; a method of the class is kept.
"""
from __future__ import annotations

from typing import Any

import gradio as gr
import numpy as np
from gradio import component_meta

from ..export import png_file


def _without_stub_file(make: Any) -> Any:
    """Run make() with Gradio's stub writer off: its component metaclass writes a `.pyi` next to the module that
    defines any gr.Component subclass (for custom-component packages); this module is not one."""
    writer = component_meta.create_or_modify_pyi
    component_meta.create_or_modify_pyi = lambda *args, **kwargs: None
    try:
        return make()
    finally:
        component_meta.create_or_modify_pyi = writer


def _define() -> type:
    class AnalyticImage(gr.Image):
        """gr.Image whose numpy values are served from `png_file` (see the module docstring). `is_template`: the page
        draws it with Gradio's own image component."""

        is_template = True

        def postprocess(self, value: Any) -> Any:
            return super().postprocess(png_file(value) if isinstance(value, np.ndarray) else value)

    return AnalyticImage


AnalyticImage = _without_stub_file(_define)
