"""Why this box tab (provenance): click a detection to see the anchor it came from, the proposal, Eq. (1) and the
pooled features, the class scores and the final box; for a ground-truth box no detection covers, the stage that lost
it; each checkpoint's numbers per level. Endpoints: why_box, lost_gt (app/provenance.py), level_metrics
(app/compare_view.py, the Compare view's per-level part)."""
from __future__ import annotations

import gradio as gr

from .. import provenance as P
from ..compare_view import level_metrics as level_view
from ..choices import MAX_COMPARE
from ..guard import guard
from ..views import Explorer
from .shared import PRIVATE, Inputs, analytic_image, api_endpoint, export_panel, exported, live, report, track

ID = "why"
INTRO = ("Every detection has a history the model itself recorded: the **anchor** it started from (Sec. 4.1), the "
         "**proposal** the RPN regressed it to and kept after NMS, the level **Eq. (1)** pooled it from, the **class "
         "scores** of Fast R-CNN and its class-specific box regression. Click a detection on the image.")


def build(explorer: Explorer, inputs: Inputs) -> None:
    """The tab's widgets and events (inside the app's gr.Tabs); a click on the image explains the detection under it."""
    models = explorer.registry.names("detection")
    with gr.Tab("Why this box", id=ID, elem_id="tab-why") as tab:
        gr.Markdown(INTRO)
        with gr.Row():
            x = gr.Number(-1, label="x (resized-input px; -1: the best detection)", precision=0, elem_id="why-x")
            y = gr.Number(-1, label="y (resized-input px)", precision=0, elem_id="why-y")
        with gr.Row():
            image = analytic_image("Anchor (dashed) -> proposal (magenta) -> final box: click a detection", "out-why",
                                   scale=3)
            with gr.Column(scale=2):
                anchor_map = analytic_image("Its anchor's cell on its level's objectness map", "out-why-anchor")
                chain = gr.Markdown(elem_id="why-chain")
        with gr.Row():
            pooled = analytic_image("Pooled features (Eq. (1) level)", "out-why-pooled")
            scores = analytic_image("Top-5 class scores", "out-why-scores")
        details = gr.JSON(label="The chain in numbers", open=False)
        export = export_panel(ID)

        gr.Markdown("### Lost ground truth\nFor a dataset image: which stage lost each ground-truth box that no "
                    "detection covers (no positive anchor / proposal dropped before or by NMS or the top-N cut / "
                    "classified as background / score threshold / detection NMS).")
        with gr.Row():
            gt_index = gr.Number(-1, label="Ground-truth box # (-1: the first lost one)", precision=0,
                                 elem_id="lost-index")
        with gr.Row():
            lost_image = analytic_image("The ground truth (yellow) and what carried it furthest", "out-lost", scale=3)
            lost_text = gr.Markdown(elem_id="lost-text")
        lost_export = export_panel("lost")

        gr.Markdown("### Evaluation per level\nEach checkpoint's proposal AR@1000 per RPN level and box AP per Eq. (1) "
                    "level (`scripts/evaluate.py --write-metadata`), with AR_s/m/l and AP_s/m/l; on a dataset image, "
                    "each model's recall per level.")
        with gr.Row():
            picked = gr.CheckboxGroup(models, value=models[:MAX_COMPARE], label=f"Models (up to {MAX_COMPARE})",
                                      elem_id="level-models")
            button = gr.Button("Numbers per level", variant="primary", elem_id="btn-level-metrics")
        bars = analytic_image("Across models (checkpoint metadata)", "out-level-metrics")
        recall = analytic_image("This image: recall per level", "out-level-recall")
        levels_text = gr.Markdown(elem_id="level-text")

    def why_out(result):
        return (result.images["why"], result.images.get("anchor_map"), result.text, result.images.get("pooled"),
                result.images.get("class_scores"), result.data)

    @guard
    def why_box(path, model, x, y, score_thresh, progress=gr.Progress()):
        return why_out(P.why(explorer, path, model, x, y, score_thresh, report(progress)))

    @guard
    def show_why(path, model, x, y, score_thresh, progress=gr.Progress()):
        result = P.why(explorer, path, model, x, y, score_thresh, report(progress))
        return (*why_out(result), *exported(result))

    @guard
    def why_click(path, model, score_thresh, evt: gr.SelectData):
        cx, cy = evt.index
        result = P.why(explorer, path, model, cx, cy, score_thresh)
        return (*why_out(result), *exported(result), cx, cy)

    @guard
    def lost_gt(path, model, gt_index, score_thresh, progress=gr.Progress()):
        result = P.lost(explorer, path, model, gt_index, score_thresh, report(progress))
        return result.image, result.text

    @guard
    def show_lost(path, model, gt_index, score_thresh, progress=gr.Progress()):
        result = P.lost(explorer, path, model, gt_index, score_thresh, report(progress))
        return (result.image, result.text, *exported(result))

    @guard
    def level_metrics(path, models, score_thresh, progress=gr.Progress()):
        result = level_view(explorer, path, models, score_thresh, report(progress))
        return result.images["level_metrics"], result.images["image_recall"], result.text

    why_args = [inputs.image, inputs.model, x, y, inputs.score]
    why_outputs = [image, anchor_map, chain, pooled, scores, details]
    api_endpoint(why_box, why_args, why_outputs, "why_box", tab=tab)
    lost_args = [inputs.image, inputs.model, gt_index, inputs.score]
    api_endpoint(lost_gt, lost_args, [lost_image, lost_text], "lost_gt", tab=tab)
    track(inputs, tab, ID)
    live(inputs, tab, ID, show_why, why_args, [*why_outputs, *export.outputs], controls=[x, y])
    live(inputs, tab, ID, show_lost, lost_args, [lost_image, lost_text, *lost_export.outputs], controls=[gt_index])
    image.select(why_click, [inputs.image, inputs.model, inputs.score], [*why_outputs, *export.outputs, x, y],
                 **PRIVATE)
    button.click(level_metrics, [inputs.image, picked, inputs.score], [bars, recall, levels_text],
                 api_name="level_metrics")
