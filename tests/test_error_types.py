"""fpn.evaluation.error_types: each box shown gets one kind of error (or "correct"), filed by object size as COCOeval
files it; and its chart (fpn.viz.evaluation.plot_error_breakdown) at pixel level."""
from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from fpn.evaluation.error_types import KINDS, detection_kinds, error_breakdown
from fpn.viz.evaluation import ERROR_COLORS, plot_error_breakdown

# objects: 0 a class-1 square, 1 and 2 two class-2 squares side by side, 3 a big class-3 square
GT = torch.tensor([[0, 0, 40, 40], [100, 0, 140, 40], [150, 0, 190, 40], [0, 100, 200, 300]], dtype=torch.float32)
GT_LABELS = torch.tensor([1, 2, 2, 3])


def test_every_kind_in_score_order():
    boxes = torch.tensor([
        [0, 0, 40, 40],       # correct: object 0
        [1, 1, 41, 41],       # duplicate: object 0 is taken by the higher-scoring box
        [100, 0, 140, 40],    # wrong class (labelled 1, object 1 is class 2)
        [98, -2, 192, 42],    # several objects: encloses objects 1 and 2
        [20, 120, 80, 180],   # part of an object: inside object 3
        [20, 10, 60, 50],     # poorly localised: IoU 0.23 with object 0
        [400, 400, 450, 450],  # background
    ], dtype=torch.float32)
    scores = torch.tensor([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3])
    labels = torch.tensor([1, 1, 1, 2, 3, 1, 1])
    kinds, found, match = detection_kinds(boxes, scores, labels, GT, GT_LABELS)
    assert kinds == list(KINDS)
    assert found.tolist() == [True, False, False, False] and match.tolist() == [0, -1, -1, -1, -1, -1, -1]
    # the same boxes, the duplicate scored higher: it takes the object, the exact box becomes the duplicate
    kinds, _, match = detection_kinds(boxes, torch.tensor([0.5, 0.95, 0.7, 0.6, 0.5, 0.4, 0.3]), labels, GT,
                                      GT_LABELS)
    assert kinds[:2] == ["duplicate", "correct"] and match[1] == 0


def test_no_objects_or_no_boxes():
    boxes = torch.tensor([[0, 0, 10, 10.0]])
    assert detection_kinds(boxes, torch.ones(1), torch.ones(1, dtype=torch.long), GT[:0], GT_LABELS[:0])[0] == [
        "background"]
    kinds, found, _ = detection_kinds(boxes[:0], torch.ones(0), torch.ones(0, dtype=torch.long), GT, GT_LABELS)
    assert kinds == [] and not found.any()


class _Dataset:
    """What error_breakdown reads of a CocoDetection."""
    category_id_to_label = {11: 1, 12: 2, 13: 3}

    def __init__(self):
        anns = [{"image_id": 7, "category_id": 10 + int(c), "bbox": [x0, y0, x1 - x0, y1 - y0], "area": a}
                for (x0, y0, x1, y1), c, a in zip(GT.tolist(), GT_LABELS, (900, 900, 900, 20000))]
        # a ring: its box is large (120 x 120 px) but its annotated area medium (60^2)
        anns.append({"image_id": 7, "category_id": 11, "bbox": [300, 0, 120, 120], "area": 3600})
        anns.append({"image_id": 7, "category_id": 12, "bbox": [0, 400, 5, 5], "area": 25, "iscrowd": 1})
        self.data = {"annotations": anns}


def test_breakdown_by_size_as_cocoeval_files_it():
    boxes = torch.tensor([[0, 0, 40, 40], [300, 0, 420, 120], [20, 120, 120, 220], [400, 400, 410, 410],
                          [0, 100, 200, 300]], dtype=torch.float32)
    pred = {"boxes": boxes, "scores": torch.tensor([0.9, 0.8, 0.7, 0.6, 0.1]), "labels": torch.tensor([1, 1, 3, 1, 3])}
    out = error_breakdown(_Dataset(), {7: pred}, score_threshold=0.5)
    assert out["score_threshold"] == 0.5
    d, o = out["detections"], out["objects"]
    assert d["small"]["correct"] == 1 and d["small"]["background"] == 1  # the 10 x 10 px box: its own area
    assert d["medium"]["correct"] == 1  # the ring's correct box: its object's medium area, not its large box
    assert d["large"]["part of an object"] == 1  # 100 x 100 px inside object 3, unmatched: its box area
    assert sum(sum(k.values()) for k in d.values()) == 4  # the box under the threshold is not shown
    # the crowd region is no object; the big square's only box is under the threshold: missed
    assert o == {"small": {"found": 1, "missed": 2}, "medium": {"found": 1, "missed": 0},
                 "large": {"found": 0, "missed": 1}}


def _pixels_of(img: np.ndarray, hex_color: str) -> int:
    rgb = np.array([int(hex_color[i:i + 2], 16) for i in (1, 3, 5)])
    return int((np.abs(img[..., :3].astype(int) - rgb).sum(-1) < 12).sum())


def test_chart_areas_follow_the_counts(tmp_path):
    none = dict.fromkeys(KINDS, 0)
    detections = {"small": {**none, "correct": 9, "background": 1}, "large": {**none, "wrong class": 1}}
    objects = {"small": {"found": 1, "missed": 3}, "large": {"found": 0, "missed": 1}}
    img = np.asarray(Image.open(plot_error_breakdown(detections, objects, str(tmp_path / "e.png"))))
    green, grey = _pixels_of(img, ERROR_COLORS["correct"]), _pixels_of(img, ERROR_COLORS["background"])
    orange = _pixels_of(img, ERROR_COLORS["wrong class"])
    # small: 90 % correct, 10 % background; large: one full bar of wrong class (the legend patches add a few pixels;
    # the objects panel's green bar is narrower)
    assert 5 < green / grey < 15 and 0.7 < orange / (green / 0.9 * 0.75) < 1.5
    assert _pixels_of(img, ERROR_COLORS["several objects"]) < orange / 20  # its legend patch only


def test_occlusion_recall_script_tables_and_draws(tmp_path):
    """scripts/occlusion_recall.py on a random-weight detector and two images: its two tables and the chart."""
    import subprocess
    import sys
    from pathlib import Path

    import fpn

    root = Path(__file__).resolve().parents[1]
    torch.manual_seed(0)
    model = fpn.build_detector("fpn", "resnet18", num_classes=11, min_size=128, max_size=160, pyramid_channels=32,
                               representation_size=64)
    fpn.save_checkpoint(model, str(tmp_path / "m"), {"metrics": {"score_threshold": {"value": 0.0}, "data_seed": 5}})
    out = tmp_path / "occl.png"
    r = subprocess.run([sys.executable, str(root / "scripts" / "occlusion_recall.py"), "--checkpoint",
                        str(tmp_path / "m"), "--images", "2", "--out", str(out)], capture_output=True, text=True,
                       cwd=root, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "split val seed 5, 2 images" in r.stdout and r.stdout.count("| small |") == 3  # AP, AP@0.5, found
    assert "| box AP |" in r.stdout and "| found % |" in r.stdout and Image.open(out).size[0] > 400
    from fpn.mask_proposals import build_mask_proposer

    masks = build_mask_proposer("resnet18", hidden=16, min_size=128, max_size=160, num_proposals=20)
    fpn.save_checkpoint(masks, str(tmp_path / "mp"), {"task": "mask_proposals"})
    r = subprocess.run([sys.executable, str(root / "scripts" / "occlusion_recall.py"), "--checkpoint",
                        str(tmp_path / "mp"), "--images", "2", "--out", str(out)], capture_output=True, text=True,
                       cwd=root, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "| segment AR@1000 |" in r.stdout and "found %" not in r.stdout and "seed 1000" in r.stdout
