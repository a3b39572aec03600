"""RoI -> level tab (Eq. (1), Sec. 4.2): proposals or detections coloured by the level they are pooled from, the
formula for one box (click one), its pooled features. Endpoint: roi_levels."""
from __future__ import annotations

import gradio as gr

from ..choices import RoISource
from ..guard import guard
from ..views import Explorer
from .shared import PRIVATE, Inputs, analytic_image, api_endpoint, export_panel, exported, live, report, track

ID = "roi"


def build(explorer: Explorer, inputs: Inputs) -> None:
    """The tab's widgets and events (inside the app's gr.Tabs); a click on the image selects the box under it."""
    with gr.Tab("RoI -> level", id=ID, elem_id="tab-roi") as tab:
        with gr.Row():
            source = gr.Radio(RoISource.labels(), value=RoISource.PROPOSALS.value, label="Boxes")
            top_n = gr.Slider(1, 1000, 100, step=1, label="Top-N proposals")
            index = gr.Number(0, label="Selected box (0 = best)", precision=0)
        with gr.Row():
            image = analytic_image("RoIs coloured by Eq. (1) level (click a box)", "out-roi", show_label=False,
                                   scale=3, min_width=410)
            with gr.Column(scale=2, min_width=600):  # its pooled features (584 px) 1:1: wraps under
                histogram = analytic_image("RoIs per level", "out-roi-hist", show_label=False)
                formula = gr.Markdown()
                pooled = analytic_image("Pooled features of the selected box", "out-pooled", show_label=False)
        export = export_panel("roi")

    def outputs(result):
        return (result.images["roi_levels"], result.images["histogram"], result.text, result.images["pooled"],
                result.data["selected"]["index"])

    @guard
    def roi_levels(path, model, source, index, top_n, score_thresh, progress=gr.Progress()):
        return outputs(explorer.roi_levels(path, model, source, index, top_n, score_thresh, report(progress)))

    @guard
    def show_roi_levels(path, model, source, index, top_n, score_thresh, progress=gr.Progress()):
        result = explorer.roi_levels(path, model, source, index, top_n, score_thresh, report(progress))
        return (*outputs(result), *exported(result))

    @guard
    def roi_click(path, model, source, index, top_n, score_thresh, evt: gr.SelectData):
        result = explorer.roi_levels(path, model, source, index, top_n, score_thresh, click=evt.index)
        return (*outputs(result), *exported(result))

    args = [inputs.image, inputs.model, source, index, top_n, inputs.score]
    out = [image, histogram, formula, pooled, index]
    api_endpoint(roi_levels, args, out, "roi_levels")
    track(tab, ID)
    live(inputs, tab, ID, show_roi_levels, args, [*out, *export.outputs], controls=[source, index], sliders=[top_n])
    image.select(roi_click, args, [*out, *export.outputs], **PRIVATE)
