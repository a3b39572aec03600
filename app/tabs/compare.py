"""Compare tab (Tables 1-3): 2-6 models side by side, their checkpoints' evaluation numbers as a table and per level
(grouped bars), and on a dataset image each model's recall per level. Endpoint: compare (app/compare_view.py)."""
from __future__ import annotations

import gradio as gr

from ..choices import MAX_COMPARE, MIN_COMPARE
from ..guard import guard
from ..views import Explorer
from .shared import Inputs, analytic_image, api_endpoint, export_panel, exported, live, report, track

ID = "compare"


def build(explorer: Explorer, inputs: Inputs) -> None:
    """The tab's widgets and events (inside the app's gr.Tabs)."""
    models = explorer.registry.names("detection")
    with gr.Tab("Compare", id=ID, elem_id="tab-compare") as tab:
        with gr.Row():
            picked = gr.CheckboxGroup(models, value=explorer.registry.compare_defaults(), elem_id="compare-models",
                                      label=f"Models ({MIN_COMPARE} to {MAX_COMPARE})")
            top_proposals = gr.Slider(1, 300, 50, step=1, label="Top-N proposals")
            own = gr.Checkbox(True, label="Each model at its own score threshold",
                              info="its F1-best on held-out images; off: the score slider's for all",
                              elem_id="compare-own-thresholds")
        image = analytic_image("Side by side: detections / proposals / objectness per level", "out-compare",
                               show_label=False)
        table = gr.Dataframe(label="Evaluation numbers (checkpoint metadata)", interactive=False,
                             elem_id="out-compare-table")
        levels = analytic_image("Per level (checkpoint metadata, scripts/evaluate.py --write-metadata): proposal "
                                "AR@1000 per RPN level, box AP per Eq. (1) level, AR_s/m/l, AP_s/m/l",
                                "out-compare-levels")
        recall = analytic_image("This image: each model's recall per level (dataset images)", "out-compare-recall")
        levels_text = gr.Markdown(elem_id="compare-levels-text")
        export = export_panel("compare")

    def table_of(result):
        return {"headers": result.data["headers"], "data": result.data["rows"]}

    @guard
    def compare(path, models, score_thresh, top_proposals, own_thresholds=True, progress=gr.Progress()):
        result = explorer.compare(path, models, score_thresh, top_proposals, report(progress), bool(own_thresholds))
        return result.image, table_of(result)

    @guard
    def show_compare(path, models, score_thresh, top_proposals, own_thresholds, progress=gr.Progress()):
        # each model's column as soon as it is ready (compare_steps); the per-level part and the export at the end
        for result in explorer.compare_steps(path, models, score_thresh, top_proposals, report(progress),
                                             bool(own_thresholds)):
            if result.data.get("pending"):
                yield (result.image, table_of(result), *[gr.skip()] * 5)
            else:
                yield (result.image, table_of(result), result.images["level_metrics"], result.images["image_recall"],
                       result.text, *exported(result))

    args = [inputs.image, picked, inputs.score, top_proposals, own]
    api_endpoint(compare, args, [image, table], "compare")
    track(tab, ID)
    live(inputs, tab, ID, show_compare, args, [image, table, levels, recall, levels_text, *export.outputs],
         controls=[picked, own], sliders=[top_proposals], row=["image", "score"])
