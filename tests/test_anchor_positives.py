"""scripts/anchor_positives.py: which objects own the RPN's positive anchors, per size, on the pyramid and on P2 alone."""
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

import fpn

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("anchor_positives", ROOT / "scripts" / "anchor_positives.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _model(variant: str) -> torch.nn.Module:
    torch.manual_seed(0)
    return fpn.build_detector(variant, "resnet18", num_classes=11, min_size=256, max_size=320, pyramid_channels=16,
                              representation_size=32, rpn_only=True).eval()


def test_one_box_owns_its_anchors(script):
    """A lone 200-px square: every positive anchor is its own; stride-4 P2 with every size gives it far more than the
    pyramid (an anchor shifted by 4 px still overlaps it at IoU > 0.7), and it is never fewer than one (Sec. 4.1's
    best-anchor rule)."""
    image = Image.new("RGB", (320, 256), "white")
    box = torch.tensor([[40.0, 30.0, 240.0, 230.0]])
    owners = {v: script.positive_owners(_model(v), image, box) for v in ("fpn", "p2_only")}
    assert all(o.numel() >= 1 and (o == 0).all() for o in owners.values())
    assert owners["p2_only"].numel() > 10 * owners["fpn"].numel()


def test_counts_and_report(script):
    """On two generated images: every object counted once, the sampled positives capped per image, shares of 100 %."""
    from fpn.data.synthetic import generate_image

    model = _model("p2_only")
    counts = script.count(model, seed=0, split="train", images=2, positives_per_image=8)
    n_objects, per_image = 0, []
    for i in range(2):
        image, anns = generate_image(0, "train", i)
        boxes = torch.tensor([[x, y, x + w, y + h] for x, y, w, h in (a["bbox"] for a in anns)])
        n_objects += len(anns)
        per_image.append(script.positive_owners(model, image, boxes.float()).numel())
    assert sum(c["objects"] for c in counts.values()) == n_objects
    assert sum(c["positives"] for c in counts.values()) == sum(per_image)
    assert sum(c["sampled"] for c in counts.values()) == pytest.approx(sum(min(p, 8) for p in per_image))
    assert max(per_image) > 8  # so the cap was exercised
    table = script.report("m", counts)
    shares = [float(row.split("|")[4].strip(" %")) for row in table.splitlines()[3:]]
    assert sum(shares) == pytest.approx(100.0, abs=0.2)


def test_cli_tables_chart_and_bad_images(tmp_path):
    fpn.save_checkpoint(_model("fpn"), str(tmp_path / "m"), {"task": "rpn"})
    out = tmp_path / "pos.png"
    run = [sys.executable, str(ROOT / "scripts" / "anchor_positives.py"), "--checkpoint", str(tmp_path / "m")]
    r = subprocess.run(run + ["--images", "1", "--out", str(out)], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "m: split train seed 0, 1 images, at most 128 sampled positives per image" in r.stdout
    assert r.stdout.count("| large |") == 1 and Image.open(out).size[0] > 400
    r = subprocess.run(run + ["--images", "0"], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 2 and "--images must be at least 1" in r.stderr
