"""Drawing the paper's figures on a live image: pure functions from `fpn.explain.explore`'s `Exploration` (and detection /
mask-proposal dicts) to RGB uint8 numpy images. No GUI code: the Gradio app (app/) and scripts call these.

    detections      draw_detections, draw_mask_proposals                   (results, Sec. 5 / Sec. 6)
    designs         designs_view (Fig. 1: the four ways of using scale)
    pyramid         pyramid_figure / pyramid_view (Fig. 1d), map_cell, map_stats; merge: merge_view (Fig. 3)
    layout          Figure, Panel: where each map lies in a drawn figure (figure pixel -> map cell)
    anchors         anchors_view, positives_chart                          (Sec. 4.1)
    roi_levels      roi_levels_view, levels_histogram, eq1_text, pooled_view (Eq. 1, Sec. 4.2)
    compare         objectness_maps, draw_proposals, side_by_side, compare_column
    evaluation      plot_size_bars, plot_pr_curves, plot_ablation (PNG files of COCO AP / AR numbers)
    provenance      provenance_view, anchor_cell_view, class_scores_chart, lost_view (fpn.explain.provenance: why this box)
    level_metrics   level_metrics_view, image_recall_view, grouped_bars (per-level AR / AP across models)
    scale_sweep     sweep_chart (the staircase), sweep_strip, sweep_objects_view (fpn.explain.scale_sweep)
    receptive_field receptive_field_view, erf_mass_chart (fpn.explain.receptive_field: theoretical vs effective)
"""
from .anchors import anchor_indices, anchors_view, cell_of, positives_chart
from .compare import COLUMN_WIDTH, compare_column, draw_proposals, objectness_maps, side_by_side
from .detections import (NO_MASK_MODEL, draw_detections, draw_mask_proposals, label_name, match_ground_truth,
                         no_mask_model_note)
from .draw import (GT_COLOR, IGNORED_COLOR, LEVEL_COLORS, MIN_TEXT_PX, MIN_TEXT_SCALE,
                   NEGATIVE_COLOR, OKABE_ITO, POSITIVE_COLOR, bar_chart,
                   level_color, level_of, note_image, to_rgb_uint8)
from .evaluation import plot_ablation, plot_pr_curves, plot_size_bars
from .designs import designs_view
from .labels import label_scale, place_labels
from .features import AGGREGATIONS, aggregate, colorbar, colorize, meaning, pca_rgb, render
from .layout import Figure, Panel
from .level_metrics import grouped_bars, image_recall_view, level_metrics_view
from .merge import merge_view
from .provenance import anchor_cell_view, class_scores_chart, lost_view, provenance_view
from .pyramid import map_cell, map_stats, pyramid_figure, pyramid_view
from .receptive_field import HEAT_SCALES, describe_receptive_field, erf_mass_chart, receptive_field_view
from .roi_levels import eq1_level, eq1_text, levels_histogram, pooled_view, roi_formula_panel, roi_levels_view
from .scale_sweep import MAX_MODELS as MAX_SWEEP_MODELS
from .scale_sweep import sweep_chart, sweep_objects_view, sweep_strip

__all__ = [
    "aggregate", "AGGREGATIONS", "anchor_cell_view", "anchor_indices", "anchors_view", "bar_chart", "cell_of",
    "class_scores_chart", "colorbar", "COLUMN_WIDTH", "colorize", "compare_column", "describe_receptive_field", "designs_view",
    "draw_detections", "match_ground_truth", "label_scale", "place_labels", "draw_mask_proposals", "draw_proposals", "eq1_level", "eq1_text", "erf_mass_chart", "Figure",
    "grouped_bars", "GT_COLOR", "HEAT_SCALES", "IGNORED_COLOR", "image_recall_view", "label_name", "level_color",
    "LEVEL_COLORS", "level_metrics_view", "MIN_TEXT_PX", "MIN_TEXT_SCALE", "level_of", "levels_histogram", "lost_view", "map_cell", "map_stats",
    "MAX_SWEEP_MODELS", "meaning", "merge_view", "NEGATIVE_COLOR", "NO_MASK_MODEL", "no_mask_model_note",
    "note_image", "objectness_maps", "OKABE_ITO", "Panel", "pca_rgb", "plot_ablation", "plot_pr_curves", "plot_size_bars",
    "pooled_view", "POSITIVE_COLOR", "positives_chart", "provenance_view", "pyramid_figure", "pyramid_view",
    "receptive_field_view", "render", "roi_formula_panel", "roi_levels_view", "side_by_side", "sweep_chart",
    "sweep_objects_view", "sweep_strip", "to_rgb_uint8",
]
