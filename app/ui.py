"""The app's page: a header, the input strip (upload and preview, example galleries, model, score threshold, presenter
mode, the model card; app/layout.py keeps it compact for 1280x800), the message area, the tabs, the device notes.

Every view is also an API endpoint (api_name): load_image here; detect, mask_proposals, pyramid, anchors, roi_levels
and compare in their tabs. Every handler runs through app.guard: one bad request never stops the server.
"""
from __future__ import annotations

import os
from typing import Any, Callable, Optional

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402

from .guard import guard  # noqa: E402
from .layout import ON_LOAD_JS, PRESENTER_JS, SIDE_PX, VIEWS_MIN_PX  # noqa: E402
from .messages import MessageArea, image_checker, loads, message_area, model_checker  # noqa: E402
from .model_card import card, score_threshold  # noqa: E402
from .tabs import TABS, Inputs  # noqa: E402
from .views import Explorer  # noqa: E402

#: The example galleries of the input row: (kind of ExampleLibrary, label).
GALLERIES = (("photo", "... or click a photo"),
             ("dataset", "... or one with ground truth"))
HEADER = ("# FPN Explorer\nFeature Pyramid Networks for Object Detection (Lin et al., CVPR 2017), on your image: "
          "pick an image and a model, then open the views.")


def build_ui(explorer: Explorer) -> gr.Blocks:
    """The Blocks app: the header and input strip, one tab per module of app/tabs/, then the machine's notes."""
    with gr.Blocks(title="FPN Explorer", analytics_enabled=False) as demo:
        gr.Markdown(HEADER, elem_id="header")
        # two columns (app/layout.py): the inputs at the side, the views beside them, so that at 1280x800 the tab bar
        # and the whole first figure are in the window
        with gr.Row(equal_height=False, elem_id="page"):
            with gr.Column(scale=0, min_width=SIDE_PX, elem_id="input-side"):
                inputs, presenter, wire = input_row(explorer)
            with gr.Column(scale=1, min_width=VIEWS_MIN_PX, elem_id="views"):
                area = message_area()
                wire(area)
                with gr.Tabs():
                    for tab in TABS:
                        tab.build(explorer, inputs)
        footer(explorer)
        demo.load(None, None, presenter, js=ON_LOAD_JS)  # ?presenter=1 in the URL (app/layout.py)
    return demo


def footer(explorer: Explorer) -> None:
    """Under the tabs: the device, and the registry's notes (how to get the COCO weights, skipped files)."""
    registry = explorer.registry
    notes = "".join(f"\n\n*{n}*" for n in registry.notes)
    gr.Markdown(f"**Device**: {registry.device_info()}{notes}", elem_id="notes")


def input_row(explorer: Explorer) -> tuple[Inputs, gr.Checkbox, Callable[[MessageArea], None]]:
    """The side column (app/layout.py): upload and preview, the example galleries, the model, the score threshold,
    presenter mode and the model card. Returns the tabs' inputs, the presenter checkbox and `wire(area)`, which hooks
    the inputs' events (and the load_image endpoint) to the message area once that exists (above the tabs)."""
    registry = explorer.registry
    models = registry.names("detection", downloadable=True)
    ready = registry.names("detection")
    first = registry.entry(ready[0]) if ready else None
    # from the top, what a visitor needs first: the model (and what it knows), an image (upload or an example),
    # the threshold; then the loaded image, presenter mode. The galleries stay in a 1280x800 window.
    model = gr.Dropdown(models, value=ready[0] if ready else None, label="Model", elem_id="model")
    # what the picked model knows (app/model_card.py): read before trusting its boxes
    model_card = gr.Markdown(card(first) if first else "", elem_id="model-card")
    image = gr.File(label="Upload an image", type="filepath", elem_id="image-file", height=70)
    # always there, also once an image is shown (the File's drop zone is then replaced by the file's name)
    another = gr.UploadButton("Upload another image", type="filepath", size="sm", elem_id="upload-another")
    with gr.Column(elem_classes=["presenter-hide"]):
        galleries = {kind: example_gallery(explorer, kind, label) for kind, label in GALLERIES}
    score = gr.Slider(0.0, 1.0, score_threshold(first) if first else 0.5, step=0.01, label="Score threshold",
                      elem_id="score", info="applies to every view (Compare: unless each model at its own)")
    message = gr.Markdown("", elem_id="load-msg")
    # the photo itself, downscaled for display: the default (lossy WebP) is fine here, unlike the views' maps
    preview = gr.Image(label="Input", interactive=False, height=150, elem_id="preview")
    presenter = gr.Checkbox(False, label="Presenter mode (larger text, full-width figures)", elem_id="presenter")
    # what the views draw: only inputs that loaded (app/messages.py: a failure never reaches a view)
    ready_image, ready_model = gr.State(None), gr.State(model.value)
    inputs = Inputs(image, model, score, ready_image=ready_image, ready_model=ready_model, loads=loads(explorer.load))

    def describe(path: str, loaded) -> str:
        example_of = explorer.examples.match(path)
        text = f"**Loaded**: {loaded.message}."
        if example_of is not None:
            text += f" Dataset image with {len(example_of.gt['labels'])} ground-truth boxes (used by the Anchors view)."
        return text

    @guard
    def load_image(path):
        """The API endpoint (an error for a bad file, as every endpoint); the page uses image_checker."""
        if not path:  # the upload was cleared
            return None, ""
        loaded = explorer.load(path)
        return loaded.array, describe(path, loaded)

    def about(name: str) -> tuple:  # the outputs that follow the model: its card, its score threshold
        entry = registry.entry(name)
        return card(entry), score_threshold(entry)

    def wire(area: MessageArea) -> None:
        for kind, gallery in galleries.items():
            if gallery is not None:
                gallery.select(example_picker(explorer, kind), None, image, api_visibility="private")
        image.change(guard(image_checker(explorer.load, describe)), image,
                     [image, preview, message, ready_image, *area.outputs], api_visibility="private")
        model.input(guard(model_checker(registry.get, about)), [model, ready_model],
                    [model, ready_model, *area.outputs, model_card, score], api_visibility="private")
        another.upload(lambda path: path, another, image, queue=False, api_visibility="private")
        presenter.change(None, presenter, presenter, js=PRESENTER_JS)
        trigger = gr.Button(visible=False, elem_id="api-load_image")
        trigger.click(load_image, image, [preview, message], api_name="load_image")

    return inputs, presenter, wire


def example_gallery(explorer: Explorer, kind: str, label: str) -> Optional[gr.Gallery]:
    """Thumbnails of the examples of one kind (clicking one loads that image), or None when there are none."""
    names = explorer.examples.names(kind)
    if not names:
        return None
    thumbs = [(explorer.examples.thumbnail(n), explorer.examples.examples[n].caption) for n in names]
    return gr.Gallery(thumbs, label=label, columns=3, height=170, allow_preview=False, interactive=False,
                      object_fit="cover", buttons=[], elem_id=f"examples-{kind}")


def example_picker(explorer: Explorer, kind: str) -> Callable[[gr.SelectData], Any]:
    """The select handler of a gallery: the clicked example's file path, for the upload widget."""
    names = explorer.examples.names(kind)

    @guard
    def pick_example(evt: gr.SelectData):
        return explorer.examples.path(names[evt.index]) if evt.index is not None else gr.skip()

    return pick_example
