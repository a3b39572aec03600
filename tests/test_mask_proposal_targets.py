"""Sec. 6 mask proposals without a network: Fig. 4 window geometry, DeepMask-style window labels, mask crops, pasting."""
from __future__ import annotations

import itertools
import math

import pytest
import torch

from fpn.mask_proposals import (
    assign_windows,
    crop_mask_targets,
    mask_boxes,
    paste_mask,
    window_centres,
    window_regions,
    window_scales,
)
from fpn.modeling.mask_proposals.targets import inside_image


def _square_target(cx: float, cy: float, side: float, size=(512, 512)):
    h, w = size
    box = torch.tensor([[cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2]])
    mask = torch.zeros((1, h, w), dtype=torch.uint8)
    x1, y1, x2, y2 = (round(v) for v in box[0].tolist())
    mask[0, max(y1, 0):y2, max(x1, 0):x2] = 1
    return box, mask


def _labels_per_pair(scales, boxes, size, rule="deepmask"):
    """{pair name: (labels, matched, centres)} for one image of `size` (H, W), all pairs of `scales`."""
    out = {}
    for g, s in enumerate(scales):
        h, w = math.ceil(size[0] / s.stride), math.ceil(size[1] / s.stride)
        c = window_centres(h, w, s.stride)
        out[s.name] = (*assign_windows(c, s, boxes, inside_image(c, size), g == 0, g == len(scales) - 1, rule), c)
    return out


def test_window_geometry_follows_fig4():
    scales = {s.name: s for s in window_scales(("p2", "p3", "p4", "p5", "p6"), "dual")}
    for level, region, canonical in (("p3", 80, 64), ("p4", 160, 128), ("p5", 320, 256)):
        s = scales[f"{level}/5x5"]
        assert (s.region, s.canonical, s.tolerance) == (region, canonical, canonical / 8)
        t = scales[f"{level}/7x7"]
        assert t.canonical == pytest.approx(canonical * math.sqrt(2)) and t.region == pytest.approx(region * math.sqrt(2))
    ordered = window_scales(("p2", "p3", "p4", "p5", "p6"), "dual")
    assert ordered[0].band_lo == 0 and ordered[-1].band_hi == math.inf
    for a, b in itertools.pairwise(ordered):  # bands tile the size axis, a quarter octave each side of canonical
        assert a.band_hi == pytest.approx(b.band_lo)
        assert a.band_hi == pytest.approx(a.canonical * 2 ** 0.25)
    single = window_scales(("p3", "p4"), "5x5")
    assert single[0].band_hi == pytest.approx(64 * 2 ** 0.5) and single[1].band_lo == single[0].band_hi


@pytest.mark.parametrize(
    "side, expected",
    [(64, "p3/5x5"), (90, "p3/7x7"), (128, "p4/5x5"), (180, "p4/7x7"), (256, "p5/5x5"), (32, "p2/5x5")],
)
def test_deepmask_rule_positive_on_the_expected_level_and_mlp(side, expected):
    scales = window_scales(("p2", "p3", "p4", "p5", "p6"), "dual")
    box, _ = _square_target(258, 258, side)  # off the window grids, so every rule has windows to act on
    labels = _labels_per_pair(scales, box, (512, 512))
    positives = {name: int((lab == 1).sum()) for name, (lab, _, _) in labels.items()}
    assert positives[expected] > 0
    assert sum(positives.values()) == positives[expected], positives
    s = next(s for s in scales if s.name == expected)
    lab, matched, c = labels[expected]
    off = (c - 258.0).abs().amax(dim=1)
    assert torch.equal(lab == 1, off <= s.tolerance)  # exactly the windows within the shift tolerance
    assert (matched[lab == 1] == 0).all()
    assert (lab[off >= 2 * s.tolerance] == 0).all()  # far windows are negatives
    between = (off > s.tolerance) & (off < 2 * s.tolerance)
    assert between.any() and (lab[between] == -1).all()  # in-between windows are ignored


@pytest.mark.parametrize(
    "side, expected",
    [(64, "p3/5x5"), (90, "p3/7x7"), (128, "p4/5x5"), (180, "p4/7x7"), (256, "p5/5x5"), (32, "p2/5x5")],
)
def test_paper_rule_one_cell_either_way_and_no_ignore_zone(side, expected):
    """The FPN appendix: a position on P_k is positive when the object's centre lies within 2**k px of it (both MLPs)
    and its scale is nearest to the pair's in log space; every other window in the image is a negative."""
    scales = window_scales(("p2", "p3", "p4", "p5", "p6"), "dual")
    box, _ = _square_target(258, 258, side)
    labels = _labels_per_pair(scales, box, (512, 512), rule="paper")
    positives = {name: int((lab == 1).sum()) for name, (lab, _, _) in labels.items()}
    assert positives[expected] > 0 and sum(positives.values()) == positives[expected], positives
    s = next(s for s in scales if s.name == expected)
    lab, matched, c = labels[expected]
    off = (c - 258.0).abs().amax(dim=1)
    assert torch.equal(lab == 1, off <= s.stride)  # one cell either way, also for the 7x7 MLP (not stride sqrt 2)
    assert (matched[lab == 1] == 0).all()
    for name, (lab, _, _) in labels.items():
        assert not (lab == -1).any(), name  # no ignore zone: the 512 x 512 image has no padding
        assert ((lab == 0) | (lab == 1)).all()


def test_paper_rule_ignores_only_padding_and_rejects_unknown_rules():
    s = window_scales(("p6",), "5x5")[0]
    box, _ = _square_target(150, 150, 150, size=(300, 300))
    c = window_centres(10, 10, 64)
    valid = inside_image(c, (300, 300))
    lab, _ = assign_windows(c, s, box, valid, True, True, "paper")
    assert (lab[~valid] == -1).all() and ((lab[valid] == 0) | (lab[valid] == 1)).all()
    with pytest.raises(ValueError, match="rule"):
        assign_windows(c, s, box, valid, True, True, "yolo")


def test_off_scale_and_padding_windows():
    scales = window_scales(("p3", "p4", "p5"), "5x5")
    box, _ = _square_target(256, 256, 150)
    labels = _labels_per_pair(scales, box, (512, 512))
    assert (labels["p4/5x5"][0] == 1).sum() > 0
    lab3, _, c3 = labels["p3/5x5"]
    centred = (c3 - 256).abs().amax(dim=1) <= 8
    assert (lab3[centred] == 0).all()  # 150 px > 2x the P3 canonical size: negative, not ignored
    lab5, _, _ = labels["p5/5x5"]
    assert (lab5 == 1).sum() == 0 and (lab5 == -1).sum() > 0  # 150 > 256 / 2: near in scale on P5, ignored
    c = window_centres(10, 10, 64)
    lab, _ = assign_windows(c, scales[-1], box, inside_image(c, (300, 300)), False, True, "deepmask")
    assert (lab[~inside_image(c, (300, 300))] == -1).all()


def test_mask_targets_are_the_right_crops():
    _, mask = _square_target(256, 256, 64)
    s = next(s for s in window_scales(("p3",), "5x5"))
    centres = torch.tensor([[256.0, 256.0], [264.0, 256.0], [256.0, 248.0]])
    crops = crop_mask_targets(mask, torch.zeros(3, dtype=torch.long), window_regions(centres, s.region), 14)
    assert crops.shape == (3, 14, 14)
    # centred window: the 64 px object fills the central 64/80 of the region
    assert crops[0].sum() == pytest.approx((64 / 80 * 14) ** 2, abs=20)
    assert torch.equal(crops[0], crops[0].flip(0)) and torch.equal(crops[0], crops[0].flip(1))
    assert crops[0][0].sum() == 0 and crops[0][7, 7] == 1
    cols = torch.arange(14.0)
    centroid_x = [(c.sum(0) * cols).sum() / c.sum() for c in crops]
    centroid_y = [(c.sum(1) * cols).sum() / c.sum() for c in crops]
    assert centroid_x[1] - centroid_x[0] == pytest.approx(-8 / 80 * 14, abs=0.4)  # window moved right: object left
    assert centroid_y[2] - centroid_y[0] == pytest.approx(8 / 80 * 14, abs=0.4)  # window moved up: object lower


def _blob_mask(size, seed):
    """An irregular object (union of ellipses), BoolTensor [H, W]."""
    g = torch.Generator().manual_seed(seed)
    h, w = size
    yy, xx = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
    m = torch.zeros(size, dtype=torch.bool)
    cx, cy = w * 0.5, h * 0.5
    for _ in range(4):
        ox, oy = (torch.rand(2, generator=g) - 0.5) * 50
        ax, ay = 20 + torch.rand(2, generator=g) * 35
        m |= ((xx - cx - ox) / ax) ** 2 + ((yy - cy - oy) / ay) ** 2 <= 1
    return m


@pytest.mark.parametrize("seed, roll, shift", [(0, 0, (0, 0)), (1, 0, (6, -5)), (2, -90, (0, 0))])
def test_pasting_a_perfect_28x28_prediction_reproduces_the_mask(seed, roll, shift):
    """roll < 0 moves the object across the left image border (the region sticks out of the image); shift moves the
    window centre off the object centre, within the shift tolerance (side / 8)."""
    size = (240, 200)
    gt = _blob_mask(size, seed)
    if roll:
        gt = torch.roll(gt, roll, dims=1)
        gt[:, roll:] = False
    ys, xs = gt.nonzero(as_tuple=True)
    box = torch.tensor([[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]], dtype=torch.float32)
    centre = (box[:, :2] + box[:, 2:]) / 2 + torch.tensor([shift], dtype=torch.float32)
    side = float((box[:, 2:] - box[:, :2]).max())
    region = window_regions(centre, side * 1.25)
    probs = crop_mask_targets(gt[None].to(torch.uint8), torch.zeros(1, dtype=torch.long), region, 28)[0]
    pasted = paste_mask(probs, region[0], size)
    iou = (pasted & gt).sum().item() / (pasted | gt).sum().item()
    assert iou > 0.9, iou
    mb, nonempty = mask_boxes(probs[None], region, size)
    assert nonempty.all() and (mb - box).abs().max() <= side * 1.25 / 28 + 1
