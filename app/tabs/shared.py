"""What every tab gets: the input row's widgets, live wiring of a view, the export panel, the API endpoint, a progress
adapter, and the one way to show an analytic image.

Live views: a view redraws when its tab opens, when one of its controls changes, and when the input row (image, model,
score threshold) changes while its tab is the one shown (`Inputs.current`): the model runs once per (image, model)
(app.analysis caches it), and only the visible view is drawn.
"""
from __future__ import annotations

import contextlib
import functools
import inspect
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence

import gradio as gr
import numpy as np

from ..export import ViewResult, png_file, write_files

#: Events that are not API endpoints (tab switches, slider releases, clicks on an image).
PRIVATE: dict[str, Any] = {"api_visibility": "private"}
#: The tab shown when the page opens (the first of app.tabs.TABS).
FIRST_TAB = "detections"


@dataclass(frozen=True)
class Inputs:
    """The widgets of the input row that the tabs read: the image file, the detection model, the score threshold;
    `current`, the id of the tab shown (set by each tab's select event; None: the first tab); `ready_image` and
    `ready_model`, the last image and model that loaded (app/messages.py): the views redraw when these change, not
    when the widgets do, so a file or model that fails never reaches a view."""

    image: gr.File
    model: gr.Dropdown
    score: gr.Slider
    current: gr.State = field(default_factory=lambda: gr.State(None))
    ready_image: gr.State = field(default_factory=lambda: gr.State(None))
    ready_model: gr.State = field(default_factory=lambda: gr.State(None))

    def trigger(self, name: str) -> Any:
        """The event on which a view reading input `name` ("image", "model", "score") redraws."""
        if name == "score":
            return self.score.release
        return (self.ready_image if name == "image" else self.ready_model).change

    def ready(self, args: Sequence[Any]) -> list[Any]:
        """`args` with the image and model widgets replaced by the ready states: what the page's own events read
        (a failed upload may sit in the widget for a moment; the API endpoints read the widgets)."""
        swap = {id(self.image): self.ready_image, id(self.model): self.ready_model}
        return [swap.get(id(a), a) for a in args]


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
    """An output image served as PNG: feature maps and charts must not pass through lossy WebP (Gradio's default).
    Its buttons: full screen and download (no "share", which would upload it). A picture is served from `png_file`:
    encoded once per array (a cached view's pictures are not encoded again per request, as Gradio's own path does,
    at zlib level 6) and never rewritten in place (Gradio rewrites one file per content, which a concurrent download
    of the same picture can get truncated)."""
    options.setdefault("buttons", ["fullscreen", "download"])
    image = gr.Image(label=label, interactive=False, format="png", elem_id=elem_id, **options)
    serve = image.postprocess  # this one component's, not gr.Image's (a subclass would make Gradio write a .pyi)
    image.postprocess = lambda value: serve(png_file(value) if isinstance(value, np.ndarray) else value)
    return image


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


def if_image(handler: Callable) -> Callable:
    """For events a person did not aim at a view (a tab opening, the page loading, a slider moving): nothing happens
    while there is no image, instead of the "No image yet" toast that the API gives."""

    if inspect.isgeneratorfunction(handler):  # a streamed view stays a generator (Gradio checks the function)
        @functools.wraps(handler)
        def stream(path: Any, *args: Any, **kwargs: Any) -> Any:
            if path:
                yield from handler(path, *args, **kwargs)
            else:
                yield gr.skip()

        return stream

    @functools.wraps(handler)
    def wrapper(path: Any, *args: Any, **kwargs: Any) -> Any:
        return handler(path, *args, **kwargs) if path else gr.skip()

    return wrapper


def shown(current: Optional[str], tab_id: str) -> bool:
    """Whether tab `tab_id` is the one shown (`current` is None until a tab is picked: the first one)."""
    return (current or FIRST_TAB) == tab_id


def when_shown(tab_id: str, handler: Callable) -> Callable:
    """handler(path, *args) for the input row's events: runs only while `tab_id` is shown and there is an image.
    The wrapper takes the current tab first; its signature says so, so that Gradio still finds the handler's
    gr.Progress / gr.SelectData parameters at their places."""
    signature = inspect.signature(handler)

    if inspect.isgeneratorfunction(handler):
        @functools.wraps(handler)
        def wrapper(current: Optional[str], *args: Any, **kwargs: Any) -> Any:
            if not shown(current, tab_id) or not args or not args[0]:
                yield gr.skip()
            else:
                yield from handler(*args, **kwargs)
    else:
        @functools.wraps(handler)
        def wrapper(current: Optional[str], *args: Any, **kwargs: Any) -> Any:
            if not shown(current, tab_id) or not args or not args[0]:
                return gr.skip()
            return handler(*args, **kwargs)

    first = inspect.Parameter("current", inspect.Parameter.POSITIONAL_OR_KEYWORD)
    wrapper.__signature__ = signature.replace(parameters=[first, *signature.parameters.values()])  # type: ignore
    return wrapper


def live(inputs: Inputs, tab: gr.Tab, tab_id: str, handler: Callable, args: Sequence[Any], outputs: Sequence[Any],
         controls: Sequence[Any] = (), sliders: Sequence[Any] = (), row: Optional[Sequence[str]] = None) -> None:
    """Make a view live: it redraws when `tab` opens, when one of `controls` is changed by the user (`sliders`: on
    release), and when the input row changes while the tab is shown. row: which of "image", "model", "score" the
    view reads (default all)."""
    args, outputs = inputs.ready(args), list(outputs)
    tab.select(if_image(handler), args, outputs, **PRIVATE)
    triggers = [inputs.trigger(n) for n in (row or ("image", "model", "score"))]
    gr.on(triggers, when_shown(tab_id, handler), [inputs.current, *args], outputs, **PRIVATE)
    for widget in controls:
        widget.input(if_image(handler), args, outputs, trigger_mode="always_last", **PRIVATE)
    for widget in sliders:
        widget.release(if_image(handler), args, outputs, trigger_mode="always_last", **PRIVATE)


def track(inputs: Inputs, tab: gr.Tab, tab_id: str) -> None:
    """Record that `tab` is the one shown when it is picked."""
    tab.select(lambda: tab_id, None, inputs.current, queue=False, **PRIVATE)
