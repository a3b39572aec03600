"""PyramidShapes generator and the COCO-format dataset reader."""
from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from toy_coco import read_json

from fpn.data.coco import (
    CocoDetection,
    RandomHorizontalFlip,
    collate,
    find_coco_split,
    hflip,
    load_coco_json,
)
from fpn.data.synthetic import CLASS_NAMES, generate_image, size_mix, write_split

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _files(root: str) -> dict[str, bytes]:
    out = {}
    for dirpath, _, names in os.walk(root):
        for n in names:
            p = os.path.join(dirpath, n)
            with open(p, "rb") as f:
                out[os.path.relpath(p, root)] = f.read()
    return out


@pytest.fixture(scope="module")
def shapes_dir(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("shapes"))
    write_split(root, "train", 4, seed=7, workers=0, progress=False)
    write_split(root, "val", 2, seed=7, workers=0, progress=False)
    return root


def test_same_seed_byte_identical_across_worker_counts(shapes_dir, tmp_path):
    """The CLI with 2 worker processes writes exactly the files the in-process generator wrote."""
    other = str(tmp_path / "again")
    subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "make_dataset.py"), "--out", other,
                    "--train", "4", "--val", "2", "--seed", "7", "--workers", "2", "--quiet"],
                   check=True, cwd=ROOT, capture_output=True)
    a, b = _files(shapes_dir), _files(other)
    assert sorted(a) == sorted(b)
    assert len([k for k in a if k.endswith(".png")]) == 6
    for k in a:
        assert a[k] == b[k], f"{k} differs between two runs with the same seed"


def test_different_seed_differs(shapes_dir):
    img_a, _ = generate_image(7, "train", 0)
    img_b, _ = generate_image(8, "train", 0)
    assert img_a.shape != img_b.shape or not np.array_equal(img_a, img_b)
    # and the split is part of the seed
    img_c, _ = generate_image(7, "val", 0)
    assert img_a.shape != img_c.shape or not np.array_equal(img_a, img_c)


def test_pycocotools_loads_annotations(shapes_dir):
    from pycocotools import mask as mask_utils
    from pycocotools.coco import COCO

    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(os.path.join(shapes_dir, "annotations", "instances_train.json"))
    assert [c["name"] for c in coco.loadCats(coco.getCatIds())] == list(CLASS_NAMES)
    assert len(coco.getImgIds()) == 4
    anns = coco.loadAnns(coco.getAnnIds())
    assert anns
    for a in anns:
        img = coco.loadImgs(a["image_id"])[0]
        m = coco.annToMask(a)
        assert m.shape == (img["height"], img["width"])
        assert m.sum() == a["area"] > 0
        ys, xs = np.nonzero(m)
        assert a["bbox"] == [float(xs.min()), float(ys.min()), float(xs.max() - xs.min() + 1),
                             float(ys.max() - ys.min() + 1)]
        assert a["iscrowd"] == 0
        assert isinstance(a["segmentation"]["counts"], str)
        assert mask_utils.area(a["segmentation"] | {"counts": a["segmentation"]["counts"].encode()}) == a["area"]
    info = read_json(os.path.join(shapes_dir, "annotations", "instances_train.json"))["info"]
    assert info["seed"] == 7 and info["dataset"] == "PyramidShapes"


def test_image_properties_and_occlusion():
    """Sizes of images and objects, object counts, and that visible masks never overlap (occlusion resolved)."""
    from pycocotools import mask as mask_utils

    counts = []
    for i in range(12):
        img, anns = generate_image(3, "train", i)
        h, w = img.shape[:2]
        assert 512 <= h <= 640 and 512 <= w <= 640 and img.dtype == np.uint8
        assert 1 <= len(anns) <= 30
        counts.append(len(anns))
        masks = mask_utils.decode([a["segmentation"] | {"counts": a["segmentation"]["counts"].encode()}
                                   for a in anns])
        assert masks.sum(axis=2).max() <= 1, "visible masks overlap"
        for a in anns:
            assert 5 <= max(a["bbox"][2], a["bbox"][3]) <= 452
    assert max(counts) > 5


def test_visible_shares_describe_the_occlusion_the_painting_order_makes():
    """One share per annotation, each the visible part of the painted pixels (never below the generator's half), and
    the large objects, painted first, the occluded ones (scripts/occlusion_recall.py separates size from occlusion)."""
    from fpn.data.synthetic import visible_shares

    by_size: dict[bool, list[float]] = {True: [], False: []}
    for i in range(12):
        _, anns = generate_image(3, "train", i)
        shares = visible_shares(3, "train", i)
        assert len(shares) == len(anns) and all(0.5 <= s <= 1.0 for s in shares)
        for a, s in zip(anns, shares):
            by_size[a["area"] >= 96 ** 2].append(s)
    assert np.mean(by_size[True]) < np.mean(by_size[False]) - 0.1, {k: np.mean(v) for k, v in by_size.items()}


def test_size_mix_close_to_coco():
    areas = []
    for i in range(40):
        areas += [a["area"] for a in generate_image(11, "train", i)[1]]
    mix = size_mix(areas)
    assert len(areas) > 200
    assert abs(mix["small"] - 0.40) < 0.08, mix
    assert abs(mix["medium"] - 0.35) < 0.08, mix
    assert abs(mix["large"] - 0.25) < 0.08, mix


def test_coco_dataset_targets_and_label_mapping(tmp_path):
    root = tmp_path / "ds"
    (root / "annotations").mkdir(parents=True)
    (root / "train2017").mkdir()
    from PIL import Image

    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(root / "train2017" / "a.jpg")
    Image.fromarray(np.zeros((10, 10, 3), np.uint8)).save(root / "train2017" / "b.jpg")
    data = {
        "images": [{"id": 5, "file_name": "a.jpg", "height": 20, "width": 30},
                   {"id": 9, "file_name": "b.jpg", "height": 10, "width": 10}],
        "categories": [{"id": 90, "name": "toothbrush"}, {"id": 1, "name": "person"}, {"id": 18, "name": "dog"}],
        "annotations": [
            {"id": 1, "image_id": 5, "category_id": 90, "bbox": [1, 2, 10, 5], "area": 50, "iscrowd": 0,
             "segmentation": [[1, 2, 11, 2, 11, 7, 1, 7]]},
            {"id": 2, "image_id": 5, "category_id": 18, "bbox": [0, 0, 0, 4], "area": 0, "iscrowd": 0},  # degenerate
            {"id": 3, "image_id": 5, "category_id": 1, "bbox": [3, 3, 5, 5], "area": 25, "iscrowd": 1},  # crowd
            {"id": 4, "image_id": 5, "category_id": 1, "bbox": [25, 10, 10, 20], "area": 50, "iscrowd": 0},
        ],
    }
    (root / "annotations" / "instances_train2017.json").write_text(json.dumps(data))
    images_dir, ann = find_coco_split(str(root), "train")
    ds = CocoDetection(images_dir, ann, masks=True)
    assert ds.class_names == ["__background__", "person", "dog", "toothbrush"]
    assert ds.num_classes == 4
    for cid, label in ds.category_id_to_label.items():
        assert ds.label_to_category_id[label] == cid
    assert ds.category_id_to_label == {1: 1, 18: 2, 90: 3}
    image, target = ds[0]
    assert image.shape == (3, 20, 30) and image.dtype == torch.float32 and image.max() <= 1
    assert target["image_id"] == 5
    assert target["labels"].tolist() == [3, 1]  # crowd and degenerate dropped
    assert target["boxes"].tolist() == [[1, 2, 11, 7], [25, 10, 30, 20]]  # clipped to the image
    assert target["masks"].shape == (2, 20, 30) and target["masks"].dtype == torch.uint8
    assert target["masks"][0].sum() > 0
    image, target = ds[1]  # no annotations
    assert target["boxes"].shape == (0, 4) and target["labels"].shape == (0,)
    assert target["masks"].shape == (0, 10, 10)
    images, targets = collate([ds[0], ds[1]])
    assert len(images) == 2 and len(targets) == 2


def test_hflip_boxes_and_masks():
    image = torch.rand(3, 8, 10)
    masks = torch.zeros(1, 8, 10, dtype=torch.uint8)
    masks[0, 2:4, 1:3] = 1
    target = {"boxes": torch.tensor([[1.0, 2.0, 3.0, 4.0]]), "labels": torch.tensor([1]), "masks": masks}
    img2, t2 = hflip(image, target)
    assert torch.equal(img2, image.flip(-1))
    assert t2["boxes"].tolist() == [[7.0, 2.0, 9.0, 4.0]]
    _, xs = torch.nonzero(t2["masks"][0], as_tuple=True)
    assert xs.min().item() == 7 and xs.max().item() + 1 == 9
    assert torch.equal(target["boxes"], torch.tensor([[1.0, 2.0, 3.0, 4.0]])), "input was modified"
    img3, t3 = hflip(img2, t2)
    assert torch.equal(img3, image) and torch.equal(t3["boxes"], target["boxes"])
    assert RandomHorizontalFlip(1.0)(image, target)[1]["boxes"].tolist() == [[7.0, 2.0, 9.0, 4.0]]
    assert RandomHorizontalFlip(0.0)(image, target)[1] is target
    with pytest.raises(ValueError):
        RandomHorizontalFlip(1.5)


def test_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no COCO-format split"):
        find_coco_split(str(tmp_path), "train")
    with pytest.raises(FileNotFoundError, match="dataset folder not found"):
        find_coco_split(str(tmp_path / "nope"), "train")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_coco_json(str(bad))
    bad.write_text(json.dumps({"images": []}))
    with pytest.raises(ValueError, match="categories"):
        load_coco_json(str(bad))
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"images": [{"id": 1, "file_name": "missing.png"}], "categories": [{"id": 1}]}))
    ds = CocoDetection(str(tmp_path), str(good))
    with pytest.raises(FileNotFoundError, match="missing.png"):
        ds[0]
    (tmp_path / "missing.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="cannot read image"):
        ds[0]
