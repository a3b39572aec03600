"""Receptive fields (fpn.receptive_field): the theoretical field from the architecture against hand-computed values,
the effective field (input gradient) against it, the cell's anchors, and the pictures (fpn.viz.receptive_field)."""
import numpy as np
import pytest
import torch

import fpn
import fpn.viz as V
from fpn.explain.receptive_field import bottom_up_spans, theoretical_receptive_field
from fpn.viz.receptive_field import ERF_COLOR, erf_heat

# Hand-computed, r_out = r_in + (k - 1) * jump: conv1 7x7/2 -> 7, max-pool 3x3/2 -> 11 (jump 4), then every 3x3 conv
# adds 2 * jump (stride-2 convs at the jump before them). ResNet-18: 4 convs in conv2_x (+32 -> 43), 4 in conv3_x
# (+8, then 3 x 16 -> 99), conv4_x (+16 + 3 x 32 -> 211), conv5_x (+32 + 3 x 64 -> 435). ResNet-50 (stride on the
# 3x3, torchvision's v1.5): one 3x3 per bottleneck: 3 -> 35, 4 -> 91, 6 -> 267, 3 -> 427.
HAND = {"resnet18": {"c2": 43, "c3": 99, "c4": 211, "c5": 435},
        "resnet50": {"c2": 35, "c3": 91, "c4": 267, "c5": 427}}
STRIDES = {"c2": 4, "c3": 8, "c4": 16, "c5": 32}


@pytest.fixture(scope="module")
def fpn18():
    torch.manual_seed(0)
    return fpn.build_detector("fpn", "resnet18", num_classes=3, min_size=192, max_size=256).eval()


@pytest.fixture(scope="module")
def image():
    return torch.rand(3, 192, 256, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("depth", ["resnet18", "resnet50"])
def test_theoretical_field_of_the_bottom_up_stages_matches_the_hand_computed_one(depth):
    model = fpn.build_detector("c5", depth, num_classes=2)
    for axis in (0, 1):
        spans = bottom_up_spans(model.bottom_up, axis)
        assert {k: s.size for k, s in spans.items()} == HAND[depth]
        assert {k: s.jump for k, s in spans.items()} == STRIDES
        assert all(s.lo == -s.hi for s in spans.values())  # centred on the cell, where its anchors sit
    # cell (row 3, column 5) of C4: centred on (5 * 16, 3 * 16) = (80, 48)
    r = HAND[depth]["c4"] // 2
    assert theoretical_receptive_field(model, "c4", (3, 5)) == (80 - r, 48 - r, 80 + r + 1, 48 + r + 1)


def test_pyramid_cells_see_the_coarser_stages_through_the_top_down_pathway(fpn18):
    grids = {f"c{k}": (192 // 2 ** k, 256 // 2 ** k) for k in (2, 3, 4, 5)}
    cell = (10, 12)  # on P2: pixels (48, 40); its C5 cell is (1, 1)
    x1, y1, x2, y2 = theoretical_receptive_field(fpn18, "p2", cell, grids)
    c5 = theoretical_receptive_field(fpn18, "c5", (10 // 8, 12 // 8))
    c2 = theoretical_receptive_field(fpn18, "c2", cell)
    assert x1 <= c5[0] and y1 <= c5[1] and x2 >= c5[2] and y2 >= c5[3]  # P2 sees all C5 sees
    assert (x2 - x1, y2 - y1) == (435, 435) and c2[2] - c2[0] == 43  # P2's 3x3 taps all up-sample C5 cell (1, 1)
    # column 15: the taps 14..16 read C5 columns 1 and 2 (nearest up-sampling, 8 P2 cells per C5 cell): one more
    x1, _, x2, _ = theoretical_receptive_field(fpn18, "p2", (10, 15), grids)
    assert x2 - x1 == 435 + 32
    # P6 = P5 subsampled: cell i of P6 is cell 2 i of P5
    assert theoretical_receptive_field(fpn18, "p6", (1, 1), grids) == theoretical_receptive_field(
        fpn18, "p5", (2, 2), grids)
    # clipped to the padded input
    assert theoretical_receptive_field(fpn18, "p4", (0, 0), grids, (192, 256))[:2] == (0, 0)


def test_without_top_down_a_pyramid_cell_sees_its_stage_and_one_cell_around():
    model = fpn.build_detector("bottom_up", "resnet18", num_classes=2)
    for k in (2, 3, 4, 5):
        x1, _, x2, _ = theoretical_receptive_field(model, f"p{k}", (6, 6))
        assert x2 - x1 == HAND["resnet18"][f"c{k}"] + 2 * 2 ** k  # lateral 1x1, then the 3x3 output conv


@pytest.mark.parametrize("level", ["c3", "c5", "p3", "p6"])
def test_effective_field_is_zero_outside_the_theoretical_one_and_not_at_its_centre(fpn18, image, level):
    rf = fpn.receptive_field(fpn18, image, level, point=(100, 90))
    x1, y1, x2, y2 = rf.theoretical_box
    outside = rf.erf.clone()
    outside[y1:y2, x1:x2] = 0
    assert float(rf.erf.max()) > 0 and float(outside.abs().max()) <= 1e-6 * float(rf.erf.max())
    cx, cy = (int(v) for v in rf.centre)
    assert float(rf.erf[cy - 1: cy + 2, cx - 1: cx + 2].sum()) > 0
    assert rf.cell == (round(90 / rf.stride), round(100 / rf.stride))
    assert rf.erf.shape == rf.image.shape[1:] == (192, 256)
    assert rf.erf_mass[-1] == pytest.approx(1.0) and bool((rf.erf_mass.diff() >= -1e-6).all())
    assert 1 <= rf.effective_size <= 2 * len(rf.erf_mass) - 1


def test_the_theoretical_field_of_a_stage_is_tight(fpn18, image):
    """The gradient reaches the outer band of C3's 99 px field: the field is not overestimated."""
    rf = fpn.receptive_field(fpn18, image, "c3", cell=(12, 16))
    x1, y1, x2, y2 = rf.theoretical_box
    assert (x2 - x1, y2 - y1) == (99, 99) == rf.nominal_size
    band = rf.erf[y1:y2, x1:x2].clone()
    band[8:-8, 8:-8] = 0
    assert float(band.max()) > 0


def test_cell_anchors_and_levels(fpn18, image):
    rf = fpn.receptive_field(fpn18, image, "p4", cell=(5, 7))
    assert rf.stride == 16 and rf.centre == (112.0, 80.0)
    assert sorted(rf.anchor_shapes) == [(128, 0.5), (128, 1.0), (128, 2.0)]
    centres = (rf.anchors[:, :2] + rf.anchors[:, 2:]) / 2
    assert torch.allclose(centres, torch.tensor([112.0, 80.0]).expand(3, 2))
    assert fpn.receptive_field(fpn18, image, "c4").anchor_shapes == []  # the RPN reads P2..P6, not C4
    assert fpn.receptive_field_levels(fpn18) == list(fpn.RF_LEVELS)
    c4 = fpn.build_detector("c4", "resnet18", num_classes=2, min_size=128, max_size=160).eval()
    assert fpn.receptive_field_levels(c4) == ["c2", "c3", "c4"]
    assert sorted({s for s, _ in fpn.receptive_field(c4, image, "c4").anchor_shapes}) == [32, 64, 128, 256, 512]
    with pytest.raises(ValueError, match="P3 is not a map"):
        fpn.receptive_field(c4, image, "p3")
    assert fpn.receptive_field(fpn18, image, "c2", cell=(999, -5)).cell == (47, 0)  # clamped to the 48x64 grid


# ------------------------------------------------------------------------------------------- pictures
def test_erf_heat_scales():
    e = np.array([[0.0, 1e-5, 1e-2], [0.5, 1.0, 0.0]])
    log = erf_heat(e, "log")
    assert log[0, 0] == 0 and log[1, 2] == 0 and log[1, 1] == 1 and log[0, 1] == 0  # below the 1e-3 floor
    assert 0 < log[0, 2] < log[1, 0] < 1
    lin = erf_heat(e, "linear")
    assert lin.max() <= 1 and lin[0, 0] == 0 and lin[1, 1] == 1
    with pytest.raises(ValueError, match="heat-map scale"):
        erf_heat(e, "sqrt")


def test_receptive_field_view_pixels(fpn18, image):
    rf = fpn.receptive_field(fpn18, image, "c3", cell=(12, 16))
    view = V.receptive_field_view(rf)
    h, w = rf.image.shape[1:]
    assert view.dtype == np.uint8 and view.shape[1] == w and view.shape[0] > h  # caption below the image
    x1, y1, x2, y2 = rf.theoretical_box
    base = V.to_rgb_uint8(rf.image).astype(np.float32)
    dimmed = (0.45 * base.mean(axis=2, keepdims=True) + 0.1 * base).round().astype(np.uint8)
    far = view[:h][: y1 - 2, :]  # above the field: the dimmed image, untouched by the heat-map
    assert np.array_equal(far, dimmed[: y1 - 2])
    assert tuple(view[y1, (x1 + x2) // 2]) == (255, 255, 255)  # the theoretical field's white box
    cx, cy = (int(v) for v in rf.centre)
    assert tuple(view[cy, cx]) == (255, 255, 255)  # the cell's centre
    half = rf.effective_size // 2
    assert tuple(view[cy - half, cx]) == ERF_COLOR or tuple(view[cy - half + 1, cx]) == ERF_COLOR
    p4 = fpn.receptive_field(fpn18, image, "p4", cell=(5, 7))
    anchored = V.receptive_field_view(p4)
    ax1, ay1, ax2, ay2 = (int(v) for v in p4.anchors[1])  # the square 128 px anchor
    assert tuple(anchored[ay1, (ax1 + ax2) // 2]) == V.level_color("p4")
    chart = V.erf_mass_chart(p4)
    assert chart.dtype == np.uint8 and (chart == np.array(V.level_color("p4"), np.uint8)).all(-1).any()
