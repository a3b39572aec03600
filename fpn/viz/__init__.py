"""Drawing the paper's figures on a live image: pure functions from `fpn.explore`'s `Exploration` (and detection /
mask-proposal dicts) to RGB uint8 numpy images. No GUI code: the Gradio app (app/) and scripts call these.

    detections      draw_detections, draw_mask_proposals                   (results, Sec. 5 / Sec. 6)
    pyramid         pyramid_view (Fig. 1d), merge_view (Fig. 3)
    anchors         anchors_view, positives_chart                          (Sec. 4.1)
    roi_levels      roi_levels_view, levels_histogram, eq1_text, pooled_view (Eq. 1, Sec. 4.2)
    compare         objectness_maps, draw_proposals, side_by_side, compare_column
"""
from .anchors import anchor_indices, anchors_view, cell_of, positives_chart
from .compare import compare_column, draw_proposals, objectness_maps, side_by_side
from .detections import NO_MASK_MODEL, draw_detections, draw_mask_proposals, label_name, no_mask_model_note
from .draw import (GT_COLOR, IGNORED_COLOR, LEVEL_COLORS, NEGATIVE_COLOR, POSITIVE_COLOR, bar_chart, level_color, level_of,
                   note_image, to_rgb_uint8)
from .features import AGGREGATIONS, aggregate, colorize, pca_rgb, render
from .pyramid import merge_view, pyramid_view
from .roi_levels import eq1_level, eq1_text, levels_histogram, pooled_view, roi_formula_panel, roi_levels_view

__all__ = [
    "AGGREGATIONS", "GT_COLOR", "IGNORED_COLOR", "LEVEL_COLORS", "NEGATIVE_COLOR", "NO_MASK_MODEL", "POSITIVE_COLOR",
    "aggregate", "anchor_indices", "anchors_view", "bar_chart", "cell_of", "colorize", "compare_column",
    "draw_detections", "draw_mask_proposals", "draw_proposals", "eq1_level", "eq1_text", "label_name", "level_color", "level_of",
    "levels_histogram", "merge_view", "no_mask_model_note", "note_image", "objectness_maps", "pca_rgb",
    "pooled_view", "positives_chart", "pyramid_view", "render", "roi_formula_panel", "roi_levels_view",
    "side_by_side", "to_rgb_uint8",
]
