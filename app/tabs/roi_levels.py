"""RoI -> level tab (Eq. (1), Sec. 4.2): proposals or detections coloured by the level they are pooled from, the
formula for one box (click one), its pooled features. Endpoint: roi_levels."""
from __future__ import annotations

import gradio as gr

from ..choices import ROI_SOURCES
from ..guard import guard
from ..views import Explorer
from .shared import PRIVATE, Inputs, analytic_image, if_image, report


def build(explorer: Explorer, inputs: Inputs) -> None:
    """The tab's widgets and events (inside the app's gr.Tabs); a click on the image selects the box under it."""
    with gr.Tab("RoI -> level", id="roi", elem_id="tab-roi") as tab:
        with gr.Row():
            source = gr.Radio(list(ROI_SOURCES), value=ROI_SOURCES[0], label="Boxes")
            top_n = gr.Slider(1, 1000, 100, step=1, label="Top-N proposals")
            index = gr.Number(0, label="Selected box (0 = best)", precision=0)
            button = gr.Button("Show RoI levels", variant="primary", elem_id="btn-roi")
        with gr.Row():
            image = analytic_image("RoIs coloured by Eq. (1) level (click a box)", "out-roi")
            with gr.Column():
                histogram = analytic_image("RoIs per level", "out-roi-hist")
                formula = gr.Markdown()
                pooled = analytic_image("Pooled features of the selected box", "out-pooled")

    @guard
    def roi_levels(path, model, source, index, top_n, score_thresh, progress=gr.Progress()):
        return explorer.roi_levels(path, model, source, index, top_n, score_thresh, report(progress))

    @guard
    def roi_click(path, model, source, index, top_n, score_thresh, evt: gr.SelectData):
        return explorer.roi_levels(path, model, source, index, top_n, score_thresh, click=evt.index)

    args = [inputs.image, inputs.model, source, index, top_n, inputs.score]
    out = [image, histogram, formula, pooled, index]
    button.click(roi_levels, args, out, api_name="roi_levels")
    tab.select(if_image(roi_levels), args, out, **PRIVATE)
    source.change(if_image(roi_levels), args, out, **PRIVATE)
    image.select(roi_click, args, out, **PRIVATE)
