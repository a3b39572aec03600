#!/usr/bin/env python
"""Regenerate tests/fixtures/detectron2/ from a Detectron2 build: the reference outputs of the parity tests.

Needs Detectron2 (not on PyPI; tests and CI never need it). Build it from source outside the repository:

    git clone https://github.com/facebookresearch/detectron2 /work/detectron2_src   # or an archive of a commit
    python3 -m venv /work/d2venv && /work/d2venv/bin/pip install 'setuptools<81' fvcore iopath omegaconf \
        hydra-core cloudpickle tabulate termcolor yacs pycocotools   # + this project's torch / torchvision / pillow
    /work/d2venv/bin/pip install --no-build-isolation -e /work/detectron2_src     # about 2 minutes on CPU
    PYTHONPATH=. OMP_NUM_THREADS=1 /work/d2venv/bin/python scripts/make_detectron2_fixtures.py /work/detectron2_src
    (--parity-only: keep keys.json, redo the outputs)

Use the same torch, torchvision and Pillow as this project's venv (their kernels decide the last bits). Writes:
  keys.json          Detectron2's own key names and shapes for every zoo model of fpn.weights.detectron2_zoo.ZOO,
                     from its model built from each config (the real .pkl files cannot be downloaded here);
  parity.safetensors outputs of Detectron2 on the cases of tests/detectron2_support.py, seeded random weights
                     (written in the zoo's .pkl format and loaded by Detectron2's own checkpointer);
  parity.json        the Detectron2 commit, torch / torchvision versions, seeds, sizes, cases.
"""
from __future__ import annotations

import copy
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

from fpn.weights.detectron2_zoo import ZOO  # (this tree's fpn: run with PYTHONPATH=.)


def _support():
    """tests/detectron2_support.py, the definitions the parity tests share with this script (loaded by path)."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "tests" / "detectron2_support.py"
    spec = importlib.util.spec_from_file_location("detectron2_support", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


S = _support()
CASES, DETECTOR_PROPOSALS, FIXTURES, PARITY_MODELS = S.CASES, S.DETECTOR_PROPOSALS, S.FIXTURES, S.PARITY_MODELS
SMALL, photos, random_weights, write_zoo_pkl = S.SMALL, S.photos, S.random_weights, S.write_zoo_pkl


def build(name: str, **cfg_overrides):
    from detectron2 import model_zoo
    from detectron2.modeling import build_model

    cfg = model_zoo.get_config(name + ".yaml")
    cfg.MODEL.DEVICE = "cpu"
    cfg.MODEL.WEIGHTS = ""
    for key, value in cfg_overrides.items():
        node = cfg
        *path, last = key.split(".")
        for p in path:
            node = getattr(node, p)
        setattr(node, last, value)
    return build_model(cfg).eval(), cfg


def run_detectron2(model, cfg, images: list[torch.Tensor]) -> list[dict[str, torch.Tensor]]:
    """Detectron2's outputs for RGB [0, 1] images, fed as DefaultPredictor feeds them (BGR uint8, its resize)."""
    from detectron2.data import transforms as T
    from detectron2.modeling.postprocessing import detector_postprocess

    aug = T.ResizeShortestEdge([cfg.INPUT.MIN_SIZE_TEST] * 2, cfg.INPUT.MAX_SIZE_TEST)
    inputs = []
    for image in images:
        rgb = (image * 255).round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
        bgr = rgb[:, :, ::-1]
        resized = aug.get_transform(bgr).apply_image(bgr)
        inputs.append({"image": torch.as_tensor(resized.astype("float32").transpose(2, 0, 1)),
                       "height": image.shape[1], "width": image.shape[2]})
    out = []
    with torch.no_grad():
        reference = model(inputs)  # the public path
        if "proposals" in reference[0]:  # ProposalNetwork: its outputs are the proposals, rescaled
            return [{"proposals": r["proposals"].proposal_boxes.tensor,
                     "proposal_logits": r["proposals"].objectness_logits} for r in reference]
        # GeneralizedRCNN returns no proposals: run its steps (they must give its detections) and keep them
        prepared = model.preprocess_image(inputs)
        features = model.backbone(prepared.tensor)
        proposals, _ = model.proposal_generator(prepared, features, None)
        results, _ = model.roi_heads(prepared, features, proposals, None)
        again = model._postprocess(results, inputs, prepared.image_sizes)
        props = [detector_postprocess(copy.deepcopy(p), x["height"], x["width"]) for p, x in zip(proposals, inputs)]
        for i, p in enumerate(props):
            inst = reference[i]["instances"]
            assert torch.equal(inst.pred_boxes.tensor, again[i]["instances"].pred_boxes.tensor)
            out.append({"proposals": p.proposal_boxes.tensor, "proposal_logits": p.objectness_logits,
                        "boxes": inst.pred_boxes.tensor, "scores": inst.scores, "labels": inst.pred_classes + 1})
    return out


def main(argv: list[str]) -> int:
    args = [a for a in argv if not a.startswith("--")]
    src = Path(args[0]) if args else Path("/work/detectron2_src")
    commit = subprocess.run(["git", "-C", str(src), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    commit = commit or (src / "COMMIT").read_text().strip()
    import torchvision
    from detectron2.checkpoint import DetectionCheckpointer
    from safetensors.torch import save_file

    FIXTURES.mkdir(parents=True, exist_ok=True)
    keys = {}
    for name in ZOO if "--parity-only" not in sys.argv else []:
        model, _ = build(name)
        keys[name] = {k: list(v.shape) for k, v in model.state_dict().items()}
        print(name, len(keys[name]), "keys", flush=True)
    if keys:
        (FIXTURES / "keys.json").write_text(json.dumps({"detectron2_commit": commit, "models": keys}, indent=0))

    keys = json.loads((FIXTURES / "keys.json").read_text())["models"]
    tensors, meta = {}, {"detectron2_commit": commit, "torch": torch.__version__,
                         "torchvision": torchvision.__version__,
                         # oneDNN's kernels, and so the last bits of a conv, depend on the CPU's vector ISA
                         "cpu_capability": torch.backends.cpu.get_cpu_capability(), "sizes": SMALL,
                         "detector_proposals": DETECTOR_PROPOSALS, "cases": CASES, "models": {}}
    p = photos()
    for name, seed in PARITY_MODELS.items():
        overrides = {"INPUT.MIN_SIZE_TEST": SMALL["min_size"], "INPUT.MAX_SIZE_TEST": SMALL["max_size"]}
        if "/rpn_" not in name:
            overrides["MODEL.RPN.POST_NMS_TOPK_TEST"] = DETECTOR_PROPOSALS
        model, cfg = build(name, **overrides)
        with tempfile.TemporaryDirectory() as tmp:
            pkl = write_zoo_pkl(random_weights(keys[name], seed), Path(tmp) / "model_final.pkl")
            DetectionCheckpointer(model).load(str(pkl))
        meta["models"][name] = {"seed": seed}
        for case, names in CASES.items():
            for i, r in enumerate(run_detectron2(model, cfg, [p[n] for n in names])):
                for field, value in r.items():
                    tensors[f"{name}/{case}/{i}/{field}"] = value.contiguous()
                n_det = len(r.get("scores", []))
                print(name, case, i, len(r["proposals"]), "proposals", n_det, "detections", flush=True)
    save_file(tensors, str(FIXTURES / "parity.safetensors"))
    (FIXTURES / "parity.json").write_text(json.dumps(meta, indent=1))
    print("wrote", FIXTURES, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
