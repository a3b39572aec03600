"""End to end, the Why this box tab: a click on a detection in the image explains that detection (its anchor,
proposal, Eq. (1) level, class scores); the lost-ground-truth section and the per-level numbers draw. A dataset image
(with ground truth) is uploaded; the click lands on a detection computed here with the same model and image."""
import os
import shutil

import torch

import e2e_support as E
import fpn
from app.images import load_image
from app.models import ModelRegistry
from app.provenance import pick_detection

pytestmark = E.needs_chromium
# 8 detections score >= 0.5 (the default threshold) by the bundled model
SOURCE = os.path.join(E.ROOT, "examples", "pyramid_shapes", "val", "000000000004.png")


def target(tmp_path_factory, score_thresh: float) -> tuple[float, float, int]:
    """(x, y) in the shown image's pixels (the resized input) of a detection that is not the best one, and the index
    of the detection the app must pick there (the detections on offer: those the score threshold shows)."""
    registry = ModelRegistry(E.checkpoints(tmp_path_factory), "cpu")
    ex = fpn.explore(registry.get(registry.names("detection")[0]), load_image(SOURCE).array)
    det = ex.detections
    shown = torch.nonzero(det["scores"] >= score_thresh).flatten()
    if len(shown) == 0:  # the app's rule: every detection is on offer when none passes the threshold
        shown = torch.arange(len(det["scores"]))
    assert len(shown) >= 2, "the model needs two detections on the example image"
    boxes = ex.to_resized(det["boxes"][shown])
    for i in range(len(boxes) - 1, 0, -1):  # a centre that selects another detection than the best one
        x, y = ((boxes[i, :2] + boxes[i, 2:]) / 2).tolist()
        if pick_detection(boxes, x, y) != 0:
            return x, y, int(shown[pick_detection(boxes, x, y)])
    raise AssertionError("every detection's centre lies in the best one's box")


def wait_shown(page, elem_id: str) -> None:
    """Wait for the image of `elem_id`, scrolled into view first (its <img> loads lazily)."""
    page.locator(f"#{elem_id}").scroll_into_view_if_needed()
    E.wait_image(page, elem_id)


def click_at(page, elem_id: str, x: float, y: float) -> None:
    """Click pixel (x, y) of the image shown in `elem_id`, whatever its display size."""
    img = page.locator(f"#{elem_id} img").first
    natural_w = img.evaluate("e => e.naturalWidth")
    box = img.bounding_box()
    scale = box["width"] / natural_w
    img.click(position={"x": x * scale, "y": y * scale})


def test_click_a_detection_to_see_why(page, tmp_path, tmp_path_factory):
    photo = tmp_path / "shapes.png"
    shutil.copyfile(SOURCE, photo)  # byte-identical: the app recognises the dataset image and its ground truth
    page.locator("#image-file input[type='file']").set_input_files(str(photo))
    E.wait_image(page, "preview")
    page.get_by_role("tab", name="Why this box").click()
    for out in ("out-why", "out-why-anchor", "out-why-pooled", "out-why-scores"):
        wait_shown(page, out)
    chain = page.locator("#why-chain")
    chain.get_by_text("Detection #0").wait_for()  # the best detection first
    assert "Anchor" in chain.inner_text() and "Eq. (1)" in chain.inner_text()

    page.locator("#out-why").scroll_into_view_if_needed()
    x, y, expected = target(tmp_path_factory, float(page.locator("#score input[type='number']").input_value()))
    click_at(page, "out-why", x, y)
    chain.get_by_text(f"Detection #{expected}:").wait_for()
    assert expected != 0 and "rank" in chain.inner_text()
    assert abs(float(page.locator("#why-x input").input_value()) - x) <= 1  # the pixel clicked, display scale apart

    page.get_by_role("tab", name="Lost ground truth").click()  # the tab's three parts, one at a time
    wait_shown(page, "out-lost")
    assert "Ground-truth box #" in page.locator("#lost-text").inner_text()
    page.get_by_role("tab", name="Numbers per level").click()
    page.locator("#btn-level-metrics").click()
    wait_shown(page, "out-level-metrics")
    wait_shown(page, "out-level-recall")
    page.wait_for_timeout(300)
    assert not E.errors(page), E.errors(page)
    shots = os.environ.get("FPN_SCREENSHOTS_DIR") or str(tmp_path / "screenshots")
    os.makedirs(shots, exist_ok=True)
    page.screenshot(path=os.path.join(shots, "why.png"), full_page=True)
    src = page.locator("#out-why img").first.get_attribute("src")
    assert src and src.endswith(".png"), src
