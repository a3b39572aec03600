"""Guided tour tab: the paper step by step (app/tour.py), each step's figure live on the current image and model;
Back / Next, or jump to a step."""
from __future__ import annotations

import gradio as gr

from ..guard import guard
from ..tour import STEPS, TITLES, figure, heading, step_index, text as step_text
from ..slides import write_deck
from ..tour_facts import facts
from ..views import Explorer
from .shared import PRIVATE, Inputs, analytic_image, export_panel, exported, report, track

ID = "tour"
NO_IMAGE = "*Upload an image or pick an example at the top of the page: this step's figure is drawn on it.*"


def try_text(index: int) -> str:
    return f"**Try this:** {STEPS[index].try_this}"


def build(explorer: Explorer, inputs: Inputs) -> None:
    """The tab's widgets and events (inside the app's gr.Tabs)."""
    with gr.Tab("Guided tour", id=ID, elem_id="tab-tour") as tab:
        with gr.Row():
            step = gr.Dropdown(list(TITLES), value=TITLES[0], show_label=False, elem_id="tour-step", scale=6)
            back = gr.Button("< Back", elem_id="tour-back", scale=1, min_width=90, size="sm")
            forward = gr.Button("Next >", variant="primary", elem_id="tour-next", scale=1, min_width=90, size="sm")
        title = gr.Markdown(heading(0), elem_id="tour-title")
        text = gr.Markdown(step_text(0, facts(explorer.registry, None)), elem_id="tour-text")
        picture = analytic_image("This step on your image", "out-tour", show_label=False)
        try_this = gr.Markdown(try_text(0), elem_id="tour-try")
        with gr.Row():
            # the whole tour on this image and model, as one offline HTML file to project (app/slides.py)
            make_slides = gr.Button("Slides: the 8 steps on this image (HTML, works offline)", size="sm",
                                    elem_id="tour-make-slides", scale=1)
            slides = gr.File(label="Slide deck", interactive=False, elem_id="tour-slides", scale=2, height=80)
        export = export_panel("tour")

    @guard
    def show_step(path, model, score_thresh, title_value, progress=gr.Progress()):
        i = step_index(title_value)
        words = (heading(i), step_text(i, facts(explorer.registry, model)), try_text(i) + ("" if path else "\n\n" + NO_IMAGE))
        if not path:
            return (*words[:2], None, words[2], None, "")
        result = figure(explorer, i, path, model, score_thresh, report(progress))
        return (*words[:2], result.image, words[2], *exported(result))

    args = inputs.ready([inputs.image, inputs.model, inputs.score, step])
    out = [title, text, picture, try_this, *export.outputs]
    track(tab, ID)
    tab.select(show_step, args, out, **PRIVATE)
    step.change(show_step, args, out, trigger_mode="always_last", **PRIVATE)
    inputs.on_row(tab, ID, show_step, [inputs.image, inputs.model, inputs.score, step], out)
    @guard
    def slide_deck(path, model, score_thresh, progress=gr.Progress()):
        return write_deck(explorer, path, model, score_thresh, report(progress))

    make_slides.click(slide_deck, inputs.ready([inputs.image, inputs.model, inputs.score]), slides, **PRIVATE)
    back.click(lambda t: TITLES[max(step_index(t) - 1, 0)], step, step, queue=False, **PRIVATE)
    forward.click(lambda t: TITLES[min(step_index(t) + 1, len(TITLES) - 1)], step, step, queue=False, **PRIVATE)
