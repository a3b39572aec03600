"""Pyramid tab: C2..C5 and P2..P6 (Fig. 1d), every map readable, a click reads a cell; one level's lateral + top-down
merge (Fig. 3). Endpoint: pyramid."""
from __future__ import annotations

import gradio as gr

from ..choices import AGGREGATIONS, MERGE_LEVELS
from ..guard import guard
from ..views import Explorer
from .shared import PRIVATE, Inputs, analytic_image, api_endpoint, export_panel, exported, live, report, track

ID = "pyramid"


def build(explorer: Explorer, inputs: Inputs) -> None:
    """The tab's widgets and events (inside the app's gr.Tabs); a click on a map reads its cell."""
    with gr.Tab("Pyramid", id=ID, elem_id="tab-pyramid") as tab:
        with gr.Row():
            aggregation = gr.Radio(list(AGGREGATIONS), value=AGGREGATIONS[0], label="Channel aggregation",
                                   info="how a map's channels become one picture", elem_id="aggregation")
            channel = gr.Slider(0, 2047, 0, step=1, label="Channel (for 'channel')")
            level = gr.Dropdown(list(MERGE_LEVELS), value="p3", label="Level for Fig. 3", elem_id="merge-level")
        maps = analytic_image("C2..C5 and P2..P6: one cell = one square, zoomed maps marked (xN); click a cell",
                              "out-pyramid", show_label=False)
        cell = gr.Markdown("Click a cell of any map to read its value and position.", elem_id="out-cell")
        merge = analytic_image("Fig. 3: lateral + top-down = merged", "out-merge", show_label=False)
        export = export_panel("pyramid")

    @guard
    def pyramid(path, model, aggregation, channel, level, progress=gr.Progress()):
        result = explorer.pyramid(path, model, aggregation, channel, level, report(progress))
        return result.images["pyramid"], result.images["merge"]

    @guard
    def show_pyramid(path, model, aggregation, channel, level, progress=gr.Progress()):
        result = explorer.pyramid(path, model, aggregation, channel, level, report(progress))
        return (result.images["pyramid"], result.text, result.images["merge"], *exported(result))

    @guard
    def pyramid_click(path, model, aggregation, channel, level, evt: gr.SelectData):
        result = explorer.pyramid(path, model, aggregation, channel, level, click=evt.index)
        return (result.images["pyramid"], result.text, result.images["merge"], *exported(result))

    args = [inputs.image, inputs.model, aggregation, channel, level]
    out = [maps, cell, merge, *export.outputs]
    api_endpoint(pyramid, args, [maps, merge], "pyramid")
    track(inputs, tab, ID)
    live(inputs, tab, ID, show_pyramid, args, out, controls=[aggregation, level], sliders=[channel],
         row=["image", "model"])
    maps.select(pyramid_click, args, out, **PRIVATE)
