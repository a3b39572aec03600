"""Scale sweep tab: one object rescaled from 0.25x to 2x; the level that handles it at each scale (the staircase of
FPN, the flat line of a single-map baseline), its best score and IoU, and the object as the network saw it.
Endpoint: scale_sweep."""
from __future__ import annotations

import gradio as gr

from .. import insight
from ..choices import ObjectSource
from ..guard import guard
from ..views import Explorer
from .shared import PRIVATE, Inputs, analytic_image, api_endpoint, export_panel, exported, live, report, track

ID = "scale_sweep"
INTRO = ("The paper's claim: *an object's scale change is offset by shifting its level in the pyramid*. The image is "
         "rescaled in half-octave steps, 0.25x to 2x of the model's input; for one object (click it) the chart shows "
         "the level of its positive anchors and the Eq. (1) level of its best proposal at each scale: about one level "
         "per octave on FPN, always the same map on a single-scale baseline (C4, C5). About a second per scale on a "
         "CPU.")


def build(explorer: Explorer, inputs: Inputs) -> None:
    """The tab's widgets and events (inside the app's gr.Tabs); a click on the objects picks the one to sweep."""
    others = explorer.registry.names("detection")
    with gr.Tab("Scale sweep", id=ID, elem_id="tab-scale-sweep") as tab:
        gr.Markdown(INTRO)
        with gr.Row():
            source = gr.Radio(ObjectSource.labels(), value=ObjectSource.GROUND_TRUTH.value, label="Objects",
                              info="ground truth when the image has it, else the detections above the threshold")
            index = gr.Number(0, label="Object # (or click one)", precision=0, elem_id="sweep-index")
            x = gr.Number(-1, label="x (original-image px, -1: use #)", precision=0)
            y = gr.Number(-1, label="y (original-image px, -1: use #)", precision=0)
            compare = gr.Dropdown(others, value=[], multiselect=True, max_choices=insight.MAX_SWEEP_COMPARE,
                                  label=f"Compare with (up to {insight.MAX_SWEEP_COMPARE} models)",
                                  elem_id="sweep-compare")
        with gr.Row():
            objects = analytic_image("Objects (click one to sweep it)", "out-sweep-objects", scale=2,
                                    min_width=560)
            with gr.Column(scale=3, min_width=780):  # both figures 1:1 (text >= 12 px): they wrap
                chart = analytic_image("Level per scale (the staircase), best score and IoU", "out-sweep-chart")
                note = gr.Markdown(elem_id="sweep-note")
        strip = analytic_image("The object at each scale, as the selected model saw it", "out-sweep-strip")
        with gr.Accordion("The numbers: per scale and model", open=False):
            table = gr.JSON(label="Per scale and model")
        export = export_panel(ID)

    def shown(result):
        picked = (result.data.get("object") or {}).get("index", 0)
        return (result.images["objects"], result.images["chart"], result.images["strip"], result.text, result.data,
                picked)

    @guard
    def scale_sweep(path, model, source, index, x, y, compare, score_thresh, progress=gr.Progress()):
        return shown(explorer.scale_sweep(path, model, source, index, x, y, compare, score_thresh,
                                         report(progress)))

    @guard
    def show_sweep(path, model, source, index, x, y, compare, score_thresh, progress=gr.Progress()):
        result = explorer.scale_sweep(path, model, source, index, x, y, compare, score_thresh,
                                     report(progress))
        return (*shown(result), *exported(result))

    @guard
    def sweep_click(path, model, source, index, compare, score_thresh, evt: gr.SelectData, progress=gr.Progress()):
        result = explorer.scale_sweep(path, model, source, index, evt.index[0], evt.index[1], compare,
                                     score_thresh, report(progress))
        return (*shown(result), *exported(result), -1, -1)

    args = [inputs.image, inputs.model, source, index, x, y, compare, inputs.score]
    out = [objects, chart, strip, note, table, index]
    api_endpoint(scale_sweep, args, out, "scale_sweep")
    track(tab, ID)
    live(inputs, tab, ID, show_sweep, args, [*out, *export.outputs], controls=[source, index, x, y, compare])
    objects.select(sweep_click, [inputs.image, inputs.model, source, index, compare, inputs.score],
                   [*out, *export.outputs, x, y], **PRIVATE)
