"""Weights downloads (fpn/hub.py) against a local HTTP server on 127.0.0.1: a good file lands and loads, a wrong hash
or an interrupted transfer leaves nothing, an unreachable host or a hanging name lookup gives a clear message (without
reading a clock: the timeout's own message proves it fired); the app's COCO entry, `from_torchvision("coco")` and the
ImageNet backbones go through the same path."""
import hashlib
import http.server
import io
import os
import socket
import threading

import pytest
import torch

import fpn
from fpn import hub
from stub_model import StubModel


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


def test_unreachable_host_gives_the_message(closed_port, tmp_path):
    url = f"http://127.0.0.1:{closed_port}/{GOOD}"
    with pytest.raises(fpn.WeightsDownloadError) as err:
        fpn.download_weights(url, tmp_path / "cache", progress=None)
    message = str(err.value)
    assert url in message and "No network?" in message and f"put it at {tmp_path / 'cache' / GOOD}" in message
    assert os.listdir(tmp_path / "cache") == []


def test_a_hanging_name_lookup_is_cut_short(tmp_path, monkeypatch):
    """The lookup never answers until released; the download gives up on its own timeout (the message says so)
    instead of waiting for it. No clock is read: had the timeout not worked, the lookup's own 60 s error would
    surface instead of "could not resolve ... within"."""
    release = threading.Event()

    def hanging(*args, **kwargs):
        if not release.wait(60):
            raise OSError("lookup hung for 60 s")
        raise OSError("released")

    monkeypatch.setattr(hub.socket, "getaddrinfo", hanging)
    try:
        with pytest.raises(fpn.WeightsDownloadError, match="could not resolve weights.example within 0 s"):
            fpn.download_weights(f"https://weights.example/{GOOD}", tmp_path, progress=None, timeout=0.3)
    finally:
        release.set()


def test_url_and_mirror_take_the_same_value(server, hub_home, monkeypatch):
    """`--url` / `url=` and $FPN_WEIGHTS_MIRROR both accept a base URL or the file's own URL."""
    name = "resnet18-f37072fd.pth"
    default = f"https://download.pytorch.org/models/{name}"
    for value in (f"{server}/mirror", f"{server}/mirror/", f"{server}/mirror/{name}"):
        assert hub.mirrored(default, value) == f"{server}/mirror/{name}"
        monkeypatch.setenv(hub.MIRROR_ENV, value)
        assert hub.imagenet_url("resnet18") == f"{server}/mirror/{name}"
    monkeypatch.delenv(hub.MIRROR_ENV)
    monkeypatch.setattr(hub, "coco_url", lambda: f"https://download.pytorch.org/models/{GOOD}")
    path = fpn.coco_weights(progress=None, url=f"{server}/models/")  # a base URL: the file, not the listing
    assert path == hub_home / GOOD and path.read_bytes() == PAYLOAD


@pytest.mark.parametrize("home", ["", "relative/torch"])
def test_an_unusable_torch_home_names_a_usable_path(home, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", home)
    with pytest.raises(fpn.WeightsDownloadError, match="must be an absolute path, e.g. TORCH_HOME=/"):
        fpn.hub_dir()


def test_one_state_dict_reader(tmp_path):
    from safetensors.torch import save_file

    tensors = {"w": torch.arange(4.0)}
    save_file(tensors, str(tmp_path / "a.safetensors"))
    torch.save({"state_dict": tensors}, tmp_path / "b.pth")
    for name in ("a.safetensors", "b.pth"):
        assert torch.equal(hub.read_state_dict(tmp_path / name)["w"], tensors["w"])
    torch.save([1, 2], tmp_path / "list.pth")
    with pytest.raises(ValueError, match="does not hold a state dict"):
        hub.read_state_dict(tmp_path / "list.pth")
    (tmp_path / "cut.pth").write_bytes((tmp_path / "b.pth").read_bytes()[:40])
    with pytest.raises(ValueError, match="cannot be read as a state dict"):
        hub.read_state_dict(tmp_path / "cut.pth", "backbone weights")
    with pytest.raises(FileNotFoundError, match="backbone weights file not found"):
        hub.read_state_dict(tmp_path / "missing.pth", "backbone weights")


def test_from_torchvision_coco_offline_is_a_download_error(closed_port, hub_home, monkeypatch):
    """One loader: "coco" goes through the hash-checked hub path, never a working-directory folder."""
    (hub_home.parents[2] / "checkpoints").mkdir(parents=True)  # ./checkpoints/ of the cwd: never looked at
    monkeypatch.setenv(hub.MIRROR_ENV, f"http://127.0.0.1:{closed_port}/")
    with pytest.raises(fpn.WeightsDownloadError, match=f"put it at {hub_home / fpn.COCO_FILENAME}"):
        fpn.from_torchvision("coco")
    assert fpn.find_coco_weights() is None


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
    monkeypatch.setattr(fpn, "from_torchvision", lambda path, **kw: loaded_from.append(path) or StubModel())
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
    with pytest.raises(AppError, match="not available yet: could not download") as err:
        reg.get(TORCHVISION_COCO)
    assert f"put it at {hub_home / fpn.COCO_FILENAME}" in str(err.value)
    assert os.listdir(hub_home) == [] and TORCHVISION_COCO in reg.names("detection", downloadable=True)
