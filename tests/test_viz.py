"""fpn.viz: every view returns an RGB uint8 image; colours and texts say what the paper says."""
import numpy as np
import pytest
import torch

import fpn
import fpn.viz as V
from fpn.explore import RPNLevel


@pytest.fixture(scope="module")
def ex():
    torch.manual_seed(0)
    model = fpn.build_detector("fpn", "resnet18", num_classes=4, min_size=128, max_size=160, box_score_thresh=0.0)
    image = torch.rand(3, 120, 150)
    targets = {"boxes": torch.tensor([[10.0, 10.0, 60.0, 70.0], [90.0, 20.0, 140.0, 110.0]]), "labels": torch.tensor([1, 2])}
    return fpn.explore(model, image, targets)


def _rgb(img):
    assert isinstance(img, np.ndarray) and img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3
    return img


def _level(labels):
    """A 2x2-position level of stride 16 (anchor centres at column * 16, row * 16) with one 32x32 anchor per
    position; labels in (row, column) order."""
    anchors = torch.tensor([[[x - 16.0, y - 16.0, x + 16.0, y + 16.0]] for y in (0, 16) for x in (0, 16)]).view(-1, 4)
    return RPNLevel("p3", 16, [(32, 1.0)], anchors, torch.zeros(1, 2, 2), torch.zeros(1, 4, 2, 2),
                    labels=torch.tensor(labels))


def test_eq1_text_224_box_is_p4():
    text = V.eq1_text(224, 224)
    assert text.endswith("-> P4") and "floor(4.00)" in text
    assert V.eq1_level(112, 112) == 3 and V.eq1_level(448, 448) == 5 and V.eq1_level(10, 10) == 2
    assert "clamped" in V.eq1_text(10, 10) and V.eq1_text(10, 10).endswith("-> P2")


def test_positive_anchor_drawn_in_positive_colour():
    image = np.zeros((64, 64, 3), np.uint8)
    # point (16, 16) is the centre of position (1, 1), whose anchor spans [0, 32]^2: its right edge x = 32
    img = _rgb(V.anchors_view(image, _level([0, -1, 0, 1]), 1.0, point=(16, 16), radius=0, show_all_positives=False))
    assert tuple(img[10, 32]) == V.POSITIVE_COLOR
    img = _rgb(V.anchors_view(image, _level([1, 1, 1, 0]), 1.0, point=(16, 16), radius=0, show_all_positives=False))
    assert tuple(img[10, 32]) == V.NEGATIVE_COLOR
    img = _rgb(V.anchors_view(image, _level([0, 0, 0, -1]), 1.0, point=(16, 16), radius=0, show_all_positives=False))
    assert tuple(img[10, 32]) == V.IGNORED_COLOR
    # every positive of the level is drawn too (here the one of position (0, 0), spanning [-16, 16]^2)
    img = _rgb(V.anchors_view(image, _level([1, 0, 0, 0]), 1.0, point=(16, 16), radius=0))
    assert tuple(img[5, 16]) == V.POSITIVE_COLOR


def test_density_tints_positions_by_label():
    image = np.full((64, 64, 3), 255, np.uint8)
    img = _rgb(V.anchors_view(image, _level([1, 0, 0, 0]), 1.0, mode="density", show_all_positives=False))
    pos = img[4, 4].astype(int)   # round(4/16) = 0 -> position (0, 0): positive, green tint
    neg = img[40, 40].astype(int)  # position (1, 1): negative, red tint
    assert pos[1] > pos[0] and pos[1] > pos[2]
    assert neg[0] > neg[1] and neg[0] > neg[2]


def test_anchor_point_mode_without_labels_uses_level_colour():
    lv = _level([0, 0, 0, 0])
    lv.labels = None
    img = _rgb(V.anchors_view(np.zeros((64, 64, 3), np.uint8), lv, 1.0, point=(16, 16), radius=0))
    assert tuple(img[10, 32]) == V.level_color("p3")


def test_pyramid_view_shows_every_level_at_relative_size(ex):
    img = _rgb(V.pyramid_view(ex, "l2", target_width=64))
    assert img.shape[0] > 2 * 64 and img.shape[1] >= 4 * 64 / 2
    for mode in V.AGGREGATIONS:
        _rgb(V.pyramid_view(ex, mode, channel=5))


def test_aggregate_and_pca():
    f = torch.zeros(8, 4, 5)
    f[2] = 3.0
    assert np.allclose(V.aggregate(f, "l2"), 3.0)
    assert np.allclose(V.aggregate(f, "channel", 2), 3.0) and np.allclose(V.aggregate(f, "channel", 99), 0.0)
    g = torch.randn(16, 6, 7)
    out = V.pca_rgb([g])[0]
    assert out.shape == (6, 7, 3) and out.dtype == np.uint8 and out.std() > 0


@pytest.mark.parametrize("level", ["p2", "p3", "p4", "p5"])
def test_merge_view_terms(ex, level):
    img = _rgb(V.merge_view(ex, level, "l2"))
    assert img.shape[1] > 3 * 100  # lateral + top-down + sum (+ output) side by side


def test_merge_view_sum_is_lateral_plus_top_down(ex):
    assert torch.allclose(ex.merged["p3"], ex.lateral["p3"] + ex.top_down["p3"], atol=1e-5)


def test_roi_views(ex):
    _rgb(V.roi_levels_view(ex.image, ex.rois[:20], ex.roi_levels[:20], selected=0))
    hist = _rgb(V.levels_histogram({2: 5, 3: 1}))
    assert (np.all(hist == V.level_color(2), axis=2)).sum() > 50  # the P2 bar is drawn in the P2 colour
    pooled = _rgb(V.pooled_view(ex.pooled[0], num_channels=3, cell=8))
    assert pooled.shape[1] >= 4 * 7 * 8


def test_roi_levels_view_colours_by_level():
    img = _rgb(V.roi_levels_view(np.zeros((100, 100, 3), np.uint8), [[10, 10, 50, 50]], [4]))
    assert tuple(img[30, 10]) == V.level_color(4)


def test_detections_and_threshold():
    img = np.zeros((100, 120, 3), np.uint8)
    out = _rgb(V.draw_detections(img, [[10, 30, 60, 90]], [0.9], [1], ["bg", "cat"], 0.5))
    band = out.shape[0] - 100
    assert out[band + 60, 10].any()  # left edge drawn
    out = _rgb(V.draw_detections(img, [[10, 30, 60, 90]], [0.3], [1], ["bg", "cat"], 0.5))
    assert not out[band:, :120].any()  # below the threshold: nothing drawn
    assert V.label_name(1, ["bg", "cat"]) == "cat" and V.label_name(7, None) == "class 7"


def test_mask_proposals_overlay():
    img = np.zeros((50, 60, 3), np.uint8)
    masks = np.zeros((2, 50, 60), bool)
    masks[0, 10:30, 10:30] = True
    out = _rgb(V.draw_mask_proposals(img, masks, [0.9, 0.1], top_n=1))
    band = out.shape[0] - 50
    assert out[band + 20, 20].any() and not out[band + 45, :60].any()
    assert V.NO_MASK_MODEL.startswith("No mask-proposal model") and _rgb(V.no_mask_model_note()).shape[0] > 10


def test_compare_helpers(ex):
    obj = _rgb(V.objectness_maps(ex))
    props = _rgb(V.draw_proposals(ex.image, ex.proposals, ex.proposal_scores, 10, ex.proposal_rpn_level))
    col = _rgb(V.compare_column(props, props, obj, width=200))
    both = _rgb(V.side_by_side([col, col], ["a", "b"], panel_width=200))
    assert both.shape[1] >= 400
    chart = _rgb(V.positives_chart(ex.positives_per_level()))
    assert chart.shape[0] == 200
