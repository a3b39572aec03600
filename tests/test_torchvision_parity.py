"""With the same weights, our fpn detector's exact path gives torchvision's fasterrcnn_resnet50_fpn detections bit for
bit: on real photos and synthetic images, one at a time and in a batch of four sizes, with frozen BN (torchvision's
build for pre-trained weights) and with BatchNorm2d (its build from scratch). Detections are compared order-free:
saturated scores tie, and tied detections may come in either order."""
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.models import resnet50
from torchvision.ops.misc import FrozenBatchNorm2d

import fpn
from fpn.weights.torchvision import (COCO_BN_EPS, compare_detections, randomize_for_comparison, sorted_detections,
                                     torchvision_reference)

SMALL = {"min_size": 256, "max_size": 426}  # quick; the slow test runs torchvision's default 800 / 1333


def _photo(path: Path) -> torch.Tensor:
    return torch.from_numpy(np.asarray(Image.open(path).convert("RGB")).copy()).permute(2, 0, 1).float() / 255


def photos() -> dict[str, torch.Tensor]:
    """Real photos shipped inside scikit-image and matplotlib (no download)."""
    import matplotlib
    import skimage

    skimage_data = Path(skimage.__file__).parent / "data"
    return {"astronaut": _photo(skimage_data / "astronaut.png"), "coffee": _photo(skimage_data / "coffee.png"),
            "grace_hopper": _photo(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg")}


def synthetic(h: int, w: int, seed: int) -> torch.Tensor:
    """Smooth random structure, so that a random network fires differently across the image."""
    image = torch.rand(3, h, w, generator=torch.Generator().manual_seed(seed))
    return torch.nn.functional.avg_pool2d(image[None], 9, 1, 4)[0]


def assert_bit_identical(expected: list[dict], got: list[dict]) -> None:
    assert len(expected) == len(got)
    for i, (e, g) in enumerate(zip(expected, got)):
        e, g = sorted_detections(e), sorted_detections(g)
        diff = compare_detections(e, g)
        assert e["boxes"].shape == g["boxes"].shape, f"image {i}: {len(e['boxes'])} vs {len(g['boxes'])}; {diff}"
        assert torch.equal(e["labels"], g["labels"]), f"image {i}: labels differ; {diff}"
        assert torch.equal(e["scores"], g["scores"]), f"image {i}: scores differ; {diff}"
        assert torch.equal(e["boxes"], g["boxes"]), f"image {i}: boxes differ; {diff}"


def assert_meaningful(detections: list[dict], min_total: int = 20) -> None:
    """The comparison must see many detections, many distinct scores and several classes to mean something."""
    scores = torch.cat([d["scores"] for d in detections])
    assert len(scores) >= min_total
    assert len(scores.unique()) >= 5
    assert len(torch.cat([d["labels"] for d in detections]).unique()) >= 2


def run_both(ref: torch.nn.Module, ours: fpn.FasterRCNN, images: list[torch.Tensor]) -> tuple[list, list]:
    with torch.inference_mode():
        return ref(images), ours(images)


@pytest.fixture(scope="module")
def frozen_bn_pair(tmp_path_factory):
    """torchvision's detector as built for pre-trained weights (frozen BN), seeded random weights with random BN
    statistics; ours loaded from the saved file, on its exact path."""
    ref = randomize_for_comparison(torchvision_reference(**SMALL), seed=0)
    path = tmp_path_factory.mktemp("w") / "tv_frcnn.pth"
    torch.save(ref.state_dict(), path)
    ours = fpn.from_torchvision(path, **SMALL).exact()
    assert ours.config["norm"] == "frozen_bn" and ours.is_exact
    return ref, ours


def test_single_photos_and_images_are_bit_identical(frozen_bn_pair):
    ref, ours = frozen_bn_pair
    p = photos()
    singles = [p["grace_hopper"], synthetic(300, 460, seed=1)]
    expected, got = [], []
    for image in singles:
        e, g = run_both(ref, ours, [image])
        expected += e
        got += g
    assert_meaningful(expected)
    assert_bit_identical(expected, got)


def test_mixed_batch_of_four_sizes_is_bit_identical(frozen_bn_pair):
    ref, ours = frozen_bn_pair
    p = photos()
    batch = [p["astronaut"], synthetic(480, 640, seed=2), p["coffee"], synthetic(500, 300, seed=3)]
    expected, got = run_both(ref, ours, batch)
    assert_meaningful(expected)
    assert_bit_identical(expected, got)


def test_batchnorm_build_is_bit_identical():
    """torchvision built from scratch (`fasterrcnn_resnet50_fpn(weights=None)`) normalises with nn.BatchNorm2d, whose
    eval kernel rounds differently from frozen BN's x * scale + shift: from_torchvision sees its num_batches_tracked
    buffers and builds the same layer."""
    ref = randomize_for_comparison(torchvision_reference(norm="bn", **SMALL), seed=1)
    ours = fpn.from_torchvision(ref.state_dict(), **SMALL).exact()
    assert ours.config["norm"] == "bn" and ours.config["trainable_backbone_layers"] == 5
    p = photos()
    expected, got = run_both(ref, ours, [p["coffee"], synthetic(400, 500, seed=4)])
    assert_meaningful(expected)
    assert_bit_identical(expected, got)


@pytest.mark.slow
def test_default_size_batch_of_four_is_bit_identical():
    """torchvision's default 800 / 1333 px, two photos and two synthetic images in one batch, and each alone."""
    ref = randomize_for_comparison(torchvision_reference(), seed=0)
    ours = fpn.from_torchvision(ref.state_dict()).exact()
    p = photos()
    batch = [p["grace_hopper"], synthetic(480, 640, seed=2), p["astronaut"], synthetic(700, 300, seed=3)]
    expected, got = run_both(ref, ours, batch)
    assert_meaningful(expected, min_total=100)
    assert_bit_identical(expected, got)
    for image in batch:
        assert_bit_identical(*run_both(ref, ours, [image]))


def test_rejects_foreign_state_dict(tmp_path):
    path = tmp_path / "resnet.pth"
    torch.save(resnet50().state_dict(), path)
    with pytest.raises(ValueError, match="not a torchvision fasterrcnn_resnet50_fpn state dict"):
        fpn.from_torchvision(path)


def test_coco_offline_message(monkeypatch, tmp_path):
    """Offline (a mirror where nothing listens), "coco" fails with the one download path's error, which names the
    file and where to put it."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    monkeypatch.delenv("TORCH_HOME", raising=False)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    monkeypatch.setenv(fpn.hub.MIRROR_ENV, f"http://127.0.0.1:{closed}/")
    with pytest.raises(fpn.WeightsDownloadError, match="put it at .*fasterrcnn_resnet50_fpn_coco-258fb6c6.pth"):
        fpn.from_torchvision("coco")


def test_coco_uses_local_file(frozen_bn_pair, monkeypatch, tmp_path):
    """With the COCO file in torch's hub cache, "coco" loads it (no network), names the 91 COCO categories, and sets
    the frozen BN's epsilon to 0 as torchvision does for these weights."""
    ref, _ = frozen_bn_pair
    monkeypatch.delenv("TORCH_HOME", raising=False)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    torch.save(ref.state_dict(), tmp_path / "hub" / "checkpoints" / "fasterrcnn_resnet50_fpn_coco-258fb6c6.pth")
    model = fpn.from_torchvision("coco", **SMALL)
    assert len(model.config["class_names"]) == 91 and model.config["class_names"][1] == "person"
    assert torch.equal(model.roi_heads.predictor.cls_score.weight, ref.roi_heads.box_predictor.cls_score.weight)
    assert model.config["bn_eps"] == COCO_BN_EPS == 0.0
    eps = {m.eps for m in model.modules() if isinstance(m, FrozenBatchNorm2d)}
    assert eps == {0.0}
    # torchvision's own COCO build (bn_eps 0) and ours agree bit for bit on these weights
    coco_ref = torchvision_reference(ref.state_dict(), bn_eps=COCO_BN_EPS, **SMALL)
    assert_bit_identical(*run_both(coco_ref, model.exact(), [photos()["astronaut"]]))
