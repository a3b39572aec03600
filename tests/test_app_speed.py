"""What makes a repeated request cheap, checked by counting (never timing): a drawn view is kept with its analysis
and answered again as the same object; each picture is encoded to PNG once and served from that file; Compare yields
each model as it is ready; per-level recall runs no model on an image without ground truth; a scale sweep with one
more model runs only that model. Fixtures (tiny random models, an explorer, a photo) come from test_app.py."""
import gc
import os
from pathlib import Path

import numpy as np
import pytest

import fpn
from app.analysis import MAX_VIEWS, Analyzer
from app.examples import ExampleLibrary
from app.export import png_file, write_files
from app.models import ModelRegistry
from app.views import Explorer
from test_app import ckdir, photo  # noqa: F401 - pytest fixtures


@pytest.fixture
def explorer(ckdir):  # its own caches: the tests count what is drawn and run
    registry = ModelRegistry(ckdir, "cpu")
    return Explorer(registry, Analyzer(registry), ExampleLibrary(dataset_dirs=()))


def counting(monkeypatch, module, name):
    calls = []
    real = getattr(module, name)

    def counted(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, counted)
    return calls


def test_a_view_asked_again_is_not_drawn_again(explorer, photo, monkeypatch):
    import fpn.viz as V

    drawn = counting(monkeypatch, V, "pyramid_figure")
    first = explorer.pyramid(photo, "fpn_tiny", "l2", 0, "p3")
    again = explorer.pyramid(photo, "fpn_tiny", aggregation="l2", channel=0, level="p3", progress=lambda f, d: None)
    assert again is first and len(drawn) == 1  # positional or keyword, with a progress bar or not: one entry
    other = explorer.pyramid(photo, "fpn_tiny", "l2", 5, "p3")
    assert other is not first and len(drawn) == 2
    assert explorer.detect(photo, "fpn_tiny", 0.3) is explorer.detect(photo, "fpn_tiny", 0.3)
    assert explorer.detect(photo, "fpn_tiny", 0.3) is not explorer.detect(photo, "fpn_tiny", 0.4)


def test_drawn_views_are_bounded_and_go_with_their_analysis(explorer, photo):
    for t in np.linspace(0.0, 1.0, MAX_VIEWS + 3):
        explorer.detect(photo, "fpn_tiny", float(t))
    a = explorer.analysis(photo, "fpn_tiny")
    assert len(a.views) == MAX_VIEWS
    explorer.analyzer.clear()
    fresh = explorer.detect(photo, "fpn_tiny", 1.0)
    assert explorer.analysis(photo, "fpn_tiny") is not a and list(explorer.analysis(photo, "fpn_tiny").views) != []
    assert fresh.data["detections"] == []


def test_errors_still_come_from_the_view(explorer, photo):
    from app.errors import AppError

    with pytest.raises(AppError, match="No image yet"):
        explorer.detect(None, "fpn_tiny", 0.5)
    with pytest.raises(AppError, match="Unknown model"):
        explorer.pyramid(photo, "nope")


def test_a_picture_is_encoded_once_and_its_file_goes_with_it(tmp_path):
    from PIL import Image

    img = np.random.default_rng(0).integers(0, 255, (40, 50, 3), dtype=np.uint8)
    path = png_file(img)
    assert png_file(img) == path and png_file(img.copy()) != path
    assert np.array_equal(np.asarray(Image.open(path)), img)  # lossless
    from app.export import ViewResult

    files = write_files(ViewResult("v", {"pic": img}, {"n": 1}), str(tmp_path))
    assert np.array_equal(np.asarray(Image.open(files[0])), img) and files[0] != path
    del img
    gc.collect()
    assert not os.path.exists(path)


def test_served_image_serves_the_encoded_file():
    from app.tabs.shared import analytic_image

    img = np.zeros((8, 9, 3), np.uint8)
    component = analytic_image("x", "x")
    assert component.postprocess(img).path == png_file(img)
    assert component.postprocess(None) is None
    assert component.get_block_name() == "image"  # the page draws it with Gradio's image component
    assert not list((Path(__file__).parents[1] / "app").rglob("*.pyi"))  # Gradio's stub writer stayed off


def test_served_image_survives_a_skip_in_a_session():
    """A hidden tab's gr.skip() makes Gradio rebuild the session's output from its constructor arguments; the
    rebuilt component must still serve the encoded file (it did not: every browser session re-encoded every view at
    zlib level 6 after its first skip)."""
    import asyncio

    import gradio as gr
    from gradio.state_holder import SessionState

    from app.tabs.shared import analytic_image

    with gr.Blocks() as demo:
        out = analytic_image("x", "x")
        gr.Button().click(lambda: None, None, out)
    fn, state = next(iter(demo.fns.values())), SessionState(demo)
    img = np.full((8, 9, 3), 7, np.uint8)
    asyncio.run(demo.postprocess_data(fn, gr.skip(), state))
    assert state[out._id] is not out  # rebuilt by the skip
    served = asyncio.run(demo.postprocess_data(fn, img, state))[0]
    assert os.path.basename(served["path"]) == os.path.basename(png_file(img))  # (Gradio copies it to its cache)


def test_compare_yields_each_model_as_it_is_ready(explorer, photo, monkeypatch):
    runs = counting(monkeypatch, fpn, "explore")
    steps = explorer.compare_steps(photo, ["fpn_tiny", "c5_tiny"], 0.0, 20)
    first = next(steps)
    assert len(runs) == 1 and first.data["pending"] == ["c5_tiny"]  # shown before the second model ran
    assert [r[0] for r in first.data["rows"]] == ["fpn_tiny"]
    final = next(steps)
    assert len(runs) == 2 and "pending" not in final.data and "level_metrics" in final.images
    assert [r[0] for r in final.data["rows"]] == ["fpn_tiny", "c5_tiny"]
    with pytest.raises(StopIteration):
        next(steps)
    assert np.array_equal(explorer.compare(photo, ["fpn_tiny", "c5_tiny"], 0.0, 20).image, final.image)


def test_per_level_recall_runs_no_model_on_a_photo(explorer, photo, monkeypatch):
    runs = counting(monkeypatch, fpn, "explore")
    result = explorer.level_metrics(photo, ["fpn_tiny", "c5_tiny"], 0.5)
    assert runs == [] and "image_recall" not in result.data


def test_scale_sweep_with_one_more_model_runs_only_that_one(explorer, photo, monkeypatch):
    from app.choices import ObjectSource

    sweeps = counting(monkeypatch, fpn, "scale_sweep")
    source = ObjectSource.DETECTIONS.value
    one = explorer.scale_sweep(photo, "fpn_tiny", source, 0, score_thresh=0.0)
    assert [s[0].config["variant"] for s in sweeps] == ["fpn"]
    two = explorer.scale_sweep(photo, "fpn_tiny", source, 0, compare=["c5_tiny"], score_thresh=0.0)
    assert [s[0].config["variant"] for s in sweeps] == ["fpn", "c5"]  # fpn's sweep of this object was kept
    assert two.data["models"]["fpn_tiny"] == one.data["models"]["fpn_tiny"]
