"""Serving the app: `create_app` builds it, `launch_options` holds the privacy defaults every launch uses.

Privacy: binds 127.0.0.1 unless told otherwise, no share link unless asked for, no analytics, fonts from the system
(no Google Fonts request), uploads bounded, files served only from the example folders (and Gradio's cache).
"""
from __future__ import annotations

import os
from typing import Any, Optional, Sequence

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402

from .analysis import Analyzer  # noqa: E402
from .examples import DATASET_DIRS, ExampleLibrary  # noqa: E402
from .models import C4_ROIS, ModelRegistry  # noqa: E402
from .layout import CSS  # noqa: E402
from .ui import build_ui  # noqa: E402
from .views import Explorer  # noqa: E402


#: Requests served at once (Gradio's default_concurrency_limit). More than the cores: the Analyzer runs at most
#: MAX_RUNS forward passes at once whatever this says (app/analysis.py), so the others are cache hits and drawings
#: (milliseconds) that must not queue behind a model run; with 2, a crowd of 20 on one photo waited p95 5-9 s.
CONCURRENT_REQUESTS = 8


def queued(demo: gr.Blocks) -> gr.Blocks:
    """`demo` with the queue every launch uses (CONCURRENT_REQUESTS)."""
    return demo.queue(default_concurrency_limit=CONCURRENT_REQUESTS)


def create_app(checkpoints: str = "checkpoints", device: str = "auto",
               dataset_dirs: Optional[Sequence[str]] = None, c4_rois: Optional[int] = C4_ROIS
               ) -> tuple[gr.Blocks, Explorer]:
    """(gr.Blocks, Explorer) ready to launch with `launch_options`; c4_rois: proposals per image for C4 heads
    (`app.models.C4_ROIS`; None: 1000, as evaluated)."""
    registry = ModelRegistry(checkpoints, device, c4_rois=c4_rois)
    explorer = Explorer(registry, Analyzer(registry), ExampleLibrary(dataset_dirs or DATASET_DIRS))
    return build_ui(explorer), explorer


def theme() -> gr.themes.Base:
    """Gradio's default look with system fonts (the default theme would fetch Google Fonts)."""
    return gr.themes.Default(font=["ui-sans-serif", "system-ui", "sans-serif"],
                             font_mono=["ui-monospace", "monospace"])


def allowed_paths(explorer: Explorer) -> list[str]:
    """Folders of the example images (Gradio serves only files under these, the cwd and its cache)."""
    return sorted({os.path.dirname(os.path.abspath(e.path)) for e in explorer.examples.examples.values()})


def launch_options(explorer: Explorer, host: str, port: int, share: bool, max_upload_mb: float) -> dict[str, Any]:
    """Keyword arguments of `gr.Blocks.launch` for this app (app.py's command line gives the arguments)."""
    return dict(server_name=host, server_port=port, share=share, max_file_size=int(max_upload_mb * 1024 * 1024),
                allowed_paths=allowed_paths(explorer), show_error=True, ssr_mode=False, favicon_path=None,
                theme=theme(), css=CSS)
