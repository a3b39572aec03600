"""Pyramid tab: C2..C5 and P2..P6 (Fig. 1d) and one level's lateral + top-down merge (Fig. 3). Endpoint: pyramid."""
from __future__ import annotations

import gradio as gr

from ..choices import AGGREGATIONS, MERGE_LEVELS
from ..guard import guard
from ..views import Explorer
from .shared import PRIVATE, Inputs, analytic_image, if_image, report


def build(explorer: Explorer, inputs: Inputs) -> None:
    """The tab's widgets and events (inside the app's gr.Tabs)."""
    with gr.Tab("Pyramid", id="pyramid", elem_id="tab-pyramid") as tab:
        with gr.Row():
            aggregation = gr.Radio(list(AGGREGATIONS), value=AGGREGATIONS[0], label="Channel aggregation",
                                   info="how a map's channels become one picture")
            channel = gr.Slider(0, 2047, 0, step=1, label="Channel (for 'channel')")
            level = gr.Dropdown(list(MERGE_LEVELS), value="p3", label="Level for Fig. 3")
            button = gr.Button("Show pyramid", variant="primary", elem_id="btn-pyramid")
        maps = analytic_image("C2..C5 and P2..P6 at their true relative resolutions", "out-pyramid")
        merge = analytic_image("Fig. 3: lateral + top-down = merged", "out-merge")

    @guard
    def pyramid(path, model, aggregation, channel, level, progress=gr.Progress()):
        return explorer.pyramid(path, model, aggregation, channel, level, report(progress))

    args, out = [inputs.image, inputs.model, aggregation, channel, level], [maps, merge]
    button.click(pyramid, args, out, api_name="pyramid")
    tab.select(if_image(pyramid), args, out, **PRIVATE)
    for widget in (aggregation, level):
        widget.change(if_image(pyramid), args, out, **PRIVATE)
    channel.release(if_image(pyramid), args, out, **PRIVATE)
