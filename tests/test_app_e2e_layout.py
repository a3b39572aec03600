"""End to end at 1280x800 (app/layout.py): once an example is clicked, the tab bar and the first view's figure are in
the window without scrolling, the upload stays reachable, no horizontal scrolling; presenter mode by checkbox and by
`?presenter=1` (larger text, the side panels hidden). Screenshots go to pytest's tmp folder."""

import os

import pytest

import e2e_support as E

pytestmark = E.needs_chromium
WIDTH, HEIGHT = 1280, 800


@pytest.fixture(scope="module")
def page(url):
    yield from E.browse(url, WIDTH, HEIGHT)


def shot(tmp_path, name: str) -> str:
    """Where a screenshot goes: $FPN_SCREENSHOTS_DIR (`make screenshots`: docs/screenshots/) or pytest's tmp folder."""
    return os.path.join(os.environ.get("FPN_SCREENSHOTS_DIR") or str(tmp_path), name)


def in_window(box) -> bool:
    return box is not None and 0 <= box["y"] and box["y"] + box["height"] <= HEIGHT


def test_after_an_example_the_view_is_in_the_window(page, url, tmp_path):
    page.goto(url)
    page.locator("#examples-photo button.thumbnail-item").filter(has_text="astronaut").click()
    E.wait_image(page, "out-detect")
    assert page.evaluate("window.scrollY") == 0  # nobody scrolled
    assert in_window(page.get_by_role("tablist").first.bounding_box())
    figure = page.locator("#out-detect img").first.bounding_box()
    assert figure["y"] + 250 <= HEIGHT, f"the figure starts at y = {figure['y']:.0f}: below the fold"
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert page.locator("#upload-another").is_visible()  # the upload stays reachable once an image is shown
    page.screenshot(path=shot(tmp_path, "layout_1280x800.png"))
    assert not E.errors(page)


def test_presenter_mode_by_url_and_by_checkbox(page, url, tmp_path):
    page.goto(url + "?presenter=1")
    page.wait_for_function("document.body.classList.contains('presenter')")
    assert page.locator("#presenter input").is_checked()
    size = page.evaluate("parseFloat(getComputedStyle(document.querySelector('#header p')).fontSize)")
    assert size >= 20
    assert not page.locator("#examples-photo").is_visible()  # the galleries make room
    page.locator("#presenter input").uncheck()
    page.wait_for_function("!document.body.classList.contains('presenter')")
    assert page.locator("#examples-photo").is_visible()
    page.locator("#examples-photo button.thumbnail-item").filter(has_text="astronaut").click()
    E.wait_image(page, "out-detect")
    page.locator("#presenter input").check()
    page.wait_for_function("document.body.classList.contains('presenter')")
    page.evaluate("window.scrollTo(0, 0)")  # the click scrolled to the checkbox
    # the figure grows to the window's height (85%), past its 512 px: projected, it fills the screen
    shown = page.evaluate("(() => { const i = document.querySelector('#out-detect img'); "
                          "return [i.getBoundingClientRect().height, i.naturalHeight]; })()")
    assert shown[0] >= 0.8 * HEIGHT and shown[0] > shown[1], shown
    page.screenshot(path=shot(tmp_path, "presenter_1280x800.png"))


def test_the_tour_downloads_as_slides_that_open_with_8_steps(page, url, tmp_path):
    page.goto(url)
    page.locator("#examples-dataset button.thumbnail-item").first.click()
    E.wait_image(page, "out-detect")
    page.get_by_role("tab", name="Guided tour").click()
    page.locator("#tour-make-slides").click()
    link = page.locator("#tour-slides a").first
    link.wait_for(timeout=180_000)
    with page.expect_download() as download:
        link.click()
    deck = tmp_path / download.value.suggested_filename
    download.value.save_as(deck)
    assert deck.name.endswith(".html")
    slides = page.context.browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
    slides.goto(deck.as_uri())
    assert slides.locator("section").count() == 1 + 8
    assert slides.locator("section h2").nth(7).inner_text().startswith("8. ")
    loaded = slides.evaluate("[...document.images].every((i) => i.complete && i.naturalWidth > 0)")
    assert loaded and slides.locator("img").count() == 1 + 8
    slides.keyboard.press("ArrowDown")  # the keys move a slide at a time
    slides.wait_for_function("document.querySelectorAll('section')[1].getBoundingClientRect().top < 5")
    slides.screenshot(path=shot(tmp_path, "slides_step1_1280x800.png"))
    slides.close()
    assert not E.errors(page)


def test_pyramid_controls_fit_the_maps(page, url):
    page.goto(url)
    page.locator("#examples-dataset button.thumbnail-item").first.click()
    E.wait_image(page, "out-detect")
    page.get_by_role("tab", name="Pyramid").click()
    E.wait_image(page, "out-pyramid")
    slider = page.locator("#channel input[type=range]")
    page.wait_for_function("document.querySelector('#channel input[type=range]').max === '511'")  # ResNet-18's C5
    assert "C2 64" in page.locator("#channel").inner_text() and "P2 128" in page.locator("#channel").inner_text()
    page.locator("#aggregation").get_by_text("channel", exact=True).click()
    E.wait_image(page, "out-pyramid")
    page.wait_for_timeout(1000)
    old = page.locator("#out-pyramid img").first.get_attribute("src")
    box = page.locator("#channel input[type=number]")
    box.fill("300")
    box.press("Enter")  # Enter in the number box redraws
    page.wait_for_function("(old) => { const i = document.querySelector('#out-pyramid img'); "
                           "return i && i.getAttribute('src') !== old && i.complete; }", arg=old, timeout=60_000)
    assert slider.input_value() == "300"
    figure = page.locator("#out-pyramid img").first.bounding_box()
    readout = page.locator("#out-cell").bounding_box()
    assert readout["x"] >= figure["x"] + figure["width"] - 1  # beside the figure, not under it
    assert readout["y"] < figure["y"] + figure["height"]
    assert not E.errors(page)


def test_box_labels_are_at_least_12_px_as_displayed(page, url, tmp_path):
    """A 1200x900 upload is shown shrunk: its labels are drawn larger (fpn.viz.label_scale), so that the text, measured
    from the image's natural vs displayed width, is >= 12 px high on the screen."""
    import numpy as np
    from PIL import Image

    import fpn.viz as V
    from fpn.viz.draw import text_size

    rng = np.random.default_rng(0)
    photo = tmp_path / "large.png"
    Image.fromarray(rng.integers(0, 255, (900, 1200, 3), dtype=np.uint8)).save(photo)
    page.goto(url)
    page.locator("#image-file input[type='file']").set_input_files(str(photo))
    E.wait_image(page, "out-detect")
    page.wait_for_timeout(500)
    natural, shown = page.evaluate("(() => { const i = document.querySelector('#out-detect img'); "
                                   "return [i.naturalWidth, i.getBoundingClientRect().width]; })()")
    text_px = text_size("ring 0.97", V.label_scale((900, 1200)))[1]  # the labels' and the title's text height
    assert text_px * shown / natural >= 12, (text_px, shown, natural)


def test_the_lost_ground_truth_table_is_full_width(page, url):
    page.goto(url)
    page.locator("#examples-dataset button.thumbnail-item").first.click()
    E.wait_image(page, "out-detect")
    page.get_by_role("tab", name="Why this box").click()
    page.get_by_role("tab", name="Lost ground truth").click()
    table = page.locator("#lost-text table").first
    table.wait_for(timeout=120_000)
    tabs = page.get_by_role("tablist").first.bounding_box()
    assert page.locator("#lost-text").bounding_box()["width"] >= 0.9 * tabs["width"]
    # no word broken in the middle: every header cell fits on one line
    assert page.evaluate("[...document.querySelectorAll('#lost-text th')].every((c) => c.scrollWidth <= "
                         "c.clientWidth + 1)")
    assert not E.errors(page)


def test_why_this_box_shows_the_stored_numbers_per_level_at_once(page, url):
    import fpn.viz as V

    page.goto(url)
    page.get_by_role("tab", name="Why this box").click()  # no image needed: checkpoint metadata only
    page.get_by_role("tab", name="Numbers per level").click()
    page.locator("#out-level-metrics img").first.wait_for(state="attached", timeout=30_000)
    page.locator("#out-level-metrics").scroll_into_view_if_needed()
    E.wait_image(page, "out-level-metrics")
    assert page.locator("#out-level-recall img").count() == 0  # this image's recall waits for the button
    natural, shown = page.evaluate("(() => { const i = document.querySelector('#out-level-metrics img'); "
                                   "return [i.naturalWidth, i.getBoundingClientRect().width]; })()")
    assert V.MIN_TEXT_PX * shown / natural >= 12, (shown, natural)  # shown about 1:1: its text stays >= 12 px
    assert not E.errors(page)


#: Every tab, in the order of the page (app/tabs/TABS).
TAB_NAMES = ("Detections", "Pyramid", "Anchors", "RoI -> level", "Why this box", "Compare", "Scale sweep",
             "Receptive field", "Guided tour")
#: Tabs with parts of their own (sub-tabs), each opened in turn.
PARTS = {"Why this box": ("This detection", "Lost ground truth", "Numbers per level")}
#: Each shown figure's (elem id, natural width, displayed width), the figures loaded (the lazy ones scrolled to).
FIGURES_JS = """async () => {
  const out = [];
  for (const i of document.querySelectorAll('[id^=out-] img')) {
    if (!i.offsetParent) continue;  // in a hidden tab or panel
    i.scrollIntoView({block: 'center'});
    for (let t = 0; t < 100 && !(i.complete && i.naturalWidth); t++) await new Promise(r => setTimeout(r, 100));
    out.push([i.closest('[id^=out-]').id, i.naturalWidth, i.getBoundingClientRect().width]);
  }
  window.scrollTo(0, 0);
  return out;
}"""


def test_text_in_every_figure_is_at_least_12_px_as_displayed(page, url):
    """Every figure of every tab on a dataset image: no text in a figure is drawn under fpn.viz.MIN_TEXT_PX (put_text
    raises smaller scales to it; box labels are larger on large pictures, fpn.viz.label_scale), so a figure shown at
    >= 12 / MIN_TEXT_PX of its natural width has all its text >= 12 px on the screen."""
    import fpn.viz as V

    page.goto(url)
    page.locator("#examples-dataset button.thumbnail-item").first.click()
    E.wait_image(page, "out-detect")
    small, seen = [], set()
    for name in TAB_NAMES:
        page.get_by_role("tab", name=name).click()
        page.wait_for_function("[...document.querySelectorAll('[id^=out-] img')].some((i) => i.offsetParent && "
                               "i.complete && i.naturalWidth > 0)", timeout=180_000)
        page.wait_for_function("!document.querySelector('.eta-bar, .progress-text')", timeout=180_000)
        for part in PARTS.get(name, (None,)):
            if part:
                page.get_by_role("tab", name=part).click()
                page.wait_for_timeout(500)
            for elem_id, natural, shown in page.evaluate(FIGURES_JS):
                if natural:  # loaded (the set of those seen is checked below)
                    seen.add(elem_id)
                if natural and V.MIN_TEXT_PX * shown / natural < 12:
                    small.append(f"{name}: {elem_id} drawn {natural} px wide, shown {shown:.0f} px")
    assert {"out-detect", "out-pyramid", "out-anchors", "out-roi", "out-why", "out-lost", "out-level-metrics",
            "out-compare", "out-rf", "out-tour"} <= seen, seen
    assert not small, "text under 12 px as displayed:\n" + "\n".join(small)
    assert not E.errors(page)


def test_at_1600x1000_the_figures_use_the_width(page, url, tmp_path):
    """A wider window: the page and its figures grow (drawn for 1280 px, they are shown larger, never smaller); the
    tab bar and the whole Detections figure stay in the window; in presenter mode the figure grows further."""
    wide = page.context.browser.new_page(viewport={"width": 1600, "height": 1000})
    try:
        wide.goto(url)
        wide.locator("#examples-dataset button.thumbnail-item").first.click()
        for mode in ("", "presenter"):
            if mode:  # as a teacher would, once the image is picked
                wide.locator("#presenter input").check()
                wide.wait_for_function("document.body.classList.contains('presenter')")
                wide.evaluate("window.scrollTo(0, 0)")  # the click scrolled to the checkbox
            E.wait_image(wide, "out-detect")
            wide.wait_for_timeout(800)
            natural, shown, bottom = wide.evaluate("(() => { const i = document.querySelector('#out-detect img'); "
                                                   "const r = i.getBoundingClientRect(); "
                                                   "return [i.naturalWidth, r.width, r.bottom]; })()")
            assert shown > natural and (mode or bottom <= 1000), (mode, natural, shown, bottom)
            assert wide.get_by_role("tablist").first.bounding_box()["y"] >= 0
            name = "presenter_1600x1000.png" if mode else "layout_1600x1000.png"
            wide.screenshot(path=shot(tmp_path, name))
    finally:
        wide.close()
