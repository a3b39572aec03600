"""Compare tab (Tables 1-3): 2-6 models side by side and their checkpoints' evaluation numbers. Endpoint: compare."""
from __future__ import annotations

import gradio as gr

from ..choices import MAX_COMPARE, MIN_COMPARE
from ..guard import guard
from ..views import Explorer
from .shared import Inputs, analytic_image, report


def build(explorer: Explorer, inputs: Inputs) -> None:
    """The tab's widgets and events (inside the app's gr.Tabs)."""
    models = explorer.registry.names("detection")
    with gr.Tab("Compare", id="compare", elem_id="tab-compare"):
        with gr.Row():
            picked = gr.CheckboxGroup(models, value=models[:3], label=f"Models ({MIN_COMPARE} to {MAX_COMPARE})")
            top_proposals = gr.Slider(1, 300, 50, step=1, label="Top-N proposals")
            button = gr.Button("Compare", variant="primary", elem_id="btn-compare")
        image = analytic_image("Side by side: detections / proposals / objectness per level", "out-compare")
        table = gr.Dataframe(label="Evaluation numbers (checkpoint metadata)", interactive=False,
                             elem_id="out-compare-table")

    @guard
    def compare(path, models, score_thresh, top_proposals, progress=gr.Progress()):
        grid, rows, headers = explorer.compare(path, models, score_thresh, top_proposals, report(progress))
        return grid, {"headers": headers, "data": rows}

    button.click(compare, [inputs.image, picked, inputs.score, top_proposals], [image, table], api_name="compare")
