"""The Gradio app: widgets wired to app.views (which call fpn.explore / fpn.viz through the cached analysis).

Every event is also an API endpoint (api_name): detect, mask_proposals, pyramid, anchors, roi_levels, compare,
load_image. Every handler turns errors into a toast (gr.Error) with a clear message: one bad request never stops
the server.
"""
from __future__ import annotations

import functools
import logging
import os
import traceback
import warnings
from typing import Any, Callable

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402

from .images import ImageError  # noqa: E402
from .views import GT_SOURCES, RATIOS, ROI_SOURCES, AppError, Explorer  # noqa: E402

log = logging.getLogger("fpn.app")

HOW_FPN_WORKS = """
### How FPN works, view by view
* **Pyramid** = *Fig. 1(d) and Fig. 3*. A ResNet's stages give the **bottom-up** maps C2..C5 (strides 4, 8, 16, 32:
  each is half the size of the previous one, and semantically stronger). The **top-down** pathway starts from C5,
  upsamples the coarser map 2x (nearest neighbour) and **adds** a 1x1 conv of C_k (the **lateral** connection);
  a 3x3 conv then gives P_k. All P_k have d = 256 channels; P6 subsamples P5. The merge panel shows the three terms of
  that addition for one level on one colour scale: coarse, strong semantics (top-down) + accurate localisation (lateral).
* **Anchors** = *Sec. 4.1*. The RPN head (3x3 conv + two 1x1 convs) is shared by all levels, and each level has
  **one anchor size**: 32^2 on P2, 64^2 on P3, 128^2 on P4, 256^2 on P5, 512^2 on P6, with aspect ratios 1:2, 1:1,
  2:1. An anchor is **positive** if its IoU with a ground-truth box is > 0.7 (or it is that box's best anchor),
  **negative** if < 0.3 with all boxes, otherwise ignored. There is no scale rule: a small object finds positives on
  P2, a large one on P5/P6 only because of the anchor sizes. The bar chart counts positives per level.
* **RoI -> level** = *Eq. (1), Sec. 4.2*. Fast R-CNN pools each RoI of width w and height h from
  P_k, k = floor(4 + log2(sqrt(w h) / 224)): a 224x224 RoI goes to P4, half that size to P3, twice to P5.
  The 7x7 pooled features feed the shared 2-fc head (1024-d).
* **Detections / Compare** = *Tables 1-3*: the variants of the ablations (`fpn`, `bottom_up` (no top-down),
  `no_lateral`, `p2_only`, single-scale `c4` / `c5`) side by side, with their evaluation numbers.
* **Mask proposals** = *Sec. 6, Fig. 4*: small MLPs on 5x5 (and 7x7) windows of every level predict 14x14 masks.

Boxes in the Anchors and RoI views are in pixels of the **resized input** (shorter side = the model's min_size).
"""


def guard(fn: Callable) -> Callable:
    """Run a handler; user errors become gr.Error toasts, unexpected ones are logged and reported the same way."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except (AppError, ImageError) as e:
            raise gr.Error(str(e), duration=None) from None
        except Exception as e:  # noqa: BLE001 - the server must keep serving
            log.error("handler %s failed:\n%s", fn.__name__, traceback.format_exc())
            raise gr.Error(f"Unexpected error in {fn.__name__}: {type(e).__name__}: {e}", duration=None) from None

    return wrapper


def build_ui(explorer: Explorer) -> gr.Blocks:
    """The Blocks app (Gradio 5 API; its 6.0 deprecation notices are silenced here)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return _build_ui(explorer)


def _build_ui(explorer: Explorer) -> gr.Blocks:
    reg = explorer.registry
    det_models = reg.names("detection")
    mask_models = reg.names("mask_proposals")
    example_names = explorer.examples.names()
    theme = gr.themes.Default(font=["ui-sans-serif", "system-ui", "sans-serif"],
                              font_mono=["ui-monospace", "monospace"])

    def prog(progress: Any) -> Callable[[float, str], None]:
        return lambda f, d: progress(f, desc=d)

    @guard
    def load_image(path, progress=gr.Progress()):
        img = explorer.load(path)
        example = explorer.examples.match(path)
        msg = f"**Loaded**: {img.message}."
        if example is not None:
            msg += f" Dataset image with {len(example.gt['labels'])} ground-truth boxes (used by the Anchors view)."
        return img.array, msg

    @guard
    def pick_example(name):
        if not name:
            return gr.update()
        return explorer.examples.path(name)

    @guard
    def detect(path, model, score_thresh, progress=gr.Progress()):
        return explorer.detect(path, model, score_thresh, prog(progress))

    @guard
    def mask_proposals(path, model, top_n, progress=gr.Progress()):
        return explorer.mask_proposals(path, model, top_n, prog(progress))

    @guard
    def pyramid(path, model, aggregation, channel, level, progress=gr.Progress()):
        return explorer.pyramid(path, model, aggregation, channel, level, prog(progress))

    @guard
    def anchors(path, model, level, ratio, mode, x, y, gt_source, score_thresh, progress=gr.Progress()):
        return explorer.anchors(path, model, level, ratio, mode, x, y, gt_source, score_thresh, prog(progress))

    @guard
    def anchors_click(path, model, level, ratio, mode, gt_source, score_thresh, evt: gr.SelectData):
        x, y = evt.index[0], evt.index[1]
        img, chart, md = explorer.anchors(path, model, level, ratio, "point", x, y, gt_source, score_thresh)
        return img, chart, md, x, y, "point"

    @guard
    def roi_levels(path, model, source, index, top_n, score_thresh, progress=gr.Progress()):
        return explorer.roi_levels(path, model, source, index, top_n, score_thresh, prog(progress))

    @guard
    def roi_click(path, model, source, index, top_n, score_thresh, evt: gr.SelectData):
        return explorer.roi_levels(path, model, source, index, top_n, score_thresh, click=evt.index)

    @guard
    def compare(path, models, score_thresh, top_proposals, progress=gr.Progress()):
        img, table, headers = explorer.compare(path, models, score_thresh, top_proposals, prog(progress))
        return img, gr.update(value=table, headers=headers)

    with gr.Blocks(title="FPN Explorer", analytics_enabled=False, theme=theme) as demo:
        gr.Markdown("# FPN Explorer\nFeature Pyramid Networks for Object Detection (Lin et al., CVPR 2017), "
                    "on your image. Pick an image and a model, then open the views.")
        with gr.Row():
            image_file = gr.File(label="Upload an image", type="filepath", elem_id="image-file")
            with gr.Column():
                example = gr.Dropdown(example_names, value=None, label="... or pick an example", elem_id="example")
                model = gr.Dropdown(det_models, value=det_models[0] if det_models else None, label="Model",
                                    elem_id="model")
                gr.Markdown(f"**Device**: {reg.device_info()}" + ("\n\n" + "\n\n".join(f"*{n}*" for n in reg.notes)
                                                                   if reg.notes else ""))
        with gr.Row():
            preview = gr.Image(label="Input", interactive=False, height=260, elem_id="preview")
            load_msg = gr.Markdown("", elem_id="load-msg")
        example.change(pick_example, example, image_file, show_api=False)
        image_file.change(load_image, image_file, [preview, load_msg], api_name="load_image")

        with gr.Tabs():
            with gr.Tab("Detections", id="detections", elem_id="tab-detections") as tab_det:
                with gr.Row():
                    score = gr.Slider(0.0, 1.0, 0.5, step=0.01, label="Score threshold", elem_id="score")
                    det_btn = gr.Button("Show detections", variant="primary", elem_id="btn-detect")
                with gr.Row():
                    det_img = gr.Image(label="Detections", interactive=False, elem_id="out-detect")
                    det_json = gr.JSON(label="Detections (JSON, image pixels)")
                gr.Markdown("### Mask proposals (Sec. 6)")
                with gr.Row():
                    mask_model = gr.Dropdown(mask_models, value=mask_models[0] if mask_models else None,
                                             label="Mask-proposal model", elem_id="mask-model")
                    top_n = gr.Slider(1, 50, 10, step=1, label="Top-N mask proposals")
                    mask_btn = gr.Button("Show mask proposals", elem_id="btn-masks")
                mask_img = gr.Image(label="Mask proposals", interactive=False, elem_id="out-masks")
            with gr.Tab("Pyramid", id="pyramid", elem_id="tab-pyramid") as tab_pyr:
                with gr.Row():
                    aggregation = gr.Radio(["l2", "pca", "channel", "mean"], value="l2",
                                           label="Channel aggregation (L2 norm, PCA to RGB, one channel, mean)")
                    channel = gr.Slider(0, 2047, 0, step=1, label="Channel (for 'channel')")
                    merge_level = gr.Dropdown(["p2", "p3", "p4", "p5"], value="p3", label="Level for Fig. 3")
                    pyr_btn = gr.Button("Show pyramid", variant="primary", elem_id="btn-pyramid")
                pyr_img = gr.Image(label="C2..C5 and P2..P6 at their true relative resolutions", interactive=False,
                                   elem_id="out-pyramid")
                merge_img = gr.Image(label="Fig. 3: lateral + top-down = merged", interactive=False,
                                     elem_id="out-merge")
            with gr.Tab("Anchors", id="anchors", elem_id="tab-anchors") as tab_anc:
                with gr.Row():
                    anc_level = gr.Dropdown(["p2", "p3", "p4", "p5", "p6", "c4", "c5"], value="p3", label="Level")
                    anc_ratio = gr.Radio(list(RATIOS), value="1:1", label="Aspect ratio (h:w)")
                    anc_mode = gr.Radio(["point", "density"], value="point", label="Show")
                    gt_source = gr.Radio(list(GT_SOURCES), value=GT_SOURCES[0], label="Labels against")
                with gr.Row():
                    anc_x = gr.Number(-1, label="x (px, -1 = centre)", precision=0)
                    anc_y = gr.Number(-1, label="y (px, -1 = centre)", precision=0)
                    anc_btn = gr.Button("Show anchors", variant="primary", elem_id="btn-anchors")
                with gr.Row():
                    anc_img = gr.Image(label="Anchors (click to move the point)", interactive=False,
                                       elem_id="out-anchors")
                    with gr.Column():
                        anc_chart = gr.Image(label="Positive anchors per level", interactive=False,
                                             elem_id="out-positives")
                        anc_md = gr.Markdown()
            with gr.Tab("RoI -> level", id="roi", elem_id="tab-roi") as tab_roi:
                with gr.Row():
                    roi_source = gr.Radio(list(ROI_SOURCES), value=ROI_SOURCES[0], label="Boxes")
                    roi_top = gr.Slider(1, 1000, 100, step=1, label="Top-N proposals")
                    roi_index = gr.Number(0, label="Selected box (0 = best)", precision=0)
                    roi_btn = gr.Button("Show RoI levels", variant="primary", elem_id="btn-roi")
                with gr.Row():
                    roi_img = gr.Image(label="RoIs coloured by Eq. (1) level (click a box)", interactive=False,
                                       elem_id="out-roi")
                    with gr.Column():
                        roi_hist = gr.Image(label="RoIs per level", interactive=False, elem_id="out-roi-hist")
                        roi_md = gr.Markdown()
                        roi_pooled = gr.Image(label="Pooled features of the selected box", interactive=False,
                                              elem_id="out-pooled")
            with gr.Tab("Compare", id="compare", elem_id="tab-compare") as tab_cmp:
                with gr.Row():
                    cmp_models = gr.CheckboxGroup(det_models, value=det_models[:3], label="Models (2 to 6)")
                    cmp_props = gr.Slider(1, 300, 50, step=1, label="Top-N proposals")
                    cmp_btn = gr.Button("Compare", variant="primary", elem_id="btn-compare")
                cmp_img = gr.Image(label="Side by side: detections / proposals / objectness per level",
                                   interactive=False, elem_id="out-compare")
                cmp_table = gr.Dataframe(label="Evaluation numbers (checkpoint metadata)", interactive=False)
            with gr.Tab("How FPN works", id="how", elem_id="tab-how"):
                gr.Markdown(HOW_FPN_WORKS)

        det_in = [image_file, model, score]
        det_btn.click(detect, det_in, [det_img, det_json], api_name="detect")
        tab_det.select(detect, det_in, [det_img, det_json], show_api=False)
        score.release(detect, det_in, [det_img, det_json], show_api=False)
        mask_btn.click(mask_proposals, [image_file, mask_model, top_n], mask_img, api_name="mask_proposals")
        top_n.release(mask_proposals, [image_file, mask_model, top_n], mask_img, show_api=False)

        pyr_in = [image_file, model, aggregation, channel, merge_level]
        pyr_btn.click(pyramid, pyr_in, [pyr_img, merge_img], api_name="pyramid")
        tab_pyr.select(pyramid, pyr_in, [pyr_img, merge_img], show_api=False)
        for w in (aggregation, merge_level):
            w.change(pyramid, pyr_in, [pyr_img, merge_img], show_api=False)
        channel.release(pyramid, pyr_in, [pyr_img, merge_img], show_api=False)

        anc_in = [image_file, model, anc_level, anc_ratio, anc_mode, anc_x, anc_y, gt_source, score]
        anc_btn.click(anchors, anc_in, [anc_img, anc_chart, anc_md], api_name="anchors")
        tab_anc.select(anchors, anc_in, [anc_img, anc_chart, anc_md], show_api=False)
        for w in (anc_level, anc_ratio, anc_mode, gt_source):
            w.change(anchors, anc_in, [anc_img, anc_chart, anc_md], show_api=False)
        anc_img.select(anchors_click, [image_file, model, anc_level, anc_ratio, anc_mode, gt_source, score],
                       [anc_img, anc_chart, anc_md, anc_x, anc_y, anc_mode], show_api=False)

        roi_in = [image_file, model, roi_source, roi_index, roi_top, score]
        roi_out = [roi_img, roi_hist, roi_md, roi_pooled, roi_index]
        roi_btn.click(roi_levels, roi_in, roi_out, api_name="roi_levels")
        tab_roi.select(roi_levels, roi_in, roi_out, show_api=False)
        roi_source.change(roi_levels, roi_in, roi_out, show_api=False)
        roi_img.select(roi_click, roi_in, roi_out, show_api=False)

        cmp_btn.click(compare, [image_file, cmp_models, score, cmp_props], [cmp_img, cmp_table], api_name="compare")
    return demo


def allowed_paths(explorer: Explorer) -> list[str]:
    """Folders of the example images (Gradio serves only files under these, the cwd and its cache)."""
    return sorted({os.path.dirname(os.path.abspath(e.path)) for e in explorer.examples.examples.values()})
