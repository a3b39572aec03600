"""End to end, the scale-sweep and receptive-field tabs: a dataset image (with ground truth) uploaded, each tab opened,
a click on its image (an object to sweep, a cell to look through), the outputs checked, no error toast; and both
endpoints through gradio_client. Screenshots go to pytest's temporary folder, or to $FPN_SCREENSHOTS_DIR when set."""
import os
import shutil

import pytest

import e2e_support as E

pytestmark = E.needs_chromium

SHAPES = os.path.join(E.ROOT, "examples", "pyramid_shapes", "val", "000000000002.png")
SLOW = 240_000  # ms: seven model runs on a shared CPU


def click_image_at(page, elem_id: str, x: float, y: float) -> None:
    """Click pixel (x, y) of the picture shown in #elem_id (its natural pixels; the page shows it scaled to fit)."""
    img = page.locator(f"#{elem_id} img").first
    box = img.evaluate("e => { const r = e.getBoundingClientRect(); "
                       "return [r.width, r.height, e.naturalWidth, e.naturalHeight]; }")
    width, height, natural_w, natural_h = box
    scale = min(width / natural_w, height / natural_h)  # object-fit: contain
    left, top = (width - natural_w * scale) / 2, (height - natural_h * scale) / 2
    img.click(position={"x": left + (x + 0.5) * scale, "y": top + (y + 0.5) * scale})


def screenshot(page, tmp_path, name: str) -> None:
    shots = os.environ.get("FPN_SCREENSHOTS_DIR") or str(tmp_path / "screenshots")
    os.makedirs(shots, exist_ok=True)
    page.screenshot(path=os.path.join(shots, f"{name}.png"), full_page=True)


@pytest.mark.slow
def test_sweep_an_object_and_look_through_a_cell(page, tmp_path):
    photo = tmp_path / "shapes.png"
    shutil.copyfile(SHAPES, photo)  # byte-identical: the app recognises the dataset image and uses its ground truth
    page.locator("#image-file input[type='file']").set_input_files(str(photo))
    E.wait_image(page, "preview")
    page.get_by_text("ground-truth boxes").first.wait_for()

    page.get_by_role("tab", name="Scale sweep").click()  # the view draws itself: object #0, the heart
    page.locator("#sweep-note", has_text="Object #0").wait_for(timeout=SLOW)
    for out in ("out-sweep-objects", "out-sweep-chart", "out-sweep-strip"):
        E.wait_image(page, out)
    assert not E.errors(page)
    click_image_at(page, "out-sweep-objects", 230, 262)  # inside the ellipse's box (GT #1), outside the heart's
    page.locator("#sweep-note", has_text="Object #1").wait_for(timeout=SLOW)
    assert "ellipse" in page.locator("#sweep-note").inner_text()
    assert page.locator("#sweep-index input").input_value() == "1"
    assert "positive anchors from P" in page.locator("#sweep-note").inner_text()
    assert not E.errors(page)
    screenshot(page, tmp_path, "scale_sweep")

    page.get_by_role("tab", name="Receptive field").click()
    page.locator("#rf-note", has_text="P4 cell").wait_for(timeout=SLOW)
    E.wait_image(page, "out-rf")
    E.wait_image(page, "out-rf-mass")
    click_image_at(page, "out-rf", 96, 160)  # resized-input px: P4 cell (row 10, column 6)
    page.locator("#rf-note", has_text="P4 cell (row 10, column 6)").wait_for(timeout=SLOW)
    assert "anchors of P4: 128² px" in page.locator("#rf-note").inner_text()
    assert not E.errors(page)
    screenshot(page, tmp_path, "receptive_field")
    for out in ("out-sweep-chart", "out-rf"):
        src = page.locator(f"#{out} img").first.get_attribute("src")
        assert src and src.endswith(".png"), f"{out} is not served as a PNG file: {src}"


def test_api_scale_sweep_and_receptive_field(url, tmp_path):
    from gradio_client import Client, handle_file

    photo = tmp_path / "shapes.png"
    shutil.copyfile(SHAPES, photo)
    client = Client(url, verbose=False)
    names = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    assert {"/scale_sweep", "/receptive_field"} <= set(names)
    objects, chart, strip, note, data, index = client.predict(
        handle_file(str(photo)), None, "ground truth", 0, 300, 100, [], 0.5, api_name="/scale_sweep")
    assert all(os.path.isfile(p) for p in (objects, chart, strip)) and index == 0  # (300, 100) is in the heart
    rows = next(iter(data["models"].values()))["rows"]
    assert len(rows) == 7 and data["object"]["source"] == "ground truth"
    view, mass, note, numbers = client.predict(handle_file(str(photo)), None, "c4", 100, 120, "log",
                                               api_name="/receptive_field")
    assert os.path.isfile(view) and os.path.isfile(mass)
    assert numbers["level"] == "c4" and numbers["nominal_size"] == [211, 211] and numbers["anchor_sizes"] == []
