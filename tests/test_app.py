"""The app's pieces without a browser: image loading, the model registry, the analysis cache, every view handler."""
import io
import json
import os

import numpy as np
import pytest
import torch
from PIL import Image

import fpn
from app.images import MAX_PIXELS, ImageError, load_image
from fpn.checkpoint import save_checkpoint


# ------------------------------------------------------------------------------------------- images
def _save(tmp_path, name, im, **kw):
    p = tmp_path / name
    im.save(p, **kw)
    return str(p)


def test_rgb_png(tmp_path):
    arr = np.random.default_rng(0).integers(0, 255, (40, 50, 3), dtype=np.uint8)
    img = load_image(_save(tmp_path, "a.png", Image.fromarray(arr)))
    assert img.array.shape == (40, 50, 3) and np.array_equal(img.array, arr)


def test_not_an_image(tmp_path):
    p = tmp_path / "notes.txt"
    p.write_text("hello, I am not a picture")
    with pytest.raises(ImageError, match="not an image"):
        load_image(str(p))


def test_empty_and_missing(tmp_path):
    p = tmp_path / "empty.png"
    p.write_bytes(b"")
    with pytest.raises(ImageError, match="empty"):
        load_image(str(p))
    with pytest.raises(ImageError, match="not found"):
        load_image(str(tmp_path / "nope.png"))
    with pytest.raises(ImageError, match="No image"):
        load_image(None)


def test_truncated(tmp_path):
    arr = np.random.default_rng(0).integers(0, 255, (200, 200, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    p = tmp_path / "cut.png"
    p.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(ImageError, match="truncated|corrupt|decoded"):
        load_image(str(p))
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="JPEG")
    p.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(ImageError, match="truncated|corrupt"):
        load_image(str(p))


def test_huge_image_refused_before_decoding(tmp_path):
    side = int(np.sqrt(MAX_PIXELS)) + 100  # ~51 MP: a 1-bit PNG of it is tiny on disk
    path = _save(tmp_path, "huge.png", Image.new("1", (side, side)))
    with pytest.raises(ImageError, match="megapixel"):
        load_image(path)


def test_one_pixel_image(tmp_path):
    with pytest.raises(ImageError, match="1x1 px"):
        load_image(_save(tmp_path, "one.png", Image.new("RGB", (1, 1), (255, 0, 0))))


def test_grayscale_rgba_16bit(tmp_path):
    gray = load_image(_save(tmp_path, "g.png", Image.new("L", (20, 16), 77)))
    assert gray.array.shape == (16, 20, 3) and (gray.array == 77).all()
    rgba = Image.new("RGBA", (20, 16), (255, 0, 0, 0))
    rgba.putpixel((0, 0), (0, 0, 255, 255))
    out = load_image(_save(tmp_path, "t.png", rgba)).array
    assert tuple(out[0, 0]) == (0, 0, 255) and tuple(out[5, 5]) == (255, 255, 255)  # transparent -> white
    a16 = np.full((16, 20), 65535, np.uint16)
    a16[0, 0] = 0
    img16 = load_image(_save(tmp_path, "d.png", Image.fromarray(a16)))
    assert tuple(img16.array[5, 5]) == (255, 255, 255) and tuple(img16.array[0, 0]) == (0, 0, 0)
    assert "16-bit" in img16.message


def test_exif_rotation(tmp_path):
    arr = np.zeros((20, 40, 3), np.uint8)  # landscape 40 wide, 20 high; left half red
    arr[:, :20] = (255, 0, 0)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW to display
    path = _save(tmp_path, "r.jpg", Image.fromarray(arr), exif=exif.tobytes(), quality=95)
    img = load_image(path)
    assert img.array.shape == (40, 20, 3)  # upright: portrait
    assert img.array[5, 10, 0] > 200 and img.array[35, 10, 0] < 60  # red (old left) now on top
    assert "EXIF" in img.message


# ------------------------------------------------------------------------------------------- models + analysis
@pytest.fixture(scope="module")
def ckdir(tmp_path_factory):
    d = tmp_path_factory.mktemp("ck")
    torch.manual_seed(0)
    for variant in ("fpn", "c5"):
        m = fpn.build_detector(variant, "resnet18", num_classes=4, min_size=128, max_size=160, box_score_thresh=0.0)
        save_checkpoint(m, str(d / f"{variant}_tiny"), {"class_names": ["__background__", "a", "b", "c"],
                                                        "metrics": {"bbox": {"AP": 1.5}}})
    (d / "junk.json").write_text("{not json")  # no weights beside it: ignored
    (d / "bad.json").write_text(json.dumps({"no": "model"}))
    (d / "bad.safetensors").write_bytes(b"x")
    return str(d)


@pytest.fixture(scope="module")
def explorer(ckdir):
    from app.analysis import Analyzer
    from app.examples import ExampleLibrary
    from app.models import ModelRegistry
    from app.views import Explorer

    reg = ModelRegistry(ckdir, "cpu")
    return Explorer(reg, Analyzer(reg), ExampleLibrary(dataset_dirs=()))


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    arr = np.random.default_rng(1).integers(0, 255, (96, 120, 3), dtype=np.uint8)
    p = tmp_path_factory.mktemp("img") / "photo.png"
    Image.fromarray(arr).save(p)
    return str(p)


def test_registry(explorer):
    reg = explorer.registry
    assert sorted(reg.names("detection")) == ["c5_tiny", "fpn_tiny"]
    assert any("bad.json" in n for n in reg.notes)  # a broken checkpoint is reported, not fatal
    assert any("COCO" in n for n in reg.notes) or "torchvision COCO R50-FPN" in reg.entries
    assert reg.entry("fpn_tiny").metrics() == {"bbox AP": 1.5}
    assert reg.get("fpn_tiny") is reg.get("fpn_tiny")
    assert reg.get("fpn_tiny").config["class_names"][1] == "a"  # older checkpoints: names moved into the config


def test_examples_are_real_offline_photos():
    from app.examples import photo_examples

    names = [e.name for e in photo_examples()]
    assert "photo: astronaut" in names and "photo: grace_hopper" in names
    assert all(os.path.isfile(e.path) for e in photo_examples())


def test_model_runs_once_per_image_and_model(explorer, photo):
    before = explorer.analyzer.runs
    explorer.detect(photo, "fpn_tiny", 0.0)
    explorer.pyramid(photo, "fpn_tiny", "l2", 0, "p3")
    explorer.anchors(photo, "fpn_tiny", "p3", "1:1", "point", 10, 10, "detections as pseudo ground truth", 0.0)
    explorer.roi_levels(photo, "fpn_tiny", "proposals (the RoIs Fast R-CNN pooled)", 0, 50, 0.0)
    assert explorer.analyzer.runs == before + 1
    explorer.detect(photo, "c5_tiny", 0.0)
    assert explorer.analyzer.runs == before + 2


def test_handlers_return_images(explorer, photo):
    img, info = explorer.detect(photo, "fpn_tiny", 0.0)
    assert img.dtype == np.uint8 and info["detections"] and set(info["detections"][0]) == {"box", "score", "label", "class"}
    for mode in ("l2", "pca", "channel", "mean"):
        pyr, merge = explorer.pyramid(photo, "fpn_tiny", mode, 3, "p4")
        assert pyr.ndim == 3 and merge.ndim == 3
    img, chart, md = explorer.anchors(photo, "fpn_tiny", "p2", "all", "density", -1, -1,
                                      "ground truth (dataset images)", 0.0)
    assert img.ndim == 3 and chart.ndim == 3 and "pseudo ground truth" in md
    img, hist, md, pooled, idx = explorer.roi_levels(photo, "fpn_tiny", "detections", 2, 10, 0.0)
    assert "k = floor(4 + log2(" in md and pooled.ndim == 3 and idx == 2
    img, hist, md, pooled, idx = explorer.roi_levels(photo, "fpn_tiny", "proposals (the RoIs Fast R-CNN pooled)", 0,
                                                     10, 0.0, click=(1.0, 1.0))
    assert img.ndim == 3
    grid, table, headers = explorer.compare(photo, ["fpn_tiny", "c5_tiny"], 0.0)
    assert grid.ndim == 3 and len(table) == 2 and "bbox AP" in headers
    # the single-scale variant: views explain what is absent instead of failing
    pyr, merge = explorer.pyramid(photo, "c5_tiny", "l2", 0, "p3")
    img, chart, md = explorer.anchors(photo, "c5_tiny", "p3", "1:1", "point", -1, -1, "x", 0.0)
    assert "not an RPN map" in md
    note = explorer.mask_proposals(photo, None, 5)
    assert note.ndim == 3


def test_handlers_give_clear_errors(explorer, photo, tmp_path):
    from app.views import AppError

    with pytest.raises(AppError, match="No image"):
        explorer.detect(None, "fpn_tiny", 0.5)
    with pytest.raises(AppError, match="Unknown model"):
        explorer.detect(photo, "nope", 0.5)
    with pytest.raises(AppError, match="two to six"):
        explorer.compare(photo, ["fpn_tiny"], 0.5)
    bad = tmp_path / "x.png"
    bad.write_bytes(b"GIF89a garbage")
    with pytest.raises(ImageError):
        explorer.detect(str(bad), "fpn_tiny", 0.5)


def test_ui_builds_and_guard_turns_errors_into_toasts(explorer):
    import gradio as gr

    from app.ui import build_ui, guard

    demo = build_ui(explorer)
    api = {d.api_name for d in demo.fns.values() if d.api_name}
    assert {"detect", "pyramid", "anchors", "roi_levels", "compare", "mask_proposals", "load_image"} <= api

    @guard
    def boom():
        raise RuntimeError("kaput")

    with pytest.raises(gr.Error, match="kaput"):
        boom()


def test_sharded_checkpoint_is_listed_once_and_compares_alone(tmp_path, photo):
    from app.analysis import Analyzer
    from app.examples import ExampleLibrary
    from app.models import ModelRegistry
    from app.views import Explorer

    torch.manual_seed(0)
    m = fpn.build_detector("fpn", "resnet18", num_classes=3, min_size=96, max_size=128)
    save_checkpoint(m, str(tmp_path / "only"), {"class_names": ["__background__", "a", "b"]}, max_shard_mb=4)
    assert (tmp_path / "only.safetensors.index.json").is_file()
    reg = ModelRegistry(str(tmp_path), "cpu")
    assert reg.names("detection") == ["only"]  # the shard index is not a second model
    explorer = Explorer(reg, Analyzer(reg), ExampleLibrary(dataset_dirs=()))
    grid, table, headers = explorer.compare(photo, [], 0.5)  # nothing picked: the one installed model
    assert grid.ndim == 3 and len(table) == 1 and table[0][0] == "only"
