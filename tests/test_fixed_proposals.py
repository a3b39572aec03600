"""Fast R-CNN on a fixed set of proposals (fpn.modeling.fixed_proposals, FasterRCNN.run(proposals=...))."""
from __future__ import annotations

import pytest
import torch

import fpn
from fpn import FixedProposals
from fpn.modeling.trace import Trace

SMALL = dict(num_classes=5, min_size=96, max_size=128, pyramid_channels=32, representation_size=64)


def _detector(variant: str = "fpn", seed: int = 0, **options) -> fpn.FasterRCNN:
    torch.manual_seed(seed)
    return fpn.build_detector(variant, "resnet18", **{**SMALL, **options}).eval()


def _images() -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return [torch.rand(3, 100, 140, generator=g), torch.rand(3, 90, 90, generator=g)]


def test_a_detector_on_its_own_proposals_gives_its_own_detections():
    """The proposals travel to original-image pixels and back: the detections move by float rounding only."""
    model, images = _detector(), _images()
    own = model.predict(images)
    fixed = FixedProposals(model, model).predict(images)
    for a, b in zip(own, fixed):
        assert len(a["boxes"]) > 0 and a["labels"].tolist() == b["labels"].tolist()
        assert torch.allclose(a["boxes"], b["boxes"], atol=1e-3) and torch.allclose(a["scores"], b["scores"], atol=1e-5)
        assert torch.equal(a["proposals"], b["proposals"])  # the proposer's, handed on for the AR columns


def test_the_detector_reads_the_given_proposals_and_never_runs_its_rpn(monkeypatch):
    detector, proposer, images = _detector("p2_only", seed=0), _detector("fpn", seed=1), _images()

    def must_not_run(what):
        def fail(*args, **kwargs):
            raise AssertionError(f"{what} ran")
        return fail

    proposed = proposer.predict(images)
    monkeypatch.setattr(detector.rpn, "forward", must_not_run("the detector's own RPN"))
    monkeypatch.setattr(proposer.roi_heads, "forward", must_not_run("the proposer's Fast R-CNN"))
    only = proposer.predict(images, detect=False)  # a model asked for its proposals only: the same ones, no boxes
    assert all(torch.equal(o["proposals"], p["proposals"]) and len(o["boxes"]) == 0 for o, p in zip(only, proposed))
    out = FixedProposals(detector, proposer).predict(images)
    assert len(out) == 2 and all(torch.equal(o["proposals"], p["proposals"]) for o, p in zip(out, proposed))
    assert all(o["boxes"].shape[-1] == 4 and len(o["labels"]) == len(o["scores"]) for o in out)
    # Two boxes in original-image pixels reach Fast R-CNN as its RoIs, in resized-input pixels (96 / 90 here).
    boxes = torch.tensor([[10.0, 20.0, 50.0, 80.0], [0.0, 0.0, 90.0, 90.0]])
    trace = Trace()
    with torch.no_grad():
        detector.run(images[1:], trace=trace, proposals=[boxes])
    assert trace.rpn is None and torch.allclose(trace.roi.rois[0], boxes * 96 / 90, atol=1e-4)


def test_fixed_proposals_say_what_is_wrong():
    fpn_model = _detector()
    with pytest.raises(ValueError, match="min_size=96 but the proposer with min_size=64"):
        FixedProposals(fpn_model, _detector(min_size=64))
    with pytest.raises(ValueError, match="RPN trained alone: it has no Fast R-CNN"):
        FixedProposals(_detector(rpn_only=True), fpn_model)
    with pytest.raises(ValueError, match="not a fpn.FasterRCNN"):
        FixedProposals(fpn_model, torch.nn.Linear(2, 2))
    rpn_alone = FixedProposals(fpn_model, _detector(rpn_only=True, seed=2))  # the paper's proposer: fine
    assert rpn_alone.config["anchor_sizes"] == fpn_model.config["anchor_sizes"]
    images = _images()
    with pytest.raises(ValueError, match="2 images but 1 proposal sets"):
        fpn_model.run(images, proposals=[torch.zeros(1, 4)])
    with pytest.raises(ValueError, match=r"proposals of image 1: expected a \[P, 4\] tensor"):
        fpn_model.run(images, proposals=[torch.zeros(1, 4), torch.zeros(4)])
    with pytest.raises(ValueError, match="RPN trained alone: it has no Fast R-CNN to read them"):
        _detector(rpn_only=True).run(images, proposals=[torch.zeros(1, 4)] * 2)


def _evaluate(*args):
    import os
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return subprocess.run([sys.executable, "scripts/evaluate.py", "--device", "cpu", "--quiet", *map(str, args)],
                          cwd=root, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True)


def test_evaluate_proposals_from_scores_a_head_on_another_models_proposals(tmp_path):
    """scripts/evaluate.py --proposals-from: a detector on its own proposals scores as itself; with --write-metadata
    the report goes under "fixed_proposals" (where scripts/ablation.py finds Table 2), its "metrics" untouched."""
    from toy_coco import read_json

    from fpn.data.coco import CocoDetection, find_coco_split
    from fpn.data.synthetic import write_split
    from fpn.weights.checkpoint import save_checkpoint

    write_split(str(tmp_path / "data"), "val", 2, seed=5, workers=0, progress=False)
    names = CocoDetection(*find_coco_split(str(tmp_path / "data"), "val")).class_names
    for name, model in (("fpn", _detector(num_classes=11)), ("p2", _detector("p2_only", num_classes=11)),
                        ("small", _detector(num_classes=11, min_size=64))):
        save_checkpoint(model, str(tmp_path / name), {"class_names": names})
    common = ["--data", tmp_path / "data", "--max-images", 2]
    assert _evaluate("--checkpoint", tmp_path / "fpn", *common, "--json", tmp_path / "own.json").returncode == 0
    r = _evaluate("--checkpoint", tmp_path / "fpn", *common, "--json", tmp_path / "on_own.json",
                  "--proposals-from", tmp_path / "fpn")
    assert r.returncode == 0, r.stderr
    own, fixed = read_json(tmp_path / "own.json"), read_json(tmp_path / "on_own.json")
    assert fixed["bbox"] == own["bbox"] and fixed["proposals"] == own["proposals"]
    assert fixed["proposals_from"] == str(tmp_path / "fpn") and own["proposals_from"] is None
    assert fpn.proposer_name(fixed) == "fpn" and fpn.proposer_name(own, "itself") == "itself"
    before = read_json(tmp_path / "p2.json").get("metrics")
    r = _evaluate("--checkpoint", tmp_path / "p2", *common, "--json", tmp_path / "p2_on_fpn.json",
                  "--proposals-from", tmp_path / "fpn", "--write-metadata")
    assert r.returncode == 0 and "'fixed_proposals'" in r.stdout, r.stderr
    meta = read_json(tmp_path / "p2.json")
    assert meta["fixed_proposals"]["bbox"] == read_json(tmp_path / "p2_on_fpn.json")["bbox"]
    assert meta.get("metrics") == before  # the model's own evaluation: untouched
    r = _evaluate("--checkpoint", tmp_path / "p2", *common, "--json", tmp_path / "x.json",
                  "--proposals-from", tmp_path / "small")
    assert r.returncode == 2 and "min_size=96 but the proposer with min_size=64" in r.stderr


def test_proposer_name_is_the_proposers_file_name_however_the_path_was_given():
    assert fpn.proposer_name({"proposals_from": "checkpoints/fpn_rpn_resnet18_cpu/"}) == "fpn_rpn_resnet18_cpu"
    assert fpn.proposer_name({"proposals_from": "/abs/ck/fpn_rpn"}) == "fpn_rpn"
    assert fpn.proposer_name({"proposals_from": None}) == "?" and fpn.proposer_name(None, "none") == "none"
    assert fpn.proposer_name("not a report") == "?"
