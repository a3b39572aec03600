"""With the same weights, our fpn detector gives torchvision's fasterrcnn_resnet50_fpn detections."""
import pytest
import torch
from torchvision.models import resnet50

import fpn
from fpn.torchvision_interop import randomize_for_comparison, torchvision_reference

SIZES = {"min_size": 512, "max_size": 853}  # smaller than the default 800 px to keep the test quick; same for both


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    ref = randomize_for_comparison(torchvision_reference(**SIZES), seed=0)
    path = tmp_path_factory.mktemp("w") / "tv_frcnn.pth"
    torch.save(ref.state_dict(), path)
    ours = fpn.from_torchvision(path, **SIZES)
    return ref, ours


def test_parity_on_images_of_different_sizes(models):
    ref, ours = models
    g = torch.Generator().manual_seed(1)
    images = [torch.rand(3, h, w, generator=g) for h, w in [(480, 640), (333, 500), (700, 300)]]
    # smooth structure so the random network fires differently across the image
    images = [torch.nn.functional.avg_pool2d(im[None], 9, 1, 4)[0] for im in images]
    with torch.no_grad():
        expected = ref(images)
        got = ours(images)
    total = 0
    for e, o in zip(expected, got):
        assert e["boxes"].shape == o["boxes"].shape
        total += len(e["boxes"])
        assert torch.equal(e["labels"], o["labels"])
        torch.testing.assert_close(o["boxes"], e["boxes"], atol=1e-3, rtol=0)
        torch.testing.assert_close(o["scores"], e["scores"], atol=1e-4, rtol=0)
    assert total > 30, "the reference should produce detections for the comparison to mean something"
    scores = torch.cat([e["scores"] for e in expected])
    assert scores.max() - scores.min() > 0.2, "scores should spread for the comparison to mean something"
    assert len(torch.cat([e["labels"] for e in expected]).unique()) >= 2


def test_rejects_foreign_state_dict(tmp_path):
    path = tmp_path / "resnet.pth"
    torch.save(resnet50().state_dict(), path)
    with pytest.raises(ValueError, match="not a torchvision fasterrcnn_resnet50_fpn state dict"):
        fpn.from_torchvision(path)


def test_coco_offline_message(monkeypatch, tmp_path):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    monkeypatch.chdir(tmp_path)
    from torchvision.models.detection import FasterRCNN_ResNet50_FPN_Weights

    def offline(*a, **k):
        raise OSError("no network")

    monkeypatch.setattr(FasterRCNN_ResNet50_FPN_Weights.COCO_V1.__class__, "get_state_dict", offline)
    with pytest.raises(RuntimeError, match="fasterrcnn_resnet50_fpn_coco-258fb6c6.pth"):
        fpn.from_torchvision("coco")


def test_coco_uses_local_file(models, monkeypatch, tmp_path):
    """With the COCO file in ./checkpoints/, "coco" loads it (no network) and names the 91 COCO categories."""
    ref, _ = models
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    (tmp_path / "checkpoints").mkdir()
    torch.save(ref.state_dict(), tmp_path / "checkpoints" / "fasterrcnn_resnet50_fpn_coco-258fb6c6.pth")
    model = fpn.from_torchvision("coco", **SIZES)
    assert len(model.config["class_names"]) == 91 and model.config["class_names"][1] == "person"
    assert torch.equal(model.roi_heads.predictor.cls_score.weight, ref.roi_heads.box_predictor.cls_score.weight)
