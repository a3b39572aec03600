"""The app without a browser: the model registry, the analysis cache, every view (the API endpoints), the UI.

The fixtures here (tiny random models as checkpoints, an explorer over them, a photo) are also used by
test_app_api.py.
"""
import os

import numpy as np
import pytest
import torch
from PIL import Image

import fpn
import fpn.viz as V
from app.analysis import Analyzer
from app.choices import GTSource, RoISource
from app.errors import AppError
from app.examples import ExampleLibrary
from app.images import ImageError
from app.models import TORCHVISION_COCO, ModelRegistry
from app.views import Explorer
from fpn.mask_proposals import build_mask_proposer

CLASSES = ["__background__", "a", "b", "c"]
PHOTO_SIZE = (96, 120)  # (h, w)


@pytest.fixture(scope="module")
def ckdir(tmp_path_factory):
    d = tmp_path_factory.mktemp("ck")
    torch.manual_seed(0)
    for variant in ("fpn", "c5"):
        m = fpn.build_detector(variant, "resnet18", num_classes=4, min_size=128, max_size=160, box_score_thresh=0.0,
                               class_names=CLASSES)
        fpn.save_checkpoint(m, str(d / f"{variant}_tiny"), {"metrics": {"bbox": {"AP": 1.5}}})
    masks = build_mask_proposer("resnet18", hidden=16, min_size=128, max_size=160, num_proposals=20,
                                num_masks_pasted=5)
    fpn.save_checkpoint(masks, str(d / "mask_tiny"))
    (d / "junk.json").write_text("{not json")  # no weights beside it: not a checkpoint, ignored
    (d / "bad.json").write_text('{"no": "model"}')
    (d / "bad.safetensors").write_bytes(b"x")
    return str(d)


@pytest.fixture(scope="module")
def explorer(ckdir):
    registry = ModelRegistry(ckdir, "cpu")
    return Explorer(registry, Analyzer(registry), ExampleLibrary(dataset_dirs=()))


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    arr = np.random.default_rng(1).integers(0, 255, (*PHOTO_SIZE, 3), dtype=np.uint8)
    p = tmp_path_factory.mktemp("img") / "photo.png"
    Image.fromarray(arr).save(p)
    return str(p)


@pytest.fixture
def no_coco_anywhere(tmp_path, monkeypatch):
    """Neither ./checkpoints/ nor torch's hub cache holds the COCO weights."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))


# ------------------------------------------------------------------------------------------- registry + cache
def test_registry(explorer):
    reg = explorer.registry
    assert reg.names("detection") == ["fpn_tiny", "c5_tiny"]  # the full FPN first, then Table order
    assert reg.names("mask_proposals") == ["mask_tiny"]
    assert [n for n in reg.notes if "bad.json" in n] and not [n for n in reg.notes if "junk" in n]
    assert reg.entry("fpn_tiny").metrics() == {"bbox AP": 1.5}
    assert reg.get("fpn_tiny") is reg.get("fpn_tiny")
    assert reg.get("fpn_tiny").config["class_names"] == CLASSES


def test_registry_offers_coco_before_its_download(ckdir, no_coco_anywhere):
    reg = ModelRegistry(ckdir, "cpu")
    assert TORCHVISION_COCO == "torchvision COCO R50-FPN (91 classes)"
    listed = reg.names("detection", downloadable=True)
    zoo = [n for n in listed if reg.entry(n).kind == "detectron2"]
    assert listed == ["fpn_tiny", TORCHVISION_COCO, "c5_tiny"] + zoo and len(zoo) == 9  # Detectron2's zoo last
    assert TORCHVISION_COCO not in reg.names("detection")  # views that pick models themselves never download
    assert not reg.entry(TORCHVISION_COCO).ready
    assert [n for n in reg.notes if fpn.COCO_FILENAME in n and "picking it the first time downloads" in n]


def test_registry_lists_a_coco_file(tmp_path, no_coco_anywhere):
    (tmp_path / "ck").mkdir()
    (tmp_path / "ck" / fpn.COCO_FILENAME).write_bytes(b"listing never loads it")
    reg = ModelRegistry(str(tmp_path / "ck"), "cpu")
    assert reg.names("detection") == [TORCHVISION_COCO] and reg.entry(TORCHVISION_COCO).ready
    assert not [n for n in reg.notes if fpn.COCO_FILENAME in n]
    entry = reg.entry(TORCHVISION_COCO)
    assert entry.config["class_names"][1] == "person" and entry.metrics()["bbox AP"] > 30


def test_coco_model_loads_with_its_class_names(tmp_path, no_coco_anywhere):
    from torchvision.models.detection import fasterrcnn_resnet50_fpn

    state = fasterrcnn_resnet50_fpn(weights=None, weights_backbone=None).state_dict()  # COCO's layout, random values
    torch.save(state, tmp_path / fpn.COCO_FILENAME)
    model = ModelRegistry(str(tmp_path), "cpu").get(TORCHVISION_COCO)
    assert model.config["class_names"][:3] == ["__background__", "person", "bicycle"]


def test_examples_are_real_offline_photos():
    from app.examples import photo_examples

    names = [e.name for e in photo_examples()]
    assert "photo: astronaut" in names and "photo: grace_hopper" in names
    assert all(os.path.isfile(e.path) for e in photo_examples())


def test_example_thumbnails_are_small_and_labelled():
    library = ExampleLibrary(dataset_dirs=[os.path.join(os.path.dirname(__file__), "..", "examples", "pyramid_shapes")])
    photos, with_gt = library.names("photo"), library.names("dataset")
    assert len(photos) >= 2 and len(with_gt) == 6 and sorted(photos + with_gt) == sorted(library.names())
    thumb = library.thumbnail(with_gt[1])
    assert thumb is library.thumbnail(with_gt[1])  # made once
    assert all(max(library.thumbnail(n).size) <= 128 and library.thumbnail(n).mode == "RGB" for n in library.names())
    assert library.examples["photo: astronaut"].caption == "astronaut"
    assert library.examples[with_gt[1]].caption == "2 objects"  # 000000000002.png


def test_model_runs_once_per_image_and_model(explorer, photo):
    before = explorer.analyzer.runs
    explorer.detect(photo, "fpn_tiny", 0.0)
    explorer.pyramid(photo, "fpn_tiny", "l2", 0, "p3")
    explorer.anchors(photo, "fpn_tiny", "p3", "1:1", "point", 10, 10, GTSource.DETECTIONS, 0.0)
    explorer.roi_levels(photo, "fpn_tiny", RoISource.PROPOSALS, 0, 50, 0.0)
    assert explorer.analyzer.runs == before + 1
    explorer.detect(photo, "c5_tiny", 0.0)
    assert explorer.analyzer.runs == before + 2


# ------------------------------------------------------------------------------------------- views
def test_views_give_clear_errors(explorer, photo, tmp_path):
    with pytest.raises(AppError, match="No image"):
        explorer.detect(None, "fpn_tiny", 0.5)
    with pytest.raises(AppError, match="Unknown model"):
        explorer.detect(photo, "nope", 0.5)
    with pytest.raises(AppError, match="is a mask_proposals model"):
        explorer.detect(photo, "mask_tiny", 0.5)
    bad = tmp_path / "x.png"
    bad.write_bytes(b"GIF89a garbage")
    with pytest.raises(ImageError):
        explorer.detect(str(bad), "fpn_tiny", 0.5)


def test_one_sharded_model_compares_alone_and_no_mask_model_is_explained(tmp_path, photo):
    torch.manual_seed(0)
    m = fpn.build_detector("fpn", "resnet18", num_classes=3, min_size=96, max_size=128)
    fpn.save_checkpoint(m, str(tmp_path / "only"), max_shard_mb=4)
    assert (tmp_path / "only.safetensors.index.json").is_file()
    reg = ModelRegistry(str(tmp_path), "cpu")
    assert reg.names(None) == ["only"]  # the shard index is not a second model
    explorer = Explorer(reg, Analyzer(reg), ExampleLibrary(dataset_dirs=()))
    result = explorer.compare(photo, [], 0.5)  # nothing picked: the one installed model
    assert result.image.ndim == 3 and len(result.data["rows"]) == 1 and result.data["rows"][0][0] == "only"
    note = explorer.mask_proposals(photo, None, 5).image
    assert np.array_equal(note, V.note_image(V.NO_MASK_MODEL, 320, 70))  # 320: the narrowest note


# ------------------------------------------------------------------------------------------- UI
def test_ui_endpoints_choices_and_png_outputs(explorer):
    import gradio as gr

    from app.choices import ANCHOR_LEVELS, MERGE_LEVELS, RATIOS
    from app.ui import build_ui

    demo = build_ui(explorer)
    public = {d.api_name for d in demo.fns.values() if d.api_visibility == "public"}
    assert {"detect", "mask_proposals", "pyramid", "anchors", "roi_levels", "compare", "load_image"} <= public
    choices = {b.elem_id: [v for _, v in b.choices] for b in demo.blocks.values() if hasattr(b, "choices")}
    assert choices["aggregation"] == list(V.AGGREGATIONS)
    assert choices["merge-level"] == list(MERGE_LEVELS) and choices["anchor-level"] == list(ANCHOR_LEVELS)
    assert choices["anchor-ratio"] == list(RATIOS) and len(RATIOS) == len(fpn.DEFAULTS["aspect_ratios"]) + 1
    outputs = [b for b in demo.blocks.values() if isinstance(b, gr.Image) and (b.elem_id or "").startswith("out-")]
    assert {"out-detect", "out-masks", "out-pyramid", "out-merge", "out-anchors", "out-positives", "out-roi",
            "out-roi-hist", "out-pooled", "out-compare", "out-tour"} <= {b.elem_id for b in outputs}
    assert {b.format for b in outputs} == {"png"}


def test_guard_turns_errors_into_toasts():
    import gradio as gr

    from app.guard import guard

    @guard
    def boom():
        raise RuntimeError("kaput")

    @guard
    def refuse():
        raise AppError("Pick an image first.")

    with pytest.raises(gr.Error) as unexpected:
        boom()
    assert unexpected.value.message == "Unexpected error in boom: RuntimeError: kaput"
    with pytest.raises(gr.Error) as user_error:
        refuse()
    assert user_error.value.message == "Pick an image first."  # shown as is


def test_automatic_events_wait_for_an_image():
    """A tab opening (also on page load) or a slider moving before any upload shows nothing, not an error toast."""
    import gradio as gr

    from app.tabs.shared import if_image

    calls = []
    handler = if_image(lambda path, *args: calls.append(path) or "shown")
    assert handler(None, 0.5) == gr.skip() and calls == []
    assert handler("photo.png", 0.5) == "shown" and calls == ["photo.png"]


def test_gradio_deprecations_are_errors_in_the_tests():
    """pyproject.toml's filterwarnings: a deprecated Gradio call fails the app tests instead of printing a warning."""
    import gradio as gr

    with pytest.raises(DeprecationWarning, match="row_count"):
        gr.Dataframe(row_count=(2, "fixed"))
