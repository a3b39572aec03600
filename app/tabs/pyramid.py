"""Pyramid tab: C2..C5 and P2..P6 (Fig. 1d), every map readable, a click reads a cell; one level's lateral + top-down
merge (Fig. 3). Endpoint: pyramid."""
from __future__ import annotations

import gradio as gr

from ..choices import AGGREGATIONS, MERGE_LEVELS
from ..guard import guard
from ..views import Explorer
from .shared import PRIVATE, Inputs, analytic_image, api_endpoint, export_panel, exported, live, report, track

ID = "pyramid"


def channel_range(maps: list[dict], channel: int) -> dict:
    """The channel slider fitted to the loaded model's maps: 0 .. (most channels - 1), and which maps have fewer
    (they show their last channel past their count, as fpn.viz does)."""
    counts = {m["map"].upper(): int(m["channels"]) for m in maps}
    top = max(counts.values(), default=1) - 1
    listed = ", ".join(f"{name} {n}" for name, n in counts.items())
    return gr.update(maximum=top, value=min(int(channel), top),
                     info=f"channels per map: {listed}; a map with fewer shows its last one")


def build(explorer: Explorer, inputs: Inputs) -> None:
    """The tab's widgets and events (inside the app's gr.Tabs); a click on a map reads its cell."""
    with gr.Tab("Pyramid", id=ID, elem_id="tab-pyramid") as tab:
        with gr.Row():
            aggregation = gr.Radio(list(AGGREGATIONS), value=AGGREGATIONS[0], label="Channel aggregation",
                                   info="how a map's channels become one picture", elem_id="aggregation")
            # its range follows the loaded model's maps (channel_range); typing a number + Enter redraws (input event)
            channel = gr.Slider(0, 255, 0, step=1, label="Channel (for 'channel')", elem_id="channel")
            level = gr.Dropdown(list(MERGE_LEVELS), value="p3", label="Level for Fig. 3", elem_id="merge-level")
        with gr.Row(equal_height=False):
            maps = analytic_image("C2..C5 and P2..P6: one cell = one square, zoomed maps marked (xN); click a cell",
                                  "out-pyramid", show_label=False, scale=4)
            # beside the figure, so the clicked cell's reading is in view with the cell
            cell = gr.Markdown("Click a cell of any map to read its value and position.", elem_id="out-cell",
                               min_height=0)
        merge = analytic_image("Fig. 3: lateral + top-down = merged", "out-merge", show_label=False)
        export = export_panel("pyramid")

    @guard
    def pyramid(path, model, aggregation, channel, level, progress=gr.Progress()):
        result = explorer.pyramid(path, model, aggregation, channel, level, report(progress))
        return result.images["pyramid"], result.images["merge"]

    @guard
    def show_pyramid(path, model, aggregation, channel, level, progress=gr.Progress()):
        result = explorer.pyramid(path, model, aggregation, channel, level, report(progress))
        return (result.images["pyramid"], result.text, result.images["merge"], *exported(result),
                channel_range(result.data["maps"], channel))

    @guard
    def pyramid_click(path, model, aggregation, channel, level, evt: gr.SelectData):
        result = explorer.pyramid(path, model, aggregation, channel, level, click=evt.index)
        return (result.images["pyramid"], result.text, result.images["merge"], *exported(result),
                channel_range(result.data["maps"], channel))

    args = [inputs.image, inputs.model, aggregation, channel, level]
    out = [maps, cell, merge, *export.outputs, channel]
    api_endpoint(pyramid, args, [maps, merge], "pyramid")
    track(tab, ID)
    live(inputs, tab, ID, show_pyramid, args, out, controls=[aggregation, level, channel], row=["image", "model"])
    maps.select(pyramid_click, args, out, **PRIVATE)
