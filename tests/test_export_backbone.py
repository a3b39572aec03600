"""scripts/export_backbone.py: a model's ResNet saved for --backbone-weights, loaded back unchanged."""
import subprocess
import sys
from pathlib import Path

import torch

import fpn

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "export_backbone.py"


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, cwd=ROOT, timeout=300)


def test_exported_backbone_starts_a_model_with_the_same_resnet(tmp_path):
    torch.manual_seed(0)
    model = fpn.build_detector("p2_only", "resnet18", num_classes=11, min_size=128, max_size=160, pyramid_channels=16,
                               representation_size=32)
    with torch.no_grad():  # weights and BN statistics no random init reproduces
        model.bottom_up.layer4[1].conv2.weight.add_(1.0)
        model.bottom_up.layer2[0].bn1.running_mean.fill_(0.25)
    fpn.save_checkpoint(model, str(tmp_path / "m"), {})
    r = _run("--checkpoint", str(tmp_path / "m"), "--out", str(tmp_path / "bb.safetensors"))
    assert r.returncode == 0, r.stderr[-2000:]
    torch.manual_seed(1)
    started = fpn.build_detector("fpn", "resnet18", num_classes=11, min_size=128, max_size=160, pyramid_channels=16,
                                 backbone_weights=str(tmp_path / "bb.safetensors"), norm="bn",
                                 trainable_backbone_layers=5)
    theirs, ours = model.bottom_up.state_dict(), started.bottom_up.state_dict()
    assert theirs.keys() == ours.keys() and all(torch.equal(theirs[k], ours[k]) for k in theirs)


def test_c4_and_bad_output_names_are_refused(tmp_path):
    c4 = fpn.build_detector("c4", "resnet18", num_classes=11, min_size=128, max_size=160, representation_size=32)
    fpn.save_checkpoint(c4, str(tmp_path / "c4"), {})
    r = _run("--checkpoint", str(tmp_path / "c4"), "--out", str(tmp_path / "bb.safetensors"))
    assert r.returncode == 1 and "no conv5 stage" in r.stderr and not (tmp_path / "bb.safetensors").exists()
    r = _run("--checkpoint", str(tmp_path / "c4"), "--out", str(tmp_path / "bb.pth"))
    assert r.returncode == 2 and "must end in .safetensors" in r.stderr
