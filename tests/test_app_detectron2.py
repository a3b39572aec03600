"""Detectron2's zoo in the app: the model list offers it with the published AP / AR, picking a model downloads it
with progress (a local HTTP server stands in for the zoo; seeded weights in the zoo's .pkl format), and every view
works with the R50-C4 detector (no P levels, 15 anchors per position on C4, every RoI on C4) and the RPN-only C4
(proposals and objectness, no detections); Compare puts them side by side; the snippets load them as the app does."""
import dataclasses
import hashlib
import os

import numpy as np
import torch
import pytest
from PIL import Image

import fpn
from app.analysis import Analyzer
from app.choices import GTSource, RoISource
from app.examples import ExampleLibrary
from app.models import ModelRegistry
from app.views import Explorer
from detectron2_support import key_shapes, random_weights, write_zoo_pkl
from local_server import serving
from stub_model import StubModel
from fpn.weights import detectron2_zoo

C4, RPN_C4 = "COCO-Detection/faster_rcnn_R_50_C4_1x", "COCO-Detection/rpn_R_50_C4_1x"
FILES: dict[str, bytes] = {}
SMALL = {"min_size": 160, "max_size": 224, "rpn_post_nms_top_n_test": 50}


@pytest.fixture(scope="module")

def zoo(tmp_path_factory):
    """Seeded C4 and RPN-only C4 files on a local server, the zoo table pointing at them (md5 prefixes theirs)."""
    entries = {}
    for seed, name in enumerate((C4, RPN_C4)):
        pkl = write_zoo_pkl(random_weights(key_shapes()[name], seed), tmp_path_factory.mktemp("zoo") / "m.pkl")
        body = pkl.read_bytes()
        pkl.unlink()
        entry = detectron2_zoo.ZOO[name]
        entry = dataclasses.replace(entry, suffix=f"{entry.suffix.split('/')[0]}/model_final_"
                                                  f"{hashlib.md5(body).hexdigest()[:6]}.pkl")
        FILES[f"/{name}/{entry.suffix}"] = body
        entries[name] = entry
    with serving(FILES) as server, pytest.MonkeyPatch.context() as mp:
        mp.setenv("FPN_DETECTRON2_MIRROR", server)
        mp.setenv("TORCH_HOME", str(tmp_path_factory.mktemp("torch_home")))
        for name, entry in entries.items():
            mp.setitem(detectron2_zoo.ZOO, name, entry)
        yield entries


@pytest.fixture(scope="module")
def explorer(zoo, tmp_path_factory):
    registry = ModelRegistry(str(tmp_path_factory.mktemp("no_checkpoints")), "cpu", zoo_options=SMALL)
    return Explorer(registry, Analyzer(registry), ExampleLibrary(dataset_dirs=()))


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    import skimage

    p = tmp_path_factory.mktemp("img") / "coffee.png"
    Image.open(os.path.join(os.path.dirname(skimage.__file__), "data", "coffee.png")).convert("RGB").save(p)
    return str(p)


def test_list_download_and_views(explorer, zoo, photo):
    reg = explorer.registry
    c4, rpn = zoo[C4].label, zoo[RPN_C4].label
    assert c4 == "Detectron2 R50-C4 1x, COCO, AP 35.7" and rpn == "Detectron2 RPN R50-C4 1x, COCO, AR 51.6"
    listed = reg.names("detection", downloadable=True)
    assert {c4, rpn} <= set(listed) and c4 not in reg.names("detection")
    assert "Detectron2 R50-FPN 1x, COCO, AP 37.9" in listed and reg.entry(c4).metrics() == {"bbox AP": 35.7}
    steps = []
    model = reg.get(c4, lambda fraction, text: steps.append((fraction, text)))
    assert steps[-1][0] == 1.0 and "downloading" in steps[-1][1] and reg.entry(c4).ready
    assert model.config["variant"] == "c4" and model.config["class_names"][1] == "person"
    reg.get(rpn)
    assert set(reg.names("detection")) == {c4, rpn}
    assert reg.compare_defaults(2)[0] == c4  # the downloaded zoo detector stands for its variant

    det = explorer.detect(photo, c4, 0.0)
    assert len(det.data["detections"]) > 0
    explorer.anchors(photo, c4, "c4", "all", "density", -1, -1, GTSource.DETECTIONS.value, 0.0)
    ex = explorer.analysis(photo, c4).exploration
    assert list(ex.rpn) == ["c4"] and len(ex.rpn["c4"].anchor_shapes) == 15  # no P levels; 15 anchors on C4
    assert ex.rpn["c4"].anchor_shapes[:3] == [(32, 0.5), (32, 1.0), (32, 2.0)]  # Detectron2's size-major order
    explorer.roi_levels(photo, c4, RoISource.PROPOSALS.value, 3, 20, 0.0)
    assert set(ex.roi_levels.tolist()) == {4}  # every RoI on C4
    explorer.pyramid(photo, c4, "pca", 3, "c4")

    none = explorer.detect(photo, rpn, 0.0)
    assert none.data["detections"] == [] and "RPN-only model makes no detections" in none.text
    assert "V.draw_proposals(" in none.code  # the view draws its proposals instead
    explorer.anchors(photo, rpn, "c4", "1:2", "point", 20, 30, GTSource.DETECTIONS.value, 0.0)
    explorer.roi_levels(photo, rpn, RoISource.PROPOSALS.value, 3, 20, 0.0)
    compare = explorer.compare(photo, [c4, rpn], 0.0, 20)
    assert "fpn.from_detectron2(" in compare.code
    img = compare.images["compare"]
    assert img.dtype == np.uint8


def test_offline_pick_says_where_to_put_the_file(zoo, tmp_path, monkeypatch):
    from app.errors import AppError

    monkeypatch.setenv("FPN_DETECTRON2_MIRROR", "http://127.0.0.1:9")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))
    reg = ModelRegistry(str(tmp_path / "none"), "cpu")
    name = zoo[RPN_C4].label
    with pytest.raises(AppError, match=f"not available yet: .*put it at {fpn.hub_dir() / zoo[RPN_C4].filename}"):
        reg.get(name)


def test_fast_rcnn_pick_downloads_its_rpn_model_too(zoo, tmp_path, monkeypatch):
    """Table 2's Fast R-CNN runs on rpn_R_50_FPN_1x's proposals: picking it fetches both files (md5 checked) and
    loads the pair with fpn.from_detectron2(fast_rcnn_file, proposals=rpn_file); its snippet does the same."""
    from app import snippets as S

    fast, rpn = "COCO-Detection/fast_rcnn_R_50_FPN_1x", "COCO-Detection/rpn_R_50_FPN_1x"
    for name, body in ((fast, b"fast rcnn bytes"), (rpn, b"rpn bytes")):
        entry = detectron2_zoo.ZOO[name]
        entry = dataclasses.replace(entry, suffix=f"{entry.suffix.split('/')[0]}/model_final_"
                                                  f"{hashlib.md5(body).hexdigest()[:6]}.pkl")
        FILES[f"/{name}/{entry.suffix}"] = body
        monkeypatch.setitem(detectron2_zoo.ZOO, name, entry)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))
    calls = []
    monkeypatch.setattr(fpn, "from_detectron2", lambda path, **kw: calls.append((path, kw)) or StubModel())
    reg = ModelRegistry(str(tmp_path / "none"), "cpu")
    label = detectron2_zoo.ZOO[fast].label
    assert label == "Detectron2 Fast R-CNN R50-FPN 1x, COCO, AP 37.8" and not reg.entry(label).ready
    reg.get(label)
    hub = fpn.hub_dir()
    assert calls == [(str(hub / detectron2_zoo.ZOO[fast].filename),
                      {"proposals": str(hub / detectron2_zoo.ZOO[rpn].filename)})]
    assert reg.entry(label).ready and "on the proposals of COCO-Detection/rpn_R_50_FPN_1x" in reg.entry(label).description
    assert "proposals='COCO-Detection/rpn_R_50_FPN_1x'" in S.load_model("detectron2", reg.entry(label).path)


@pytest.mark.slow
def test_why_sweep_receptive_field_and_tour(explorer, zoo, photo):
    """The other views on the zoo's C4 detector and RPN-only C4 (the registry's files from the test above)."""
    from app import tour

    c4, rpn = zoo[C4].label, zoo[RPN_C4].label
    for name in (c4, rpn):
        explorer.registry.get(name)
        why = explorer.why(photo, name, -1, -1, 0.0)
        assert ("no box to explain" in why.text) == (name == rpn)
        sweep = explorer.scale_sweep(photo, c4, "detections", 0, -1, -1, [] if name == c4 else [rpn], 0.0)
        assert sweep.images
        rf = explorer.receptive_field(photo, name, "p4", -1, -1)
        assert rf.data["level"] == "c4"  # no pyramid: its C4 instead
        for step in range(len(tour.STEPS)):
            tour.figure(explorer, step, photo, name, 0.0)
