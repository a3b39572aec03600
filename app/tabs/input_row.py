"""The input row (image, model, score threshold) that every view reads, and how its changes reach the one view shown.

A change of the row redraws only the view of the tab shown, and it starts at once. The page routes it (JavaScript,
no request): each tab's select event records the tab in `window.fpnTab`, and a change of the row bumps a hidden
counter of that tab alone (`redraw-<tab>`), whose change runs the view. So one request per change, not one per tab:
measured in Chromium on a new upload with Compare shown (scripts/app_latency.py --browser), the nine other tabs'
requests, each answered with gr.skip(), kept the page's JavaScript busy for ~0.3 s before Compare's began (Gradio
looks every updated output up in its component tree).

A new image starts the view beside the upload's own check (app/messages.py), not after it: the view reads the upload
widget and skips a file that does not load (`Inputs.loads`), which the check reports. Opening a tab or moving its
own controls reads the last image and model that loaded (`ready_image`, `ready_model`).
"""
from __future__ import annotations

import functools
import inspect
import json
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence

import gradio as gr

#: Events that are not API endpoints (tab switches, slider releases, clicks on an image).
PRIVATE: dict[str, Any] = {"api_visibility": "private"}
#: The tab shown when the page opens (the first of app.tabs.TABS).
FIRST_TAB = "detections"
#: The row's parts a view can read.
ROW = ("image", "model", "score")


@dataclass(frozen=True)
class Inputs:
    """The widgets of the input row: the image file, the detection model, the score threshold; `ready_image` and
    `ready_model`, the last image and model that loaded (app/messages.py); `loads(path)`, whether a file loads
    (app.messages.loads)."""

    image: gr.File
    model: gr.Dropdown
    score: gr.Slider
    ready_image: gr.State = field(default_factory=lambda: gr.State(None))
    ready_model: gr.State = field(default_factory=lambda: gr.State(None))
    loads: Callable[[str], bool] = lambda path: True

    def ready(self, args: Sequence[Any]) -> list[Any]:
        """`args` with the image and model widgets replaced by the ready states: what the page's own events read
        (a failed upload may sit in the widget for a moment; the API endpoints read the widgets)."""
        swap = {id(self.image): self.ready_image, id(self.model): self.ready_model}
        return [swap.get(id(a), a) for a in args]

    def on_row(self, tab: gr.Tab, tab_id: str, handler: Callable, args: Sequence[Any], outputs: Sequence[Any],
               row: Sequence[str] = ROW) -> None:
        """Run view `handler(*args)` of `tab` when `row`'s parts change while `tab` is the one shown: the page bumps
        the tab's hidden counter (see the module docstring); the view reads the upload widget (skipped unless the
        file loads) and the last model that loaded."""
        unknown = set(row) - set(ROW)
        if unknown:
            raise ValueError(f"row parts {sorted(unknown)}; choose from {ROW}")
        with tab:
            counter = gr.Number(0, visible=False, elem_id=f"redraw-{tab_id}")
        events = {"image": self.image.change, "model": self.ready_model.change, "score": self.score.release}
        for part in row:
            events[part](None, [counter], [counter], js=route_js(tab_id), **PRIVATE)
        fresh = [self.ready_model if a is self.model else a for a in args]
        counter.change(if_image(handler, self.loads), fresh, list(outputs), **PRIVATE)


def route_js(tab_id: str) -> str:
    """The page's router for one tab: its counter + 1 while it is the tab shown, else unchanged (no change event)."""
    shown = f"(window.fpnTab || {json.dumps(FIRST_TAB)}) === {json.dumps(tab_id)}"
    return f"(n) => {shown} ? (n || 0) + 1 : n"


def track(tab: gr.Tab, tab_id: str) -> None:
    """Record in the page that `tab` is the one shown when it is picked (read by `route_js`)."""
    tab.select(None, None, None, js=f"() => {{ window.fpnTab = {json.dumps(tab_id)}; }}", **PRIVATE)


def if_image(handler: Callable, loads: Optional[Callable[[str], bool]] = None) -> Callable:
    """For events a person did not aim at a view (a tab opening, the row changing, a slider moving): nothing happens
    while there is no image (or, given `loads`, one that does not load), instead of the "No image yet" toast that
    the API gives."""

    def wanted(path: Any) -> bool:
        return bool(path) and (loads is None or loads(path))

    if inspect.isgeneratorfunction(handler):  # a streamed view stays a generator (Gradio checks the function)
        @functools.wraps(handler)
        def stream(path: Any, *args: Any, **kwargs: Any) -> Any:
            if wanted(path):
                yield from handler(path, *args, **kwargs)
            else:
                yield gr.skip()

        return stream

    @functools.wraps(handler)
    def wrapper(path: Any, *args: Any, **kwargs: Any) -> Any:
        return handler(path, *args, **kwargs) if wanted(path) else gr.skip()

    return wrapper
