"""End to end, as a person uses it: the app on 127.0.0.1, driven by headless Chromium (Playwright).

Uploads an image, opens every view, checks that its images appear (as PNG) and that no error toast shows, and saves
a screenshot of each view to pytest's temporary folder, or to $FPN_SCREENSHOTS_DIR when set: `make screenshots`
refreshes docs/screenshots/ (the README shows them) that way. Skips when Chromium is absent.
"""
import os
import shutil
import socket

import numpy as np
import pytest
import torch
from PIL import Image

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]

pytestmark = pytest.mark.skipif(not os.path.isfile(CHROMIUM),
                                reason=f"Chromium not found at {CHROMIUM} (install it: apt-get install -y chromium)")

# view name -> (tab label, button id, output element ids that must show an image)
VIEWS = {
    "detections": ("Detections", "btn-detect", ["out-detect"]),
    "pyramid": ("Pyramid", "btn-pyramid", ["out-pyramid", "out-merge"]),
    "anchors": ("Anchors", "btn-anchors", ["out-anchors", "out-positives"]),
    "roi_levels": ("RoI -> level", "btn-roi", ["out-roi", "out-roi-hist", "out-pooled"]),
    "compare": ("Compare", "btn-compare", ["out-compare"]),
    "how_fpn_works": ("How FPN works", None, []),
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _checkpoints(tmp_path_factory) -> str:
    """checkpoints/ when it holds a detector, else random-init tiny ones (same architecture family)."""
    from app.models import ModelRegistry

    ckdir = os.path.join(ROOT, "checkpoints")
    if os.path.isdir(ckdir) and ModelRegistry(ckdir, "cpu").names("detection"):
        return ckdir
    import fpn

    ckdir = str(tmp_path_factory.mktemp("ck"))
    torch.manual_seed(0)
    for variant in ("fpn", "c5"):
        m = fpn.build_detector(variant, "resnet18", num_classes=4, min_size=320, max_size=400, box_score_thresh=0.0,
                               class_names=["__background__", "a", "b", "c"])
        fpn.save_checkpoint(m, os.path.join(ckdir, f"{variant}_r18_random"), {"metrics": {"bbox": {"AP": 0.0}}})
    return ckdir


@pytest.fixture(scope="module")
def url(tmp_path_factory):
    from app.server import create_app, launch_options

    demo, explorer = create_app(_checkpoints(tmp_path_factory), "cpu")
    port = _free_port()
    demo.queue().launch(**launch_options(explorer, "127.0.0.1", port, False, 20.0), prevent_thread_lock=True,
                        quiet=True)
    yield f"http://127.0.0.1:{port}/"
    demo.close()


@pytest.fixture(scope="module")
def page(url):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        pg = browser.new_page(viewport={"width": 1400, "height": 1000})
        pg.set_default_timeout(60_000)
        pg.goto(url)
        yield pg
        browser.close()


def _has_mask_model() -> bool:
    """The bundled checkpoints include a mask-proposal model (the random fallback set has none)."""
    from app.models import ModelRegistry

    ckdir = os.path.join(ROOT, "checkpoints")
    return os.path.isdir(ckdir) and bool(ModelRegistry(ckdir, "cpu").names("mask_proposals"))


def _errors(page) -> list[str]:
    toasts = page.locator("[data-testid='toast-body']")
    return [t for t in toasts.all_inner_texts() if "error" in t.lower()]


def _wait_image(page, elem_id: str) -> None:
    page.locator(f"#{elem_id} img").first.wait_for(state="visible")


def test_upload_and_every_view(page, tmp_path):
    shots = os.environ.get("FPN_SCREENSHOTS_DIR") or str(tmp_path / "screenshots")
    # a held-out PyramidShapes image shipped in examples/: the app recognises it and uses its ground truth
    src = os.path.join(ROOT, "examples", "pyramid_shapes", "val", "000000000002.png")
    photo = tmp_path / "shapes.png"
    shutil.copyfile(src, photo)  # byte-identical: that is how the app recognises a dataset image
    page.locator("#image-file input[type='file']").set_input_files(str(photo))
    _wait_image(page, "preview")
    page.get_by_text("Loaded").first.wait_for()
    assert not _errors(page)
    os.makedirs(shots, exist_ok=True)
    for name, (tab, button, outputs) in VIEWS.items():
        page.get_by_role("tab", name=tab).click()
        if button:
            page.locator(f"#{button}").click()
        for out in outputs:
            _wait_image(page, out)
        if name == "detections" and _has_mask_model():
            page.locator("#btn-masks").click()
            _wait_image(page, "out-masks")
        page.wait_for_timeout(300)
        assert not _errors(page), f"error toast in view {name}: {_errors(page)}"
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
    assert not _errors(page)


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
