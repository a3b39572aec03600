"""What every tab gets: the input row's widgets, a progress adapter, and the one way to show an analytic image."""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Callable

import gradio as gr

#: Events that are not API endpoints (tab switches, slider releases, clicks on an image).
PRIVATE: dict[str, Any] = {"api_visibility": "private"}


@dataclass(frozen=True)
class Inputs:
    """The widgets of the input row that the tabs read: the image file, the detection model, the score threshold."""

    image: gr.File
    model: gr.Dropdown
    score: gr.Slider


def report(progress: gr.Progress) -> Callable[[float, str], None]:
    """The views' progress callback (fraction, text) on a Gradio progress bar."""
    return lambda fraction, text: progress(fraction, desc=text)


def analytic_image(label: str, elem_id: str, **options: Any) -> gr.Image:
    """An output image served as PNG: feature maps and charts must not pass through lossy WebP (Gradio's default)."""
    return gr.Image(label=label, interactive=False, format="png", elem_id=elem_id, **options)


def if_image(handler: Callable) -> Callable:
    """For events a person did not aim at a view (a tab opening, the page loading, a slider moving): nothing happens
    while there is no image, instead of the "No image yet" toast that the button and the API give."""

    @functools.wraps(handler)
    def wrapper(path: Any, *args: Any, **kwargs: Any) -> Any:
        return handler(path, *args, **kwargs) if path else gr.skip()

    return wrapper
