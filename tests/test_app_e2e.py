"""End to end, as a person uses it: the app on 127.0.0.1, driven by headless Chromium (Playwright).

Uploads an image, opens every view, checks that its images appear (as PNG) and that no error toast shows, and saves
a screenshot of each view to pytest's temporary folder, or to $FPN_SCREENSHOTS_DIR when set: `make screenshots`
refreshes docs/screenshots/ (the README shows them) that way. Skips when Chromium is absent.
"""
import os
import shutil

import numpy as np
import pytest
from PIL import Image

import e2e_support as E

pytestmark = E.needs_chromium

# view name -> (tab label, button id, output element ids that must show an image)
VIEWS = {
    "detections": ("Detections", "btn-detect", ["out-detect"]),
    "pyramid": ("Pyramid", "btn-pyramid", ["out-pyramid", "out-merge"]),
    "anchors": ("Anchors", "btn-anchors", ["out-anchors", "out-positives"]),
    "roi_levels": ("RoI -> level", "btn-roi", ["out-roi", "out-roi-hist", "out-pooled"]),
    "compare": ("Compare", "btn-compare", ["out-compare"]),
    "how_fpn_works": ("How FPN works", None, []),
}


@pytest.fixture(scope="module")
def url(tmp_path_factory):
    yield from E.serve(tmp_path_factory)


@pytest.fixture(scope="module")
def page(url):
    yield from E.browse(url)


def _has_mask_model() -> bool:
    """The bundled checkpoints include a mask-proposal model (the random fallback set has none)."""
    from app.models import ModelRegistry

    ckdir = os.path.join(E.ROOT, "checkpoints")
    return os.path.isdir(ckdir) and bool(ModelRegistry(ckdir, "cpu").names("mask_proposals"))


def test_upload_and_every_view(page, tmp_path):
    shots = os.environ.get("FPN_SCREENSHOTS_DIR") or str(tmp_path / "screenshots")
    # a held-out PyramidShapes image shipped in examples/: the app recognises it and uses its ground truth
    src = os.path.join(E.ROOT, "examples", "pyramid_shapes", "val", "000000000002.png")
    photo = tmp_path / "shapes.png"
    shutil.copyfile(src, photo)  # byte-identical: that is how the app recognises a dataset image
    page.locator("#image-file input[type='file']").set_input_files(str(photo))
    E.wait_image(page, "preview")
    page.get_by_text("Loaded").first.wait_for()
    assert not E.errors(page)
    os.makedirs(shots, exist_ok=True)
    for name, (tab, button, outputs) in VIEWS.items():
        page.get_by_role("tab", name=tab).click()
        if button:
            page.locator(f"#{button}").click()
        for out in outputs:
            E.wait_image(page, out)
        if name == "detections" and _has_mask_model():
            page.locator("#btn-masks").click()
            E.wait_image(page, "out-masks")
        page.wait_for_timeout(300)
        assert not E.errors(page), f"error toast in view {name}: {E.errors(page)}"
        page.screenshot(path=os.path.join(shots, f"{name}.png"), full_page=True)
        assert os.path.getsize(os.path.join(shots, f"{name}.png")) > 10_000
    for out in ("out-detect", "out-pyramid", "out-merge", "out-anchors", "out-positives", "out-roi", "out-compare"):
        src = page.locator(f"#{out} img").first.get_attribute("src")
        assert src and "/file=" in src and src.endswith(".png"), f"{out} is not served as a PNG file: {src}"


def test_bad_upload_shows_clear_message_and_server_keeps_serving(page, url, tmp_path):
    bad = tmp_path / "notes.txt"
    bad.write_text("not an image")
    page.goto(url)
    page.locator("#image-file input[type='file']").set_input_files(str(bad))
    page.get_by_text("is not an image").first.wait_for()
    ok = tmp_path / "ok.png"
    Image.fromarray(np.full((64, 80, 3), 128, np.uint8)).save(ok)
    page.goto(url)  # the server is still there
    page.locator("#image-file input[type='file']").set_input_files(str(ok))
    page.get_by_text("80x64 px").first.wait_for()
    assert not E.errors(page)


def test_api_detect_with_gradio_client(url, tmp_path):
    from gradio_client import Client, handle_file

    photo = tmp_path / "api.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (200, 240, 3), dtype=np.uint8)).save(photo)
    client = Client(url, verbose=False)
    names = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    assert {"/detect", "/pyramid", "/anchors", "/roi_levels", "/compare", "/mask_proposals"} <= set(names)
    annotated, info = client.predict(handle_file(str(photo)), None, 0.0, api_name="/detect")
    assert os.path.isfile(annotated) and info["image_size"] == [200, 240]
    assert all(set(d) == {"box", "score", "label", "class"} for d in info["detections"])
