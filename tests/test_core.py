"""The paper's mechanics: Eq. (1), anchors per level and their labels, every variant end to end, explore."""
import math

import pytest
import torch

import fpn
from fpn.modeling.anchors import FPN_ANCHOR_SIZES, PyramidAnchors, cell_anchors
from fpn.modeling.roi_level import roi_levels
from fpn.modeling.rpn.anchor_labels import IGNORED, NEGATIVE, POSITIVE, AnchorLabeler


def square(side: float, x: float = 0.0, y: float = 0.0) -> list[float]:
    return [x, y, x + side, y + side]


@pytest.mark.parametrize("side,level", [(224, 4), (112, 3), (448, 5), (56, 2), (16, 2), (2000, 5), (223, 3), (300, 4)])
def test_eq1_levels(side, level):
    assert roi_levels(torch.tensor([square(side)])).tolist() == [level]


def test_eq1_uses_area_not_side():
    # 448 x 112 has sqrt(wh) = 224 -> P4, although its long side alone would say P5
    assert roi_levels(torch.tensor([[0.0, 0.0, 448.0, 112.0]])).tolist() == [4]


def test_cell_anchors_keep_area_and_ratio():
    base = cell_anchors((64,), (0.5, 1.0, 2.0))
    w, h = base[:, 2] - base[:, 0], base[:, 3] - base[:, 1]
    assert torch.allclose(h / w, torch.tensor([0.5, 1.0, 2.0]), atol=0.05)
    assert torch.allclose(w * h, torch.full((3,), 64.0 ** 2), rtol=0.03)


def test_anchor_counts_per_level():
    # an 800 x 1216 padded input: P2..P6 grids of 200x304 .. 13x19, 3 anchors per position
    gen = PyramidAnchors(FPN_ANCHOR_SIZES)
    grids = {f"p{k}": (math.ceil(800 / 2 ** k), math.ceil(1216 / 2 ** k)) for k in range(2, 7)}
    anchors = gen(grids, (800, 1216), device=torch.device("cpu"))
    assert {k: v.shape[0] for k, v in anchors.items()} == {k: h * w * 3 for k, (h, w) in grids.items()}
    assert grids["p6"] == (13, 19)
    # one area per level: P3's anchors are 64^2, P6's 512^2
    a3 = anchors["p3"][:3]
    assert torch.allclose((a3[:, 2] - a3[:, 0]) * (a3[:, 3] - a3[:, 1]), torch.full((3,), 64.0 ** 2), rtol=0.03)
    # exact strides: the second column of P6 is 64 px to the right of the first
    assert (anchors["p6"][3, 0] - anchors["p6"][0, 0]).item() == 64


def test_single_scale_variants_have_fifteen_anchors_per_position():
    for variant in ("c4", "c5", "p2_only"):
        model = fpn.build_detector(variant, "resnet18", num_classes=3)
        assert list(model.rpn.anchors.num_anchors_per_location().values()) == [15]
    model = fpn.build_detector("fpn", "resnet18", num_classes=3)
    assert model.rpn.anchors.num_anchors_per_location() == {f"p{k}": 3 for k in range(2, 7)}


def test_anchor_labels_hand_made():
    anchors = torch.tensor([
        [0, 0, 10, 10],      # IoU 1.0 with gt0 -> positive
        [0, 0, 10, 12],      # IoU 0.83 with gt0 -> positive (> 0.7)
        [0, 0, 10, 20],      # IoU 0.5 with gt0 -> ignored
        [50, 50, 60, 60],    # IoU 0 with all -> negative
        [100, 100, 125, 125],  # IoU 0.16 with gt1, the best any anchor has -> positive by the best-match rule
        [100, 100, 130, 130],  # IoU 0.11 with gt1 -> negative
    ], dtype=torch.float32)
    gt = torch.tensor([[0, 0, 10, 10], [100, 100, 110, 110]], dtype=torch.float32)
    labels, matched = AnchorLabeler(0.7, 0.3)(anchors, gt)
    assert labels.tolist() == [POSITIVE, POSITIVE, IGNORED, NEGATIVE, POSITIVE, NEGATIVE]
    assert matched[4].tolist() == gt[1].tolist()
    assert matched[0].tolist() == gt[0].tolist()


def test_a_box_no_anchor_overlaps_labels_nothing():
    """The best-match rule needs an overlap: a box at IoU 0 with every anchor must not make them all positive."""
    anchors = torch.tensor([[0.0, 0, 10, 10], [20, 0, 30, 10], [40, 0, 50, 10]])
    far = torch.tensor([[200.0, 200, 210, 210]])
    labels, _ = AnchorLabeler()(anchors, far)
    assert labels.tolist() == [NEGATIVE] * 3
    labels, matched = AnchorLabeler()(anchors, torch.cat([far, torch.tensor([[21.0, 1, 29, 9]])]))
    assert labels.tolist() == [NEGATIVE, POSITIVE, NEGATIVE] and matched[1].tolist() == [21.0, 1, 29, 9]


def test_anchor_labels_without_objects_are_all_negative():
    labels, _ = AnchorLabeler()(torch.tensor([[0.0, 0, 10, 10]]), torch.zeros(0, 4))
    assert labels.tolist() == [NEGATIVE]


def _batch():
    images = [torch.rand(3, 150, 200), torch.rand(3, 120, 90)]
    targets = [
        {"boxes": torch.tensor([[10.0, 20, 80, 90], [100, 40, 190, 140], [5, 5, 20, 14]]), "labels": torch.tensor([1, 2, 1])},
        {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.int64)},  # an image without objects
    ]
    return images, targets


@pytest.mark.parametrize("variant", fpn.VARIANTS)
def test_variant_trains_and_predicts(variant, tiny_options):
    torch.manual_seed(0)
    model = fpn.build_detector(variant, "resnet18", num_classes=3, **tiny_options)
    images, targets = _batch()
    model.train()
    losses = model(images, targets)
    assert set(losses) == {"loss_objectness", "loss_rpn_box_reg", "loss_classifier", "loss_box_reg"}
    assert all(torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    assert model.bottom_up.conv1.weight.grad is not None and model.bottom_up.conv1.weight.grad.abs().sum() > 0
    model.eval()
    with torch.no_grad():
        out = model(images)
    assert len(out) == 2
    for det, img in zip(out, images):
        _check_detections(det, img, num_classes=3)


def _check_detections(det: dict, img: torch.Tensor, num_classes: int) -> None:
    """At least one detection (random 3-class heads score ~1/3 > the 0.05 threshold), boxes inside the input image,
    scores sorted per the NMS output contract, labels real classes."""
    boxes, scores, labels = det["boxes"], det["scores"], det["labels"]
    assert boxes.shape[0] > 0 and boxes.shape == (scores.shape[0], 4) and labels.shape == scores.shape
    assert torch.isfinite(boxes).all() and (boxes[:, :2] >= 0).all()
    assert (boxes[:, 2] <= img.shape[2] + 1e-3).all() and (boxes[:, 3] <= img.shape[1] + 1e-3).all()
    assert (boxes[:, 2:] >= boxes[:, :2]).all()
    assert ((labels >= 1) & (labels < num_classes)).all() and ((scores > 0.05) & (scores <= 1)).all()


def test_tiny_and_elongated_images(tiny_options):
    torch.manual_seed(0)
    model = fpn.build_detector("fpn", "resnet18", num_classes=3, **tiny_options).eval()
    images = [torch.rand(3, 1, 1), torch.rand(3, 8, 600), torch.rand(3, 500, 4)]
    with torch.no_grad():
        out = model(images)
    assert len(out) == 3
    for det, img in zip(out, images):
        _check_detections(det, img, num_classes=3)


def test_config_rebuilds_same_architecture():
    model = fpn.build_detector("c4", "resnet18", num_classes=4, min_size=256)
    again = fpn.build_detector(**model.config)
    assert again.config == model.config
    assert {k: v.shape for k, v in again.state_dict().items()} == {k: v.shape for k, v in model.state_dict().items()}


def test_bad_options_are_named():
    with pytest.raises(TypeError, match="unknown option"):
        fpn.build_detector("fpn", "resnet18", num_classes=3, box_score_threshold=0.1)
    with pytest.raises(ValueError, match="unknown variant"):
        fpn.build_detector("fpn2", "resnet18")
    with pytest.raises(ValueError, match="unknown backbone"):
        fpn.build_detector("fpn", "resnet7")
    model = fpn.build_detector("fpn", "resnet18", num_classes=3).train()
    with pytest.raises(ValueError, match="no positive width"):
        model([torch.rand(3, 64, 64)], [{"boxes": torch.tensor([[10.0, 10, 5, 20]]), "labels": torch.tensor([1])}])
    with pytest.raises(ValueError, match=r"\[3, H, W\]"):
        model.eval()([torch.rand(64, 64)])


def test_missing_backbone_weights_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        fpn.build_detector("fpn", "resnet18", backbone_weights=tmp_path / "nope.pth")


def test_backbone_weights_from_file(tmp_path):
    from torchvision.models import resnet18

    torch.manual_seed(3)
    ref = resnet18()
    path = tmp_path / "r18.pth"
    torch.save(ref.state_dict(), path)
    model = fpn.build_detector("fpn", "resnet18", num_classes=3, backbone_weights=path)
    assert torch.equal(model.bottom_up.layer3[0].conv1.weight, ref.layer3[0].conv1.weight)
    assert model.config["norm"] == "frozen_bn" and model.config["trainable_backbone_layers"] == 3
    assert not model.bottom_up.layer1[0].conv1.weight.requires_grad and model.bottom_up.layer2[0].conv1.weight.requires_grad


def test_imagenet_offline_message_names_file(monkeypatch, tmp_path):
    from torchvision.models import ResNet18_Weights

    def offline(*a, **k):
        raise OSError("no network")

    monkeypatch.setattr(ResNet18_Weights, "get_state_dict", offline)
    with pytest.raises(RuntimeError, match="resnet18-f37072fd.pth"):
        fpn.build_detector("fpn", "resnet18", backbone_weights="imagenet")


EXPECTED_STRIDES = {"c2": 4, "c3": 8, "c4": 16, "c5": 32, "p2": 4, "p3": 8, "p4": 16, "p5": 32, "p6": 64}


@pytest.mark.parametrize("variant", fpn.VARIANTS)
def test_explore_shapes_and_strides(variant, tiny_options):
    torch.manual_seed(0)
    model = fpn.build_detector(variant, "resnet18", num_classes=3, **tiny_options)
    image = torch.rand(3, 150, 200)
    ex = fpn.explore(model, image, {"boxes": [[10, 20, 80, 90], [100, 40, 190, 140]], "labels": [1, 2]})
    h, w = ex.resized_size
    assert ex.image.shape == (3, h, w) and ex.scale == pytest.approx(h / 150)
    maps = {**ex.bottom_up, **ex.pyramid}
    for name, fmap in maps.items():
        stride = ex.strides[name]
        assert stride == EXPECTED_STRIDES[name], name
        assert fmap.shape[-2:] == (math.ceil(math.ceil(h / 32) * 32 / stride), math.ceil(math.ceil(w / 32) * 32 / stride))
    expected_pyramid = {"fpn": 5, "bottom_up": 5, "no_lateral": 5, "p2_only": 1, "c4": 0, "c5": 0}[variant]
    assert len(ex.pyramid) == expected_pyramid
    assert set(ex.bottom_up) == ({"c2", "c3", "c4"} if variant == "c4" else {"c2", "c3", "c4", "c5"})
    if variant == "fpn":
        for k in ("p2", "p3", "p4"):
            torch.testing.assert_close(ex.lateral[k] + ex.top_down[k], ex.merged[k])
    total_positive = 0
    for level in ex.rpn.values():
        gh, gw = level.grid_size
        assert level.stride == EXPECTED_STRIDES[level.name]
        assert level.anchors.shape == (gh * gw * len(level.anchor_shapes), 4)
        assert level.labels.shape == (level.anchors.shape[0],)
        assert level.objectness.min() >= 0 and level.objectness.max() <= 1
        total_positive += level.num_positive()
    assert total_positive >= 2  # the best-match rule gives every GT box a positive anchor
    assert ex.proposals.shape[0] == ex.proposal_scores.shape[0] == len(ex.proposal_rpn_level)
    assert ex.rois.shape[0] == ex.roi_levels.shape[0] == ex.pooled.shape[0]
    k_range = {"p2_only": (2, 2), "c4": (4, 4), "c5": (5, 5)}.get(variant, (2, 5))
    assert torch.equal(ex.roi_levels, roi_levels(ex.rois, *k_range))
    assert ex.pooled.shape[-1] == (14 if variant == "c4" else 7)


def test_explore_detections_match_forward(tiny_options):
    torch.manual_seed(1)
    model = fpn.build_detector("fpn", "resnet18", num_classes=3, **tiny_options).eval()
    image = torch.rand(3, 140, 170)
    with torch.no_grad():
        direct = model([image])[0]
    ex = fpn.explore(model, image)
    torch.testing.assert_close(ex.detections["boxes"], direct["boxes"])
    assert all(level.labels is None for level in ex.rpn.values())


def test_label_anchors_matches_explore_with_targets(tiny_options):
    torch.manual_seed(2)
    model = fpn.build_detector("fpn", "resnet18", num_classes=3, **tiny_options)
    image = torch.rand(3, 150, 200)
    boxes = torch.tensor([[10.0, 20, 80, 90], [100, 40, 190, 140]])
    with_gt = fpn.explore(model, image, {"boxes": boxes, "labels": [1, 2]})
    plain = fpn.explore(model, image)
    (rh, rw), (oh, ow) = plain.resized_size, plain.original_size
    relabelled = fpn.label_anchors(model, plain, boxes * torch.tensor([rw / ow, rh / oh, rw / ow, rh / oh]))
    assert relabelled.keys() == with_gt.rpn.keys()
    for name, level in with_gt.rpn.items():
        assert torch.equal(relabelled[name], level.labels), name


def _proposal_count(model, image, training: bool) -> int:
    """Proposals the RPN returns for one image at the model's own input size (default 800 px shorter side)."""
    model.train(training)
    target = [{"boxes": torch.tensor([[50.0, 60, 300, 400]]), "labels": torch.tensor([1])}]
    with torch.no_grad():
        image_list, targets = model.transform([image], target if training else None)
        feats = model.bottom_up(image_list.tensors)
        feats = model.pyramid(feats) if model.pyramid is not None else feats
        proposals, _ = model.rpn(image_list, {k: feats[k] for k in model.rpn_maps}, targets)
    return proposals[0].shape[0]


@pytest.mark.parametrize("variant", fpn.VARIANTS)
def test_every_variant_reaches_the_papers_proposal_counts(variant):
    """1000 proposals at test time and 2000 in training on a 480x640 image with random weights, for the single-map
    variants too: C4 / C5 keep 12000 / 6000 candidates before NMS (py-faster-rcnn / Detectron's C4), p2_only the
    pyramid's 2000 / 1000 per anchor size (random heads rank one of its 15 anchor shapes first almost everywhere)."""
    torch.manual_seed(0)
    model = fpn.build_detector(variant, "resnet18", num_classes=3)
    baseline = variant in ("c4", "c5")
    assert (model.config["rpn_pre_nms_top_n_train"], model.config["rpn_pre_nms_top_n_test"]) == (
        (12000, 6000) if baseline else (2000, 1000))
    assert model.config["rpn_pre_nms_per"] == ("anchor_size" if variant == "p2_only" else "map")
    image = torch.rand(3, 480, 640)
    assert _proposal_count(model, image, training=False) == 1000
    assert _proposal_count(model, image, training=True) == 2000


def test_rpn_trained_alone(tmp_path, tiny_options):
    """Table 1's protocol: the RPN without a Fast R-CNN head (task "rpn"): RPN losses only, gradients reach the
    backbone, no detections but 100 proposals, saved and rebuilt as task "rpn", explored without RoIs."""
    torch.manual_seed(0)
    model = fpn.build_model("rpn", dict(variant="fpn", backbone="resnet18", num_classes=3, **tiny_options))
    assert model.roi_heads is None and model.config["rpn_only"] is True
    images, targets = _batch()
    losses = model.train()(images, targets)
    assert set(losses) == {"loss_objectness", "loss_rpn_box_reg"}
    sum(losses.values()).backward()
    assert model.bottom_up.conv1.weight.grad.abs().sum() > 0
    out = model.predict(images)
    assert [o["boxes"].shape for o in out] == [(0, 4), (0, 4)]
    assert [o["proposals"].shape[0] for o in out] == [100, 100]  # tiny_options: 100 proposals at test time
    _, meta_path = fpn.save_checkpoint(model, str(tmp_path / "rpn"))
    assert fpn.read_metadata(meta_path)["task"] == "rpn"
    again = fpn.load_checkpoint(meta_path)
    assert again.roi_heads is None and torch.equal(again.predict(images)[0]["proposals"], out[0]["proposals"])
    ex = fpn.explore(model, images[0])
    assert ex.rois.shape == (0, 4) and ex.proposals.shape[0] == 100 and ex.roi_maps == ()
    with pytest.raises(ValueError, match="no Fast R-CNN head"):
        ex.roi_level_range
