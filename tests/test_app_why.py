"""The Why this box tab's views without a browser (app/provenance.py): a click picks the detection under it, lost
ground truth and per-level numbers (app/compare_view.py) on the tiny models, and the Python under each view redraws
it pixel for pixel."""
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

import app.provenance as AP
import fpn
import fpn.explain.provenance as P
from app.analysis import Analyzer
from app.examples import ExampleLibrary
from app.models import ModelRegistry
from app.views import Explorer
from test_app import ckdir, photo  # noqa: F401 - pytest fixtures: tiny models as checkpoints, a photo

DATASET = Path(__file__).resolve().parents[1] / "examples" / "pyramid_shapes"


@pytest.fixture(scope="module")
def app_explorer(ckdir):  # noqa: F811 - test_app's fixture
    registry = ModelRegistry(ckdir, "cpu")
    return Explorer(registry, Analyzer(registry), ExampleLibrary(dataset_dirs=[str(DATASET)]))


def _redraws(result, folder, monkeypatch):
    """The view's Python, run in the image's folder, draws the view's pictures pixel for pixel."""
    monkeypatch.chdir(folder)
    scope: dict = {}
    exec(compile(result.code, f"<snippet {result.name}>", "exec"), scope)  # noqa: S102 - our own generated code
    return all(np.array_equal(scope[stem], img) for stem, img in result.images.items())


def test_app_why_explains_the_clicked_detection(app_explorer, photo, monkeypatch):  # noqa: F811
    best = app_explorer.why(photo, "fpn_tiny", -1, -1, 0.0)
    assert best.data["detection"] == 0 and "Detection #0" in best.text and "Eq. (1)" in best.text
    ex = app_explorer.analysis(photo, "fpn_tiny").exploration
    boxes = ex.detection_boxes_resized
    x, y = ((boxes[-1, :2] + boxes[-1, 2:]) / 2).tolist()
    clicked = app_explorer.why(photo, "fpn_tiny", x, y, 0.0)
    assert clicked.data["detection"] == AP.pick_detection(boxes, x, y)
    assert clicked.data["anchor"]["level"] == fpn.why(ex, clicked.data["detection"]).anchor.level
    assert set(clicked.images) == {"why", "anchor_map", "pooled", "class_scores"}
    assert _redraws(clicked, os.path.dirname(photo), monkeypatch)


def test_app_lost_ground_truth_and_levels(app_explorer, photo, monkeypatch, tmp_path):  # noqa: F811
    no_gt = app_explorer.lost(photo, "fpn_tiny", -1, 0.5)
    assert "no ground truth" in no_gt.text and no_gt.image.ndim == 3  # a note, not an error
    gt_photo = str(tmp_path / "shapes.png")  # a byte-identical copy keeps its ground truth; snippets save beside it
    shutil.copyfile(DATASET / "val" / "000000000002.png", gt_photo)
    lost = app_explorer.lost(gt_photo, "c5_tiny", 1, 0.0)
    gt = app_explorer.analysis(gt_photo, "c5_tiny").gt
    assert lost.data["selected"] == 1 and len(lost.data["boxes"]) == len(gt["boxes"])
    assert all(b["stage"] in P.STAGES for b in lost.data["boxes"]) and "Ground-truth box #1" in lost.text
    assert _redraws(lost, str(tmp_path), monkeypatch)
    bars = app_explorer.level_metrics(None, None)  # no image: the metadata alone
    assert bars.data["models"] == ["fpn_tiny", "c5_tiny"] and "image_recall" not in bars.data
    assert _redraws(bars, os.path.dirname(photo), monkeypatch)
    with_gt = app_explorer.level_metrics(gt_photo, ["fpn_tiny", "c5_tiny"], 0.0)
    assert set(with_gt.data["image_recall"]) == {"fpn_tiny", "c5_tiny"}
    assert set(with_gt.data["image_recall"]["c5_tiny"]["proposals"]) == {"C5"}
    assert _redraws(with_gt, str(tmp_path), monkeypatch)  # the models run again on the image, in the snippet
