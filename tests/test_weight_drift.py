"""scripts/weight_drift.py: the initialisation rebuilt from the seed, the relative change per module group."""
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import fpn

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "weight_drift.py"


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("weight_drift", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _rpn(seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)  # as scripts/train.py: the seed, then the build
    return fpn.build_model("rpn", dict(variant="fpn", backbone="resnet18", num_classes=11, min_size=128, max_size=160,
                                       pyramid_channels=16))


def test_drift_per_group(script):
    w0 = {"bottom_up.layer1.0.conv1.weight": torch.ones(2, 2), "rpn.head.conv.weight": torch.ones(1, 4),
          "bottom_up.layer1.0.bn1.weight": torch.ones(2)}
    w1 = {"bottom_up.layer1.0.conv1.weight": torch.full((2, 2), 1.5), "rpn.head.conv.weight": torch.ones(1, 4),
          "bottom_up.layer1.0.bn1.weight": torch.zeros(2)}
    assert script.drift(w0, w1) == {"bottom_up.layer1": pytest.approx(0.5), "rpn.head": 0.0}  # BN left out


def test_untrained_checkpoint_has_not_moved_and_training_moves_it(tmp_path):
    """A checkpoint saved right after its seeded build drifts 0 everywhere; one with a perturbed stage drifts there."""
    model = _rpn(3)
    meta = {"task": "rpn", "training": {"seed": 3}}
    fpn.save_checkpoint(model, str(tmp_path / "fresh"), meta)
    with torch.no_grad():
        model.bottom_up.layer3[0].conv1.weight.mul_(1.1)
    fpn.save_checkpoint(model, str(tmp_path / "moved"), meta)
    r = subprocess.run([sys.executable, str(SCRIPT), "--checkpoint", str(tmp_path / "fresh"), str(tmp_path / "moved")],
                       capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    rows = {line.split("|")[1].strip(): line.split("|")[2:4] for line in r.stdout.splitlines() if line.startswith("| ")}
    assert {cells[0].strip() for g, cells in rows.items() if g not in ("group", "---")} == {"0.000"}
    assert float(rows["bottom_up.layer3"][1]) > 0.01 and float(rows["bottom_up.layer2"][1]) == 0.0


def test_checkpoint_without_seed_is_refused(tmp_path):
    fpn.save_checkpoint(_rpn(0), str(tmp_path / "m"), {"task": "rpn"})
    r = subprocess.run([sys.executable, str(SCRIPT), "--checkpoint", str(tmp_path / "m")], capture_output=True,
                       text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 1 and "no training.seed" in r.stderr
