"""Evaluation per level: proposal AR@1000 per RPN level and box AP per Eq. (1) level on hand-made predictions (ground
truth as predictions scores 100 where the level has ground truth, None where it has none), stored in a checkpoint's
metadata; one image's recall per level; the grouped bars, at pixel level."""
from __future__ import annotations

import math
import os
import types

import numpy as np
import pytest
import torch
from test_provenance import FAR, GT, hand_made  # noqa: F401 - a hand-made exploration

import fpn
import fpn.viz as V
from fpn.data.coco import CocoDetection, find_coco_split
from fpn.data.synthetic import write_split
from fpn.evaluation import evaluate_model, per_level_metrics, store_in_metadata, write_report
from fpn.explain.level_recall import eq1_size_range
from fpn.modeling.roi_level import roi_levels
from fpn.viz.draw import class_color, level_color
from fpn.viz.level_metrics import BAR_WIDTH, PLOT_HEIGHT, PLOT_TOP, bar_span, series_color
from fpn.viz.provenance import PROPOSAL_COLOR

RPN_LEVELS = [2, 3, 4, 5, 6]


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    """3 PyramidShapes images: 28 boxes of Eq. (1) level P2 (sqrt(wh) < 112 px), 7 of P3, 1 of P4, none of P5."""
    root = str(tmp_path_factory.mktemp("level_shapes"))
    write_split(root, "val", 3, seed=5, workers=0, progress=False)
    return CocoDetection(*find_coco_split(root, "val"), skip_crowd=False)


def _sides(ds) -> list[float]:
    return [math.sqrt(a["bbox"][2] * a["bbox"][3]) for a in ds.data["annotations"] if not a.get("iscrowd", 0)]


def _gt_predictions(ds, level_of=lambda side: 3, scale=None):
    preds = {}
    for i in range(len(ds)):
        _, t = ds[i]
        b = t["boxes"]
        sides = torch.sqrt((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]))
        p = {"boxes": b, "labels": t["labels"], "scores": torch.ones(len(b)), "proposals": b,
             "proposal_scores": torch.linspace(1, 0.5, len(b)),
             "proposal_levels": torch.tensor([level_of(float(s)) for s in sides], dtype=torch.int64)}
        if scale is not None:
            p["input_scale"] = torch.tensor([scale, scale])
        preds[t["image_id"]] = p
    return preds


def test_eq1_size_ranges_are_eq1():
    expected = [(0.0, 112.0), (112.0, 224.0), (224.0, 448.0), (448.0, math.inf)]
    assert [eq1_size_range(k) for k in (2, 3, 4, 5)] == expected
    for side in (20.0, 111.9, 112.0, 223.9, 224.0, 447.9, 448.0, 900.0):
        k = int(roi_levels(torch.tensor([[0.0, 0.0, side, side]]))[0])
        low, high = eq1_size_range(k)
        assert low <= side < high, (side, k)


def test_ground_truth_as_predictions_scores_100_at_each_level_present(shapes):
    sides = _sides(shapes)
    assert sum(s < 112 for s in sides) == 28 and not any(s >= 448 for s in sides)  # the fixture's mix
    metrics = per_level_metrics(shapes, _gt_predictions(shapes), RPN_LEVELS)
    assert metrics["proposal_AR@1000"] == {"P2": 0.0, "P3": 100.0, "P4": 0.0, "P5": 0.0, "P6": 0.0}
    assert metrics["bbox_AP"] == {"P2": 100.0, "P3": 100.0, "P4": 100.0, "P5": None}  # P5: no ground truth


def test_each_rpn_level_recalls_its_share(shapes):
    sides = _sides(shapes)
    small = sum(s < 64 for s in sides)
    metrics = per_level_metrics(shapes, _gt_predictions(shapes, lambda s: 2 if s < 64 else 4))
    assert set(metrics["proposal_AR@1000"]) == {"P2", "P4"}  # the levels the proposals came from
    assert metrics["proposal_AR@1000"]["P2"] == pytest.approx(100 * small / len(sides), abs=0.051)
    assert metrics["proposal_AR@1000"]["P4"] == pytest.approx(100 * (len(sides) - small) / len(sides), abs=0.051)


def test_levels_are_those_of_the_resized_input(shapes):
    """Twice the size in the model's input: every box moves one level up (P2 keeps those below 56 px)."""
    metrics = per_level_metrics(shapes, _gt_predictions(shapes, scale=2.0))
    assert metrics["bbox_AP"] == {"P2": 100.0, "P3": 100.0, "P4": 100.0, "P5": 100.0}
    wrong = _gt_predictions(shapes, scale=2.0)
    for p in wrong.values():
        p["boxes"] = p["boxes"] + 8.0
    assert all(v is not None and v < 100 for v in per_level_metrics(shapes, wrong)["bbox_AP"].values())


class LevelledGroundTruth(torch.nn.Module):
    """A stand-in detector: predict() returns the ground truth with RPN levels and an input scale, like FasterRCNN."""

    def __init__(self, ds):
        super().__init__()
        self.targets = [ds[i][1] for i in range(len(ds))]
        self.calls = 0
        self.config = {"anchor_sizes": {f"p{k}": [2 ** (k + 3)] for k in RPN_LEVELS}}

    def predict(self, images):
        t = self.targets[self.calls]
        self.calls += 1
        n = len(t["boxes"])
        return [{"boxes": t["boxes"], "labels": t["labels"], "scores": torch.ones(n), "proposals": t["boxes"],
                 "proposal_scores": torch.ones(n), "proposal_levels": torch.full((n,), 3, dtype=torch.int64),
                 "input_scale": torch.tensor([1.0, 1.0])}]


def test_evaluate_model_reports_per_level_and_the_metadata_keeps_it(shapes, tmp_path):
    metrics, evals = evaluate_model(LevelledGroundTruth(shapes), shapes, "cpu", progress=False)
    assert metrics["per_level"]["proposal_AR@1000"]["P3"] == 100.0 and set(metrics["per_level"]["proposal_AR@1000"]) \
        == {f"P{k}" for k in RPN_LEVELS}
    report = write_report(metrics, evals, str(tmp_path / "eval.json"))
    model = fpn.build_detector("fpn", "resnet18", num_classes=3, min_size=64, max_size=64)
    weights, meta_path = fpn.save_checkpoint(model, str(tmp_path / "ck"), {"metrics": {"note": "kept"}})
    before = open(weights, "rb").read()
    assert store_in_metadata(str(tmp_path / "ck"), report) == meta_path
    meta = fpn.read_metadata(meta_path)
    assert meta["metrics"]["per_level"] == report["per_level"] and meta["metrics"]["note"] == "kept"
    assert meta["model"] == model.config and open(weights, "rb").read() == before
    assert not [f for f in os.listdir(tmp_path) if ".tmp" in f]


def test_a_detector_predicts_the_levels_of_its_proposals():
    torch.manual_seed(0)
    model = fpn.build_detector("fpn", "resnet18", num_classes=3, min_size=96, max_size=128,
                               rpn_post_nms_top_n_test=50, pyramid_channels=16, representation_size=32)
    out = model.predict([torch.rand(3, 60, 80)])[0]
    assert out["proposal_levels"].shape == out["proposal_scores"].shape
    assert set(out["proposal_levels"].tolist()) <= set(RPN_LEVELS)
    assert torch.allclose(out["input_scale"], torch.tensor([128 / 80, 96 / 60]))


# ------------------------------------------------------------------------------------------- one image
def test_recall_per_level_on_a_hand_made_image():
    """GT is 32 px (Eq. (1): P2); a proposal of P4 covers it; a detection covers it or not."""
    found = fpn.recall_per_level(hand_made([GT + 1.0], [0], [[0.1, 0.8, 0.1]], [[0, -2]], [GT], [1]), GT[None])
    assert found == {"proposals": {"P4": 100.0}, "detections": {"P2": 100.0, "P3": None, "P4": None, "P5": None}}
    missed = fpn.recall_per_level(hand_made([FAR], [0], [[0.1, 0.8, 0.1]], [[0, -2]], [FAR], [1]), GT[None])
    assert missed == {"proposals": {"P4": 0.0}, "detections": {"P2": 0.0, "P3": None, "P4": None, "P5": None}}
    wrong_class = fpn.recall_per_level(hand_made([GT], [0], [[0.1, 0.8, 0.1]], [[0, -2]], [GT], [1]), GT[None],
                                       gt_labels=[2])
    assert wrong_class["detections"]["P2"] == 0.0


# ------------------------------------------------------------------------------------------- pictures
def test_grouped_bars_pixels():
    values = {"m1": {"P2": 100.0, "P3": None}, "m2": {"P2": 50.0, "P3": 0.0}}
    img = V.grouped_bars(values, "AR", ["P2", "P3"])
    base = PLOT_TOP + PLOT_HEIGHT
    assert img.dtype == np.uint8 and img.ndim == 3
    for (c, s, height) in ((0, 0, PLOT_HEIGHT), (0, 1, PLOT_HEIGHT // 2), (1, 0, 0), (1, 1, 0)):
        x1, x2 = bar_span(c, s, 2)
        assert x2 - x1 == BAR_WIDTH - 4
        column = img[:, (x1 + x2) // 2]
        coloured = np.nonzero((column == series_color(s)).all(axis=1))[0]
        assert (coloured.tolist() == list(range(base - height, base))) if height else len(coloured) == 0, (c, s)
    legend = img[base + 30:]
    assert all((legend == series_color(s)).all(axis=2).any() for s in (0, 1))


def test_level_metrics_view_draws_every_model():
    with_levels = {"per_level": {"proposal_AR@1000": {"P2": 40.0, "P6": 10.0}, "bbox_AP": {"P2": 30.0}},
                   "bbox": {"AP_s": 20.0, "AP_m": 30.0, "AP_l": 40.0},
                   "proposals": {"AR_s@1000": 50.0, "AR_m@1000": 60.0, "AR_l@1000": 70.0}}
    img = V.level_metrics_view({"a": with_levels, "b": {"bbox": {"AP_s": 10.0}}})
    alone = V.level_metrics_view({"a": with_levels})
    assert img.shape[1] > alone.shape[1] and img.dtype == np.uint8
    assert (img == series_color(1)).all(axis=2).sum() > (alone == series_color(1)).all(axis=2).sum()


def _prov():
    anchor = types.SimpleNamespace(box=torch.tensor([20.0, 20.0, 52.0, 52.0]), level="p3", size=32, ratio=1.0,
                                   shape=0, cell=(2, 3), objectness=0.9)
    return types.SimpleNamespace(anchor=anchor, proposal_box=torch.tensor([10.0, 12.0, 60.0, 70.0]),
                                 box=torch.tensor([30.0, 30.0, 90.0, 90.0]), label=2, class_name="b", score=0.8,
                                 detection=0, rank=3, roi_level=2)


def test_provenance_view_pixels():
    img = V.provenance_view(np.zeros((100, 120, 3), np.uint8), _prov())
    assert img.shape[1] >= 120 and img.shape[0] > 100  # the image first, the caption below
    assert tuple(img[30, 60]) == class_color(2)  # the final box's top edge
    assert tuple(img[40, 10]) == PROPOSAL_COLOR  # the proposal's left edge
    assert tuple(img[23, 20]) == level_color("p3") and tuple(img[31, 20]) == (0, 0, 0)  # the anchor: dash, gap


def test_anchor_cell_view_outlines_the_cell():
    objectness = torch.zeros(1, 5, 5)
    objectness[0, 2, 3] = 1.0
    level = types.SimpleNamespace(objectness=objectness, name="p3", stride=8)
    img = V.anchor_cell_view(level, _prov().anchor)
    cell = 24  # max(6, min(480 // 5, 24))
    inside = img[2 * cell + cell // 2, 3 * cell + cell // 2]
    assert tuple(inside) == tuple(V.colorize(np.array([[1.0]]), 0.0, 1.0)[0, 0])
    assert tuple(img[2 * cell - 1, 3 * cell + 5]) == (255, 255, 255)  # white outline, black around it
    assert tuple(img[2 * cell - 2, 3 * cell + 5]) == (0, 0, 0)
    assert tuple(img[0, 0]) == tuple(V.colorize(np.array([[0.0]]), 0.0, 1.0)[0, 0])


def test_lost_view_and_class_scores_pixels():
    lost = types.SimpleNamespace(gt=torch.tensor([10.0, 10.0, 40.0, 40.0]), anchor=None, candidate_box=None,
                                 proposal_box=None, detection_box=None, lost=True, stage="no positive anchor")
    img = V.lost_view(np.zeros((60, 60, 3), np.uint8), lost)
    assert tuple(img[10, 25]) == V.GT_COLOR
    chart = V.class_scores_chart([(2, "b", 0.7), (0, "background", 0.2), (1, "a", 0.1)], chosen=2)
    assert (chart == class_color(2)).all(axis=2).sum() > 100
