"""What each model knows (app/model_card.py): the card from the checkpoint's JSON, the slider's default from
metrics.score_threshold, the notice for a shapes model on a photo, the hint on zero detections; and Explorer.detect
saying them."""
import copy
import os

import pytest

from app.model_card import DEFAULT_SCORE, card, knows_shapes_only, photo_notice, score_threshold, zero_hint
from app.models import TORCHVISION_COCO, ModelEntry, ModelRegistry

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHAPES = ["__background__", "ellipse", "rectangle", "triangle", "star", "hexagon", "ring", "cross", "heart", "arrow",
          "crescent"]
META = {"model": {"variant": "fpn", "backbone": "resnet18", "class_names": SHAPES, "min_size": 384, "max_size": 480},
        "training": {"dataset": "PyramidShapes", "train_images": 4000, "iters": 1200, "device": "cpu",
                     "train_seconds": 3000.9},
        "bundle": {"trained_on": "CPU"},
        "metrics": {"bbox": {"AP": 17.3, "AP50": 29.9}, "num_images": 500, "split": "val"}}


def shapes_entry(meta=META) -> ModelEntry:
    return ModelEntry("fpn_resnet18_cpu", "checkpoint", "detection", "checkpoints/fpn_resnet18_cpu", meta)


def test_the_card_says_what_the_model_was_trained_on_and_how_good_it_is():
    text = card(shapes_entry())
    for expected in ("PyramidShapes", "4000 images", "**CPU**", "1200 iterations", "50 min", "10 classes",
                     "ellipse", "crescent", "**17.3**", "AP50 29.9", "500 val images", "shorter side 384 px",
                     "at most 480 px", f"{DEFAULT_SCORE:.2f} (the default", "synthetic shapes"):
        assert expected in text, expected
    assert "__background__" not in text


def test_the_card_says_whether_training_had_levelled_off():
    """The JSON's plateau evidence (held-out metric at 50 / 75 / 100 % of the schedule) on the card: done, still
    learning, or never measured; nothing of the kind for a published COCO model."""
    meta = copy.deepcopy(META)
    meta["plateau"] = {"metric": "AP", "0.5": 18.5, "0.75": 30.6, "1.0": 31.2, "rise_last_quarter": 0.6, "done": True}
    text = card(shapes_entry(meta))
    assert "Trained to its plateau: held-out AP 18.5 / 30.6 / 31.2 at 50 / 75 / 100 % of its schedule (+0.6" in text
    meta["plateau"].update({"1.0": 33.2, "rise_last_quarter": 2.6, "done": False})
    assert "**Still learning when training stopped**" in card(shapes_entry(meta)) and "(+2.6 over" in card(
        shapes_entry(meta))
    assert "not measured (no plateau evidence stored)" in card(shapes_entry())
    coco = ModelRegistry(os.path.join(ROOT, "checkpoints"), "cpu").entry(TORCHVISION_COCO)
    assert "plateau" not in card(coco) and "levelled" not in card(coco)


def test_a_bundled_rpn_alone_is_listed_with_its_proposal_recall(tmp_path):
    """An RPN trained alone (Table 1; task "rpn" in its JSON): in the picker after the detectors, its card gives its
    proposal AR@1000, no classes and no box AP (old evaluations stored a meaningless box AP of 0)."""
    import json

    rpn = copy.deepcopy(META)
    rpn["task"] = "rpn"
    rpn["model"]["rpn_only"] = True
    rpn["metrics"] = {"bbox": {"AP": 0.0}, "proposals": {"AR@1000": 61.2}, "num_images": 500, "split": "val"}
    for stem, meta in (("fpn_rpn_resnet18_cpu", rpn), ("fpn_resnet18_cpu", META)):
        (tmp_path / f"{stem}.json").write_text(json.dumps(meta))
        (tmp_path / f"{stem}.safetensors").write_bytes(b"")
    registry = ModelRegistry(str(tmp_path), "cpu")
    local = [n for n in registry.names("detection") if registry.entry(n).kind == "checkpoint"]
    assert local == ["fpn_resnet18_cpu", "fpn_rpn_resnet18_cpu"]
    assert registry.compare_defaults(1) == ["fpn_resnet18_cpu"]
    text = card(registry.entry("fpn_rpn_resnet18_cpu"))
    assert "Proposal AR@1000 **61.2** (measured on 500 val images of PyramidShapes)" in text
    assert "class-agnostic" in text and "Box AP" not in text and "ellipse" not in text
    assert registry.entry("fpn_rpn_resnet18_cpu").description.startswith("RPN only (proposals, no detections), fpn")


def test_the_coco_card_gives_the_published_numbers():
    coco = ModelRegistry(os.path.join(ROOT, "checkpoints"), "cpu").entry(TORCHVISION_COCO)
    text = card(coco)
    assert "COCO train2017" in text and "**GPUs**" in text and "published by torchvision" in text
    assert "**37.0**" in text and "shorter side 800 px" in text and "person" in text
    assert not knows_shapes_only(coco) and "synthetic" not in text


def test_the_score_threshold_comes_from_the_metadata_when_stored():
    assert score_threshold(shapes_entry()) == DEFAULT_SCORE
    meta = copy.deepcopy(META)
    meta["metrics"]["score_threshold"] = {"value": 0.3712, "f1": 0.61, "precision": 0.7, "recall": 0.55}
    entry = shapes_entry(meta)
    assert score_threshold(entry) == 0.37
    assert "Score threshold **0.37**: the F1-best" in card(entry) and "f1 0.61, precision 0.70" in card(entry)


#: The COCO detectors a picker offers: torchvision's, then two of Detectron2's zoo.
COCO = (TORCHVISION_COCO, "faster_rcnn_R_50_FPN_1x", "faster_rcnn_R_50_C4_1x")


def test_a_shapes_model_on_a_photo_points_to_coco():
    note = photo_notice(shapes_entry(), False, COCO)
    assert "only PyramidShapes' 10 synthetic shapes" in note and all(n in note for n in COCO)
    assert "Detectron2's zoo" in note
    assert photo_notice(shapes_entry(), True, COCO) is None  # one of its dataset's images


def test_zero_detections_say_what_to_try():
    assert zero_hint(shapes_entry(), 0.5, [0.9, 0.2], ["ring", "star"], COCO) is None
    hint = zero_hint(shapes_entry(), 0.5, [0.31, 0.2], ["ring", "star"], COCO)
    assert "best is **ring 0.31**" in hint and "lower the score threshold" in hint and TORCHVISION_COCO in hint
    assert "found nothing at all" in zero_hint(shapes_entry(), 0.5, [], [], COCO)


@pytest.mark.skipif(not os.path.isfile(os.path.join(ROOT, "checkpoints", "fpn_resnet18_cpu.json")),
                    reason="needs the bundled checkpoints")
def test_detect_on_a_photo_says_the_model_knows_only_shapes():
    from app.views import Explorer

    explorer = Explorer(ModelRegistry(os.path.join(ROOT, "checkpoints"), "cpu"))
    photo = explorer.examples.path(next(n for n in explorer.examples.names("photo") if "astronaut" in n))
    result = explorer.detect(photo, "fpn_resnet18_cpu", 0.99)
    assert "knows only PyramidShapes" in result.text
    assert "No detection scores 0.99 or more" in result.text or "found nothing" in result.text
    dataset = explorer.examples.path(explorer.examples.names("dataset")[0])
    assert "knows only" not in explorer.detect(dataset, "fpn_resnet18_cpu", 0.5).text


def test_detectron2_zoo_cards_give_their_published_numbers():
    """A zoo detector: COCO, published box AP; an RPN-only zoo model: class-agnostic, published AR@1000."""
    registry = ModelRegistry(os.path.join(ROOT, "checkpoints"), "cpu")
    zoo = {e.metadata.get("detectron2"): e for e in registry.entries.values() if e.kind == "detectron2"}
    c4 = card(zoo["COCO-Detection/faster_rcnn_R_50_C4_1x"])
    assert "COCO train2017" in c4 and "Detectron2's model zoo" in c4 and "Box AP **35.7**" in c4
    assert "80 classes" in c4 and "unknown" not in c4.lower() and "synthetic" not in c4
    rpn = card(zoo["COCO-Detection/rpn_R_50_C4_1x"])
    assert "Proposal AR@1000 **51.6**" in rpn and "class-agnostic" in rpn and "unknown" not in rpn.lower()
    assert not knows_shapes_only(zoo["COCO-Detection/rpn_R_50_C4_1x"])


def test_the_coco_detectors_are_torchvisions_then_the_detectron2_zoo():
    from app.model_card import coco_detectors

    registry = ModelRegistry(os.path.join(ROOT, "checkpoints"), "cpu")
    names = coco_detectors(registry, TORCHVISION_COCO)
    assert names[0] == TORCHVISION_COCO and len(names) > 1
    assert all(registry.entry(n).kind == "detectron2" for n in names[1:])
    assert not any(registry.entry(n).config.get("rpn_only") for n in names)  # RPN-only zoo models detect nothing
