"""The Compare view's per-level part (app/compare_view.py): each checkpoint's stored numbers per level as grouped
bars, a model without them shown as "n/a", and on a dataset image each model's recall per level; its Python redraws
every picture pixel for pixel. Tiny models from test_app.py, one of them given per-level metadata here."""
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

import fpn.viz as V
from app.analysis import Analyzer
from app.examples import ExampleLibrary
from app.models import ModelRegistry
from app.views import Explorer
from fpn.viz.level_metrics import PLOT_HEIGHT, PLOT_TOP, bar_span, series_color
from test_app import ckdir, photo  # noqa: F401 - pytest fixtures: tiny models as checkpoints, a photo

DATASET = Path(__file__).resolve().parents[1] / "examples" / "pyramid_shapes"
PER_LEVEL = {"proposal_AR@1000": {"P2": 40.0, "P3": 55.5, "P4": 60.0, "P5": 20.0, "P6": 5.0},
             "bbox_AP": {"P2": 30.0, "P3": 35.0, "P4": 25.0, "P5": None}}
STORED = {"bbox": {"AP": 26.3, "AP_s": 32.3, "AP_m": 33.5, "AP_l": 16.4},
          "proposals": {"AR@1000": 58.7, "AR_s@1000": 54.6, "AR_m@1000": 60.5, "AR_l@1000": 62.2},
          "per_level": PER_LEVEL, "num_images": 200}


@pytest.fixture(scope="module")
def levels_explorer(ckdir, tmp_path_factory):  # noqa: F811 - test_app's fixture
    """fpn_tiny with per-level metrics in its metadata (as evaluate.py --write-metadata leaves them), c5_tiny
    without; the dataset examples give their ground truth."""
    folder = tmp_path_factory.mktemp("ck_levels")
    for name in ("fpn_tiny", "c5_tiny"):
        for f in os.listdir(ckdir):
            if f.startswith(name):
                shutil.copyfile(os.path.join(ckdir, f), folder / f)
    meta = json.loads((folder / "fpn_tiny.json").read_text())
    meta["metrics"] = STORED
    (folder / "fpn_tiny.json").write_text(json.dumps(meta))
    registry = ModelRegistry(str(folder), "cpu")
    return Explorer(registry, Analyzer(registry), ExampleLibrary(dataset_dirs=[str(DATASET)]))


@pytest.fixture(scope="module")
def gt_photo(tmp_path_factory):
    """A byte-identical copy of a dataset image keeps its ground truth; snippets save beside it."""
    path = tmp_path_factory.mktemp("gt") / "shapes.png"
    shutil.copyfile(DATASET / "val" / "000000000002.png", path)
    return str(path)


def _redraws(result, folder, monkeypatch):
    monkeypatch.chdir(folder)
    scope: dict = {}
    exec(compile(result.code, f"<snippet {result.name}>", "exec"), scope)  # noqa: S102 - our own generated code
    return {stem: np.array_equal(scope[stem], img) for stem, img in result.images.items()}


def _has_colour(img, x1, x2, y1, y2, colour):
    return bool((img[y1:y2, x1:x2 + 1] == np.array(colour, dtype=np.uint8)).all(axis=-1).any())


def test_compare_draws_the_stored_numbers_per_level_and_this_images_recall(levels_explorer, gt_photo, monkeypatch):
    result = levels_explorer.compare(gt_photo, ["fpn_tiny", "c5_tiny"], 0.0, 20)
    assert list(result.images) == ["compare", "level_metrics", "image_recall"]
    assert result.data["metrics"]["fpn_tiny"]["per_level"] == PER_LEVEL
    assert result.data["metrics"]["c5_tiny"]["per_level"] is None
    assert set(result.data["image_recall"]) == {"fpn_tiny", "c5_tiny"}
    assert set(result.data["image_recall"]["c5_tiny"]["proposals"]) == {"C5"}
    assert "n/a: no per-level numbers in the metadata of c5_tiny" in result.text and "fpn_tiny" not in result.text
    recall = result.images["image_recall"]
    assert recall.shape[0] > 120
    assert np.array_equal(recall, V.image_recall_view(result.data["image_recall"], columns=1))  # one chart per row
    # the first chart (AR@1000 per RPN level, top left): fpn_tiny's P3 bar is drawn, c5_tiny's is not (n/a), at P3
    bars, base = result.images["level_metrics"], PLOT_TOP + PLOT_HEIGHT
    assert _has_colour(bars, *bar_span(1, 0, 2), base - 40, base, series_color(0))
    assert not _has_colour(bars, *bar_span(1, 1, 2), PLOT_TOP, base, series_color(1))
    assert all(_redraws(result, os.path.dirname(gt_photo), monkeypatch).values())
    # the same numbers as the level_metrics endpoint (one computation, two views)
    alone = levels_explorer.level_metrics(gt_photo, ["fpn_tiny", "c5_tiny"], 0.0)
    assert all(np.array_equal(alone.images[k], result.images[k]) for k in ("level_metrics", "image_recall"))


def test_compare_without_ground_truth_notes_it(levels_explorer, photo):  # noqa: F811 - test_app's fixture
    result = levels_explorer.compare(photo, ["c5_tiny", "fpn_tiny"], 0.5, 20)
    assert "image_recall" not in result.data and "needs a dataset image with ground truth" in result.text
    assert result.images["image_recall"].shape[0] < 120  # a one-line note
    bars, base = result.images["level_metrics"], PLOT_TOP + PLOT_HEIGHT
    assert not _has_colour(bars, *bar_span(1, 0, 2), PLOT_TOP, base, series_color(0))  # c5_tiny first: n/a
    assert _has_colour(bars, *bar_span(1, 1, 2), base - 40, base, series_color(1))


def test_compare_opens_with_fpn_c4_c5_and_labels_how_a_model_was_trained(tmp_path):
    """The default model is the FPN; Compare's picks start with Table 3's rows (fpn, c4, c5) whatever else is installed;
    a bundle's metadata saying where it was trained shows in its description."""
    import torch

    import fpn

    torch.manual_seed(0)
    small = {"num_classes": 3, "min_size": 64, "max_size": 64, "pyramid_channels": 16, "representation_size": 32}
    for variant in ("bottom_up", "c5", "no_lateral", "c4", "p2_only", "fpn"):
        meta = {"bundle": {"trained_on": "CPU"}} if variant == "fpn" else {}
        fpn.save_checkpoint(fpn.build_detector(variant, "resnet18", **small), str(tmp_path / f"a_{variant}"), meta)
    registry = ModelRegistry(str(tmp_path), "cpu")
    assert registry.names()[0] == "a_fpn"
    assert registry.compare_defaults() == ["a_fpn", "a_c4", "a_c5"]
    from app.ui import build_ui

    demo = build_ui(Explorer(registry, Analyzer(registry), ExampleLibrary(dataset_dirs=())))
    values = {b.elem_id: b.value for b in demo.blocks.values() if b.elem_id in ("model", "compare-models")}
    assert values == {"model": "a_fpn", "compare-models": ["a_fpn", "a_c4", "a_c5"]}
    assert "CPU-trained" in registry.entry("a_fpn").description
    assert "trained" not in registry.entry("a_c4").description
    for stem in ("a_c4", "a_c5"):  # without the baselines: the FPN and the next models in the paper's order
        for f in os.listdir(tmp_path):
            if f.startswith(stem):
                os.remove(tmp_path / f)
    registry.scan()
    assert registry.compare_defaults() == ["a_fpn", "a_bottom_up", "a_no_lateral"]


def test_each_model_at_its_own_threshold(ckdir, gt_photo, tmp_path, monkeypatch):  # noqa: F811 - test_app's fixture
    """own_thresholds: each column and its row at its checkpoint's F1-best threshold (the app's default), and the
    Python redraws it; otherwise the slider's threshold for all."""
    for f in os.listdir(ckdir):
        if f.startswith(("fpn_tiny", "c5_tiny")):
            shutil.copyfile(os.path.join(ckdir, f), tmp_path / f)
    for name, value in (("fpn_tiny", 0.999), ("c5_tiny", 0.0)):
        meta = json.loads((tmp_path / f"{name}.json").read_text())
        meta["metrics"] = {"score_threshold": {"value": value, "f1": 1.0, "precision": 1.0, "recall": 1.0}}
        (tmp_path / f"{name}.json").write_text(json.dumps(meta))
    registry = ModelRegistry(str(tmp_path), "cpu")
    explorer = Explorer(registry, Analyzer(registry), ExampleLibrary(dataset_dirs=[str(DATASET)]))
    own = explorer.compare(gt_photo, ["fpn_tiny", "c5_tiny"], 0.5, 20, own_thresholds=True)
    same = explorer.compare(gt_photo, ["fpn_tiny", "c5_tiny"], 0.5, 20)
    assert own.data["thresholds"] == {"fpn_tiny": 1.0, "c5_tiny": 0.0}
    assert same.data["thresholds"] == {"fpn_tiny": 0.5, "c5_tiny": 0.5}
    column = own.data["headers"].index("detections shown")
    shown = {row[0]: row[column] for row in own.data["rows"]}
    everything = {name: len(explorer.detect(gt_photo, name, 0.0).data["detections"]) for name in shown}
    assert shown == {"fpn_tiny": 0, "c5_tiny": everything["c5_tiny"]} and everything["c5_tiny"] > 0
    assert [row[own.data["headers"].index("score threshold")] for row in own.data["rows"]] == [1.0, 0.0]
    assert not np.array_equal(own.images["compare"], same.images["compare"])
    assert all(_redraws(own, os.path.dirname(gt_photo), monkeypatch).values())


def test_error_counts_are_one_share_and_table_2s_ap_one_column(ckdir, tmp_path):  # noqa: F811
    """The 27 counts of metrics["errors"] (by size and kind) become one column: the share of boxes shown correct."""
    for f in os.listdir(ckdir):
        if f.startswith("fpn_tiny"):
            shutil.copyfile(os.path.join(ckdir, f), tmp_path / f)
    meta = json.loads((tmp_path / "fpn_tiny.json").read_text())
    meta["metrics"] = {"bbox": {"AP": 30.0}, "errors": {"score_threshold": 0.4, "detections": {
        "small": {"correct": 3, "wrong class": 1}, "large": {"correct": 1, "part of an object": 3}},
        "objects": {"small": {"found": 3, "missed": 1}}}}
    (tmp_path / "fpn_tiny.json").write_text(json.dumps(meta))
    assert ModelRegistry(str(tmp_path), "cpu").entry("fpn_tiny").metrics() == {"bbox AP": 30.0,
                                                                               "boxes shown correct %": 50.0}
    meta["fixed_proposals"] = {"bbox": {"AP": 28.5}, "proposals_from": "checkpoints/fpn_rpn_resnet18_cpu"}
    (tmp_path / "fpn_tiny.json").write_text(json.dumps(meta))  # its head on another's proposals: one more column
    assert ModelRegistry(str(tmp_path), "cpu").entry("fpn_tiny").metrics() == {
        "bbox AP": 30.0, "boxes shown correct %": 50.0, "bbox AP on fpn_rpn_resnet18_cpu's proposals (Table 2)": 28.5}
