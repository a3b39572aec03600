"""Anchors tab (Sec. 4.1): one level's anchors around a point or as a density, labelled against ground truth or the
detections; positives per level. Endpoint: anchors."""
from __future__ import annotations

import gradio as gr

from ..choices import ANCHOR_LEVELS, RATIOS, SQUARE, AnchorMode, GTSource
from ..guard import guard
from ..views import Explorer
from .shared import PRIVATE, Inputs, analytic_image, api_endpoint, export_panel, exported, live, report, track

ID = "anchors"


def build(explorer: Explorer, inputs: Inputs) -> None:
    """The tab's widgets and events (inside the app's gr.Tabs); a click on the image moves the point."""
    with gr.Tab("Anchors", id=ID, elem_id="tab-anchors") as tab:
        with gr.Row():
            level = gr.Dropdown(list(ANCHOR_LEVELS), value="p3", label="Level", elem_id="anchor-level")
            ratio = gr.Radio(list(RATIOS), value=SQUARE, label="Aspect ratio (h:w)", elem_id="anchor-ratio")
            mode = gr.Radio(AnchorMode.labels(), value=AnchorMode.POINT.value, label="Show")
            gt_source = gr.Radio(GTSource.labels(), value=GTSource.GROUND_TRUTH.value, label="Labels against")
        with gr.Row():
            x = gr.Number(-1, label="x (px, -1 = centre)", precision=0)
            y = gr.Number(-1, label="y (px, -1 = centre)", precision=0)
        with gr.Row():
            image = analytic_image("Anchors (click to move the point)", "out-anchors", show_label=False, scale=3)
            with gr.Column(scale=2):
                chart = analytic_image("Positive anchors per level", "out-positives", show_label=False)
                note = gr.Markdown()
        export = export_panel("anchors")

    @guard
    def anchors(path, model, level, ratio, mode, x, y, gt_source, score_thresh, progress=gr.Progress()):
        result = explorer.anchors(path, model, level, ratio, mode, x, y, gt_source, score_thresh, report(progress))
        return result.images["anchors"], result.images["positives"], result.text

    @guard
    def show_anchors(path, model, level, ratio, mode, x, y, gt_source, score_thresh, progress=gr.Progress()):
        result = explorer.anchors(path, model, level, ratio, mode, x, y, gt_source, score_thresh, report(progress))
        return (result.images["anchors"], result.images["positives"], result.text, *exported(result))

    @guard
    def anchors_click(path, model, level, ratio, gt_source, score_thresh, evt: gr.SelectData):
        x, y = evt.index[0], evt.index[1]
        result = explorer.anchors(path, model, level, ratio, AnchorMode.POINT.value, x, y, gt_source, score_thresh)
        return (result.images["anchors"], result.images["positives"], result.text, *exported(result), x, y,
                AnchorMode.POINT.value)

    args = [inputs.image, inputs.model, level, ratio, mode, x, y, gt_source, inputs.score]
    out = [image, chart, note, *export.outputs]
    api_endpoint(anchors, args, [image, chart, note], "anchors")
    track(tab, ID)
    live(inputs, tab, ID, show_anchors, args, out, controls=[level, ratio, mode, gt_source, x, y])
    image.select(anchors_click, [inputs.image, inputs.model, level, ratio, gt_source, inputs.score],
                 [*out, x, y, mode], **PRIVATE)
