"""How FPN works tab: the views tied to the paper's figures and equations (numbers from the library's defaults)."""
from __future__ import annotations

from fractions import Fraction

import gradio as gr

import fpn

from ..views import Explorer
from .shared import Inputs


def explanation() -> str:
    """The tab's Markdown; anchor sizes, aspect ratios and variant names come from `fpn.VARIANTS` / `fpn.DEFAULTS`."""
    fpn_anchors = fpn.VARIANTS["fpn"].rpn_anchors
    sizes = ", ".join(f"{s}^2 on {m.upper()}" for m, (s, *_) in fpn_anchors.items())
    ratios = ", ".join(f"{f.numerator}:{f.denominator}" for f in
                       (Fraction(r).limit_denominator(16) for r in fpn.DEFAULTS["aspect_ratios"]))
    variants = ", ".join(f"`{v}`" for v in fpn.VARIANTS)
    return f"""
### How FPN works, view by view
* **Pyramid** = *Fig. 1(d) and Fig. 3*. A ResNet's stages give the **bottom-up** maps C2..C5 (strides 4, 8, 16, 32:
  each is half the size of the previous one, and semantically stronger). The **top-down** pathway starts from C5,
  upsamples the coarser map 2x (nearest neighbour) and **adds** a 1x1 conv of C_k (the **lateral** connection);
  a 3x3 conv then gives P_k. All P_k have d = {fpn.DEFAULTS["pyramid_channels"]} channels; P6 subsamples P5. The
  merge panel shows the three terms of that addition for one level on one colour scale: coarse, strong semantics
  (top-down) + accurate localisation (lateral).
* **Anchors** = *Sec. 4.1*. The RPN head (3x3 conv + two 1x1 convs) is shared by all levels, and each level has
  **one anchor size**: {sizes}, with aspect ratios {ratios}. An anchor is **positive** if its IoU with a
  ground-truth box is > {fpn.DEFAULTS["rpn_fg_iou_thresh"]} (or it is that box's best anchor), **negative** if
  < {fpn.DEFAULTS["rpn_bg_iou_thresh"]} with all boxes, otherwise ignored. There is no scale rule: a small object
  finds positives on P2, a large one on P5/P6 only because of the anchor sizes. The bar chart counts positives per
  level.
* **RoI -> level** = *Eq. (1), Sec. 4.2*. Fast R-CNN pools each RoI of width w and height h from
  P_k, k = floor(4 + log2(sqrt(w h) / 224)): a 224x224 RoI goes to P4, half that size to P3, twice to P5.
  The 7x7 pooled features feed the shared 2-fc head ({fpn.DEFAULTS["representation_size"]}-d).
* **Detections / Compare** = *Tables 1-3*: the variants of the ablations ({variants}) side by side, with their
  evaluation numbers.
* **Mask proposals** = *Sec. 6, Fig. 4*: small MLPs on 5x5 (and 7x7) windows of every level predict 14x14 masks.

Boxes in the Anchors and RoI views are in pixels of the **resized input** (shorter side = the model's min_size).
"""


def build(explorer: Explorer, inputs: Inputs) -> None:
    """The tab (text only, no events)."""
    with gr.Tab("How FPN works", id="how", elem_id="tab-how"):
        gr.Markdown(explanation())
