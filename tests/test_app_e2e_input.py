"""End to end, the input row: a click on an example thumbnail loads that image; picking torchvision's COCO model with
no weights and no network shows one clear message (in the message area, dismissable), returns the picker to the last good model,
leaves every view usable and nothing in the hub cache; a bad upload is reported once. The app runs with an empty torch hub cache and $FPN_WEIGHTS_MIRROR on a closed local port (no network)."""

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


def model_value(page) -> str:
    return page.locator("#model input").input_value()


def test_coco_offline_gives_one_clear_message_and_the_page_stays_usable(page, url, hub_cache):
    page.goto(url)
    page.get_by_text(f"{TORCHVISION_COCO}: picking it the first time downloads").first.wait_for()  # startup note
    page.get_by_role("tab", name="Detections").click()
    thumbnails(page, "photo").first.click()
    page.locator("#load-msg", has_text="Loaded:").wait_for()
    show_detections(page)
    E.wait_image(page, "out-detect")  # the default model's: the page is idle now
    good = model_value(page)
    page.locator("#model input").click()
    page.get_by_role("option", name=TORCHVISION_COCO).click()
    # the download tried, refused, and said so once, in the message area (tests/test_hub.py: the timeouts fire)
    area = page.locator("#msg-area").first
    area.get_by_text("is not available yet").wait_for(timeout=30_000)
    assert "No network?" in area.inner_text() and "put it at" in area.inner_text()
    assert page.get_by_text("is not available yet").count() == 1
    page.wait_for_function(f"document.querySelector('#model input').value === {good!r}")  # back to the last good
    assert not hub_cache.exists() or list(hub_cache.iterdir()) == []  # nothing half-written
    for name in ("Pyramid", "Anchors", "Detections"):  # no tab repeats the failure or turns into an error badge
        page.get_by_role("tab", name=name).click()
        page.wait_for_timeout(1500)
    assert page.get_by_text("is not available yet").count() == 1
    assert not E.errors(page) and page.locator(".error").count() == 0
    E.wait_image(page, "out-detect")
    page.locator("#msg-dismiss").click()  # the message goes when dismissed
    area.wait_for(state="hidden")
    page.goto(url)  # the server is still there, and a model with weights still runs
    page.get_by_role("tab", name="Detections").click()
    thumbnails(page, "dataset").first.click()
    page.locator("#load-msg", has_text="Loaded:").wait_for()
    show_detections(page)
    E.wait_image(page, "out-detect")
    assert not E.errors(page)


def test_a_bad_upload_is_reported_once_and_the_drop_zone_comes_back(page, url, tmp_path):
    page.goto(url)
    bad = tmp_path / "notes.png"
    bad.write_text("this is not an image")
    upload = page.locator("#image-file input[type='file']")
    upload.set_input_files(str(bad))
    area = page.locator("#msg-area").first
    area.get_by_text("Could not use that").wait_for(timeout=30_000)
    page.wait_for_timeout(2000)  # time for any view to answer (none should)
    assert page.get_by_text("Could not use that").count() == 1
    assert not E.errors(page) and page.locator(".error").count() == 0
    upload.wait_for(state="attached")  # the drop zone is back, for the next try
    for name in ("Pyramid", "Detections"):  # opening tabs repeats nothing
        page.get_by_role("tab", name=name).click()
        page.wait_for_timeout(1000)
    assert page.get_by_text("Could not use that").count() == 1 and not E.errors(page)
    thumbnails(page, "photo").first.click()  # and the next image works
    E.wait_image(page, "out-detect")
    assert not E.errors(page)


def test_the_page_says_what_the_model_knows(page, url):
    page.goto(url)
    model_card = page.locator("#model-card")
    model_card.get_by_text("PyramidShapes").first.wait_for()
    assert "classes" in model_card.inner_text() and "Box AP" in model_card.inner_text()
    thumbnails(page, "photo").filter(has_text="astronaut").click()
    note = page.locator("#det-note")
    note.get_by_text("synthetic shapes").first.wait_for(timeout=60_000)
    assert TORCHVISION_COCO in note.inner_text() and "Detectron2" in note.inner_text()  # and the zoo
    thumbnails(page, "dataset").first.click()  # one of its own dataset's images: no notice
    page.wait_for_function("!document.querySelector('#det-note').innerText.includes('synthetic shapes')",
                           timeout=60_000)
    assert not E.errors(page)
