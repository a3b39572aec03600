"""Sec. 6 mask proposals: window geometry, DeepMask-style targets, pasting, options, explore, and a CPU overfit run."""
from __future__ import annotations

import contextlib
import io
import itertools
import json
import math

import numpy as np
import pytest
import torch

from fpn.mask_proposals import (
    MaskProposalExploration,
    assign_windows,
    build_mask_proposer,
    crop_mask_targets,
    encode_proposals,
    explore_mask_proposals,
    mask_boxes,
    paste_mask,
    window_centres,
    window_regions,
    window_scales,
)
from fpn.mask_proposals.targets import inside_image


def _square_target(cx: float, cy: float, side: float, size=(512, 512)):
    h, w = size
    box = torch.tensor([[cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2]])
    mask = torch.zeros((1, h, w), dtype=torch.uint8)
    x1, y1, x2, y2 = (round(v) for v in box[0].tolist())
    mask[0, max(y1, 0):y2, max(x1, 0):x2] = 1
    return box, mask


def _labels_per_pair(scales, boxes, size):
    """{pair name: (labels, matched, centres)} for one image of `size` (H, W), all pairs of `scales`."""
    out = {}
    for g, s in enumerate(scales):
        h, w = math.ceil(size[0] / s.stride), math.ceil(size[1] / s.stride)
        c = window_centres(h, w, s.stride)
        out[s.name] = (*assign_windows(c, s, boxes, inside_image(c, size), g == 0, g == len(scales) - 1), c)
    return out


def test_window_geometry_follows_fig4():
    scales = {s.name: s for s in window_scales(("p2", "p3", "p4", "p5", "p6"), "dual")}
    for level, region, canonical in (("p3", 80, 64), ("p4", 160, 128), ("p5", 320, 256)):
        s = scales[f"{level}/5x5"]
        assert (s.region, s.canonical, s.tolerance) == (region, canonical, canonical / 8)
        t = scales[f"{level}/7x7"]
        assert t.canonical == pytest.approx(canonical * math.sqrt(2)) and t.region == pytest.approx(region * math.sqrt(2))
    ordered = window_scales(("p2", "p3", "p4", "p5", "p6"), "dual")
    assert ordered[0].band_lo == 0 and ordered[-1].band_hi == math.inf
    for a, b in itertools.pairwise(ordered):  # bands tile the size axis, a quarter octave each side of canonical
        assert a.band_hi == pytest.approx(b.band_lo)
        assert a.band_hi == pytest.approx(a.canonical * 2 ** 0.25)
    single = window_scales(("p3", "p4"), "5x5")
    assert single[0].band_hi == pytest.approx(64 * 2 ** 0.5) and single[1].band_lo == single[0].band_hi


@pytest.mark.parametrize(
    "side, expected",
    [(64, "p3/5x5"), (90, "p3/7x7"), (128, "p4/5x5"), (180, "p4/7x7"), (256, "p5/5x5"), (32, "p2/5x5")],
)
def test_objects_are_positive_on_the_expected_level_and_mlp(side, expected):
    scales = window_scales(("p2", "p3", "p4", "p5", "p6"), "dual")
    box, _ = _square_target(258, 258, side)  # off the window grids, so every rule has windows to act on
    labels = _labels_per_pair(scales, box, (512, 512))
    positives = {name: int((lab == 1).sum()) for name, (lab, _, _) in labels.items()}
    assert positives[expected] > 0
    assert sum(positives.values()) == positives[expected], positives
    s = next(s for s in scales if s.name == expected)
    lab, matched, c = labels[expected]
    off = (c - 258.0).abs().amax(dim=1)
    assert torch.equal(lab == 1, off <= s.tolerance)  # exactly the windows within the shift tolerance
    assert (matched[lab == 1] == 0).all()
    assert (lab[off >= 2 * s.tolerance] == 0).all()  # far windows are negatives
    between = (off > s.tolerance) & (off < 2 * s.tolerance)
    assert between.any() and (lab[between] == -1).all()  # in-between windows are ignored


def test_off_scale_and_padding_windows():
    scales = window_scales(("p3", "p4", "p5"), "5x5")
    box, _ = _square_target(256, 256, 150)
    labels = _labels_per_pair(scales, box, (512, 512))
    assert (labels["p4/5x5"][0] == 1).sum() > 0
    lab3, _, c3 = labels["p3/5x5"]
    centred = (c3 - 256).abs().amax(dim=1) <= 8
    assert (lab3[centred] == 0).all()  # 150 px > 2x the P3 canonical size: negative, not ignored
    lab5, _, _ = labels["p5/5x5"]
    assert (lab5 == 1).sum() == 0 and (lab5 == -1).sum() > 0  # 150 > 256 / 2: near in scale on P5, ignored
    c = window_centres(10, 10, 64)
    lab, _ = assign_windows(c, scales[-1], box, inside_image(c, (300, 300)), False, True)
    assert (lab[~inside_image(c, (300, 300))] == -1).all()


def test_mask_targets_are_the_right_crops():
    _, mask = _square_target(256, 256, 64)
    s = next(s for s in window_scales(("p3",), "5x5"))
    centres = torch.tensor([[256.0, 256.0], [264.0, 256.0], [256.0, 248.0]])
    crops = crop_mask_targets(mask, torch.zeros(3, dtype=torch.long), window_regions(centres, s.region), 14)
    assert crops.shape == (3, 14, 14)
    # centred window: the 64 px object fills the central 64/80 of the region
    assert crops[0].sum() == pytest.approx((64 / 80 * 14) ** 2, abs=20)
    assert torch.equal(crops[0], crops[0].flip(0)) and torch.equal(crops[0], crops[0].flip(1))
    assert crops[0][0].sum() == 0 and crops[0][7, 7] == 1
    cols = torch.arange(14.0)
    centroid_x = [(c.sum(0) * cols).sum() / c.sum() for c in crops]
    centroid_y = [(c.sum(1) * cols).sum() / c.sum() for c in crops]
    assert centroid_x[1] - centroid_x[0] == pytest.approx(-8 / 80 * 14, abs=0.4)  # window moved right: object left
    assert centroid_y[2] - centroid_y[0] == pytest.approx(8 / 80 * 14, abs=0.4)  # window moved up: object lower


def _blob_mask(size, seed):
    """An irregular object (union of ellipses), BoolTensor [H, W]."""
    g = torch.Generator().manual_seed(seed)
    h, w = size
    yy, xx = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
    m = torch.zeros(size, dtype=torch.bool)
    cx, cy = w * 0.5, h * 0.5
    for _ in range(4):
        ox, oy = (torch.rand(2, generator=g) - 0.5) * 50
        ax, ay = 20 + torch.rand(2, generator=g) * 35
        m |= ((xx - cx - ox) / ax) ** 2 + ((yy - cy - oy) / ay) ** 2 <= 1
    return m


@pytest.mark.parametrize("seed, roll, shift", [(0, 0, (0, 0)), (1, 0, (6, -5)), (2, -90, (0, 0))])
def test_pasting_a_perfect_28x28_prediction_reproduces_the_mask(seed, roll, shift):
    """roll < 0 moves the object across the left image border (the region sticks out of the image); shift moves the
    window centre off the object centre, within the shift tolerance (side / 8)."""
    size = (240, 200)
    gt = _blob_mask(size, seed)
    if roll:
        gt = torch.roll(gt, roll, dims=1)
        gt[:, roll:] = False
    ys, xs = gt.nonzero(as_tuple=True)
    box = torch.tensor([[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]], dtype=torch.float32)
    centre = (box[:, :2] + box[:, 2:]) / 2 + torch.tensor([shift], dtype=torch.float32)
    side = float((box[:, 2:] - box[:, :2]).max())
    region = window_regions(centre, side * 1.25)
    probs = crop_mask_targets(gt[None].to(torch.uint8), torch.zeros(1, dtype=torch.long), region, 28)[0]
    pasted = paste_mask(probs, region[0], size)
    iou = (pasted & gt).sum().item() / (pasted | gt).sum().item()
    assert iou > 0.9, iou
    mb, nonempty = mask_boxes(probs[None], region, size)
    assert nonempty.all() and (mb - box).abs().max() <= side * 1.25 / 28 + 1


# --------------------------------------------------------------------------------------- models on tiny images


@pytest.fixture
def one_thread():
    """Small models run fastest single-threaded, and do not spin-wait for cores other test processes hold."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


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
    model = build_mask_proposer("resnet18", hidden=16, min_size=128, max_size=200, num_proposals=30)
    image = torch.rand(3, 100, 150)
    model.train()
    ex = explore_mask_proposals(model, image, num_top=7)
    assert model.training  # mode restored
    assert isinstance(ex, MaskProposalExploration)
    assert ex.resized_image.shape[-2:] == (128, 192) and ex.scale == pytest.approx((1.28, 1.28))
    assert set(ex.objectness) == {s.name for s in model.scales} and len(ex.objectness) == 10
    for name, obj in ex.objectness.items():
        level = name.split("/")[0]
        assert obj.shape == ex.pyramid[level].shape[-2:] and 0 <= obj.min() and obj.max() <= 1
    assert ex.top_masks.shape == (7, 14, 14) and ex.top_regions.shape == (7, 4)
    assert (ex.top_scores[:-1] >= ex.top_scores[1:]).all()
    best = max(float(o.max()) for o in ex.objectness.values())
    assert float(ex.top_scores[0]) == pytest.approx(best, abs=1e-6) or float(ex.top_scores[0]) <= best
    from_numpy = explore_mask_proposals(model, (image.permute(1, 2, 0).numpy() * 255).astype(np.uint8), num_top=3)
    assert from_numpy.image.shape == image.shape and from_numpy.top_masks.shape == (3, 14, 14)
    p = ex.proposals
    assert p["levels"].shape == p["mlps"].shape == p["scores"].shape and p["masks"].shape[-2:] == (100, 150)
