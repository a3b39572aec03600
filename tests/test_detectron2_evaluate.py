"""scripts/evaluate.py takes Detectron2 weights like any checkpoint (--detectron2 NAME_OR_FILE), and under torchrun
shards the images over the processes and scores them on rank 0 with the same metrics as one process. The plumbing
runs on PyramidShapes in COCO format with a seeded R50-FPN in the zoo's .pkl format (its classifier sized for the
dataset's 10 classes: the zoo's COCO heads cannot score PyramidShapes)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from detectron2_support import key_shapes, random_weights, write_zoo_pkl
from fpn.data.synthetic import write_split

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": ROOT}  # this tree's fpn, whatever is installed
FAST = ["--option", "min_size=128", "--option", "max_size=160", "--option", "rpn_post_nms_top_n_test=100",
        "--device", "cpu", "--quiet"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("d2_eval")
    write_split(str(root / "shapes"), "val", 5, seed=3, workers=0, progress=False)
    shapes = dict(key_shapes()["COCO-Detection/faster_rcnn_R_50_FPN_1x"])
    shapes["roi_heads.box_predictor.cls_score.weight"] = [11, 1024]
    shapes["roi_heads.box_predictor.cls_score.bias"] = [11]
    shapes["roi_heads.box_predictor.bbox_pred.weight"] = [40, 1024]
    shapes["roi_heads.box_predictor.bbox_pred.bias"] = [40]
    weights = random_weights(shapes, 7)
    pkl = write_zoo_pkl(weights, root / "model_final_d2eval.pkl")
    return root, pkl


def _evaluate(cmd: list[str], out) -> dict:
    r = subprocess.run(cmd + ["--json", str(out)], cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=900,
                       check=False)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(out.read_text())


def _args(setup) -> list[str]:
    root, pkl = setup
    return ["scripts/evaluate.py", "--detectron2", str(pkl), "--data", str(root / "shapes"), *FAST]


@pytest.mark.slow
def test_evaluate_detectron2_weights_and_torchrun_gives_the_same_metrics(setup, tmp_path):
    one = _evaluate([sys.executable, *_args(setup)], tmp_path / "one.json")
    assert one["detectron2"].endswith("model_final_d2eval.pkl") and one["variant"] == "fpn"
    assert one["task"] == "detection" and one["num_images"] == 5 and one["processes"] == 1
    assert set(one) >= {"bbox", "proposals"}
    two = _evaluate([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                     *_args(setup)], tmp_path / "two.json")
    assert two["processes"] == 2 and two["num_images"] == 5
    for section in ("bbox", "proposals", "per_level"):
        assert two[section] == one[section], section


def test_evaluate_rejects_a_bad_option(setup, tmp_path):
    r = subprocess.run([sys.executable, *_args(setup), "--option", "no_such_option=1", "--json",
                        str(tmp_path / "x.json")], cwd=ROOT, env=ENV, capture_output=True, text=True, check=False)
    assert r.returncode != 0 and "no_such_option" in r.stderr
