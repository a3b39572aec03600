"""Sec. 6 mask-proposal models on tiny images: every option trains and predicts, config round trip, explore, and a
CPU overfit run (slow)."""
from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pytest
import torch

from fpn.mask_proposals import (
    MaskProposalExploration,
    build_mask_proposer,
    encode_proposals,
    explore_mask_proposals,
)
from fpn.modeling.mask_proposals.targets import window_centres


# --------------------------------------------------------------------------------------- models on tiny images



def _shapes(n, size=(192, 192), seed=0):
    """Coloured ellipses and rectangles (40..100 px) on noise, with masks, boxes and labels."""
    g = torch.Generator().manual_seed(seed)
    h, w = size
    yy, xx = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
    layouts = [[(50, 55, 64, 0), (135, 125, 96, 1)], [(60, 130, 90, 1), (145, 50, 56, 0), (150, 150, 44, 0)]]
    images, targets = [], []
    for i in range(n):
        img = torch.rand(3, h, w, generator=g) * 0.3 + 0.35
        masks = []
        for cx, cy, side, ellipse in layouts[i % 2]:
            cx, cy = cx + int(torch.randint(-6, 7, (1,), generator=g)), cy + int(torch.randint(-6, 7, (1,), generator=g))
            aw, ah = side / 2, side * 0.7 / 2
            if ellipse:
                m = ((xx - cx) / aw) ** 2 + ((yy - cy) / ah) ** 2 <= 1
            else:
                m = ((xx - cx).abs() <= aw) & ((yy - cy).abs() <= ah)
            img[:, m] = torch.rand(3, 1, generator=g)
            for other in masks:
                other &= ~m
            masks.append(m)
        masks = torch.stack(masks)
        boxes = []
        for m in masks:
            ys, xs = m.nonzero(as_tuple=True)
            boxes.append([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
        images.append(img)
        targets.append(
            {"boxes": torch.tensor(boxes, dtype=torch.float32), "labels": torch.ones(len(boxes), dtype=torch.int64),
             "masks": masks.to(torch.uint8)}
        )
    return images, targets


def segment_ar(model, images, targets) -> tuple[float, float, float]:
    """Class-agnostic segment AR@10, @100, @1000 of the model's proposals (pycocotools, iouType="segm")."""
    from pycocotools import mask as mask_utils
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    model.eval()
    with torch.no_grad():
        outputs = model(images)
    gt = {"images": [], "annotations": [], "categories": [{"id": 1, "name": "object"}]}
    dets = []
    for i, (img, t, out) in enumerate(zip(images, targets, outputs)):
        h, w = img.shape[-2:]
        gt["images"].append({"id": i, "height": h, "width": w})
        for m in t["masks"]:
            rle = mask_utils.encode(np.asfortranarray(m.numpy()))
            rle["counts"] = rle["counts"].decode("ascii")
            gt["annotations"].append(
                {"id": len(gt["annotations"]) + 1, "image_id": i, "category_id": 1, "segmentation": rle,
                 "area": float(m.sum()), "bbox": mask_utils.toBbox(rle).tolist(), "iscrowd": 0}
            )
        for rle, score in zip(encode_proposals(out, (h, w)), out["scores"].tolist()):
            dets.append({"image_id": i, "category_id": 1, "segmentation": rle, "score": score})
    if not dets:
        return 0.0, 0.0, 0.0
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = gt
        coco.createIndex()
        ev = COCOeval(coco, coco.loadRes(dets), "segm")
        ev.params.useCats = 0
        ev.params.maxDets = [10, 100, 1000]
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return float(ev.stats[6]), float(ev.stats[7]), float(ev.stats[8])


@pytest.mark.slow
def test_tiny_model_overfits_a_few_images(one_thread):
    torch.manual_seed(0)
    images, targets = _shapes(3)
    model = build_mask_proposer(
        "resnet18", mlps="dual", hidden=128, levels=("p3", "p4", "p5"), min_size=192, max_size=192, norm="bn",
        batch_size_per_image=128, num_proposals=300, num_masks_pasted=0,
    )
    before = segment_ar(model, images, targets)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=1e-3)
    model.train()
    for _ in range(40):
        losses = model(images, targets)
        opt.zero_grad()
        sum(losses.values()).backward()
        opt.step()
    after = segment_ar(model, images, targets)
    print(f"segment AR@10/100/1000 before {before}, after {after}")
    assert after[2] > 0.5 and after[2] > before[2] + 0.4
    assert after[0] > 0.3


OPTIONS = [{"mlps": "5x5"}, {"mlps": "7x7"}, {"mlps": "dual"}, {"mlps": "dual", "mask_size": 28}]


@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: "-".join(str(v) for v in o.values()))
def test_every_option_builds_trains_and_predicts(options, one_thread):
    torch.manual_seed(0)
    model = build_mask_proposer("resnet18", hidden=32, min_size=128, max_size=160, num_proposals=50,
                                num_masks_pasted=5, **options)
    images, targets = _shapes(2, size=(150, 170))
    images.append(torch.rand(3, 120, 100))  # an image without objects
    targets.append({"boxes": torch.zeros((0, 4)), "labels": torch.zeros(0, dtype=torch.int64),
                    "masks": torch.zeros((0, 120, 100), dtype=torch.uint8)})
    model.train()
    losses = model(images, targets)
    assert set(losses) == {"loss_objectness", "loss_mask"}
    assert all(torch.isfinite(v) and v > 0 for v in losses.values())
    sum(losses.values()).backward()
    grad = model.backbone.conv1.weight.grad
    assert grad is not None and grad.abs().sum() > 0
    model.eval()
    with torch.no_grad():
        outs = model(images)
    m = options.get("mask_size", 14)
    allowed_mlps = {"5x5": {0}, "7x7": {1}, "dual": {0, 1}}[options["mlps"]]
    for img, out in zip(images, outs):
        h, w = img.shape[-2:]
        p = out["scores"].shape[0]
        assert 0 < p <= 50
        assert out["mask_probs"].shape == (p, m, m) and out["regions"].shape == (p, 4) and out["boxes"].shape == (p, 4)
        assert out["masks"].shape == (min(p, 5), h, w) and out["masks"].dtype == torch.bool
        assert set(out["mlps"].tolist()) <= allowed_mlps and set(out["levels"].tolist()) <= {2, 3, 4, 5, 6}
        assert (out["boxes"][:, 0::2] <= w + 1e-3).all() and (out["boxes"][:, 1::2] <= h + 1e-3).all()
        assert (out["scores"][:-1] >= out["scores"][1:]).all()
        rles = encode_proposals(out, (h, w))
        assert len(rles) == p and rles[0]["size"] == [h, w]
        from pycocotools import mask as mask_utils

        decoded = torch.from_numpy(mask_utils.decode(rles[: len(out["masks"])])).permute(2, 0, 1).bool()
        assert torch.equal(decoded, out["masks"])  # the RLEs are the pasted masks


def test_config_round_trip_and_bad_options():
    model = build_mask_proposer("resnet18", mlps="7x7", mask_size=28, hidden=16, levels=("p3", "p5", "p4"))
    config = json.loads(json.dumps(model.config))
    again = build_mask_proposer(**config)
    assert again.config == model.config and config["levels"] == ["p3", "p4", "p5"]
    a, b = model.state_dict(), again.state_dict()
    assert a.keys() == b.keys() and all(a[k].shape == b[k].shape for k in a)
    again.load_state_dict(a)
    for bad in ({"mlps": "9x9"}, {"levels": ("p7",)}, {"mask_size": 0}, {"nms_thresh": 1.5}, {"levels": ()}):
        with pytest.raises(ValueError):
            build_mask_proposer("resnet18", **bad)
    model.train()
    with pytest.raises(ValueError, match="targets"):
        model([torch.rand(3, 64, 64)])
    with pytest.raises(ValueError, match="masks"):
        model([torch.rand(3, 64, 64)], [{"boxes": torch.zeros((1, 4)), "masks": torch.zeros((1, 32, 32))}])
    with pytest.raises(ValueError, match=r"\[3, H, W\]"):
        model([torch.rand(64, 64)], [{"boxes": torch.zeros((0, 4)), "masks": torch.zeros((0, 64, 64))}])


def test_explore_exposes_scores_windows_and_origins(one_thread):
    torch.manual_seed(0)
    model = build_mask_proposer("resnet18", hidden=16, min_size=128, max_size=300, num_proposals=30)
    image = torch.rand(3, 100, 170)  # resized to 128 x 217, padded to 128 x 224: the last columns are padding
    model.train()
    ex = explore_mask_proposals(model, image, num_top=7)
    assert model.training  # mode restored
    assert isinstance(ex, MaskProposalExploration)
    assert ex.resized_image.shape[-2:] == (128, 217) and ex.scale == pytest.approx((1.28, 217 / 170))
    assert set(ex.objectness) == {s.name for s in model.scales} and len(ex.objectness) == 10
    for name, obj in ex.objectness.items():
        level = name.split("/")[0]
        assert obj.shape == ex.pyramid[level].shape[-2:] and 0 <= obj.min() and obj.max() <= 1
    assert ex.top_masks.shape == (7, 14, 14) and ex.top_regions.shape == (7, 4)
    assert (ex.top_scores[:-1] >= ex.top_scores[1:]).all()
    # the best window is the best objectness over all maps, counting only windows centred inside the resized image
    (h, w), best = ex.resized_image.shape[-2:], 0.0
    for name, obj in ex.objectness.items():
        centres = window_centres(*obj.shape, ex.strides[name.split("/")[0]])
        inside = (centres[:, 0] < w) & (centres[:, 1] < h)
        best = max(best, float(obj.reshape(-1)[inside].max()))
    assert float(ex.top_scores[0]) == pytest.approx(best, abs=1e-6)
    from_numpy = explore_mask_proposals(model, (image.permute(1, 2, 0).numpy() * 255).astype(np.uint8), num_top=3)
    assert from_numpy.image.shape == image.shape and from_numpy.top_masks.shape == (3, 14, 14)
    p = ex.proposals
    assert p["levels"].shape == p["mlps"].shape == p["scores"].shape and p["masks"].shape[-2:] == (100, 170)


def test_defaults_follow_the_appendix():
    c = build_mask_proposer("resnet18", hidden=16).config
    assert (c["batch_size_per_image"], c["positive_fraction"], c["mask_loss_weight"]) == (128, 0.25, 10.0)
    assert c["window_labels"] == "paper" and c["nms_thresh"] is None and c["drop_empty_masks"] is False
    assert c["pyramid_channels"] == 128 and c["num_proposals"] == 1000


def test_sampling_and_loss_weight(one_thread, monkeypatch):
    """128 windows per image with at most 32 (1 : 3) positives; the mask loss is 10x its BCE; negatives never reach
    the mask branch (mask logits are computed for sampled positives only)."""
    import torch.nn.functional as F

    images, targets = _shapes(1, size=(256, 256))
    seen = []
    real_bce = F.binary_cross_entropy_with_logits

    def spy(logits, target, *a, **k):
        seen.append((logits.shape, target.clone()))
        return real_bce(logits, target, *a, **k)

    monkeypatch.setattr(F, "binary_cross_entropy_with_logits", spy)
    losses = {}
    for weight in (10.0, 1.0):
        torch.manual_seed(0)
        model = build_mask_proposer("resnet18", hidden=16, min_size=256, max_size=256, mask_loss_weight=weight).train()
        torch.manual_seed(1)
        losses[weight] = model(images, targets)
    (obj_shape, obj_labels), (mask_shape, _) = seen[0], seen[1]
    assert obj_shape == (128,) and 0 < obj_labels.sum() <= 32
    assert mask_shape[0] == obj_labels.sum()  # one mask per sampled positive
    torch.testing.assert_close(losses[10.0]["loss_mask"], 10 * losses[1.0]["loss_mask"])
    torch.testing.assert_close(losses[10.0]["loss_objectness"], losses[1.0]["loss_objectness"])


def test_paper_inference_equals_computing_every_mask(one_thread):
    """Masks only for the kept windows (no NMS, no dropping: the paper) give the same proposals as the general path
    that computes every candidate's mask first (nms_thresh=1.0 suppresses nothing)."""
    torch.manual_seed(0)
    fast = build_mask_proposer("resnet18", hidden=16, min_size=160, max_size=200, num_proposals=40).eval()
    full = build_mask_proposer(**{**fast.config, "nms_thresh": 1.0}).eval()
    full.load_state_dict(fast.state_dict())
    image = torch.rand(3, 150, 190)
    with torch.no_grad():
        a, b = fast([image])[0], full([image])[0]
    assert a["scores"].shape == (40,) and (a["scores"][:-1] >= a["scores"][1:]).all()
    for key in ("scores", "regions", "levels", "mlps"):
        assert torch.equal(a[key], b[key]), key
    # the 1x1 mask conv over 40 vs 1000 positions rounds differently in the last bit
    torch.testing.assert_close(a["mask_probs"], b["mask_probs"], atol=1e-6, rtol=0)
    assert (a["masks"] != b["masks"]).float().mean() < 1e-3
