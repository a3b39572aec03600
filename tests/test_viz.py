"""fpn.viz: every view returns an RGB uint8 image; colours and texts say what the paper says."""
import numpy as np
import pytest
import torch

import fpn
import fpn.viz as V
from fpn.explain.explore import RPNLevel


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
    pos = img[4, 4].astype(int)   # round(4/16) = 0 -> position (0, 0): positive, blue tint
    neg = img[40, 40].astype(int)  # position (1, 1): negative, vermillion tint
    assert pos[2] > pos[0] and pos[2] > pos[1]
    assert neg[0] > neg[1] > neg[2]


def test_anchor_point_mode_without_labels_uses_level_colour():
    lv = _level([0, 0, 0, 0])
    lv.labels = None
    img = _rgb(V.anchors_view(np.zeros((64, 64, 3), np.uint8), lv, 1.0, point=(16, 16), radius=0))
    assert tuple(img[10, 32]) == V.level_color("p3")


def test_pyramid_view_draws_every_aggregation(ex):
    """Each aggregation gives its own picture (not one drawing relabelled), and none is blank."""
    images = {mode: _rgb(V.pyramid_view(ex, mode, channel=5)) for mode in V.AGGREGATIONS}
    for mode, img in images.items():
        assert img.shape[0] > 2 * 64 and img.shape[1] > 5 * 64, f"{mode}: five levels in a grid of 64+ px tiles"
        assert img.std() > 0, f"{mode}: blank"
    modes = list(images)
    for i, a in enumerate(modes):
        for b in modes[i + 1:]:
            if images[a].shape == images[b].shape:
                assert not np.array_equal(images[a], images[b]), f"{a} and {b} drew the same picture"


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
    """Lateral, top-down and their sum side by side: three panels of 100+ px, and the level's own maps (another
    level's view differs)."""
    img = _rgb(V.merge_view(ex, level, "l2"))
    assert img.shape[1] > 3 * 100, "lateral + top-down + sum (+ output) side by side"
    other = _rgb(V.merge_view(ex, "p5" if level != "p5" else "p2", "l2"))
    assert img.shape != other.shape or not np.array_equal(img, other), "the view does not depend on the level"


def test_merge_view_sum_is_lateral_plus_top_down(ex):
    assert torch.allclose(ex.merged["p3"], ex.lateral["p3"] + ex.top_down["p3"], atol=1e-5)


def test_roi_views(ex):
    _rgb(V.roi_levels_view(ex.image, ex.rois[:20], ex.roi_levels[:20], selected=0))
    hist = _rgb(V.levels_histogram({2: 5, 3: 1}))
    assert (np.all(hist == V.level_color(2), axis=2)).sum() > 50  # the P2 bar is drawn in the P2 colour
    pooled = _rgb(V.pooled_view(ex.pooled[0], num_channels=3, cell=8))
    assert pooled.shape[1] >= 4 * 7 * 8, "the L2 panel and three channels, each 7 x 7 cells of 8 px"


def test_pooled_view_shows_the_most_varied_channel_cell_by_cell():
    """Channel 5 alone varies (one hot cell at row 0, column 0): the panel after the L2 one draws it, and that cell's
    16 x 16 px square differs from the opposite corner's."""
    pooled = torch.zeros(8, 7, 7)
    pooled[5, 0, 0] = 10.0
    img = _rgb(V.pooled_view(pooled, num_channels=1, cell=16))
    top, left = img.shape[0] - 7 * 16, 7 * 16 + 6  # the pictures sit at the bottom, after the titles
    hot = img[top: top + 16, left: left + 16].reshape(-1, 3)
    cold = img[-16:, left + 6 * 16: left + 7 * 16].reshape(-1, 3)
    assert (hot == hot[0]).all() and (cold == cold[0]).all(), "one flat colour per cell"
    assert np.abs(hot[0].astype(int) - cold[0].astype(int)).sum() > 100, (hot[0], cold[0])


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


def test_compare_columns_keep_their_text_size(ex):
    """A Compare column is fitted to COLUMN_WIDTH: its objectness maps wrap into rows of that width instead of being
    shrunk, and side_by_side with max_width puts as many columns in a row as fit (the rest below)."""
    one_row = V.objectness_maps(ex)
    wrapped = V.objectness_maps(ex, max_width=120)
    assert wrapped.shape[0] > one_row.shape[0] and wrapped.shape[1] < one_row.shape[1]
    roomy = V.objectness_maps(ex, max_width=one_row.shape[1] + 50)  # room for one row: the maps as without it
    half = one_row.shape[0] // 2  # under the title (a shorter one with max_width)
    assert roomy.shape[0] == one_row.shape[0] and (roomy[half:] == one_row[half:]).all()
    col = np.zeros((50, 100, 3), np.uint8)
    two = V.side_by_side([col] * 3, ["a", "b", "c"], panel_width=100, max_width=230)
    assert two.shape[1] < 3 * 100 and two.shape[0] > 2 * 50  # two columns, then the third under them
    assert V.side_by_side([col] * 3, ["a", "b", "c"], panel_width=100).shape[1] >= 300  # no max_width: one row


# ------------------------------------------------------------------------------------------- legible maps
def test_every_map_is_drawn_cell_by_cell_and_readable(ex):
    """Each cell is a uniform square of >= 4 px (P6 included); maps at zoom 1 share one px-per-cell factor (their
    true relative sizes), smaller ones are zoomed by an integer; the stride grid is drawn only on big cells."""
    fig = V.pyramid_figure(ex, "l2")
    img = _rgb(fig.image)
    names = [p.name for p in fig.panels]
    assert names == ["c2", "c3", "c4", "c5", "p2", "p3", "p4", "p5", "p6"]
    factor = fig.panel("c2").cell
    for p in fig.panels:
        assert p.cell >= 4 and p.cell == factor * p.zoom and p.width >= 64, p
        feature = ex.pyramid[p.name] if p.name in ex.pyramid else ex.bottom_up[p.name]
        assert (p.rows, p.cols) == tuple(feature.shape[-2:])
        blocks = img[p.y: p.y + p.height, p.x: p.x + p.width].reshape(p.rows, p.cell, p.cols, p.cell, 3)
        inner = blocks[:, 1:, :, 1:].astype(int)  # the first row / column of a cell may be a grid line
        assert (inner == inner[:, :1, :, :1]).all(), f"{p.name}: a cell is not one colour"
    assert fig.panel("p6").zoom > 1 and fig.panel("p2").zoom == 1
    assert fig.panel("p5").stride == 32 and fig.panel("p6").stride == 64


def test_grey_bars_keep_the_true_relative_widths(ex):
    fig = V.pyramid_figure(ex, "l2")
    factor = fig.panel("p2").cell
    widths = {}
    for p in fig.panels:
        row = fig.image[p.y + p.height + 5, p.x: p.x + p.width + 8]
        widths[p.name] = int(np.all(row == (110, 110, 110), axis=1).sum())
        assert widths[p.name] == p.cols * factor, p.name  # its width at the common scale, whatever the zoom
    assert widths["p2"] > widths["p4"] > widths["p6"]


def test_a_figure_pixel_maps_back_to_its_cell(ex):
    fig = V.pyramid_figure(ex, "mean")
    for p in fig.panels:
        for r, c in ((0, 0), (p.rows - 1, p.cols - 1), (p.rows // 2, p.cols // 3)):
            x1, y1, x2, y2 = p.cell_rect(r, c)
            assert fig.locate(x2 - 1, y2 - 1) == (p, r, c) and fig.locate(x1, y1) == (p, r, c)
    assert fig.locate(0, 0) is None  # the margin
    cell = V.map_cell(ex, "p4", 1, 2, "mean")
    assert cell["value"] == pytest.approx(float(ex.pyramid["p4"][:, 1, 2].mean()), abs=1e-4)
    assert cell["l2"] == pytest.approx(float(ex.pyramid["p4"][:, 1, 2].norm()), abs=1e-3)
    assert cell["stride"] == 16 and cell["centre"] == [32, 16] and cell["box"] == [24, 8, 40, 24]
    assert cell["grid"] == list(ex.pyramid["p4"].shape[-2:]) and 0 <= cell["percentile"] <= 100


def test_mark_outlines_the_same_input_point_on_every_map(ex):
    point = (70.0, 50.0)
    fig = V.pyramid_figure(ex, "l2", mark=point)
    for p in fig.panels:
        r, c = p.cell_of_input(*point)
        x1, y1, x2, y2 = p.cell_rect(r, c)
        assert tuple(fig.image[y1 - 1, x1 + 1]) == (255, 255, 255) and tuple(fig.image[y1 - 2, x1 + 1]) == (0, 0, 0)
        assert (r, c) == (round(point[1] / p.stride), round(point[0] / p.stride))


def test_colour_bars_say_what_the_colour_means():
    bar = _rgb(V.colorbar("l2", "colour = L2 norm", width=300))
    ramp = bar[-8]  # a row through the gradient
    coloured = ramp[np.any(ramp != 255, axis=1) & (np.ptp(ramp.astype(int), axis=1) > 20)]
    assert len(coloured) > 150
    assert tuple(V.colorize(np.array([[0.0]]), 0, 1)[0, 0]) == (68, 1, 84)  # viridis: dark purple = low
    div = _rgb(V.colorbar("mean", "colour = mean", width=300, lo=-2.0, hi=2.0))
    middle = div[-8, div.shape[1] // 2 - 10: div.shape[1] // 2 + 10].astype(int)
    assert (middle > 200).all(axis=1).any()  # white at 0
    assert "L2 norm of the 256 channels" in V.meaning("l2", 0, 256) and "blue negative" in V.meaning("channel", 3)
    assert _rgb(V.colorbar("pca", "colour = PCA")).shape[0] < bar.shape[0]  # words only, no scale


def test_designs_view_draws_fig1_with_the_images_maps(ex):
    img = _rgb(V.designs_view(ex))
    assert img.shape[0] > 600 and img.shape[1] > 900  # 2 x 2 panels
    for k in (2, 3, 4, 5):  # each level's thumbnail is framed in its level colour
        assert np.all(img == V.level_color(k), axis=2).sum() > 40


# Machado, Oliveira & Fernandes (2009), severity 1: linear-RGB matrices of the three dichromacies.
_CVD = {"protanopia": [[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216],
                       [-0.003882, -0.048116, 1.051998]],
        "deuteranopia": [[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413],
                         [-0.011820, 0.042940, 0.968881]],
        "tritanopia": [[1.255528, -0.076749, -0.178779], [-0.078411, 0.930809, 0.147602],
                       [0.004733, 0.691367, 0.303900]]}


def _seen(color, matrix):
    """CIELAB (D65) of an sRGB colour as a dichromat sees it."""
    c = np.array(color) / 255.0
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]) @ np.clip(
        np.array(matrix) @ lin, 0, 1) / np.array([0.9505, 1.0, 1.089])
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


@pytest.mark.parametrize("deficiency", list(_CVD))
def test_label_and_level_colours_stay_apart_for_colour_blind_eyes(deficiency):
    """Colour differences (CIELAB Delta E) as a dichromat sees them: > 25 between positive / negative / ignored
    (green / grey, the former choice, fell to 18 for deuteranopes), > 15 between levels (the former tab10 ones: 5)."""
    labels = [V.POSITIVE_COLOR, V.NEGATIVE_COLOR, V.IGNORED_COLOR]
    levels = [V.level_color(k) for k in range(2, 7)]
    assert set(labels[:2] + levels) <= set(V.OKABE_ITO.values())
    for group, least in ((labels, 25), (levels, 15)):
        seen = [_seen(c, _CVD[deficiency]) for c in group]
        gaps = [np.linalg.norm(a - b) for i, a in enumerate(seen) for b in seen[i + 1:]]
        assert min(gaps) > least, (deficiency, group, min(gaps))


def test_legend_wraps_onto_rows_to_stay_within_max_width():
    from fpn.viz.draw import legend
    items = [(f"item number {i}", (200, 0, 0)) for i in range(5)]
    one_row = legend(items)
    wrapped = legend(items, max_width=one_row.shape[1] // 2)
    assert one_row.shape[0] == 20 and wrapped.shape[1] <= one_row.shape[1] // 2
    assert wrapped.shape[0] >= 3 * 20  # at least three rows of 20 px
    def red(img):
        return ((img[..., 0] == 200) & (img[..., 1] == 0) & (img[..., 2] == 0)).sum()
    assert red(wrapped) == red(one_row) == 5 * 13 * 13  # every square drawn once, whole
