"""COCO evaluation: ground truth given as predictions scores AP 100 / AR 100; both models are predicted through their
`predict`; the CLI writes the JSON and PNGs."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch
from toy_coco import read_json

from fpn.data.coco import CocoDetection, find_coco_split
from fpn.data.synthetic import write_split
from fpn.evaluation import BBOX_KEYS, PROPOSAL_KEYS, SEGM_PROPOSAL_KEYS, compute_metrics, evaluate_model, \
    predict_dataset, write_report
from fpn.evaluation.paper_tables import cell
from fpn.mask_proposals import build_mask_proposer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    """3 PyramidShapes images: objects of all three COCO sizes."""
    root = str(tmp_path_factory.mktemp("eval_shapes"))
    write_split(root, "val", 3, seed=5, workers=0, progress=False)
    return CocoDetection(*find_coco_split(root, "val"), masks=True, skip_crowd=False)


def _gt_predictions(ds, with_masks=False):
    preds = {}
    for i in range(len(ds)):
        _, t = ds[i]
        n = len(t["boxes"])
        p = {"boxes": t["boxes"], "labels": t["labels"], "scores": torch.ones(n),
             "proposals": t["boxes"], "proposal_scores": torch.linspace(1, 0.5, n)}
        if with_masks:
            p.update(masks=t["masks"].bool(), mask_scores=torch.ones(n))
        preds[t["image_id"]] = p
    return preds


def test_ground_truth_scores_100(shapes):
    metrics, _ = compute_metrics(shapes, _gt_predictions(shapes, with_masks=True))
    assert set(metrics["bbox"]) == set(BBOX_KEYS)
    assert set(metrics["proposals"]) == set(PROPOSAL_KEYS)
    assert set(metrics["segm_proposals"]) == set(SEGM_PROPOSAL_KEYS)
    for section in ("bbox", "proposals", "segm_proposals"):
        for k, v in metrics[section].items():
            if k != "AR@10":
                assert v == 100.0, (section, k, v)
    # 10 proposals cannot recall every object of an image with more than 10
    crowded = any(len(shapes[i][1]["boxes"]) > 10 for i in range(len(shapes)))
    assert (metrics["segm_proposals"]["AR@10"] < 100.0) == crowded


def test_wrong_predictions_score_less(shapes):
    preds = _gt_predictions(shapes)
    for p in preds.values():
        p["boxes"] = p["boxes"] + torch.tensor([6.0, 6.0, 6.0, 6.0])  # shifted boxes
        p["labels"] = torch.where(torch.arange(len(p["labels"])) % 2 == 0, p["labels"], p["labels"] % 10 + 1)
        p["proposals"] = p["proposals"][: len(p["proposals"]) // 2]  # half the objects have no proposal
        p["proposal_scores"] = p["proposal_scores"][: len(p["proposals"])]
    metrics, _ = compute_metrics(shapes, preds)
    assert metrics["bbox"]["AP"] < 60 and metrics["bbox"]["AP50"] < 100
    assert metrics["proposals"]["AR@100"] < 60


def test_empty_predictions(shapes):
    preds = {t["image_id"]: {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.int64),
                             "scores": torch.zeros(0)} for _, t in (shapes[i] for i in range(len(shapes)))}
    metrics, _ = compute_metrics(shapes, preds)
    assert set(metrics) == {"bbox"} and metrics["bbox"] == {k: 0.0 for k in BBOX_KEYS}


class GroundTruthModel(torch.nn.Module):
    """A stand-in detector whose predict() returns the dataset's ground truth, image by image, in order."""

    def __init__(self, ds):
        super().__init__()
        self.targets = [ds[i][1] for i in range(len(ds))]
        self.calls = 0

    def predict(self, images):
        t = self.targets[self.calls]
        self.calls += 1
        assert images[0].shape[-2:] == t["masks"].shape[-2:]
        n = len(t["boxes"])
        return [{"boxes": t["boxes"], "labels": t["labels"], "scores": torch.ones(n),
                 "proposals": t["boxes"], "proposal_scores": torch.ones(n)}]


def test_evaluation_path_with_ground_truth_model(shapes, tmp_path):
    """The same calls scripts/evaluate.py makes: predict every image, COCOeval, JSON + pictures."""
    model = GroundTruthModel(shapes)
    metrics, evals = evaluate_model(model, shapes, "cpu", progress=False)
    out = write_report(metrics, evals, str(tmp_path / "eval.json"), {"checkpoint": "gt"})
    data = read_json(tmp_path / "eval.json")
    assert model.calls == 3 and data == out and data["checkpoint"] == "gt"
    assert data["bbox"] == {k: 100.0 for k in BBOX_KEYS} and data["proposals"] == {k: 100.0 for k in PROPOSAL_KEYS}
    assert data["num_images"] == 3 and data["inference_ms"]["device"] == "cpu"
    assert 0 <= data["inference_ms"]["mean"] < 1000 and 0 <= data["inference_ms"]["median"] < 1000
    assert out["pictures"] == {"sizes": "eval_sizes.png", "pr_curves": "eval_pr.png", "errors": "eval_errors.png"}
    assert all(os.path.getsize(tmp_path / name) > 1000 for name in out["pictures"].values())
    # the ground truth as detections: every box shown correct, every object found
    assert {k for kinds in data["errors"]["detections"].values() for k, n in kinds.items() if n} == {"correct"}
    assert {o["missed"] for o in data["errors"]["objects"].values()} == {0}


def _count_predict_calls(model, monkeypatch) -> list[int]:
    """Route the model's `predict` through a counter (one entry per call: its number of images); its `forward`
    outside `predict` fails, so a prediction loop that calls the model directly is caught."""
    calls, predict, forward = [], model.predict, model.forward
    inside = []

    def counted(images):
        calls.append(len(images))
        inside.append(True)
        try:
            return predict(images)
        finally:
            inside.pop()

    def guarded(*args, **kwargs):
        assert inside, "called the model directly instead of through predict"
        return forward(*args, **kwargs)

    monkeypatch.setattr(model, "predict", counted)
    monkeypatch.setattr(model, "forward", guarded)
    return calls


def test_predict_dataset_calls_predict_of_detector_and_mask_proposer(shapes, monkeypatch):
    """Both models go through `predict`; a detector gives detections + ranked box proposals, a mask proposer ranked
    mask proposals as RLEs of the image."""
    import fpn

    torch.manual_seed(0)
    detector = fpn.build_detector("fpn", "resnet18", num_classes=11, min_size=96, max_size=96, pyramid_channels=32,
                                  representation_size=64)
    proposer = build_mask_proposer("resnet18", hidden=16, min_size=96, max_size=96, num_proposals=40,
                                   num_masks_pasted=3)
    sizes = {shapes[i][1]["image_id"]: tuple(shapes[i][0].shape[-2:]) for i in range(2)}
    keys = {"detector": {"boxes", "scores", "labels", "proposals", "proposal_scores"},
            "proposer": {"mask_rles", "mask_scores"}}
    for name, model in (("detector", detector), ("proposer", proposer)):
        model.train()  # predict_dataset puts it in eval mode
        calls = _count_predict_calls(model, monkeypatch)
        predictions, times = predict_dataset(model, shapes, max_images=2, max_proposals=30, progress=False)
        assert calls == [1, 1] and len(times) == 2 and not model.training
        assert set(predictions) == set(sizes)
        for image_id, p in predictions.items():
            assert set(p) == keys[name], (name, set(p))
            scores = p["proposal_scores"] if name == "detector" else p["mask_scores"]
            assert 0 < len(scores) <= 30 and bool((scores[:-1] >= scores[1:]).all())  # the best first
            if name == "detector":
                assert p["proposals"].shape == (len(scores), 4) and p["boxes"].shape == (len(p["labels"]), 4)
            else:
                assert len(p["mask_rles"]) == len(scores)
                assert all(tuple(r["size"]) == sizes[image_id] for r in p["mask_rles"])
    metrics, _ = compute_metrics(shapes, predictions)  # the proposer's, scored as segment proposals
    assert set(metrics) == {"segm_proposals"} and set(metrics["segm_proposals"]) == set(SEGM_PROPOSAL_KEYS)


def test_mask_proposer_predict_is_eval_forward_in_any_mode(shapes):
    torch.manual_seed(0)
    model = build_mask_proposer("resnet18", hidden=16, min_size=96, max_size=96, num_proposals=20,
                                num_masks_pasted=2).train()
    image = shapes[0][0]
    out = model.predict([image])[0]
    assert model.training  # the mode is restored
    with torch.no_grad():
        expected = model.eval()([image])[0]
    assert set(out) == set(expected) >= {"scores", "regions", "mask_probs"}
    assert all(torch.equal(out[k], expected[k]) for k in out) and not out["mask_probs"].requires_grad


def _evaluate(*args):
    return subprocess.run([sys.executable, "scripts/evaluate.py", "--device", "cpu", *map(str, args)], cwd=ROOT,
                          env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, check=False)


def test_evaluate_cli_on_checkpoint(shapes, tmp_path):
    import fpn
    from fpn.weights.checkpoint import save_checkpoint

    torch.manual_seed(0)
    model = fpn.build_detector("fpn", "resnet18", num_classes=11, min_size=96, max_size=96, pyramid_channels=32,
                               representation_size=64)
    save_checkpoint(model, str(tmp_path / "ck"), {"class_names": shapes.class_names})
    data_root = os.path.dirname(shapes.images_dir)
    out = tmp_path / "res" / "eval.json"
    r = _evaluate("--checkpoint", tmp_path / "ck", "--data", data_root, "--json", out, "--max-images", 2, "--quiet")
    assert r.returncode == 0, r.stderr
    data = read_json(out)
    assert set(data["bbox"]) == set(BBOX_KEYS) and set(data["proposals"]) == set(PROPOSAL_KEYS)
    values = list(data["bbox"].values()) + list(data["proposals"].values())
    assert all(v is None or 0.0 <= v <= 100.0 for v in values), values
    assert data["num_images"] == 2 and data["variant"] == "fpn" and data["task"] == "detection"
    assert os.path.isfile(tmp_path / "res" / "eval_sizes.png")
    few, ck = tmp_path / "res" / "few.json", ["--checkpoint", str(tmp_path / "ck"), "--data", data_root]
    r = _evaluate(*ck, "--json", few, "--max-images", 2, "--quiet", "--option", "rpn_post_nms_top_n_test=3")
    assert r.returncode == 0, r.stderr  # an inference option over the recorded config: 3 RoIs per image
    assert read_json(few)["options"] == {"rpn_post_nms_top_n_test": 3} and data["options"] is None
    assert read_json(few)["proposals"]["AR@1000"] <= data["proposals"]["AR@1000"]
    r = _evaluate(*ck, "--json", few, "--option", "rpn_post_nms_top_n_test=3", "--write-metadata")
    assert r.returncode == 2 and "drop --option" in r.stderr
    r = _evaluate("--checkpoint", tmp_path / "missing", "--data", data_root, "--json", out)
    assert r.returncode == 2 and "not found" in r.stderr


def test_mask_proposals_given_as_rles(shapes):
    """The mask-proposer path (COCO RLEs of every proposal) scores ground truth at 100."""
    import numpy as np
    from pycocotools import mask as mask_utils

    preds = {}
    for i in range(len(shapes)):
        _, t = shapes[i]
        m = np.asfortranarray(t["masks"].numpy().transpose(1, 2, 0))
        rles = mask_utils.encode(m)
        for r in rles:
            r["counts"] = r["counts"].decode("ascii")
        preds[t["image_id"]] = {"mask_rles": list(rles), "mask_scores": torch.ones(len(rles))}
    metrics, _ = compute_metrics(shapes, preds)
    assert set(metrics) == {"segm_proposals"}
    assert metrics["segm_proposals"]["AR@1000"] == 100.0 and metrics["segm_proposals"]["AR@100"] == 100.0


@pytest.mark.slow
def test_ablation_tables_and_reuse(tmp_path):
    """Two variants under one protocol: Table 1 / Table 3 rows with the paper's numbers; a rerun reuses them."""
    from toy_coco import make_toy_coco

    sys.path.insert(0, os.path.join(ROOT, "scripts"))
    import ablation

    data = make_toy_coco(str(tmp_path / "toy"), num_images=2, size=96)
    out = tmp_path / "abl"
    argv = ["--out", str(out), "--variants", "fpn,c5", "--data", data, "--backbone", "resnet18", "--min-size", "96",
            "--max-size", "96", "--iters", "2", "--workers", "0", "--quiet", "--set", "pyramid_channels=32",
            "--set", "representation_size=64"]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert ablation.main(argv) == 0
        stamp = os.path.getmtime(out / "fpn" / "model.safetensors")
        assert ablation.main(argv) == 0
    finally:
        torch.set_num_threads(threads)
    assert os.path.getmtime(out / "fpn" / "model.safetensors") == stamp  # reused, not retrained
    md = (out / "tables.md").read_text()
    assert "| (c) | FPN (`fpn`) | {P_k} |" in md and "(44.0)" in md and "(56.3)" in md  # Table 1, paper's FPN row
    assert "| (b) | baseline on conv5 (`c5`) |" in md and "(51.7)" in md  # Table 3, paper's C5 row
    assert "share features" in md and "the paper's Table 1 trains the RPN alone" in md  # each table's protocol
    results = read_json(out / "results.json")["detection"]
    assert set(results) == {"fpn", "c5"} and set(results["fpn"]["proposals"]) == set(PROPOSAL_KEYS)
    assert os.path.isfile(out / "ablation.png")
    # Table 1 from RPNs trained alone (the paper's protocol): one more run per variant, task "rpn"
    try:
        torch.set_num_threads(1)
        assert ablation.main(argv + ["--table1", "rpn"]) == 0
    finally:
        torch.set_num_threads(threads)
    assert read_json(out / "fpn_rpn" / "model.json")["task"] == "rpn"
    md = (out / "tables.md").read_text()
    assert "each RPN trained alone" in md
    saved = read_json(out / "results.json")
    assert set(saved["rpn"]) == {"fpn", "c5"} and set(saved["rpn"]["fpn"]["proposals"]) == set(PROPOSAL_KEYS)
    assert not {"bbox", "score_threshold"} & set(r := saved["rpn"]["fpn"]) and set(r["per_level"]) == {"proposal_AR@1000"}
    row = next(line for line in md.splitlines() if line.startswith("| (c) | FPN (`fpn`) | {P_k} |"))
    assert row.split(" | ")[3] == cell(saved["rpn"]["fpn"]["proposals"]["AR@100"], 44.0)


def test_score_threshold_is_the_f1_best_one(shapes):
    """Ground truth scored 0.8 (hits) plus one far-off box per image scored 0.6 (a miss): the F1-best threshold
    keeps the hits only (F1 100); scoring the misses higher than the hits moves it down to keep everything."""
    from fpn.evaluation.threshold import best_score_threshold

    preds = _gt_predictions(shapes)
    for p in preds.values():
        n = len(p["boxes"])
        p["boxes"] = torch.cat([p["boxes"], torch.tensor([[0.0, 0.0, 3.0, 3.0]])])
        p["labels"] = torch.cat([p["labels"], p["labels"][:1]])
        p["scores"] = torch.cat([torch.full((n,), 0.8), torch.tensor([0.6])])
    _, evals = compute_metrics(shapes, preds)
    assert best_score_threshold(evals["bbox"]) == {"value": 0.8, "f1": 100.0, "precision": 100.0, "recall": 100.0}
    for p in preds.values():
        p["scores"] = torch.cat([torch.full((len(p["scores"]) - 1,), 0.3), torch.tensor([0.9])])
    _, evals = compute_metrics(shapes, preds)
    result = best_score_threshold(evals["bbox"])
    assert result["value"] == 0.3 and result["recall"] == 100.0 and result["precision"] < 100.0
