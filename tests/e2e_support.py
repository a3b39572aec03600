"""Shared pieces of the browser tests (tests/test_*e2e*.py): the app on 127.0.0.1 and a headless Chromium page.

A browser test file sets `pytestmark = e2e_support.needs_chromium` and makes its module-scoped fixtures with
`yield from serve(tmp_path_factory)` (the app's URL) and `yield from browse(url)` (a page).
"""
from __future__ import annotations

import os
import socket
from typing import Optional

import pytest
import torch

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]

#: Set by .ci/run: a missing Chromium fails the browser tests instead of skipping them, so CI cannot stay green
#: without ever opening the page.
REQUIRE_BROWSER = os.environ.get("FPN_REQUIRE_BROWSER") == "1"
_MISSING = f"Chromium not found at {CHROMIUM} (install it: apt-get install -y chromium)"
needs_chromium = pytest.mark.skipif(not REQUIRE_BROWSER and not os.path.isfile(CHROMIUM), reason=_MISSING)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def checkpoints(tmp_path_factory) -> str:
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


def serve(tmp_path_factory):
    """Launch the app on a free 127.0.0.1 port; yields its URL, closes it after."""
    from app.server import create_app, launch_options, queued

    demo, explorer = create_app(checkpoints(tmp_path_factory), "cpu")
    port = free_port()
    queued(demo).launch(**launch_options(explorer, "127.0.0.1", port, False, 20.0), prevent_thread_lock=True,
                        quiet=True)
    yield f"http://127.0.0.1:{port}/"
    demo.close()


def browse(url: str, width: int = 1400, height: int = 1000):
    """A headless Chromium page on `url` (yields the page, closes the browser after)."""
    if not os.path.isfile(CHROMIUM):  # only reached when REQUIRE_BROWSER: otherwise the tests were skipped
        pytest.fail(f"FPN_REQUIRE_BROWSER=1 but {_MISSING}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        pg = browser.new_page(viewport={"width": width, "height": height})
        pg.set_default_timeout(60_000)
        pg.goto(url)
        yield pg
        browser.close()


def errors(page) -> list[str]:
    """Texts of the error toasts on the page."""
    toasts = page.locator("[data-testid='toast-body']")
    return [t for t in toasts.all_inner_texts() if "error" in t.lower()]


def wait_image(page, elem_id: str, timeout_ms: Optional[float] = None) -> None:
    """Until the output's picture is shown (the page's default timeout, or `timeout_ms`). Scrolled to first, as a
    person would: Gradio's <img loading="lazy"> fetches a picture far below the window only when scrolled near
    (Compare's per-level charts under its tall figure at 1280x800)."""
    page.locator(f"#{elem_id}").first.scroll_into_view_if_needed(timeout=timeout_ms)
    page.locator(f"#{elem_id} img").first.wait_for(state="visible", timeout=timeout_ms)
