"""What the Detectron2 parity fixtures are made of, shared by scripts/make_detectron2_fixtures.py (run with
Detectron2 installed) and tests/test_detectron2_parity.py (run without it): the seeded weights in the zoo's .pkl
format, the photos and cases, and the canonical order of outputs."""
from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import torch
from PIL import Image

FIXTURES = Path(__file__).parent / "fixtures" / "detectron2"
#: the models compared bit for bit, each with its seed
PARITY_MODELS = {"COCO-Detection/faster_rcnn_R_50_C4_1x": 0, "COCO-Detection/faster_rcnn_R_50_FPN_1x": 1,
                 "COCO-Detection/rpn_R_50_C4_1x": 2, "COCO-Detection/rpn_R_50_FPN_1x": 3}
OBJECTNESS_SCALE, CLASS_SCALE = 0.5, 0.15
SMALL = {"min_size": 288, "max_size": 480}  # quick; Detectron2's defaults are 800 / 1333
#: the detectors keep 150 proposals for Fast R-CNN (Detectron2: 1000) so that C4's conv5 head runs in seconds on CPU;
#: the RPN-only models keep their 2000
DETECTOR_PROPOSALS = 150


def key_shapes() -> dict[str, dict[str, list[int]]]:
    """{zoo name: {Detectron2 key: shape}} of Detectron2's own model built from each config (the fixture)."""
    return json.loads((FIXTURES / "keys.json").read_text())["models"]


def random_weights(shapes: dict[str, list[int]], seed: int) -> dict[str, np.ndarray]:
    """Seeded weights for Detectron2 names: random BN statistics, He-scaled convs / fcs, classifier and objectness
    weights scaled so scores spread over (0, 1), box regressors scaled down so boxes stay varied. The same seed gives the same arrays in every process."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for name in sorted(shapes):
        shape = shapes[name]
        norm = ".norm." in name
        if name.endswith("running_mean"):
            t = torch.randn(shape, generator=g) * 0.1
        elif name.endswith("running_var"):
            t = torch.rand(shape, generator=g) + 0.5
        elif norm and name.endswith(".weight"):
            t = torch.rand(shape, generator=g) * 0.5 + 0.5
        elif norm and name.endswith(".bias"):
            t = torch.randn(shape, generator=g) * 0.1
        elif name.endswith(".weight"):
            fan_in = int(np.prod(shape[1:]))
            t = torch.randn(shape, generator=g) * (2.0 / fan_in) ** 0.5
        else:  # a conv / fc bias
            fan_in = int(np.prod(shapes[name[: -len("bias")] + "weight"][1:]))
            t = (torch.rand(shape, generator=g) * 2 - 1) * fan_in ** -0.5
        if name.endswith("objectness_logits.weight"):
            t = t * OBJECTNESS_SCALE
        elif name.endswith("cls_score.weight"):  # rows of zero sum: no class wins on every (positive) feature
            t = (t - t.mean(dim=1, keepdim=True)) * CLASS_SCALE
        elif name.endswith(("anchor_deltas.weight", "bbox_pred.weight")):
            t = t * 0.1  # boxes near their anchors / proposals, not all grown to the whole image
        elif name.endswith("stem.conv1.weight"):
            t = t / 64.0  # the input is in 0-255 units (minus the mean), not ImageNet-normalised
        out[name] = t.numpy().astype(np.float32)
    return out


def write_zoo_pkl(weights: dict[str, np.ndarray], path: Path) -> Path:
    """Weights as Detectron2's model zoo ships them: a pickle of {"model": {name: array}, "__author__": ...}."""
    with open(path, "wb") as f:
        pickle.dump({"model": weights, "__author__": "Detectron2 Model Zoo"}, f)
    return path


def _photo(path: Path) -> torch.Tensor:
    return torch.from_numpy(np.asarray(Image.open(path).convert("RGB")).copy()).permute(2, 0, 1).float() / 255


def photos() -> dict[str, torch.Tensor]:
    """Real photos shipped inside scikit-image and matplotlib; "coffee_odd" is an odd-sized crop of coffee."""
    import matplotlib
    import skimage

    data = Path(skimage.__file__).parent / "data"
    p = {"astronaut": _photo(data / "astronaut.png"), "coffee": _photo(data / "coffee.png"),
         "grace_hopper": _photo(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg")}
    p["coffee_odd"] = p["coffee"][:, 7:368, 11:534]  # 361 x 523
    return p


#: case name -> the photos run together (one batch)
CASES = {"grace_hopper": ["grace_hopper"], "coffee_odd": ["coffee_odd"], "batch": ["astronaut", "coffee_odd"]}


def canonical(boxes: torch.Tensor, scores: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
    """Indices that sort outputs by score (descending), then label, then box: the order-free comparison's order."""
    labels = labels if labels is not None else torch.zeros(len(scores), dtype=torch.int64)
    keys = [(-s, lab, *b) for s, lab, b in zip(scores.tolist(), labels.tolist(), boxes.tolist())]
    return torch.as_tensor(sorted(range(len(keys)), key=keys.__getitem__), dtype=torch.int64)
