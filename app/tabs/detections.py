"""Detections tab (Sec. 5), with the mask proposals of Sec. 6. Endpoints: detect, mask_proposals."""
from __future__ import annotations

import gradio as gr

from ..guard import guard
from ..views import Explorer
from .shared import Inputs, analytic_image, api_endpoint, export_panel, exported, live, report, track

ID = "detections"


def build(explorer: Explorer, inputs: Inputs) -> None:
    """The tab's widgets and events (inside the app's gr.Tabs): both views redraw by themselves."""
    mask_models = explorer.registry.names("mask_proposals")
    with gr.Tab("Detections", id=ID, elem_id="tab-detections") as tab:
        with gr.Row(equal_height=False):
            image = analytic_image("Detections", "out-detect", show_label=False, scale=3)
            with gr.Column(scale=2):
                # beside the figure, in view with it: what the model knows when it matters (app/model_card.py),
                # the ground truth found / missed
                note = gr.Markdown("", elem_id="det-note")
                table = gr.JSON(label="Detections (JSON, image pixels)", max_height=480, elem_id="det-json")
        det_export = export_panel("detect")
        gr.Markdown("### Mask proposals (Sec. 6)")
        with gr.Row():
            mask_model = gr.Dropdown(mask_models, value=mask_models[0] if mask_models else None,
                                     label="Mask-proposal model", elem_id="mask-model")
            top_n = gr.Slider(1, 50, 10, step=1, label="Top-N mask proposals")
        masks = analytic_image("Mask proposals", "out-masks", show_label=False)
        mask_export = export_panel("masks")

    @guard
    def detect(path, model, score_thresh, progress=gr.Progress()):
        result = explorer.detect(path, model, score_thresh, report(progress))
        return result.image, result.data

    @guard
    def show_detections(path, model, score_thresh, progress=gr.Progress()):
        result = explorer.detect(path, model, score_thresh, report(progress))
        return (result.image, result.data, result.text, *exported(result))

    @guard
    def mask_proposals(path, model, top_n, progress=gr.Progress()):
        return explorer.mask_proposals(path, model, top_n, report(progress)).image

    @guard
    def show_mask_proposals(path, model, top_n, progress=gr.Progress()):
        result = explorer.mask_proposals(path, model, top_n, report(progress))
        return (result.image, *exported(result))

    det_in = [inputs.image, inputs.model, inputs.score]
    api_endpoint(detect, det_in, [image, table], "detect")
    track(tab, ID)
    live(inputs, tab, ID, show_detections, det_in, [image, table, note, *det_export.outputs])
    mask_in = [inputs.image, mask_model, top_n]
    api_endpoint(mask_proposals, mask_in, [masks], "mask_proposals")
    live(inputs, tab, ID, show_mask_proposals, mask_in, [masks, *mask_export.outputs], controls=[mask_model],
         sliders=[top_n], row=["image"])
