"""The guided tour prints the loaded model's numbers (app/tour_facts.py), tested on two models with different settings:
a small FPN (d = 64, 5x5 pooling, 256-d fcs, anchors 16..256) and a C4 baseline (no pyramid, 14x14 pooling, a conv5
head, every anchor size on C4); and what it says about the installed variants."""
import pytest
import torch

import fpn
from app.models import ModelRegistry
from app.tour import STEPS, text
from app.tour_facts import facts

CLASSES = ["__background__", "a", "b"]


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    d = tmp_path_factory.mktemp("ck")
    torch.manual_seed(0)
    small = fpn.build_detector("fpn", "resnet18", num_classes=3, min_size=128, max_size=160, pyramid_channels=64,
                               representation_size=256, roi_output_size=5, class_names=CLASSES,
                               anchor_sizes={"p2": [16], "p3": [32], "p4": [64], "p5": [128], "p6": [256]})
    fpn.save_checkpoint(small, str(d / "fpn_small"))
    c4 = fpn.build_detector("c4", "resnet18", num_classes=3, min_size=128, max_size=160, class_names=CLASSES)
    fpn.save_checkpoint(c4, str(d / "c4_base"))
    return ModelRegistry(str(d), "cpu")


def texts(registry, model) -> list[str]:
    return [text(i, facts(registry, model)) for i in range(len(STEPS))]


def test_the_tour_reads_the_small_fpn(registry):
    steps = texts(registry, "fpn_small")
    assert "d = **64** channels in the loaded model; 256 in the paper" in steps[2]
    assert "one anchor size**: 16² on P2, 32² on P3, 64² on P4, 128² on P5, 256² on P6" in steps[3]
    assert "**5x5** grid" in steps[5] and "two fully connected layers of **256** in the loaded model" in steps[5]
    assert "P2, P3, P4, P5 in the loaded model" in steps[5]
    for stale in ("NonexNone", "1024 in this library", "7x7", "d = 128", "d = **256**"):
        assert not any(stale in s for s in steps), stale


def test_the_tour_reads_the_c4_baseline(registry):
    steps = texts(registry, "c4_base")
    assert "d = 256 channels in the paper" in steps[2] and "loaded model is **c4**" in steps[2]
    assert "several anchor sizes on one map**: 32², 64², 128², 256², 512² on C4" in steps[3]
    assert "**14x14** grid" in steps[5] and "conv5 stage" in steps[5] and "C4 in the loaded model" in steps[5]
    assert "fully connected" not in steps[5]


def test_step_8_says_what_is_installed_and_where_compare_shows_it(registry):
    step = texts(registry, None)[7]
    assert "fpn_small (fpn: the full FPN)" in step and "c4_base (c4: the single-map C4 baseline" in step
    assert "Not installed: bottom_up, no_lateral, p2_only, c5" in step and "scripts/ablation.py" in step
    assert "The figure shows fpn_small, c4_base (Table 3's rows)" in step and "**Compare** tab opens" in step
    assert "{" not in step and "}" not in step
