"""What every tab gets: the input row (app/tabs/input_row.py), live wiring of a view, the export panel, the API
endpoint, a progress adapter, and the one way to show an analytic image.

Live views: a view redraws when its tab opens, when one of its controls changes, and when the input row (image, model,
score threshold) changes while its tab is the one shown (routed in the page, app/tabs/input_row.py): the model runs
once per (image, model) (app.analysis caches it), and only the visible view is drawn.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

import gradio as gr

from ..export import ViewResult, write_files
from .analytic_image import AnalyticImage
from .input_row import FIRST_TAB, PRIVATE, ROW, Inputs, if_image, track

__all__ = ["FIRST_TAB", "PRIVATE", "ROW", "ExportPanel", "Inputs", "analytic_image", "api_endpoint", "export_panel",
           "exported", "if_image", "live", "report", "track"]


@dataclass(frozen=True)
class ExportPanel:
    """A view's downloads (its PNGs at full resolution, its JSON, its Python) and its code."""

    files: gr.File
    code: gr.Code

    @property
    def outputs(self) -> list[gr.components.Component]:
        return [self.files, self.code]


def report(progress: gr.Progress) -> Callable[[float, str], None]:
    """The views' progress callback (fraction, text) on a Gradio progress bar."""
    return lambda fraction, text: progress(fraction, desc=text)


def analytic_image(label: str, elem_id: str, **options: Any) -> gr.Image:
    """An output image served as PNG (`AnalyticImage`: feature maps and charts never pass through lossy WebP, and a
    cached view's pictures are encoded once, not per request). Its buttons: full screen and download (no "share",
    which would upload it)."""
    options.setdefault("buttons", ["fullscreen", "download"])
    return AnalyticImage(label=label, interactive=False, format="png", elem_id=elem_id, **options)


def export_panel(name: str) -> ExportPanel:
    """The accordion under a view: the Python (library API) that redraws it, and its files to download."""
    with gr.Accordion("Export: PNG (full resolution), JSON, and the Python that redraws this view", open=False,
                      elem_id=f"export-{name}"):
        code = gr.Code(language="python", label="Python (library API only)", interactive=False, lines=4,
                       elem_id=f"code-{name}")
        files = gr.File(label="Downloads", file_count="multiple", interactive=False, elem_id=f"files-{name}")
    return ExportPanel(files, code)


def exported(result: ViewResult) -> tuple[list[str], str]:
    """The values of an ExportPanel's outputs for a view's result."""
    return write_files(result), result.code


def api_endpoint(fn: Callable, inputs: Sequence[Any], outputs: Sequence[Any], api_name: str,
                 tab: Optional[gr.Tab] = None) -> None:
    """A named API endpoint with no button on the page (views update by themselves): a hidden trigger, placed in `tab`
    or else in the tab of the first output (a gr.Tabs may only hold tabs)."""
    with tab or _tab_of(outputs[0]) or contextlib.nullcontext():
        trigger = gr.Button(visible=False, elem_id=f"api-{api_name}")
    trigger.click(fn, list(inputs), list(outputs), api_name=api_name)


def _tab_of(block: Any) -> Optional[gr.Tab]:
    while block is not None and not isinstance(block, gr.Tab):
        block = getattr(block, "parent", None)
    return block


def live(inputs: Inputs, tab: gr.Tab, tab_id: str, handler: Callable, args: Sequence[Any], outputs: Sequence[Any],
         controls: Sequence[Any] = (), sliders: Sequence[Any] = (), row: Sequence[str] = ROW) -> None:
    """Make a view live: it redraws when `tab` opens, when one of `controls` is changed by the user (`sliders`: on
    release), and when the input row's `row` parts change while the tab is shown (default all)."""
    inputs.on_row(tab, tab_id, handler, args, outputs, row)
    args, outputs = inputs.ready(args), list(outputs)
    tab.select(if_image(handler), args, outputs, **PRIVATE)
    for widget in controls:
        widget.input(if_image(handler), args, outputs, trigger_mode="always_last", **PRIVATE)
    for widget in sliders:
        widget.release(if_image(handler), args, outputs, trigger_mode="always_last", **PRIVATE)
