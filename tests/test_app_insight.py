"""The scale-sweep and receptive-field views without a browser (app/insight.py): what they draw, the numbers behind
them, their errors, and the Python snippet that redraws them (run here, pixel for pixel). Fixtures (tiny random
models, an explorer over them, a photo) come from test_app.py."""
import os
from pathlib import Path

import numpy as np
import pytest

from app.analysis import Analyzer
from app.errors import AppError
from app.examples import ExampleLibrary
from app.models import ModelRegistry
from app.views import Explorer
from test_app import ckdir, explorer, photo  # noqa: F401 - pytest fixtures

DATASET = Path(__file__).resolve().parents[1] / "examples" / "pyramid_shapes"


@pytest.mark.slow
def test_scale_sweep_on_detections_with_a_compared_model(explorer, photo):  # noqa: F811 - fixtures
    result = explorer.scale_sweep(photo, "fpn_tiny", "ground truth", 0, -1, -1, ["c5_tiny"], 0.0)
    assert set(result.images) == {"objects", "chart", "strip"}
    assert all(img.dtype == np.uint8 and img.ndim == 3 for img in result.images.values())
    data = result.data
    assert "no ground truth" in result.text and data["object"]["source"] == "detections"
    assert list(data["models"]) == ["fpn_tiny", "c5_tiny"] and data["base_size"] == [128, 160]
    fpn_rows, c5_rows = data["models"]["fpn_tiny"]["rows"], data["models"]["c5_tiny"]["rows"]
    assert len(fpn_rows) == len(c5_rows) == 7 and [r["input_size"] for r in fpn_rows] == [r["input_size"] for r in c5_rows]
    assert {r["anchor_level"] for r in c5_rows} == {5} and {r["proposal_level"] for r in c5_rows} == {5}
    assert set(fpn_rows[0]) >= {"scale", "object_px", "positives", "anchor_level", "proposal_level", "detection_score",
                                "detection_iou", "detection_class"}
    assert "**fpn_tiny** (fpn): positive anchors from P" in result.text and "one map C5" in result.text


@pytest.mark.slow
def test_scale_sweep_picks_the_object_under_a_click_and_explains_what_it_cannot_do(explorer, photo):  # noqa: F811
    boxes = explorer.scale_sweep(photo, "c5_tiny", "detections", 0, -1, -1, [], 0.0).data
    box = boxes["object"]["box"]
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    clicked = explorer.scale_sweep(photo, "c5_tiny", "detections", 99, cx, cy, [], 0.0)
    x1, y1, x2, y2 = clicked.data["object"]["box"]
    assert x1 <= cx <= x2 and y1 <= cy <= y2
    none = explorer.scale_sweep(photo, "fpn_tiny", "detections", 0, -1, -1, [], 1.01)
    assert "No detection with score >= 1.01" in none.text and none.data["object"] is None
    with pytest.raises(AppError, match="at most 3"):
        explorer.scale_sweep(photo, "fpn_tiny", "detections", 0, -1, -1, ["c5_tiny", "a", "b", "c"], 0.0)
    with pytest.raises(AppError, match="Unknown model"):
        explorer.scale_sweep(photo, "fpn_tiny", "detections", 0, -1, -1, ["nope"], 0.0)
    with pytest.raises(AppError, match="mask_proposals model"):
        explorer.scale_sweep(photo, "fpn_tiny", "detections", 0, -1, -1, ["mask_tiny"], 0.0)
    with pytest.raises(AppError, match="object source"):
        explorer.scale_sweep(photo, "fpn_tiny", "anything", 0, -1, -1, [], 0.0)


def test_scale_sweep_follows_a_ground_truth_object(ckdir):  # noqa: F811 - fixture
    registry = ModelRegistry(ckdir, "cpu")
    explorer = Explorer(registry, Analyzer(registry), ExampleLibrary(dataset_dirs=[str(DATASET)]))
    image = str(DATASET / "val" / "000000000002.png")
    result = explorer.scale_sweep(image, "fpn_tiny", "ground truth", 0, -1, -1, [], 0.5)  # the heart
    assert result.data["object"]["source"] == "ground truth" and result.data["object"]["name"].startswith("GT ")
    levels = [r["anchor_level"] for r in result.data["models"]["fpn_tiny"]["rows"]]
    assert levels == sorted(levels) and levels[-1] - levels[0] >= 2  # climbs with the scale, 3 octaves


def test_receptive_field_view(explorer, photo):  # noqa: F811 - fixtures
    result = explorer.receptive_field(photo, "fpn_tiny", "p4", 60, 40, "log")
    d = result.data
    assert set(result.images) == {"receptive_field", "erf_mass"}
    assert d["level"] == "p4" and d["cell"] == [round(40 / 16), round(60 / 16)] and d["stride"] == 16
    assert d["anchor_sizes"] == [128] and d["nominal_size"][0] > 435 and 1 <= d["effective_size"]
    assert "theoretical RF" in result.text and "anchors of P4: 128²" in result.text
    c3 = explorer.receptive_field(photo, "fpn_tiny", "c3", -1, -1).data
    assert c3["nominal_size"] == [99, 99] and c3["anchor_sizes"] == []
    single = explorer.receptive_field(photo, "c5_tiny", "p3")  # no pyramid: its C3 instead, and a note
    assert single.data["level"] == "c3" and "P3 is not a map of c5_tiny" in single.text
    assert explorer.receptive_field(photo, "c5_tiny", "p6").data["level"] == "c5"
    with pytest.raises(AppError, match="Unknown level"):
        explorer.receptive_field(photo, "fpn_tiny", "q3")
    with pytest.raises(AppError, match="heat-map scale"):
        explorer.receptive_field(photo, "fpn_tiny", "p3", heat="sqrt")
    with pytest.raises(AppError, match="No image"):
        explorer.receptive_field(None, "fpn_tiny", "p3")


@pytest.mark.slow
def test_snippets_redraw_the_views(explorer, photo, monkeypatch):  # noqa: F811 - fixtures
    results = {"scale_sweep": explorer.scale_sweep(photo, "fpn_tiny", "detections", 1, -1, -1,
                                                  ["c5_tiny"], 0.0),
               "receptive_field": explorer.receptive_field(photo, "fpn_tiny", "p3", 50, 30)}
    monkeypatch.chdir(os.path.dirname(photo))
    for name, result in results.items():
        assert "import fpn" in result.code and "from app" not in result.code and "import app" not in result.code
        scope: dict = {}
        exec(compile(result.code, f"<snippet {name}>", "exec"), scope)  # noqa: S102 - our own generated code
        for stem, img in result.images.items():
            assert np.array_equal(scope[stem], img), f"{name}: {stem} differs"
            assert os.path.isfile(f"{stem}.png")
