"""int8 / float16 / float32 weight storage of checkpoints (fpn.weights.storage) and scripts/bundle_checkpoint.py."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file, save_file

import fpn
from fpn.weights.checkpoint import CheckpointError, checkpoint_files, load_checkpoint, read_metadata, save_checkpoint
from fpn.weights.storage import decode, encode, stored_dtype

SMALL = {"min_size": 64, "max_size": 64, "pyramid_channels": 32, "representation_size": 64}
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_int8_round_trip_is_within_half_a_step_per_output_channel():
    torch.manual_seed(0)
    conv = torch.randn(8, 3, 3, 3) * torch.logspace(-3, 1, 8)[:, None, None, None]  # rows of very different ranges
    conv[5] = 0.0  # an all-zero output channel
    state = {"conv.weight": conv, "fc.weight": torch.randn(4, 6), "bn.running_var": torch.rand(8) + 0.5,
             "bn.num_batches_tracked": torch.tensor(7)}
    stored = encode(state, "int8")
    assert stored["conv.weight::int8"].dtype == torch.int8 and stored["conv.weight::scale"].shape == (8,)
    assert stored["bn.running_var"].dtype == torch.float32 and stored["bn.num_batches_tracked"].dtype == torch.int64
    assert stored_dtype(stored) == "int8"
    back = decode(stored)
    assert back.keys() == state.keys()
    step = conv.abs().flatten(1).amax(1) / 127  # per output channel
    err = (back["conv.weight"] - conv).abs().flatten(1).amax(1)
    assert (err <= step / 2 + 1e-12).all() and (err[step > 0] > 0).any()
    assert torch.equal(back["conv.weight"][5], torch.zeros(3, 3, 3))
    assert torch.equal(back["bn.running_var"], state["bn.running_var"])  # 1-d tensors are kept exactly
    assert torch.equal(back["bn.num_batches_tracked"], state["bn.num_batches_tracked"])
    assert stored_dtype(encode(state, "float16")) == "float16" and stored_dtype(state) == "float32"
    with pytest.raises(ValueError, match="storage must be one of"):
        encode(state, "int4")


def test_an_int8_checkpoint_is_a_quarter_of_float32_and_loads_back(tmp_path):
    torch.manual_seed(0)
    model = fpn.build_detector("fpn", "resnet18", num_classes=3, **SMALL).eval()
    full, _ = save_checkpoint(model, str(tmp_path / "f32"))
    small, meta_path = save_checkpoint(model, str(tmp_path / "i8"), storage="int8")
    ratio = os.path.getsize(small) / os.path.getsize(full)
    assert 0.25 <= ratio < 0.3, ratio
    assert read_metadata(meta_path)["weights_dtype"] == "int8"
    loaded = load_checkpoint(str(tmp_path / "i8"))
    for k, v in model.state_dict().items():
        w = loaded.state_dict()[k]
        assert w.dtype == v.dtype, k
        if v.is_floating_point() and v.dim() >= 2:
            assert (w - v).abs().max() <= v.abs().max() / 254 + 1e-9, k
        else:
            assert torch.equal(w, v), k
    # sharded int8: the row blocks of a cut tensor are int8 too, and join before dequantisation
    save_checkpoint(model, str(tmp_path / "sh"), storage="int8", max_shard_mb=0.2)
    assert len(checkpoint_files(str(tmp_path / "sh"))) > 3
    resharded = load_checkpoint(str(tmp_path / "sh"))
    for k, v in loaded.state_dict().items():
        assert torch.equal(resharded.state_dict()[k], v), k


def test_an_int8_tensor_without_its_scale_is_a_clear_error(tmp_path):
    torch.manual_seed(0)
    model = fpn.build_detector("fpn", "resnet18", num_classes=3, **SMALL)
    weights, _ = save_checkpoint(model, str(tmp_path / "m"), storage="int8")
    state = load_file(weights)
    del state["rpn.head.conv.weight::scale"]
    save_file(state, weights)
    with pytest.raises(CheckpointError, match=r"rpn\.head\.conv\.weight::int8 needs a float scale"):
        load_checkpoint(str(tmp_path / "m"))


def test_bundle_checkpoint_labels_stores_and_replaces(tmp_path):
    torch.manual_seed(0)
    model = fpn.build_detector("fpn", "resnet18", num_classes=3, **SMALL)
    save_checkpoint(model, str(tmp_path / "run" / "model"), {"metrics": {"bbox": {"AP": 99.0}}})
    out = str(tmp_path / "bundle" / "fpn_r18_cpu")
    os.makedirs(tmp_path / "bundle")
    stale = tmp_path / "bundle" / "fpn_r18_cpu-00009-of-00009.safetensors"
    save_checkpoint(model, out, max_shard_mb=0.5)  # an older, sharded bundle of the same name
    stale.write_bytes(b"")
    with open(out + ".safetensors.index.json") as f:
        index = json.load(f)
    index["weight_map"]["x"] = stale.name
    with open(out + ".safetensors.index.json", "w") as f:
        json.dump(index, f)
    r = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "bundle_checkpoint.py"), "--checkpoint",
                        str(tmp_path / "run" / "model"), "--out", out, "--profile", "cpu", "--note", "a test"],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert "total" in r.stdout and "(int8)" in r.stdout
    meta = read_metadata(out)
    assert meta["weights_dtype"] == "int8" and meta["metrics"] == {}  # the source's numbers describe other weights
    assert meta["bundle"]["trained_on"] == "CPU" and meta["bundle"]["note"] == "a test"
    assert sorted(p.name for p in (tmp_path / "bundle").iterdir()) == ["fpn_r18_cpu.json", "fpn_r18_cpu.safetensors"]
    load_checkpoint(out)
