"""Why this box tab (provenance): click a detection to see the anchor it came from, the proposal, Eq. (1) and the
pooled features, the class scores and the final box; for a ground-truth box no detection covers, the stage that lost
it; each checkpoint's numbers per level. Endpoints: why_box, lost_gt (Explorer.why / Explorer.lost,
app/provenance.py), level_metrics (Explorer.level_metrics, app/compare_view.py: the Compare view's per-level part)."""
from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from ..choices import MAX_COMPARE
from ..guard import guard
from ..views import Explorer
from .shared import (PRIVATE, ExportPanel, Inputs, analytic_image, api_endpoint, export_panel, exported, live, report,
                     track)

ID = "why"
INTRO = ("Every detection has a history the model itself recorded: the **anchor** it started from (Sec. 4.1), the "
         "**proposal** the RPN regressed it to and kept after NMS, the level **Eq. (1)** pooled it from, the **class "
         "scores** of Fast R-CNN and its class-specific box regression. Click a detection on the image.")


@dataclass
class _WhySection:
    """The widgets of "why this box": the clicked point, the chain's pictures, its text and numbers."""

    x: gr.Number
    y: gr.Number
    image: gr.Image
    anchor_map: gr.Image
    chain: gr.Markdown
    pooled: gr.Image
    scores: gr.Image
    details: gr.JSON
    export: ExportPanel

    @property
    def outputs(self) -> list:
        return [self.image, self.anchor_map, self.chain, self.pooled, self.scores, self.details]


@dataclass
class _LostSection:
    """The widgets of "lost ground truth": which GT box, its picture and the table of every box's stage."""

    gt_index: gr.Number
    image: gr.Image
    text: gr.Markdown
    export: ExportPanel


@dataclass
class _LevelSection:
    """The widgets of "evaluation per level": the models, the button, the two charts and their text."""

    picked: gr.CheckboxGroup
    button: gr.Button
    bars: gr.Image
    recall: gr.Image
    text: gr.Markdown


def build(explorer: Explorer, inputs: Inputs) -> None:
    """The tab's widgets and events (inside the app's gr.Tabs); a click on the image explains the detection under it."""
    with gr.Tab("Why this box", id=ID, elem_id="tab-why") as tab:
        # three parts, one at a time: the tab stays about a window tall (the three stacked were ~4,000 px)
        with gr.Tabs(elem_id="why-parts"):
            with gr.Tab("This detection", elem_id="why-part-box"):
                gr.Markdown(INTRO)
                why = _why_section()
            with gr.Tab("Lost ground truth", elem_id="why-part-lost"):
                lost = _lost_section()
            with gr.Tab("Numbers per level", elem_id="why-part-levels"):
                levels = _level_section(explorer.registry.names("detection"))
    track(tab, ID)
    _bind_why(explorer, inputs, tab, why)
    _bind_lost(explorer, inputs, tab, lost)
    _bind_levels(explorer, inputs, levels, tab)


def _why_section() -> _WhySection:
    with gr.Row():
        x = gr.Number(-1, label="x (resized-input px; -1: the best detection)", precision=0, elem_id="why-x")
        y = gr.Number(-1, label="y (resized-input px)", precision=0, elem_id="why-y")
    with gr.Row():
        image = analytic_image("Anchor (dashed) -> proposal (magenta) -> final box: click a detection", "out-why",
                               scale=3, min_width=420)
        with gr.Column(scale=2, min_width=640):  # its 624 px map 1:1 (text >= 12 px): wraps under
            anchor_map = analytic_image("Its anchor's cell on its level's objectness map", "out-why-anchor")
            chain = gr.Markdown(elem_id="why-chain")
    with gr.Row():
        pooled = analytic_image("Pooled features (Eq. (1) level)", "out-why-pooled", min_width=600)
        scores = analytic_image("Top-5 class scores", "out-why-scores", min_width=410)
    with gr.Accordion("The chain in numbers (JSON)", open=False):
        details = gr.JSON(label="The chain in numbers", open=False)
    return _WhySection(x, y, image, anchor_map, chain, pooled, scores, details, export_panel(ID))


def _lost_section() -> _LostSection:
    gr.Markdown("For a dataset image: which stage lost each ground-truth box that no "
                "detection covers (no positive anchor / proposal dropped before or by NMS or the top-N cut / "
                "classified as background / score threshold / detection NMS).")
    with gr.Row():
        gt_index = gr.Number(-1, label="Ground-truth box # (-1: the first lost one)", precision=0, elem_id="lost-index")
    image = analytic_image("The ground truth (yellow) and what carried it furthest", "out-lost")
    text = gr.Markdown(elem_id="lost-text")  # under the picture, full width: its table of stages needs the room
    return _LostSection(gt_index, image, text, export_panel("lost"))


def _level_section(models: list[str]) -> _LevelSection:
    gr.Markdown("Each checkpoint's proposal AR@1000 per RPN level and box AP per Eq. (1) "
                "level (`scripts/evaluate.py --write-metadata`), with AR_s/m/l and AP_s/m/l; on a dataset image, "
                "each model's recall per level.")
    with gr.Row(equal_height=False):
        picked = gr.CheckboxGroup(models, value=models[:MAX_COMPARE], label=f"Models (up to {MAX_COMPARE})",
                                  elem_id="level-models", scale=3)
        # the stored numbers draw by themselves (no model runs); this image's recall runs every model: on demand
        button = gr.Button("This image's recall per level (runs each model)", variant="primary",
                           elem_id="btn-level-metrics", scale=1)
    bars = analytic_image("Across models (checkpoint metadata)", "out-level-metrics")
    recall = analytic_image("This image: recall per level", "out-level-recall")
    return _LevelSection(picked, button, bars, recall, gr.Markdown(elem_id="level-text"))


def _bind_why(explorer: Explorer, inputs: Inputs, tab: gr.Tab, w: _WhySection) -> None:
    """why_box (the API endpoint), the live update and the click on a detection."""
    def why_out(result):
        return (result.images["why"], result.images.get("anchor_map"), result.text, result.images.get("pooled"),
                result.images.get("class_scores"), result.data)

    @guard
    def why_box(path, model, x, y, score_thresh, progress=gr.Progress()):
        return why_out(explorer.why(path, model, x, y, score_thresh, report(progress)))

    @guard
    def show_why(path, model, x, y, score_thresh, progress=gr.Progress()):
        result = explorer.why(path, model, x, y, score_thresh, report(progress))
        return (*why_out(result), *exported(result))

    @guard
    def why_click(path, model, score_thresh, evt: gr.SelectData):
        cx, cy = evt.index
        result = explorer.why(path, model, cx, cy, score_thresh)
        return (*why_out(result), *exported(result), cx, cy)

    args = [inputs.image, inputs.model, w.x, w.y, inputs.score]
    api_endpoint(why_box, args, w.outputs, "why_box", tab=tab)
    live(inputs, tab, ID, show_why, args, [*w.outputs, *w.export.outputs], controls=[w.x, w.y])
    w.image.select(why_click, [inputs.image, inputs.model, inputs.score], [*w.outputs, *w.export.outputs, w.x, w.y],
                   **PRIVATE)


def _bind_lost(explorer: Explorer, inputs: Inputs, tab: gr.Tab, w: _LostSection) -> None:
    """lost_gt (the API endpoint) and the live update."""
    @guard
    def lost_gt(path, model, gt_index, score_thresh, progress=gr.Progress()):
        result = explorer.lost(path, model, gt_index, score_thresh, report(progress))
        return result.image, result.text

    @guard
    def show_lost(path, model, gt_index, score_thresh, progress=gr.Progress()):
        result = explorer.lost(path, model, gt_index, score_thresh, report(progress))
        return (result.image, result.text, *exported(result))

    args = [inputs.image, inputs.model, w.gt_index, inputs.score]
    api_endpoint(lost_gt, args, [w.image, w.text], "lost_gt", tab=tab)
    live(inputs, tab, ID, show_lost, args, [w.image, w.text, *w.export.outputs], controls=[w.gt_index])


def _bind_levels(explorer: Explorer, inputs: Inputs, w: _LevelSection, tab: gr.Tab) -> None:
    """level_metrics (the API endpoint, on the button); the stored numbers drawn at once when the tab opens or the
    models change (checkpoint metadata only: no model runs, so no wait)."""
    @guard
    def stored_levels(models):
        result = explorer.level_metrics(None, models, 0.5)
        return result.images["level_metrics"], result.text

    tab.select(stored_levels, [w.picked], [w.bars, w.text], **PRIVATE)
    w.picked.input(stored_levels, [w.picked], [w.bars, w.text], trigger_mode="always_last", **PRIVATE)

    @guard
    def level_metrics(path, models, score_thresh, progress=gr.Progress()):
        result = explorer.level_metrics(path, models, score_thresh, report(progress))
        return result.images["level_metrics"], result.images["image_recall"], result.text

    w.button.click(level_metrics, [inputs.image, w.picked, inputs.score], [w.bars, w.recall, w.text],
                   api_name="level_metrics")
