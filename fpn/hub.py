"""Pretrained weights files in torch's hub cache, downloaded safely when missing.

torchvision's convention: a weights file is named NAME-HASH.pth, HASH being the first hex digits of the file's
sha256. `download_weights` streams into a temporary file beside the target, hashes while streaming, checks the prefix
and only then renames the file into place (atomic): a failed, interrupted or tampered download leaves nothing behind.

    coco_weights()            torchvision's fasterrcnn_resnet50_fpn COCO_V1 (160 MB), the app's COCO model
    imagenet_weights(depth)   torchvision's ImageNet ResNet-18/34/50/101, the backbones' `backbone_weights="imagenet"`

Both read $FPN_WEIGHTS_MIRROR instead of download.pytorch.org when set, and take `url=`: either one is a base URL
serving the same file names (http://host/models/) or the file's own URL (http://host/models/NAME-HASH.pth).
`read_state_dict(path)` is the one reader of state-dict files (safetensors, or torch.load(weights_only=True)).
"""
from __future__ import annotations

import hashlib
import os
import re
import socket
import sys
import tempfile
import threading
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import BinaryIO, Callable, Optional, Union

import torch

#: Base URL used instead of torchvision's (https://download.pytorch.org/models/) when set: a mirror of its files.
MIRROR_ENV = "FPN_WEIGHTS_MIRROR"
#: Seconds to wait for the host's name, the connection, or the next bytes before giving up.
TIMEOUT = 5.0
_CHUNK = 1 << 20
_IMAGENET_ENUMS = {"resnet18": "ResNet18_Weights", "resnet34": "ResNet34_Weights", "resnet50": "ResNet50_Weights",
                   "resnet101": "ResNet101_Weights"}

#: progress(done_bytes, total_bytes or None when the server does not say)
Progress = Callable[[int, Optional[int]], None]


class WeightsDownloadError(RuntimeError):
    """A weights file could not be downloaded (no network, HTTP error, wrong hash, interrupted transfer); the
    message names the URL, the file expected on disk and how to put it there by hand."""


def hub_dir() -> Path:
    """Where downloaded weights live: torch's hub cache, `torch.hub.get_dir()/checkpoints` (honours $TORCH_HOME).

    An empty or relative $TORCH_HOME is refused: torch would put the cache under whatever folder the process happens
    to run in, so the app and the scripts would download the same file twice and never find it again.
    """
    home = os.environ.get("TORCH_HOME")
    if home is not None and not os.path.isabs(os.path.expanduser(home)):
        usable = Path(os.path.expanduser("~")) / ".cache" / "torch"
        raise WeightsDownloadError(f"$TORCH_HOME is {home!r}: it must be an absolute path, e.g. "
                                   f"TORCH_HOME={usable} (torch's default), or unset it")
    return Path(torch.hub.get_dir()) / "checkpoints"


def sha256_prefix(filename: str) -> Optional[str]:
    """The hex digits after the last '-' of a torchvision weights file name ("resnet18-f37072fd.pth" ->
    "f37072fd"), or None when the name carries none."""
    m = re.fullmatch(r".*-([0-9a-f]{8,64})\.[A-Za-z0-9]+", os.path.basename(filename))
    return m.group(1) if m else None


def mirrored(url: str, source: Optional[str] = None) -> str:
    """Where to fetch the file of `url` from: `source` (else $FPN_WEIGHTS_MIRROR, else `url` itself).

    `source` is a base URL serving the same file names ("http://host/models/" -> "http://host/models/NAME") or,
    when its path already ends with the file's name, that file's own URL.
    """
    source = (source if source is not None else os.environ.get(MIRROR_ENV, "")).strip()
    if not source:
        return url
    name = _basename(url)
    return source if _basename(source) == name else f"{source.rstrip('/')}/{name}"


def coco_url() -> str:
    """Where torchvision's COCO_V1 fasterrcnn_resnet50_fpn weights are downloaded from."""
    from torchvision.models.detection import FasterRCNN_ResNet50_FPN_Weights

    return mirrored(FasterRCNN_ResNet50_FPN_Weights.COCO_V1.url)


def imagenet_url(depth: str) -> str:
    """Where torchvision's IMAGENET1K_V1 weights of a ResNet depth ("resnet18" .. "resnet101") are downloaded from."""
    from torchvision import models

    if depth not in _IMAGENET_ENUMS:
        raise ValueError(f"no ImageNet weights for {depth!r}; choose one of {', '.join(_IMAGENET_ENUMS)}")
    return mirrored(getattr(models, _IMAGENET_ENUMS[depth]).IMAGENET1K_V1.url)


def coco_weights(download: bool = True, progress: Union[bool, Progress, None] = True,
                 url: Optional[str] = None) -> Path:
    """torchvision's COCO_V1 fasterrcnn_resnet50_fpn weights file in the hub cache, downloaded (160 MB) when missing.

    url: another source of the same file, a base URL or the file's URL (its hash is still checked against
    torchvision's file name).
    """
    return _cached(coco_url(), download, progress, url)


def imagenet_weights(depth: str, download: bool = True, progress: Union[bool, Progress, None] = True,
                     url: Optional[str] = None) -> Path:
    """torchvision's ImageNet weights file of a ResNet depth in the hub cache, downloaded (45-170 MB) when missing."""
    return _cached(imagenet_url(depth), download, progress, url)


def _cached(default_url: str, download: bool, progress: Union[bool, Progress, None], url: Optional[str]) -> Path:
    filename = _basename(default_url)
    path = hub_dir() / filename
    if path.is_file():
        return path
    if not download:
        raise FileNotFoundError(f"{path} not found (download it: python scripts/download_weights.py)")
    return download_weights(mirrored(default_url, url) if url else default_url, hub_dir(), filename=filename,
                            progress=progress)


def read_state_dict(path: Union[str, os.PathLike], what: str = "weights",
                    wrapper: str = "state_dict") -> dict[str, torch.Tensor]:
    """The state dict in a file, read without executing code: safetensors, or torch.load(weights_only=True) of a
    dict (or of {wrapper: dict}: "state_dict" as training scripts often save it, "model" as Detectron2's
    checkpointer does). `what` names the file in errors."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} file not found: {path}")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # pickle errors, a truncated file, code the safe loader refuses to run
        raise ValueError(f"{what} file {path} cannot be read as a state dict ({type(err).__name__}: {err})") from err
    if isinstance(state, dict) and isinstance(state.get(wrapper), dict):
        state = state[wrapper]
    if not isinstance(state, dict):
        raise ValueError(f"{what} file {path} does not hold a state dict (got {type(state).__name__})")
    return state


def download_weights(url: str, folder: Union[str, os.PathLike, None] = None, *, filename: Optional[str] = None,
                     sha256: Optional[str] = None, progress: Union[bool, Progress, None] = True,
                     timeout: float = TIMEOUT, md5: Optional[str] = None) -> Path:
    """Download `url` to folder/filename (default: the hub cache, the URL's file name) and return that path.

    The file's sha256 must start with `sha256` (default: the prefix in `filename`, torchvision's convention); a file
    with neither is refused before any connection. md5: a prefix the file's md5 must start with instead (Detectron2's
    convention: model_final_721ade.pkl); with both, both are checked. An existing folder/filename is returned as is. progress: True
    for a tqdm bar on stderr, or a callable (done_bytes, total_bytes or None). timeout: seconds (name lookup,
    connection, each read). Raises WeightsDownloadError; nothing half-written is left in `folder`.
    """
    folder = Path(folder) if folder is not None else hub_dir()
    filename = filename or _basename(url)
    target = folder / filename
    expected = (sha256 or ("" if md5 else sha256_prefix(filename)) or "").lower()
    expected_md5 = (md5 or "").lower()
    manual = f"On a machine with internet, download {url} (a browser will do) and put it at {target}"
    if not expected and not expected_md5:
        raise WeightsDownloadError(f"refusing to download {url}: {filename} carries no sha256 prefix "
                                   f"(NAME-HASH.pth) and no sha256 was given. {manual}.")
    if target.is_file():
        return target
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{filename}.", suffix=".part", dir=folder)
    except OSError as err:
        raise WeightsDownloadError(f"cannot write into {folder}/ ({err}): set $TORCH_HOME to a writable folder, or "
                                   f"{manual[0].lower()}{manual[1:]}.") from err
    report = _reporter(progress, filename)
    try:
        with os.fdopen(fd, "wb") as out:
            md5_hash = hashlib.md5(usedforsecurity=False)
            digest, size = _stream(url, out, report, timeout, also=md5_hash)
        if expected_md5 and not md5_hash.hexdigest().startswith(expected_md5):
            raise WeightsDownloadError(f"{url} is not the expected file: its md5 {md5_hash.hexdigest()[:16]}... does "
                                       f"not start with {expected_md5} ({size} bytes); refused and deleted. {manual}.")
        if not digest.startswith(expected):
            raise WeightsDownloadError(f"{url} is not the expected file: its sha256 {digest[:16]}... does not start "
                                       f"with {expected} ({size} bytes); refused and deleted. {manual}.")
        os.replace(tmp, target)
        return target
    except BaseException as err:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(err, WeightsDownloadError) or not isinstance(err, Exception):
            raise
        hint = "Is the URL right?" if isinstance(err, urllib.error.HTTPError) else "No network?"
        raise WeightsDownloadError(f"could not download {url} into {folder}/ ({_why(err)}). {hint} "
                                   f"{manual}.") from err
    finally:
        getattr(report, "close", lambda: None)()


def _why(err: Exception) -> str:
    """What went wrong, in a few words: "HTTP 404 Not Found", "[Errno 111] Connection refused", ..."""
    if isinstance(err, urllib.error.HTTPError):
        return f"HTTP {err.code} {err.reason}"
    if isinstance(err, urllib.error.URLError):
        return str(err.reason)
    return f"{type(err).__name__}: {err}"


def _stream(url: str, out: BinaryIO, report: Optional[Progress], timeout: float, also: Optional[object] = None
            ) -> tuple[str, int]:
    """Copy the body at `url` into `out`; returns (sha256 hex digest, bytes). A short body raises an OSError.
    also: another hashlib object fed the same bytes (an md5)."""
    _resolve_in_time(url, timeout)
    request = urllib.request.Request(url, headers={"User-Agent": "fpn-explorer"})
    digest, done = hashlib.sha256(), 0
    with urllib.request.urlopen(request, timeout=timeout) as response:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        if report:
            report(0, total)
        while chunk := response.read(_CHUNK):
            out.write(chunk)
            digest.update(chunk)
            if also is not None:
                also.update(chunk)
            done += len(chunk)
            if report:
                report(done, total)
    if total is not None and done != total:
        raise OSError(f"transfer interrupted after {done} of {total} bytes")
    return digest.hexdigest(), done


def _resolve_in_time(url: str, timeout: float) -> None:
    """Look the host up within `timeout` s: urllib's timeout does not cover the name lookup, which can hang for
    tens of seconds on a machine without a working DNS server. Skipped behind a proxy (the proxy resolves)."""
    parts = urllib.parse.urlsplit(url)
    if not parts.hostname or urllib.request.getproxies().get(parts.scheme):
        return
    result: list = []
    port = parts.port or (443 if parts.scheme == "https" else 80)
    worker = threading.Thread(target=lambda: result.append(_lookup(parts.hostname, port)), daemon=True)
    worker.start()
    worker.join(timeout)
    if not result:
        raise OSError(f"could not resolve {parts.hostname} within {timeout:.0f} s")
    if isinstance(result[0], Exception):
        raise result[0]


def _lookup(host: str, port: int) -> object:
    try:
        return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as err:
        return err


def _reporter(progress: Union[bool, Progress, None], filename: str) -> Optional[Progress]:
    """The progress callable: as given, a tqdm bar (True) or none."""
    if callable(progress):
        return progress
    if not progress:
        return None
    from tqdm import tqdm

    bars: list = []  # made on the first report: a failed connection prints no empty bar

    def report(done: int, total: Optional[int]) -> None:
        if not bars:
            bars.append(tqdm(desc=filename, total=total, unit="B", unit_scale=True, unit_divisor=1024,
                             file=sys.stderr))
        bars[0].update(done - bars[0].n)

    report.close = lambda: bars and bars[0].close()  # type: ignore[attr-defined]
    return report


def _basename(url: str) -> str:
    return os.path.basename(urllib.parse.urlsplit(url).path)
