"""Ground truth in the Detections view: dashed boxes, yellow when a shown detection finds them (IoU >= 0.5),
vermillion when missed, counted in the title and the data; the snippet redraws the same picture."""
import os

import numpy as np
import pytest

import fpn
import fpn.viz as V
from fpn.viz.draw import GT_COLOR, NEGATIVE_COLOR

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_match_ground_truth():
    gt = [[0, 0, 10, 10], [20, 20, 40, 40]]
    assert V.match_ground_truth(gt, [[1, 1, 10, 10]]).tolist() == [True, False]
    assert V.match_ground_truth(gt, []).tolist() == [False, False]
    assert V.match_ground_truth([], [[0, 0, 1, 1]]).shape == (0,)


def test_found_and_missed_ground_truth_are_drawn_dashed():
    image = np.full((512, 512, 3), 128, np.uint8)
    gt = [[10, 10, 60, 60], [100, 100, 180, 180]]
    img = V.draw_detections(image, [[12, 12, 60, 60]], [0.9], [1], ["bg", "a"], 0.5, gt_boxes=gt)
    plain = V.draw_detections(image, [[12, 12, 60, 60]], [0.9], [1], ["bg", "a"], 0.5)
    assert img.shape == plain.shape  # the title fits: the picture keeps its width
    title_h = img.shape[0] - image.shape[0]
    missed_edge = img[title_h + 100, 100:181]  # the top edge of the missed box: dashes of vermillion and grey
    assert (missed_edge == NEGATIVE_COLOR).all(axis=1).sum() > 20 and (missed_edge == 128).all(axis=1).sum() > 10
    assert (img == GT_COLOR).all(axis=2).any()  # the found one, under the detection
    assert not np.array_equal(img[:title_h], plain[:title_h])  # the title counts them


@pytest.mark.skipif(not os.path.isfile(os.path.join(ROOT, "checkpoints", "fpn_resnet18_cpu.json")),
                    reason="needs the bundled checkpoints")
def test_detect_on_a_dataset_image_counts_found_and_missed():
    from app.models import ModelRegistry
    from app.views import Explorer

    explorer = Explorer(ModelRegistry(os.path.join(ROOT, "checkpoints"), "cpu"))
    name = next(n for n in explorer.examples.names("dataset") if "17 objects" in explorer.examples.examples[n].caption)
    path = explorer.examples.path(name)
    result = explorer.detect(path, "fpn_resnet18_cpu", 0.5)
    gt = result.data["ground_truth"]
    assert gt["boxes"] == 17 and gt["found"] + gt["missed"] == 17 and gt["missed"] > 0
    assert f"{gt['found']} of 17 found" in result.text
    # the same classes as the dataset: each box shown says what it is (fpn.detection_kinds)
    kinds = [d["kind"] for d in result.data["detections"]]
    assert len(kinds) > 0 and set(kinds) <= set(fpn.ERROR_KINDS)
    assert kinds.count("correct") <= gt["found"]  # a correct box finds an object; a wrong-class one finds it too
    assert f"Of the {len(kinds)} boxes shown: " in result.text and f"{kinds.count('correct')} correct" in result.text
    # Why this box says the same of the box it explains (the best one: -1, -1)
    best = max(range(len(kinds)), key=lambda i: result.data["detections"][i]["score"])
    why = explorer.why(path, "fpn_resnet18_cpu", -1, -1, 0.5)
    assert why.data["kind"] == kinds[best] and "Against this image's ground truth, this box **" in why.text
    assert "gt_boxes=targets['boxes']" in result.code
    scope: dict = {}
    cwd = os.getcwd()
    try:
        os.chdir(ROOT)  # the snippet names the checkpoint from the repository root, the image by its file name
        code = result.code.replace(repr(os.path.basename(path)), repr(path))
        code = code.replace("Image.fromarray(detections).save('detections.png')", "")
        exec(compile(code, "<snippet>", "exec"), scope)  # noqa: S102 - our own generated code
    finally:
        os.chdir(cwd)
    assert np.array_equal(scope["detections"], result.image)  # the snippet redraws it, pixel for pixel


@pytest.mark.skipif(not os.path.isfile(os.path.join(ROOT, "checkpoints", "c5_resnet18_cpu.json")),
                    reason="needs the bundled checkpoints")
def test_compare_draws_the_ground_truth_in_every_column():
    from app.models import ModelRegistry
    from app.views import Explorer

    explorer = Explorer(ModelRegistry(os.path.join(ROOT, "checkpoints"), "cpu"))
    name = next(n for n in explorer.examples.names("dataset") if "17 objects" in explorer.examples.examples[n].caption)
    path = explorer.examples.path(name)
    result = explorer.compare(path, ["fpn_resnet18_cpu", "c5_resnet18_cpu"], 0.5, 20)
    column = result.data["headers"].index("the boxes shown on this image")  # what each model's boxes are
    for row in result.data["rows"]:  # the same boxes as the Detections view's, the same kinds
        kinds = [d["kind"] for d in explorer.detect(path, row[0], 0.5).data["detections"]]
        assert row[column].startswith(f"{kinds.count('correct')} of {len(kinds)} correct")
    assert "gt_boxes=targets['boxes']" in result.code and "fpn.explore(model, image, targets)" in result.code
    picture = result.images["compare"]
    half = picture.shape[1] // 2
    for column in (picture[:, :half], picture[:, half:]):  # each model's column shows the missed ones, dashed
        assert (column == NEGATIVE_COLOR).all(axis=2).sum() > 200
    scope: dict = {}
    cwd = os.getcwd()
    try:
        os.chdir(ROOT)
        code = result.code.replace(repr(os.path.basename(path)), repr(path))
        code = "\n".join(line for line in code.splitlines() if not line.startswith("Image.fromarray("))
        exec(compile(code, "<snippet>", "exec"), scope)  # noqa: S102 - our own generated code
    finally:
        os.chdir(cwd)
    assert np.array_equal(scope["compare"], picture)  # the snippet redraws it, pixel for pixel
