"""Detectron2 zoo downloads go through fpn/hub.py's one download path, against a local HTTP server standing in for the
zoo: the md5 prefix of the zoo's file names is checked (a wrong file is refused and deleted), the file lands in torch's
hub cache by atomic rename, offline gives a message that says where to put the file, and `scripts/download_weights.py detectron2 NAME`
fetches one beforehand."""
import dataclasses
import hashlib
import os
import socket
import sys
from pathlib import Path

import pytest

import fpn
from detectron2_support import key_shapes, random_weights, write_zoo_pkl
from local_server import serving
from fpn import hub
from fpn.weights import detectron2_zoo

NAME = "COCO-Detection/rpn_R_50_C4_1x"
FILES: dict[str, bytes] = {}


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    """A local zoo serving a seeded rpn_R_50_C4_1x in the zoo's .pkl format, under a name carrying its md5 prefix."""
    pkl = write_zoo_pkl(random_weights(key_shapes()[NAME], 0), tmp_path_factory.mktemp("zoo") / "model.pkl")
    body = pkl.read_bytes()
    md5 = hashlib.md5(body).hexdigest()
    entry = dataclasses.replace(detectron2_zoo.ZOO[NAME], suffix=f"137258005/model_final_{md5[:6]}.pkl")
    FILES[f"/zoo/{NAME}/{entry.suffix}"] = body
    FILES["/small/model_final_000000.pkl"] = b"not the right bytes"
    with serving(FILES) as server:
        yield server, entry, body


@pytest.fixture
def hub_home(tmp_path, monkeypatch, zoo):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.setenv("FPN_DETECTRON2_MIRROR", f"{zoo[0]}/zoo")
    monkeypatch.setitem(detectron2_zoo.ZOO, NAME, zoo[1])
    monkeypatch.chdir(tmp_path)
    return tmp_path / "torch_home" / "hub" / "checkpoints"


def test_md5_prefix_is_checked(zoo, tmp_path):
    server, entry, body = zoo
    url = f"{server}/zoo/{NAME}/{entry.suffix}"
    path = fpn.download_weights(url, tmp_path, filename="a.pkl", md5=entry.md5_prefix, progress=None)
    assert path.read_bytes() == body and os.listdir(tmp_path) == ["a.pkl"]
    with pytest.raises(fpn.WeightsDownloadError, match="its md5 .* does not start with 000000"):
        fpn.download_weights(url, tmp_path, filename="b.pkl", md5="000000", progress=None)
    assert os.listdir(tmp_path) == ["a.pkl"]  # the wrong file was deleted, nothing half-written left


def test_zoo_name_downloads_into_the_hub_cache_and_loads(hub_home, zoo):
    steps = []
    path = detectron2_zoo.zoo_weights(NAME, progress=lambda done, total: steps.append((done, total)))
    assert path == hub_home / zoo[1].filename and path.read_bytes() == zoo[2]
    assert steps[-1] == (len(zoo[2]), len(zoo[2]))
    model = fpn.from_detectron2(NAME, min_size=160, max_size=256)
    assert model.config["rpn_only"] and model.config["variant"] == "c4"
    assert model.config["rpn_post_nms_top_n_test"] == 2000 and model.config["rpn_pre_nms_top_n_test"] == 12000


def test_offline_message_says_where_to_put_the_file(hub_home, monkeypatch):
    """Offline (nothing listens): the one download path's error (its timeouts are shown in tests/test_hub.py, without
    a clock), naming the file and where to put it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("FPN_DETECTRON2_MIRROR", f"http://127.0.0.1:{port}")
    with pytest.raises(fpn.WeightsDownloadError, match="No network?") as err:
        fpn.from_detectron2(NAME)
    assert f"put it at {hub_home / detectron2_zoo.ZOO[NAME].filename}" in str(err.value)
    assert not hub_home.exists() or os.listdir(hub_home) == []


def test_download_script(hub_home, capsys):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    import download_weights

    assert download_weights.main(["detectron2", NAME, "--quiet"]) == 0
    assert capsys.readouterr().out.strip() == str(hub_home / detectron2_zoo.ZOO[NAME].filename)
    assert download_weights.main(["detectron2", "COCO-Detection/not_a_model", "--quiet"]) == 2
