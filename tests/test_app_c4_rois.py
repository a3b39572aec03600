"""The app gives the C4 baseline's conv5 head fewer proposals per image (app.models.C4_ROIS, `app.py --c4-rois`), and
says so: the model card, the loaded model and the exported code agree; other models load as recorded."""
import pytest
import torch

import fpn
from app.models import C4_ROIS, ModelRegistry
from app.snippets import load_model

CLASSES = ["__background__", "a", "b", "c"]


@pytest.fixture(scope="module")
def ckdir(tmp_path_factory):
    d = tmp_path_factory.mktemp("ck")
    torch.manual_seed(0)
    for variant in ("fpn", "c4"):
        m = fpn.build_detector(variant, "resnet18", num_classes=4, min_size=128, max_size=160, class_names=CLASSES)
        fpn.save_checkpoint(m, str(d / f"{variant}_tiny"))
    return str(d)


def test_the_c4_head_reads_c4_rois_proposals_and_the_card_and_code_say_so(ckdir):
    reg = ModelRegistry(ckdir, "cpu")
    c4, other = reg.entry("c4_tiny"), reg.entry("fpn_tiny")
    assert c4.options == {"rpn_post_nms_top_n_test": C4_ROIS} and other.options == {}
    assert reg.get("c4_tiny").rpn.test_selector.post_nms_top_n == C4_ROIS
    assert reg.get("fpn_tiny").rpn.test_selector.post_nms_top_n == 1000
    assert f"head on {C4_ROIS} proposals per image (evaluated on 1000)" in c4.description
    assert "proposals per image" not in other.description
    code = load_model(c4.kind, c4.path, c4.options)
    assert f"rpn_post_nms_top_n_test={C4_ROIS})" in code
    namespace = {"fpn": fpn}
    model = eval(code, namespace)  # the exported expression loads the model the app runs
    assert model.rpn.test_selector.post_nms_top_n == C4_ROIS


def test_c4_rois_none_loads_every_model_as_recorded_and_zoo_c4_gets_the_setting_too(ckdir):
    reg = ModelRegistry(ckdir, "cpu", c4_rois=None)
    assert reg.entry("c4_tiny").options == {}
    assert reg.get("c4_tiny").rpn.test_selector.post_nms_top_n == 1000
    zoo = ModelRegistry(ckdir, "cpu", c4_rois=100)
    c4_zoo = [e for e in zoo.entries.values() if e.kind == "detectron2" and e.config["variant"] == "c4"]
    assert c4_zoo and all(e.options == {"rpn_post_nms_top_n_test": 100} for e in c4_zoo if not e.config["rpn_only"])
    assert all(e.options == {} for e in c4_zoo if e.config["rpn_only"])  # an RPN alone has no head to spare
    with pytest.raises(ValueError, match="positive number of proposals"):
        ModelRegistry(ckdir, "cpu", c4_rois=0)

