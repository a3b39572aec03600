"""Weights downloads (fpn/hub.py) against a local HTTP server on 127.0.0.1: a good file lands and loads, a wrong hash
or an interrupted transfer leaves nothing, an unreachable host gives a clear message in well under 10 s; the app's COCO
entry and the ImageNet backbones go through the same path."""
import hashlib
import http.server
import io
import os
import socket
import threading
import time

import pytest
import torch

import fpn
from fpn import hub

FAST = 10.0  # seconds: the bound for the offline message


def _payload() -> bytes:
    buf = io.BytesIO()
    torch.save({"weight": torch.arange(6.0).reshape(2, 3), "bias": torch.zeros(2)}, buf)
    return buf.getvalue()


PAYLOAD = _payload()
PREFIX = hashlib.sha256(PAYLOAD).hexdigest()[:8]
GOOD = f"tiny-{PREFIX}.pth"
BAD = "tiny-00000000.pth"  # same bytes, a name whose hash prefix they do not have


class Handler(http.server.BaseHTTPRequestHandler):
    """Serves PAYLOAD under any name; under /truncated/ it announces every byte and closes halfway."""

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.send_response(200)
        self.send_header("Content-Length", str(len(PAYLOAD)))
        self.end_headers()
        self.wfile.write(PAYLOAD[: len(PAYLOAD) // 2] if self.path.startswith("/truncated/") else PAYLOAD)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens there once the socket is closed


@pytest.fixture
def hub_home(tmp_path, monkeypatch):
    """An empty torch hub cache (and no ./checkpoints/) for this test."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.delenv(hub.MIRROR_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path / "torch_home" / "hub" / "checkpoints"


def test_sha256_prefix_follows_torchvisions_names():
    assert hub.sha256_prefix(fpn.COCO_FILENAME) == "258fb6c6"
    assert hub.sha256_prefix("/x/resnet18-f37072fd.pth") == "f37072fd"
    assert hub.sha256_prefix("weights.pth") is None and hub.sha256_prefix("a-b.pth") is None
    assert os.path.basename(hub.coco_url()) == fpn.COCO_FILENAME  # one name for the file, two modules agree


def test_good_file_downloads_and_loads(server, tmp_path):
    seen = []
    path = fpn.download_weights(f"{server}/models/{GOOD}", tmp_path, progress=lambda d, t: seen.append((d, t)))
    assert path == tmp_path / GOOD and os.listdir(tmp_path) == [GOOD]
    state = torch.load(path, weights_only=True)
    assert torch.equal(state["weight"], torch.arange(6.0).reshape(2, 3))
    assert seen[0] == (0, len(PAYLOAD)) and seen[-1] == (len(PAYLOAD), len(PAYLOAD))
    # present: returned as is, no connection made
    assert fpn.download_weights(f"http://127.0.0.1:1/{GOOD}", tmp_path, progress=None) == path


def test_bad_hash_is_refused_and_deleted(server, tmp_path):
    with pytest.raises(fpn.WeightsDownloadError, match="does not start with 00000000") as err:
        fpn.download_weights(f"{server}/{BAD}", tmp_path, progress=None)
    assert str(tmp_path / BAD) in str(err.value)  # where to put the right file by hand
    assert os.listdir(tmp_path) == []


def test_interrupted_transfer_leaves_nothing(server, tmp_path):
    with pytest.raises(fpn.WeightsDownloadError, match="could not download"):
        fpn.download_weights(f"{server}/truncated/{GOOD}", tmp_path, progress=None)
    assert os.listdir(tmp_path) == []


def test_unreachable_host_gives_the_message_fast(closed_port, tmp_path):
    url = f"http://127.0.0.1:{closed_port}/{GOOD}"
    start = time.perf_counter()
    with pytest.raises(fpn.WeightsDownloadError) as err:
        fpn.download_weights(url, tmp_path / "cache", progress=None)
    assert time.perf_counter() - start < FAST
    message = str(err.value)
    assert url in message and "No network?" in message and f"put it at {tmp_path / 'cache' / GOOD}" in message
    assert os.listdir(tmp_path / "cache") == []


def test_a_hanging_name_lookup_is_cut_short(tmp_path, monkeypatch):
    monkeypatch.setattr(hub.socket, "getaddrinfo", lambda *a, **k: time.sleep(2))
    start = time.perf_counter()
    with pytest.raises(fpn.WeightsDownloadError, match="could not resolve weights.example"):
        fpn.download_weights(f"https://weights.example/{GOOD}", tmp_path, progress=None, timeout=0.3)
    assert time.perf_counter() - start < 1.5


def test_a_name_without_hash_is_refused_unless_a_hash_is_given(server, tmp_path):
    with pytest.raises(fpn.WeightsDownloadError, match="no sha256 prefix"):
        fpn.download_weights(f"{server}/weights.pth", tmp_path, progress=None)
    path = fpn.download_weights(f"{server}/weights.pth", tmp_path, sha256=hashlib.sha256(PAYLOAD).hexdigest(),
                                progress=None)
    assert path.read_bytes() == PAYLOAD


def test_imagenet_backbone_goes_through_the_mirror(server, hub_home, monkeypatch):
    monkeypatch.setenv(hub.MIRROR_ENV, f"{server}/mirror/")
    assert hub.imagenet_url("resnet18") == f"{server}/mirror/resnet18-f37072fd.pth"
    with pytest.raises(fpn.WeightsDownloadError, match="resnet18-f37072fd.pth") as err:
        fpn.build_detector("fpn", "resnet18", backbone_weights="imagenet")  # served bytes: not ResNet-18's hash
    assert "backbone_weights=" in str(err.value) and os.listdir(hub_home) == []


# ------------------------------------------------------------------------------------------- the app's COCO entry
def test_registry_downloads_coco_when_picked(server, hub_home, monkeypatch, tmp_path):
    from app.models import TORCHVISION_COCO, ModelRegistry

    monkeypatch.setattr(hub, "coco_url", lambda: f"{server}/models/{GOOD}")
    loaded_from = []
    monkeypatch.setattr(fpn, "from_torchvision", lambda path, **kw: loaded_from.append(path) or torch.nn.Linear(3, 2))
    reg = ModelRegistry(str(tmp_path / "no_checkpoints"), "cpu")
    assert [n for n in reg.names("detection", downloadable=True) if reg.entry(n).kind != "detectron2"] == \
        [TORCHVISION_COCO] and reg.names("detection") == []
    assert [n for n in reg.notes if "make weights" in n]
    steps = []
    reg.get(TORCHVISION_COCO, lambda fraction, text: steps.append((fraction, text)))
    assert loaded_from == [str(hub_home / GOOD)] and (hub_home / GOOD).read_bytes() == PAYLOAD
    assert steps[-1][0] == 1.0 and "downloading" in steps[-1][1]
    assert reg.names("detection") == [TORCHVISION_COCO]  # ready now


def test_registry_offline_message(closed_port, hub_home, tmp_path):
    from app.errors import AppError
    from app.models import TORCHVISION_COCO, ModelRegistry

    url = f"http://127.0.0.1:{closed_port}/{fpn.COCO_FILENAME}"
    reg = ModelRegistry(str(tmp_path / "no_checkpoints"), "cpu", coco_url=url)
    start = time.perf_counter()
    with pytest.raises(AppError, match="not available yet: could not download") as err:
        reg.get(TORCHVISION_COCO)
    assert time.perf_counter() - start < FAST
    assert f"put it at {hub_home / fpn.COCO_FILENAME}" in str(err.value)
    assert os.listdir(hub_home) == [] and TORCHVISION_COCO in reg.names("detection", downloadable=True)
