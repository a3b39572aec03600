"""Anchors tab (Sec. 4.1): one level's anchors around a point or as a density, labelled against ground truth or the
detections; positives per level. Endpoint: anchors."""
from __future__ import annotations

import gradio as gr

from ..choices import ANCHOR_LEVELS, ANCHOR_MODES, GT_SOURCES, RATIOS, SQUARE
from ..guard import guard
from ..views import Explorer
from .shared import PRIVATE, Inputs, analytic_image, if_image, report


def build(explorer: Explorer, inputs: Inputs) -> None:
    """The tab's widgets and events (inside the app's gr.Tabs); a click on the image moves the point."""
    with gr.Tab("Anchors", id="anchors", elem_id="tab-anchors") as tab:
        with gr.Row():
            level = gr.Dropdown(list(ANCHOR_LEVELS), value="p3", label="Level")
            ratio = gr.Radio(list(RATIOS), value=SQUARE, label="Aspect ratio (h:w)")
            mode = gr.Radio(list(ANCHOR_MODES), value=ANCHOR_MODES[0], label="Show")
            gt_source = gr.Radio(list(GT_SOURCES), value=GT_SOURCES[0], label="Labels against")
        with gr.Row():
            x = gr.Number(-1, label="x (px, -1 = centre)", precision=0)
            y = gr.Number(-1, label="y (px, -1 = centre)", precision=0)
            button = gr.Button("Show anchors", variant="primary", elem_id="btn-anchors")
        with gr.Row():
            image = analytic_image("Anchors (click to move the point)", "out-anchors")
            with gr.Column():
                chart = analytic_image("Positive anchors per level", "out-positives")
                note = gr.Markdown()

    @guard
    def anchors(path, model, level, ratio, mode, x, y, gt_source, score_thresh, progress=gr.Progress()):
        return explorer.anchors(path, model, level, ratio, mode, x, y, gt_source, score_thresh, report(progress))

    @guard
    def anchors_click(path, model, level, ratio, gt_source, score_thresh, evt: gr.SelectData):
        x, y = evt.index[0], evt.index[1]
        shown = explorer.anchors(path, model, level, ratio, ANCHOR_MODES[0], x, y, gt_source, score_thresh)
        return (*shown, x, y, ANCHOR_MODES[0])

    args = [inputs.image, inputs.model, level, ratio, mode, x, y, gt_source, inputs.score]
    out = [image, chart, note]
    button.click(anchors, args, out, api_name="anchors")
    tab.select(if_image(anchors), args, out, **PRIVATE)
    for widget in (level, ratio, mode, gt_source):
        widget.change(if_image(anchors), args, out, **PRIVATE)
    image.select(anchors_click, [inputs.image, inputs.model, level, ratio, gt_source, inputs.score],
                 [*out, x, y, mode], **PRIVATE)
