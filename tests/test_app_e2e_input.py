"""End to end, the input row: a click on an example thumbnail loads that image; picking torchvision's COCO model with
no weights and no network shows a clear message within 10 s, leaves nothing in the hub cache, and the server keeps
serving. The app runs with an empty torch hub cache and $FPN_WEIGHTS_MIRROR on a closed local port (no network)."""

import pytest

import e2e_support as E
from app.models import TORCHVISION_COCO
from fpn.hub import MIRROR_ENV

pytestmark = E.needs_chromium


@pytest.fixture(scope="module")
def hub_cache(tmp_path_factory):
    """The app's torch hub cache (empty), while downloads point at a port nothing listens on."""
    with pytest.MonkeyPatch.context() as mp:
        home = tmp_path_factory.mktemp("torch_home")
        mp.setenv("TORCH_HOME", str(home))
        mp.setenv(MIRROR_ENV, f"http://127.0.0.1:{E.free_port()}/models/")
        yield home / "hub" / "checkpoints"


@pytest.fixture(scope="module")
def url(hub_cache, tmp_path_factory):
    yield from E.serve(tmp_path_factory)


@pytest.fixture(scope="module")
def page(url):
    yield from E.browse(url)


def thumbnails(page, kind: str):
    """The thumbnails of the "photo" or the "dataset" (with ground truth) gallery."""
    return page.locator(f"#examples-{kind} button.thumbnail-item")


def test_click_an_example_thumbnail(page, url):
    page.goto(url)
    assert "a photo" in page.locator("#examples-photo").inner_text()
    assert "with ground truth" in page.locator("#examples-dataset").inner_text()
    assert thumbnails(page, "photo").filter(has_text="astronaut").count() == 1
    assert thumbnails(page, "dataset").count() >= 6  # examples/pyramid_shapes ships six
    thumbnails(page, "dataset").first.click()
    E.wait_image(page, "preview")
    page.get_by_text("ground-truth boxes").first.wait_for()  # recognised as a dataset image
    thumbnails(page, "photo").filter(has_text="astronaut").click()
    page.get_by_text("512x512 px").first.wait_for()
    assert not E.errors(page)


def show_detections(page) -> None:
    """Ask for the detections: the Detections tab redraws by itself, or has a button to press."""
    button = page.locator("#btn-detect")
    if button.count():
        button.click()


def test_coco_offline_gives_a_clear_message_and_the_server_keeps_serving(page, url, hub_cache):
    page.goto(url)
    page.get_by_text(f"{TORCHVISION_COCO}: picking it the first time downloads").first.wait_for()  # startup note
    page.get_by_role("tab", name="Detections").click()
    thumbnails(page, "photo").first.click()
    page.locator("#load-msg", has_text="Loaded:").wait_for()
    show_detections(page)
    E.wait_image(page, "out-detect")  # the default model's: the page is idle now
    page.locator("#model input").click()
    page.get_by_role("option", name=TORCHVISION_COCO).click()
    show_detections(page)
    # the download tried, refused, and said so (how fast: tests/test_hub.py shows the timeouts fire; no clock here)
    page.get_by_text("is not available yet").first.wait_for(timeout=30_000)
    message = " ".join(E.errors(page))
    assert "No network?" in message and "put it at" in message
    assert not hub_cache.exists() or list(hub_cache.iterdir()) == []  # nothing half-written
    page.goto(url)  # the server is still there, and a model with weights still runs
    page.get_by_role("tab", name="Detections").click()
    thumbnails(page, "dataset").first.click()
    page.locator("#load-msg", has_text="Loaded:").wait_for()
    show_detections(page)
    E.wait_image(page, "out-detect")
    assert not E.errors(page)
