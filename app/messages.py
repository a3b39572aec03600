"""The page's message area, and the two checks that keep the page usable when an input fails.

A failed input (a model that cannot load, a file that is not an image) is reported once, in a message area under the
input row that stays until dismissed (a long message about where to put a weights file must stay readable; a toast
would cover the tab bar and stack up). The views never see the failed input: they read `ready_model` /
`ready_image`, two states that only ever hold inputs that loaded, and a view started by a new upload skips a file
that does not load (`loads`), so no tab turns into a red "Error" badge and no tab opened later repeats the message.
The model picker goes back to the last model that loaded; a bad upload is cleared, so that the drop zone is back for
the next try.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import gradio as gr

from .errors import AppError
from .images import ImageError, preview

PRIVATE: dict[str, Any] = {"api_visibility": "private"}


@dataclass(frozen=True)
class MessageArea:
    """A box with one message (Markdown) and a Dismiss button; hidden while there is nothing to say."""

    box: gr.Group
    text: gr.Markdown
    dismiss: gr.Button

    @property
    def outputs(self) -> list[Any]:
        return [self.box, self.text]


def message_area() -> MessageArea:
    """The area's widgets (in the caller's layout) and its Dismiss button's event."""
    with gr.Group(visible=False, elem_id="msg-area") as box:
        text = gr.Markdown("", elem_id="msg-text")
        dismiss = gr.Button("Dismiss", size="sm", elem_id="msg-dismiss")
    area = MessageArea(box, text, dismiss)
    dismiss.click(hide, None, area.outputs, queue=False, **PRIVATE)
    return area


def show(message: str) -> tuple[Any, Any]:
    """The area's outputs for one message (replacing any earlier one: never more than one on the page)."""
    return gr.update(visible=True), f"**Could not use that:** {message}"


def hide() -> tuple[Any, Any]:
    return gr.update(visible=False), ""


def model_checker(load: Callable[[str, Any], Any], extras: Callable[[str], tuple] = lambda name: ()) -> Callable:
    """The model picker's input handler: (picked, last good) -> (picker, ready_model, *area outputs, *extras).

    load(name, progress) loads the model (AppError if it cannot). On success the picked model becomes the ready one
    (the views redraw on it), an earlier message goes and extras(name) fill the further outputs (the model card, the
    slider's default: set in the same update as ready_model, so the views read them); on failure the picker returns
    to the last good model, the ready model stays, and the area says why."""

    def check_model(picked: str, good: str, progress=gr.Progress()):  # noqa: B008 - Gradio's injection idiom
        if not picked or picked == good:
            return (gr.skip(),) * (4 + len(extras(good or picked)))
        try:
            load(picked, lambda fraction, text: progress(fraction, desc=text))
        except AppError as e:
            return (good, gr.skip(), *show(str(e)), *(gr.skip(),) * len(extras(good)))
        return (gr.skip(), picked, *hide(), *extras(picked))

    return check_model


def image_checker(load: Callable[[str], Any], describe: Callable[[str, Any], str]) -> Callable:
    """The upload's change handler: path -> (upload, preview, load note, ready_image, *area outputs).

    load(path) reads the image (ImageError / AppError if it cannot); describe(path, loaded) is the note under the
    preview. A failure clears the upload (its drop zone comes back) and says why, once."""

    def accept_image(path: str):
        if not path:  # cleared by hand, or by the failure branch below: keep the message shown
            return gr.skip(), None, "", None, gr.skip(), gr.skip()
        try:
            loaded = load(path)
        except (ImageError, AppError) as e:
            return None, None, "", None, *show(str(e))
        return gr.skip(), preview(loaded.array), describe(path, loaded), path, *hide()

    return accept_image


def loads(load: Callable[[str], Any]) -> Callable[[str], bool]:
    """path -> whether load(path) reads it: the views started by a new upload skip a file that does not load (its
    check, `image_checker`, says why). Loading is cached per file version (app.images), so the view reads it again
    for free."""

    def readable(path: str) -> bool:
        try:
            load(path)
        except (ImageError, AppError):
            return False
        return True

    return readable

