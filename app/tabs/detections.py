"""Detections tab (Sec. 5), with the mask proposals of Sec. 6. Endpoints: detect, mask_proposals."""
from __future__ import annotations

import gradio as gr

from ..guard import guard
from ..views import Explorer
from .shared import PRIVATE, Inputs, analytic_image, if_image, report


def build(explorer: Explorer, inputs: Inputs) -> None:
    """The tab's widgets and events (inside the app's gr.Tabs)."""
    mask_models = explorer.registry.names("mask_proposals")
    with gr.Tab("Detections", id="detections", elem_id="tab-detections") as tab:
        button = gr.Button("Show detections", variant="primary", elem_id="btn-detect")
        with gr.Row():
            image = analytic_image("Detections", "out-detect")
            table = gr.JSON(label="Detections (JSON, image pixels)")
        gr.Markdown("### Mask proposals (Sec. 6)")
        with gr.Row():
            mask_model = gr.Dropdown(mask_models, value=mask_models[0] if mask_models else None,
                                     label="Mask-proposal model", elem_id="mask-model")
            top_n = gr.Slider(1, 50, 10, step=1, label="Top-N mask proposals")
            mask_button = gr.Button("Show mask proposals", elem_id="btn-masks")
        masks = analytic_image("Mask proposals", "out-masks")

    @guard
    def detect(path, model, score_thresh, progress=gr.Progress()):
        return explorer.detect(path, model, score_thresh, report(progress))

    @guard
    def mask_proposals(path, model, top_n, progress=gr.Progress()):
        return explorer.mask_proposals(path, model, top_n, report(progress))

    det_in, det_out = [inputs.image, inputs.model, inputs.score], [image, table]
    button.click(detect, det_in, det_out, api_name="detect")
    tab.select(if_image(detect), det_in, det_out, **PRIVATE)
    inputs.score.release(if_image(detect), det_in, det_out, **PRIVATE)
    mask_in = [inputs.image, mask_model, top_n]
    mask_button.click(mask_proposals, mask_in, masks, api_name="mask_proposals")
    top_n.release(if_image(mask_proposals), mask_in, masks, **PRIVATE)
