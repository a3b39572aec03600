"""Reading Detectron2's weights: the restricted unpickler, the key mapping against the real zoo files' names and
shapes (tests/fixtures/detectron2/keys.json: from Detectron2's own models built from each zoo config, since the
.pkl files cannot be downloaded here), and a specific message for each way a file can be wrong."""
import os
import pickle

import numpy as np
import pytest
import torch

import fpn
from detectron2_support import key_shapes, random_weights, write_zoo_pkl
from fpn.weights.detectron2 import convert_detectron2_state_dict, describe, detectron2_key
from fpn.weights.detectron2_zoo import ZOO, zoo_model
from fpn.weights.safe_pickle import TruncatedPickleError, UnsafePickleError, load_numpy_pickle

RPN_FPN = "COCO-Detection/rpn_R_50_FPN_1x"


class RunsCode:
    def __reduce__(self):
        return (os.system, ("touch PWNED",))


def test_unpickler_reads_numpy_in_every_protocol():
    data = {"model": {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.zeros((0,), np.float64)},
            "__author__": "Detectron2 Model Zoo", "n": 3, "t": (1.5, "x")}
    for protocol in (2, 3, 4, 5):
        got = load_numpy_pickle(pickle.dumps(data, protocol=protocol))
        assert np.array_equal(got["model"]["a"], data["model"]["a"]) and got["model"]["a"].dtype == np.float32
        assert got["t"] == (1.5, "x")


@pytest.mark.parametrize("payload", [RunsCode(), torch.zeros(2), eval])
def test_unpickler_refuses_anything_else_without_running_it(payload, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "model_final_abcdef.pkl"
    path.write_bytes(pickle.dumps({"model": {"x": payload}, "__author__": "x"}, protocol=2))
    with pytest.raises(UnsafePickleError, match="refused: the pickle asks for .* nothing in it was run"):
        fpn.from_detectron2(path)
    assert not (tmp_path / "PWNED").exists()


def test_truncated_pkl(tmp_path):
    shapes = key_shapes()[RPN_FPN]
    path = write_zoo_pkl(random_weights(shapes, 0), tmp_path / "full.pkl")
    cut = tmp_path / "cut.pkl"
    for n in (100, len(path.read_bytes()) // 2, len(path.read_bytes()) - 1):
        cut.write_bytes(path.read_bytes()[:n])
        with pytest.raises(TruncatedPickleError, match="ends early"):
            fpn.from_detectron2(cut)


def test_pkl_of_the_wrong_model(tmp_path):
    path = tmp_path / "retinanet.pkl"
    write_zoo_pkl({"backbone.bottom_up.stem.conv1.weight": np.zeros((64, 3, 7, 7), np.float32),
                   "head.cls_score.weight": np.zeros((720, 256, 3, 3), np.float32)}, path)
    with pytest.raises(ValueError, match=r"not a Detectron2 Faster R-CNN / RPN .*head\.cls_score\.weight"):
        fpn.from_detectron2(path)
    path = tmp_path / "caffe2.pkl"
    path.write_bytes(pickle.dumps({"blobs": {"conv1_w": np.zeros(3)}}, protocol=2))
    with pytest.raises(ValueError, match="not in Detectron2's model-zoo format"):
        fpn.from_detectron2(path)
    mask = {**random_weights(key_shapes()[RPN_FPN], 0), "roi_heads.mask_head.predictor.weight": np.zeros(3)}
    with pytest.raises(ValueError, match="a Mask R-CNN"):
        fpn.from_detectron2(mask)


def test_missing_key_and_wrong_shape():
    weights = random_weights(key_shapes()[RPN_FPN], 0)
    del weights["backbone.bottom_up.res3.0.conv2.norm.running_var"]
    with pytest.raises(ValueError, match=r"lacks 1 weight.*backbone\.bottom_up\.res3\.0\.conv2\.norm\.running_var"):
        fpn.from_detectron2(weights)
    weights = random_weights(key_shapes()[RPN_FPN], 0)
    weights["proposal_generator.rpn_head.objectness_logits.weight"] = np.zeros((15, 256, 1, 1), np.float32)
    with pytest.raises(ValueError, match="wrong shape.*rpn.head.objectness.weight: \\(15, 256, 1, 1\\)"):
        fpn.from_detectron2(weights)


def test_missing_file_and_unknown_name(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        fpn.from_detectron2(tmp_path / "nothing.pkl")
    with pytest.raises(ValueError, match="not a Detectron2 model-zoo model offered here"):
        fpn.from_detectron2("COCO-Detection/faster_rcnn_X_101_32x8d_FPN_3x")


@pytest.mark.parametrize("name", [n for n in ZOO if ZOO[n].task != "fast_rcnn"])
def test_key_mapping_covers_the_real_zoo_files(name):
    """Every key of the zoo model (as Detectron2 builds it from its config) maps onto our detector of the zoo table's
    variant and depth, with the same shape, and back."""
    shapes = key_shapes()[name]
    meta = zoo_model(name)
    converted = convert_detectron2_state_dict({k: torch.empty(s) for k, s in shapes.items()})
    info = describe(converted)
    assert (info["variant"], info["backbone"], info["rpn_only"]) == (meta.variant, meta.backbone, meta.task == "rpn")
    model = fpn.from_detectron2({k: np.zeros(s, np.float32) for k, s in shapes.items()})
    ours = model.state_dict()
    assert set(ours) == set(converted)
    assert all(tuple(ours[k].shape) == tuple(v.shape) for k, v in converted.items())
    assert {detectron2_key(k, meta.variant) for k in ours} == set(shapes)


def test_fast_rcnn_runs_on_the_proposals_of_an_rpn_model():
    """fast_rcnn_R_50_FPN_1x has no RPN: alone it gets a message; with proposals= it detects on the RPN model's top
    1000 proposals, which are the RPN model's own (same input convention, same resized image)."""
    shapes = key_shapes()["COCO-Detection/fast_rcnn_R_50_FPN_1x"]
    fast = random_weights(shapes, 5)
    with pytest.raises(ValueError, match="Fast R-CNN model .* pass proposals="):
        fpn.from_detectron2(fast)
    small = {"min_size": 160, "max_size": 224}
    rpn = fpn.from_detectron2(random_weights(key_shapes()[RPN_FPN], 3), **small).exact()
    image = torch.rand(3, 150, 210, generator=torch.Generator().manual_seed(0))
    alone = rpn.predict([image])[0]
    pair = fpn.from_detectron2(fast, proposals=rpn, **small).exact()
    assert not pair.config["rpn_only"] and pair.is_exact
    out = pair.predict([image])[0]
    n = min(1000, len(alone["proposals"]))
    assert torch.equal(out["proposals"], alone["proposals"][:n]) and len(out["boxes"]) > 0
    with pytest.raises(ValueError, match="must be an RPN-only model"):
        fpn.from_detectron2(fast, proposals=pair)


def test_zoo_table():
    m = zoo_model("faster_rcnn_R_50_C4_1x")
    assert m.url == "https://dl.fbaipublicfiles.com/detectron2/COCO-Detection/faster_rcnn_R_50_C4_1x/137257644/" \
                    "model_final_721ade.pkl"
    assert m.md5_prefix == "721ade" and m.label == "Detectron2 R50-C4 1x, COCO, AP 35.7"
    assert zoo_model("COCO-Detection/rpn_R_50_FPN_1x.yaml").label == "Detectron2 RPN R50-FPN 1x, COCO, AR 58.0"
    assert len({m.filename for m in ZOO.values()}) == len(ZOO)


def test_pth_saved_by_detectron2_and_our_checkpoint_round_trip(tmp_path):
    """A .pth as Detectron2's checkpointer saves it ({"model": state dict, ...}) loads like the .pkl; the loaded model
    saves as our checkpoint and comes back with Detectron2's conventions (they are build options)."""
    weights = random_weights(key_shapes()[RPN_FPN], 0)
    torch.save({"model": {k: torch.from_numpy(v) for k, v in weights.items()}, "iteration": 90000},
               tmp_path / "model_final.pth")
    small = {"min_size": 160, "max_size": 224}
    from_pth = fpn.from_detectron2(tmp_path / "model_final.pth", **small).exact()
    from_pkl = fpn.from_detectron2(write_zoo_pkl(weights, tmp_path / "m.pkl"), **small).exact()
    image = torch.rand(3, 150, 210, generator=torch.Generator().manual_seed(0))
    a, b = from_pth.predict([image])[0], from_pkl.predict([image])[0]
    assert torch.equal(a["proposals"], b["proposals"]) and len(a["proposals"]) > 0
    fpn.save_checkpoint(from_pkl, str(tmp_path / "ck"))
    again = fpn.load_checkpoint(str(tmp_path / "ck")).exact()
    assert again.config["input_format"] == "bgr255" and again.config["rpn_only"]
    assert torch.equal(again.predict([image])[0]["proposals"], b["proposals"])
