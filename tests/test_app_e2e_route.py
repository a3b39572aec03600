"""End to end, the input row's router (app/tabs/input_row.py): a new upload, a new model or a new threshold runs the
view of the tab shown and no other: the server counts the Explorer's views, the page its requests (two for an upload:
its check and the view). Skips when Chromium is absent."""
import shutil

import pytest

import e2e_support as E

pytestmark = E.needs_chromium

VIEWS = ("detect", "mask_proposals", "pyramid", "anchors", "roi_levels", "compare_steps", "compare", "why", "lost",
         "scale_sweep", "receptive_field", "level_metrics")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The app with every view of its Explorer counted: yields (url, calls)."""
    from app.server import create_app, launch_options, queued

    demo, explorer = create_app(E.checkpoints(tmp_path_factory), "cpu")
    calls: list[str] = []
    for name in VIEWS:
        method = getattr(explorer, name)

        def counted(*args, _method=method, _name=name, **kwargs):
            calls.append(_name)
            return _method(*args, **kwargs)

        setattr(explorer, name, counted)
    port = E.free_port()
    queued(demo).launch(**launch_options(explorer, "127.0.0.1", port, False, 20.0), prevent_thread_lock=True,
                        quiet=True)
    yield f"http://127.0.0.1:{port}/", calls
    demo.close()


@pytest.fixture(scope="module")
def page(served):
    yield from E.browse(served[0])


def _photo(tmp_path, name: str) -> str:
    src = E.ROOT + "/examples/pyramid_shapes/val/000000000002.png"
    photo = tmp_path / name
    shutil.copyfile(src, photo)
    with open(photo, "ab") as f:  # another file for the app (its bytes differ), the same picture
        f.write(name.encode())
    return str(photo)


def _settle(page, calls: list[str]) -> list[str]:
    """The views called until the page is idle for a moment."""
    seen = -1
    while seen != len(calls):
        seen = len(calls)
        page.wait_for_timeout(1500)
    return list(calls)


def test_a_new_image_runs_only_the_view_shown(page, served, tmp_path):
    url, calls = served
    page.goto(url)
    page.get_by_role("tab", name="Compare").click()
    _settle(page, calls)
    calls.clear()
    joins: list[str] = []  # the page's requests for an event (one per event that runs Python)
    page.on("request", lambda r: joins.append(r.url) if "/queue/join" in r.url else None)
    page.locator("#image-file input[type='file']").set_input_files(_photo(tmp_path, "a.png"))
    E.wait_image(page, "out-compare")
    assert set(_settle(page, calls)) == {"compare_steps"}
    assert len(joins) == 2  # the upload's check and Compare: no request for the eight other tabs
    # another tab: opening it draws it; then a new threshold redraws it alone
    page.get_by_role("tab", name="Pyramid").click()
    E.wait_image(page, "out-pyramid")
    assert set(_settle(page, calls)) == {"compare_steps", "pyramid"}
    calls.clear()
    page.get_by_role("tab", name="Detections").click()
    E.wait_image(page, "out-detect")
    _settle(page, calls)
    calls.clear()
    box = page.locator("#score input[type=range]").bounding_box()  # a click on the slider's track: a release
    page.mouse.click(box["x"] + 0.3 * box["width"], box["y"] + box["height"] / 2)
    assert set(_settle(page, calls)) == {"detect"}
