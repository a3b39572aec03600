"""Checkpoints: safetensors + JSON round trip, fp16 storage, sharded weights, clear errors; the training state
(fpn.training.state) with RNG."""
from __future__ import annotations

import json
import os
import random

import numpy as np
import pytest
import torch
from toy_coco import read_json

import fpn
from fpn.weights.checkpoint import (
    CheckpointError,
    checkpoint_files,
    checkpoint_paths,
    load_checkpoint,
    read_metadata,
    save_checkpoint,
)
from fpn.weights.shards import join_parts, split_shards
from fpn.training.state import capture_rng_state, load_training_state, restore_rng_state, save_training_state

SMALL = {"min_size": 64, "max_size": 64, "pyramid_channels": 32, "representation_size": 64}


def _write_json(path, data):
    with open(path, "w") as f:
        json.dump(data, f)


def _write_text(path, text):
    with open(path, "w") as f:
        f.write(text)


def _write_bytes(path, data):
    with open(path, "wb") as f:
        f.write(data)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return fpn.build_detector("fpn", "resnet18", num_classes=3, class_names=["a", "b"], **SMALL).eval()


def _same_state(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert sa[k].dtype == sb[k].dtype, k
        assert torch.equal(sa[k], sb[k]), k


def test_round_trip(model, tmp_path):
    ck = str(tmp_path / "run" / "model")
    w, j = save_checkpoint(model, ck, {"metrics": {"bbox": {"AP": 1.0}}, "training": {"command": "x"}})
    assert w.endswith("model.safetensors") and j.endswith("model.json")
    assert not [f for f in os.listdir(tmp_path / "run") if ".tmp" in f]
    meta = read_json(j)
    assert meta["task"] == "detection" and meta["model"] == model.config
    assert meta["model"]["class_names"] == ["__background__", "a", "b"] and meta["format_version"] == 1
    for name in (ck, w, j):  # any of the three names works
        loaded = load_checkpoint(name)
        _same_state(model, loaded)
    assert loaded.config == model.config and not loaded.training
    assert read_metadata(ck)["metrics"]["bbox"]["AP"] == 1.0 and not hasattr(loaded, "checkpoint_metadata")
    image = torch.rand(3, 64, 80)
    with torch.no_grad():
        a, b = model([image])[0], loaded([image])[0]
    assert a["boxes"].shape[0] > 0  # the comparison below compares something
    assert torch.equal(a["boxes"], b["boxes"]) and torch.equal(a["scores"], b["scores"])


def test_fp16_storage(model, tmp_path):
    full = save_checkpoint(model, str(tmp_path / "full"))[0]
    half = save_checkpoint(model, str(tmp_path / "half"), fp16=True)[0]
    assert os.path.getsize(half) < 0.6 * os.path.getsize(full)
    loaded = load_checkpoint(str(tmp_path / "half"))
    assert read_metadata(str(tmp_path / "half"))["weights_dtype"] == "float16"
    for k, v in model.state_dict().items():
        w = loaded.state_dict()[k]
        assert w.dtype == v.dtype, k
        if v.is_floating_point():
            torch.testing.assert_close(w, v, rtol=2e-3, atol=1e-4)
        else:
            assert torch.equal(w, v)


def test_sharded_weights(model, tmp_path):
    ck = str(tmp_path / "model")
    save_checkpoint(model, ck)  # a single-file save first: the sharded save of the same name must replace it
    index, _ = save_checkpoint(model, ck, max_shard_mb=2)
    assert index.endswith("model.safetensors.index.json") and not os.path.exists(ck + ".safetensors")
    shards = sorted(f for f in os.listdir(tmp_path) if f.startswith("model-") and f.endswith(".safetensors"))
    assert len(shards) >= 3 and shards[0] == f"model-00001-of-{len(shards):05d}.safetensors"
    index_json = read_json(index)
    weight_map = index_json["weight_map"]
    assert sorted(set(weight_map.values())) == shards
    assert index_json["metadata"]["total_size"] == sum(v.numel() * v.element_size() for v in model.state_dict().values())
    assert all(os.path.getsize(tmp_path / f) <= 2 * 2 ** 20 for f in shards)
    # tensors larger than a shard (layer4's 3x3 convs: 9 MiB) are stored in pieces and joined on load
    assert any("::part0of" in k for k in weight_map)
    assert sorted(checkpoint_files(ck)) == sorted([ck + ".json", index] + [str(tmp_path / f) for f in shards])
    for name in (ck, index, ck + ".json"):
        _same_state(model, load_checkpoint(name))
    os.remove(tmp_path / shards[-1])
    with pytest.raises(FileNotFoundError, match=shards[-1]):
        load_checkpoint(ck)
    _write_json(index, {"weights": "no weight_map"})
    with pytest.raises(CheckpointError, match="not a safetensors shard index"):
        load_checkpoint(ck)
    assert sorted(checkpoint_files(ck)) == sorted([ck + ".json", index])  # the broken index is still listed


def test_shards_split_and_join():
    """Row blocks of a tensor larger than a shard are joined in order; a missing block is an error, not a short
    tensor."""
    big, small = torch.arange(40 * 2 ** 14, dtype=torch.float32).reshape(40, -1), torch.ones(3)  # 2.5 MiB, 12 B
    shards = split_shards({"big": big, "small": small, "scalar": torch.tensor(1.0)}, max_shard_mb=1)
    pieces = {k: v for shard in shards for k, v in shard.items()}
    # a shard holds 1 MiB - 64 KiB of tensors: 15 rows of 64 KiB; the small tensors follow the last block
    assert [list(shard) for shard in shards] == [["big::part0of3"], ["big::part1of3"],
                                                 ["big::part2of3", "small", "scalar"]]
    assert all(sum(v.numel() * v.element_size() for v in shard.values()) <= 2 ** 20 for shard in shards)
    joined = join_parts(pieces)
    assert joined.keys() == {"big", "small", "scalar"} and torch.equal(joined["big"], big)
    assert split_shards({"big": big}, None) == [{"big": big}]
    del pieces["big::part1of3"]
    with pytest.raises(ValueError, match=r"tensor big is incomplete: parts \[0, 2\] of 3"):
        join_parts(pieces)


def test_errors(model, tmp_path):
    from safetensors.torch import load_file, save_file

    ck = str(tmp_path / "m")
    w, j = save_checkpoint(model, ck)
    with pytest.raises(FileNotFoundError, match="metadata not found"):
        load_checkpoint(str(tmp_path / "nothing"))
    os.rename(w, w + ".bak")
    with pytest.raises(FileNotFoundError, match="weights not found"):
        load_checkpoint(ck)
    _write_bytes(w, b"this is not a safetensors file at all")
    with pytest.raises(CheckpointError, match="not a readable safetensors file"):
        load_checkpoint(ck)
    os.replace(w + ".bak", w)
    state = load_file(w)
    dropped = min(state)
    save_file({k: v for k, v in state.items() if k != dropped}, w)
    with pytest.raises(CheckpointError, match="missing key"):
        load_checkpoint(ck)
    save_file({**state, "extra.weight": torch.zeros(1)}, w)
    with pytest.raises(CheckpointError, match="unexpected key"):
        load_checkpoint(ck)
    save_file(state, w)
    meta = read_json(j)
    meta["model"]["num_classes"] = 5
    _write_json(j, meta)
    with pytest.raises(CheckpointError, match="class_names has 3 names for num_classes=5"):
        load_checkpoint(ck)
    meta["model"]["class_names"] = None
    _write_json(j, meta)
    with pytest.raises(CheckpointError, match=r"shape mismatch for roi_heads\..*"):
        load_checkpoint(ck)
    meta["model"]["num_classes"] = 3
    meta["model"]["variant"] = "pyramid_of_doom"
    _write_json(j, meta)
    with pytest.raises(CheckpointError, match="pyramid_of_doom"):
        load_checkpoint(ck)
    meta["model"]["variant"] = "fpn"
    meta["task"] = "segmentation"
    _write_json(j, meta)
    with pytest.raises(CheckpointError, match="unknown task"):
        load_checkpoint(ck)
    _write_text(j, "{broken")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_checkpoint(ck)
    with pytest.raises(CheckpointError, match="unknown task"):
        save_checkpoint(model, ck, task="classification")
    assert checkpoint_paths("a/b.json") == ("a/b.safetensors", "a/b.json")


def test_training_state_and_rng(tmp_path):
    net = torch.nn.Linear(3, 2)
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    net(torch.rand(4, 3)).sum().backward()
    opt.step()
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    rng = capture_rng_state()
    expected = (random.random(), np.random.rand(), torch.rand(2))
    path = save_training_state(str(tmp_path / "resume.pt"), {"step": 7, "optimizer": opt.state_dict(), "rng": rng,
                                                             "model": net.state_dict()})
    state = load_training_state(path)  # weights_only=True inside
    assert state["step"] == 7
    restore_rng_state(state["rng"])
    got = (random.random(), np.random.rand(), torch.rand(2))
    assert got[0] == expected[0] and got[1] == expected[1] and torch.equal(got[2], expected[2])
    opt2 = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    opt2.load_state_dict(state["optimizer"])
    assert torch.equal(opt2.state_dict()["state"][0]["momentum_buffer"], opt.state_dict()["state"][0]["momentum_buffer"])
    with pytest.raises(FileNotFoundError):
        load_training_state(str(tmp_path / "none.pt"))
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(CheckpointError, match="cannot read training state"):
        load_training_state(str(tmp_path / "junk.pt"))


def test_training_state_refuses_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    path = tmp_path / "evil.pt"
    torch.save({"step": 1, "x": Evil()}, path)
    with pytest.raises(CheckpointError, match="cannot read training state"):
        load_training_state(str(path))


def test_class_names_of_older_checkpoints_move_into_the_config(model, tmp_path):
    """Checkpoints written before class names moved into the model's config kept them at the JSON's top level."""
    ck = str(tmp_path / "old")
    _, meta_path = save_checkpoint(model, ck)
    meta = read_json(meta_path)
    names = meta["model"].pop("class_names")
    meta["class_names"] = names
    _write_json(meta_path, meta)
    assert load_checkpoint(ck).config["class_names"] == names
    with pytest.raises(ValueError, match="class_names has 4 names for num_classes=3"):
        fpn.build_detector("fpn", "resnet18", num_classes=3, class_names=["w", "x", "y", "z"])
    assert fpn.build_detector("fpn", "resnet18", num_classes=3, class_names=["x", "y"]).config["class_names"] == [
        "__background__", "x", "y"]


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def test_bundled_checkpoints_hold_no_absolute_paths():
    """Metadata travels with the checkpoint: a path of the machine that trained it means nothing elsewhere."""
    folder = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "checkpoints")
    stems = fpn.find_checkpoints(folder)
    assert stems, f"no bundled checkpoint in {folder}"
    for stem in stems:
        bad = [s for s in _strings(fpn.read_metadata(stem)) if s.startswith("/") or " /" in s or "\\" in s]
        assert not bad, f"{stem}.json holds machine paths: {bad}"
