"""Scale sweep (fpn.scale_sweep): the object really changes size at the network input, FPN's positive anchors climb
one level per octave while a single-map baseline stays on its map, and the pictures (fpn.viz.scale_sweep)."""
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

import fpn
import fpn.viz as V
from fpn.explain.scale_sweep import at_input_size, model_input_size
from fpn.viz.scale_sweep import MODEL_COLORS, REFERENCE_COLOR, layout

SIZE = 192
# A square object of 48 px at scale 1. Its best anchor (hence its positives) has the size nearest in log scale:
# 12, 17, 24, 34 px -> 32 (P2); 48, 68 -> 64 (P3); 96 -> 128 (P4): one level per octave (48 -> 96 px: P3 -> P4).
BOX = (72.0, 60.0, 120.0, 108.0)
FPN_LEVELS = [2, 2, 2, 2, 3, 3, 4]


@pytest.fixture(scope="module")
def image():
    return torch.rand(3, SIZE, SIZE, generator=torch.Generator().manual_seed(2))


@pytest.fixture(scope="module")
def models():
    torch.manual_seed(0)
    opts = dict(num_classes=3, min_size=SIZE, max_size=SIZE, box_score_thresh=0.0, rpn_pre_nms_top_n_test=300,
                rpn_post_nms_top_n_test=100)
    return {v: fpn.build_detector(v, "resnet18", **opts).eval() for v in ("fpn", "c5")}


@pytest.fixture(scope="module")
def sweeps(models, image):
    first = fpn.scale_sweep(models["fpn"], image, BOX)
    return {"fpn": first, "c5": fpn.scale_sweep(models["c5"], image, BOX, base_size=first.base_size)}


def test_the_input_size_is_fixed_without_changing_the_model(models, image):
    model = models["fpn"]
    view = at_input_size(model, (100, 140))
    assert view.bottom_up is model.bottom_up and view.rpn is model.rpn and view.roi_heads is model.roi_heads
    assert model.transform.fixed_size is None and model.transform.min_size == (SIZE,)
    assert not view.training  # in the model's mode: explore's "back to the previous mode" must not train the model
    small = torch.nn.functional.interpolate(image[None], size=(100, 140), mode="bilinear")[0]
    assert fpn.explore(view, small).resized_size == (100, 140)  # no further resize
    assert not any(m.training for m in model.modules())  # still all in eval mode after the sweep's runs
    assert model_input_size(model, (300, 600)) == fpn.explore(model, torch.rand(3, 300, 600)).resized_size


def test_rows_follow_the_object_at_each_scale(sweeps):
    sweep = sweeps["fpn"]
    assert sweep.scales == pytest.approx(fpn.DEFAULT_SCALES) and len(sweep.rows) == 7
    assert fpn.DEFAULT_SCALES[0] == 0.25 and fpn.DEFAULT_SCALES[-1] == pytest.approx(2.0)
    assert sweep.base_size == (SIZE, SIZE) and sweep.variant == "fpn"
    for r in sweep.rows:
        assert r.input_size == (round(SIZE * r.scale), round(SIZE * r.scale))
        assert r.object_size == pytest.approx(48 * r.input_size[0] / SIZE, rel=1e-4)
        assert r.box.tolist() == pytest.approx([v * r.input_size[0] / SIZE for v in BOX], rel=1e-4)
        assert sum(r.positives.values()) >= 1 and set(r.positives) == {"p2", "p3", "p4", "p5", "p6"}
        assert r.proposal_level in (2, 3, 4, 5) and r.proposal_map in r.positives and 0 <= r.proposal_iou <= 1
        assert 0 <= r.detection_score <= 1 and 0 <= r.detection_iou <= 1
        crop_h, crop_w = r.crop.shape[1:]
        x1, y1, x2, y2 = r.crop_box.tolist()
        assert 0 <= x1 < x2 <= crop_w and 0 <= y1 < y2 <= crop_h  # the object inside its crop, with context
    assert sweep.rows[-1].crop.shape[1] > 6 * sweep.rows[0].crop.shape[1]  # 8x the object, 8x the crop


def test_fpn_climbs_one_level_per_octave(sweeps):
    levels = sweeps["fpn"].anchor_levels()
    assert levels == FPN_LEVELS
    for r in sweeps["fpn"].rows:
        best = min((32, 64, 128, 256, 512), key=lambda s: abs(math.log2(s / r.object_size)))
        assert r.anchor_size == best and r.anchor_level == 2 + int(math.log2(best / 32))
    by_scale = dict(zip(sweeps["fpn"].scales, levels))
    assert by_scale[fpn.DEFAULT_SCALES[4]] - by_scale[fpn.DEFAULT_SCALES[2]] == 1  # 0.5x -> 1x: one level up
    assert by_scale[fpn.DEFAULT_SCALES[6]] - by_scale[fpn.DEFAULT_SCALES[4]] == 1  # 1x -> 2x: one more


def test_a_single_map_baseline_keeps_every_scale_on_its_map(sweeps):
    c5 = sweeps["c5"]
    assert [r.input_size for r in c5.rows] == [r.input_size for r in sweeps["fpn"].rows]  # the same pixels
    assert c5.anchor_levels() == [5] * 7 and c5.proposal_levels() == [5] * 7
    assert all(set(r.positives) == {"c5"} for r in c5.rows)
    assert [r.anchor_size for r in c5.rows] == [r.anchor_size for r in sweeps["fpn"].rows]  # the size changes instead


def test_bad_arguments(models, image):
    with pytest.raises(ValueError, match="x2 > x1"):
        fpn.scale_sweep(models["fpn"], image, (10, 10, 5, 20))
    with pytest.raises(ValueError, match="positive"):
        fpn.scale_sweep(models["fpn"], image, BOX, scales=(0.5, 0))


# ------------------------------------------------------------------------------------------- pictures
def _fake(levels, proposal_levels, size=48.0):
    rows = [SimpleNamespace(scale=2 ** (k / 2), object_size=size * 2 ** (k / 2), anchor_level=a, proposal_level=p,
                            detection_score=0.2, detection_iou=0.9, positives={}, anchor_size=32,
                            crop=np.full((20 + 4 * k, 20 + 4 * k, 3), 100, np.uint8),
                            crop_box=torch.tensor([4.0, 4.0, 12.0 + 2 * k, 12.0 + 2 * k]), crop_detection=None)
            for k, a, p in zip(range(-4, 3), levels, proposal_levels)]
    return SimpleNamespace(rows=rows, variant="fake")


def test_chart_draws_the_staircase_of_each_model_where_its_levels_are():
    staircase, flat = _fake(FPN_LEVELS, [2, 2, 2, 2, 2, 3, 3]), _fake([4] * 7, [4] * 7)
    chart = V.sweep_chart([staircase, flat], ["fpn", "c4"])
    assert chart.dtype == np.uint8 and chart.shape[1] == 760
    scales = [r.scale for r in staircase.rows]
    lv, sc, _ = layout(scales, FPN_LEVELS + [4])
    for i, (sweep, dy) in enumerate(((staircase, -2), (flat, 2))):  # two models: offset -2 and +2 px
        for r in sweep.rows:
            x, y = lv.x(math.log2(r.scale)), lv.y(r.anchor_level) + dy
            if sweep is staircase and r.anchor_level == 4:
                continue  # under the other model's marker
            assert tuple(chart[y, x]) == MODEL_COLORS[i], (i, r.scale)
    x = lv.x(math.log2(scales[0]))
    assert tuple(chart[sc.y(0.2), x]) in (MODEL_COLORS[0], MODEL_COLORS[1])  # the score markers
    # the one-level-per-octave reference passes through P4 where the object is 128 px (2 + log2(128 / 32) = 4)
    ref = [(lv.x(math.log2(s)), lv.y(2 + math.log2(48 * s / 32))) for s in scales]
    assert any(np.abs(chart[yy - 1: yy + 2, xx - 1: xx + 2].astype(int) - REFERENCE_COLOR).sum(-1).min() < 60
               for xx, yy in ref[1:-1])
    with pytest.raises(ValueError, match="1 to 4"):
        V.sweep_chart([flat] * 5, ["m"] * 5)


def test_strip_shows_each_scale_with_its_level_colour():
    strip = V.sweep_strip(_fake(FPN_LEVELS, [2] * 7))
    for k in (2, 3, 4):
        assert (strip == np.array(V.level_color(k), np.uint8)).all(-1).sum() > 100
    assert (strip == np.array(V.GT_COLOR, np.uint8)).all(-1).any()  # the object's box


def test_objects_view_keeps_the_image_pixels_and_marks_the_selected_box():
    img = np.full((80, 100, 3), 30, np.uint8)
    boxes = torch.tensor([[10.0, 10.0, 40.0, 40.0], [50.0, 20.0, 90.0, 70.0]])
    view = V.sweep_objects_view(img, boxes, ["a", "b"], 1)
    assert view.shape[1] == 100 and view.shape[0] > 80
    assert tuple(view[45, 50]) == V.GT_COLOR and tuple(view[5, 95]) == (30, 30, 30)
    assert tuple(view[36, 36]) == (30, 30, 30)  # inside a box, under its label: untouched
