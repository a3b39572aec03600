"""The app uses only the library's public API.

Statically: every `app/**/*.py` and `app.py` imports only `fpn`, `fpn.viz`, `fpn.data`, `fpn.mask_proposals` and
only the names they export (`__all__`). Dynamically: while every handler of the UI runs on real tiny models, no
frame of the app reaches into a model: `torch.nn.Module.__getattr__` resolves submodules, parameters and buffers
(`model.roi_heads`, `.rpn`, `.pyramid`, ...), and the test's version of it refuses callers under app/.
"""
import ast
import importlib
import os
import sys
from pathlib import Path

import gradio as gr
import pytest
import torch

from app.analysis import Analyzer
from app.choices import SQUARE, GTSource, RoISource
from app.examples import ExampleLibrary
from app.models import ModelRegistry
from app.ui import build_ui
from app.views import Explorer
from test_app import ckdir, photo  # noqa: F401 - pytest fixtures: the tiny models and a photo

ROOT = Path(__file__).resolve().parents[1]
PUBLIC = ("fpn", "fpn.viz", "fpn.data", "fpn.mask_proposals")
DATASET = ROOT / "examples" / "pyramid_shapes"


def app_files() -> list[Path]:
    return sorted((ROOT / "app").rglob("*.py")) + [ROOT / "app.py"]


def exported(module: str) -> set[str]:
    return set(importlib.import_module(module).__all__)


def internal_uses(source: str, filename: str = "<app>") -> list[str]:
    """Each use of the library beyond its public API: an import of another `fpn` module, an imported name a public
    package does not export, an attribute of a public package (`fpn.weights.checkpoint`, `V.features`) it does not export."""
    bad: list[str] = []
    modules: dict[str, str] = {}  # local name -> the public package it is bound to
    tree = ast.parse(source, filename)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] != "fpn":
                    continue
                if alias.name not in PUBLIC:
                    bad.append(f"{filename}:{node.lineno}: import {alias.name}")
                else:
                    modules[alias.asname or "fpn"] = alias.name if alias.asname else "fpn"
        elif isinstance(node, ast.ImportFrom) and not node.level and (node.module or "").split(".")[0] == "fpn":
            if node.module not in PUBLIC:
                bad.append(f"{filename}:{node.lineno}: from {node.module} import ...")
                continue
            for alias in node.names:
                if alias.name not in exported(node.module) and f"{node.module}.{alias.name}" not in PUBLIC:
                    bad.append(f"{filename}:{node.lineno}: from {node.module} import {alias.name}")
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in modules:
            module = modules[node.value.id]
            if node.attr not in exported(module) and f"{module}.{node.attr}" not in PUBLIC:
                bad.append(f"{filename}:{node.lineno}: {node.value.id}.{node.attr}")
    return bad


def test_app_imports_only_the_public_api():
    files = app_files()
    assert len(files) > 10  # the listing worked
    bad = [use for p in files for use in internal_uses(p.read_text(), str(p.relative_to(ROOT)))]
    assert not bad, "the app uses library internals:\n" + "\n".join(bad)


def test_the_static_check_can_fail():
    internal = ("import fpn.weights.checkpoint\nfrom fpn.modeling.variants import VARIANTS\nfrom fpn import checkpoint\nimport fpn\n"
                "fpn.weights.torchvision.COCO_FILENAME\nimport fpn.viz as V\nV.features.AGGREGATIONS\n"
                "from fpn.data.coco import CocoDetection\nfrom fpn import roi_level\nfpn.detector.FasterRCNN\n"
                "from fpn import modeling\nimport fpn.modeling.detector as D\n")
    found = internal_uses(internal)
    assert len(found) == 10, found
    assert any("from fpn import roi_level" in f for f in found) and any("fpn.detector" in f for f in found)
    public = ("import fpn\nimport fpn.viz as V\nfrom fpn.data import CocoDetection\nfrom fpn import VARIANTS\n"
              "fpn.explore\nfpn.viz.AGGREGATIONS\nV.draw_detections\nfrom fpn.mask_proposals import LEVELS\n")
    assert internal_uses(public) == []


# ------------------------------------------------------------------------------------------- dynamic
class ModelInternalsAccess(AssertionError):
    """The app reached into a model (an AssertionError: the handlers' `except (ValueError, RuntimeError)` let it
    through; the guard's catch-all is seen in `accesses` anyway)."""


def _in_app(filename: str) -> bool:
    path = Path(filename).resolve()
    return path == ROOT / "app.py" or ROOT / "app" in path.parents


@pytest.fixture
def accesses(monkeypatch):
    """Every model attribute resolved by nn.Module.__getattr__ from a frame under app/ is recorded, then refused."""
    seen: list[str] = []
    original = torch.nn.Module.__getattr__

    def watched(self, name):
        caller = sys._getframe(1)
        if _in_app(caller.f_code.co_filename):
            where = f"{os.path.relpath(caller.f_code.co_filename, ROOT)}:{caller.f_lineno}"
            seen.append(f"{type(self).__name__}.{name} at {where}")
            raise ModelInternalsAccess(f"the app reads model internals: {type(self).__name__}.{name} at {where}")
        return original(self, name)

    monkeypatch.setattr(torch.nn.Module, "__getattr__", watched)
    return seen


def test_the_watch_can_fail(accesses):
    model = torch.nn.Sequential(torch.nn.Linear(2, 2))
    reach_in = compile("model[0].weight", str(ROOT / "app" / "probe.py"), "eval")  # as if written in app/
    with pytest.raises(ModelInternalsAccess):
        eval(reach_in, {"model": model})
    assert accesses == ["Linear.weight at app/probe.py:1"]
    assert model[0].weight.shape == (2, 2)  # from here (a test): allowed


def _handlers_calls(photo: str, gt_photo: str) -> list[tuple[str, tuple]]:
    """(handler name, arguments): every endpoint on both tiny detectors, with and without ground truth."""
    calls = [("load_image", (photo,)), ("mask_proposals", (photo, "mask_tiny", 5)),
             ("compare", (photo, ["fpn_tiny", "c5_tiny"], 0.0, 20))]
    for model in ("fpn_tiny", "c5_tiny"):
        for image in (photo, gt_photo):
            calls += [("detect", (image, model, 0.0)), ("pyramid", (image, model, "pca", 0, "p3")),
                      ("anchors", (image, model, "p3", SQUARE, "point", -1, -1, GTSource.GROUND_TRUTH.value, 0.0)),
                      ("anchors", (image, model, "p4", "all", "density", -1, -1, GTSource.DETECTIONS.value, 0.0))]
            calls += [("roi_levels", (image, model, source, 0, 10, 0.0)) for source in RoISource.labels()]
            calls += [("scale_sweep", (image, model, "ground truth", 0, -1, -1, [], 0.0)),
                      ("receptive_field", (image, model, "c3", -1, -1, "linear"))]
            calls += [("why_box", (image, model, -1, -1, 0.0)), ("lost_gt", (image, model, -1, 0.0))]
    select = gr.SelectData(None, {"index": [12, 20], "value": None})
    calls += [("anchors_click", (photo, "fpn_tiny", "p3", SQUARE, GTSource.DETECTIONS.value, 0.0, select)),
              ("roi_click", (photo, "fpn_tiny", RoISource.DETECTIONS.value, 0, 10, 0.0, select)),
              ("scale_sweep", (photo, "fpn_tiny", "detections", 0, -1, -1, ["c5_tiny"], 0.0)),
              ("sweep_click", (photo, "fpn_tiny", "detections", 0, [], 0.0, select)),
              ("rf_click", (photo, "fpn_tiny", "p4", "log", select)),
              ("why_click", (photo, "fpn_tiny", 0.0, select)),
              ("level_metrics", (gt_photo, ["fpn_tiny", "c5_tiny"], 0.0))]
    return calls


def test_handlers_never_touch_model_internals(ckdir, photo, accesses):  # noqa: F811 - fixtures
    gt_photo = str(DATASET / "val" / "000000000002.png")
    registry = ModelRegistry(ckdir, "cpu")  # fresh: models load and run while watched
    explorer = Explorer(registry, Analyzer(registry), ExampleLibrary(dataset_dirs=[str(DATASET)]))
    assert explorer.examples.match(gt_photo) is not None  # the ground-truth branch runs too
    demo = build_ui(explorer)
    public = {d.api_name: d.fn for d in demo.fns.values() if d.api_visibility == "public"}
    handlers = {**{d.name: d.fn for d in demo.fns.values() if (d.name or "").endswith("_click")}, **public}
    calls = _handlers_calls(photo, gt_photo)
    assert set(public) <= {name for name, _ in calls}  # a new endpoint must be added here
    for name, args in calls:
        handlers[name](*args)
    assert explorer.analyzer.runs == 2 * 2 + 1  # 2 detectors x 2 images + the mask-proposal model, all watched
    assert accesses == []
