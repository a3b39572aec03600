"""The app's page: a header, the input row (image, example, model, score threshold), then the tabs of app/tabs/.

Every view is also an API endpoint (api_name): load_image here; detect, mask_proposals, pyramid, anchors, roi_levels
and compare in their tabs. Every handler runs through app.guard: one bad request never stops the server.
"""
from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402

from .guard import guard  # noqa: E402
from .tabs import TABS, Inputs  # noqa: E402
from .views import Explorer  # noqa: E402

HEADER = ("# FPN Explorer\nFeature Pyramid Networks for Object Detection (Lin et al., CVPR 2017), on your image. "
          "Pick an image and a model, then open the views.")


def build_ui(explorer: Explorer) -> gr.Blocks:
    """The Blocks app: the header and input row, then one tab per module of app/tabs/."""
    with gr.Blocks(title="FPN Explorer", analytics_enabled=False) as demo:
        inputs = input_row(explorer)
        with gr.Tabs():
            for tab in TABS:
                tab.build(explorer, inputs)
    return demo


def input_row(explorer: Explorer) -> Inputs:
    """Header, upload / example / model / score threshold, the input preview; the load_image endpoint."""
    registry = explorer.registry
    models = registry.names("detection")
    notes = "".join(f"\n\n*{n}*" for n in registry.notes)
    gr.Markdown(HEADER)
    with gr.Row():
        image = gr.File(label="Upload an image", type="filepath", elem_id="image-file")
        with gr.Column():
            example = gr.Dropdown(explorer.examples.names(), value=None, label="... or pick an example",
                                  elem_id="example")
            model = gr.Dropdown(models, value=models[0] if models else None, label="Model", elem_id="model")
            score = gr.Slider(0.0, 1.0, 0.5, step=0.01, label="Score threshold", elem_id="score",
                              info="detections shown, pseudo ground truth (Anchors), boxes (RoI -> level)")
            gr.Markdown(f"**Device**: {registry.device_info()}{notes}")
    with gr.Row():
        # the photo itself, downscaled for display: the default (lossy WebP) is fine here, unlike the views' maps
        preview = gr.Image(label="Input", interactive=False, height=260, elem_id="preview")
        message = gr.Markdown("", elem_id="load-msg")

    @guard
    def load_image(path):
        if not path:  # the upload was cleared
            return None, ""
        loaded = explorer.load(path)
        example_of = explorer.examples.match(path)
        text = f"**Loaded**: {loaded.message}."
        if example_of is not None:
            text += f" Dataset image with {len(example_of.gt['labels'])} ground-truth boxes (used by the Anchors view)."
        return loaded.array, text

    @guard
    def pick_example(name):
        return explorer.examples.path(name) if name else gr.skip()

    example.change(pick_example, example, image, api_visibility="private")
    image.change(load_image, image, [preview, message], api_name="load_image")
    return Inputs(image, model, score)
