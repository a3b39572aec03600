"""Receptive field tab: click a cell of any level (C2..C5, P2..P6): the pixels it can see (theoretical receptive
field), how strongly each moves it (effective receptive field, the input gradient), beside the anchors of that level.
Endpoint: receptive_field."""
from __future__ import annotations

import gradio as gr

import fpn
import fpn.viz as V

from ..guard import guard
from ..views import Explorer
from .shared import PRIVATE, Inputs, analytic_image, api_endpoint, export_panel, exported, live, report, track

ID = "receptive_field"


def build(explorer: Explorer, inputs: Inputs) -> None:
    """The tab's widgets and events (inside the app's gr.Tabs); a click on the image picks the cell."""
    with gr.Tab("Receptive field", id=ID, elem_id="tab-receptive-field") as tab:
        with gr.Row():
            level = gr.Dropdown(list(fpn.RF_LEVELS), value="p4", label="Level", elem_id="rf-level")
            heat = gr.Radio(list(V.HEAT_SCALES), value=V.HEAT_SCALES[0], label="Heat-map scale",
                            info="log shows the faint tail of the gradient")
            x = gr.Number(-1, label="x (px, -1 = centre)", precision=0)
            y = gr.Number(-1, label="y (px, -1 = centre)", precision=0)
        with gr.Row():
            image = analytic_image("Effective receptive field (heat), theoretical (white), anchors; click a cell",
                                   "out-rf", scale=3)
            with gr.Column(scale=2):
                chart = analytic_image("ERF mass inside a centred square", "out-rf-mass")
                note = gr.Markdown(elem_id="rf-note")
                with gr.Accordion("The numbers", open=False):
                    numbers = gr.JSON(label="Numbers")
        export = export_panel(ID)

    def shown(result):
        return result.images["receptive_field"], result.images["erf_mass"], result.text, result.data

    @guard
    def receptive_field(path, model, level, x, y, heat, progress=gr.Progress()):
        return shown(explorer.receptive_field(path, model, level, x, y, heat, report(progress)))

    @guard
    def show_receptive_field(path, model, level, x, y, heat, progress=gr.Progress()):
        result = explorer.receptive_field(path, model, level, x, y, heat, report(progress))
        return (*shown(result), *exported(result))

    @guard
    def rf_click(path, model, level, heat, evt: gr.SelectData, progress=gr.Progress()):
        x, y = evt.index[0], evt.index[1]
        result = explorer.receptive_field(path, model, level, x, y, heat, report(progress))
        return (*shown(result), *exported(result), x, y)

    args = [inputs.image, inputs.model, level, x, y, heat]
    out = [image, chart, note, numbers]
    api_endpoint(receptive_field, args, out, "receptive_field")
    track(tab, ID)
    live(inputs, tab, ID, show_receptive_field, args, [*out, *export.outputs], controls=[level, heat, x, y],
         row=["image", "model"])
    image.select(rf_click, [inputs.image, inputs.model, level, heat], [*out, *export.outputs, x, y], **PRIVATE)
