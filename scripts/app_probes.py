"""How scripts/app_latency.py reaches the served app besides gradio_client: Gradio's REST API as curl uses it, the
server's CPU seconds (/proc), Gradio's own profiler (GRADIO_PROFILING=1), and a page in headless Chromium.

Imported by scripts/app_latency.py (run it; this file has no command line).
"""
from __future__ import annotations

import json
import os
import time
from typing import Any, Callable, Optional

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def timed(fn: Callable[[], Any]) -> float:
    """Wall seconds of fn()."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def server_cpu_s(pid: Optional[int]) -> float:
    """CPU seconds (user + system) the server process has used so far (Linux /proc); nan without a pid."""
    if pid is None:
        return float("nan")
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rest_call(url: str, path: str, api_name: str, args: list) -> None:
    """One request through Gradio's REST API as curl would make it (upload, POST /call, read the event stream,
    download the picture): no client-side polling, unlike gradio_client's 50 ms message loop."""
    import httpx

    base = url.rstrip("/") + "/gradio_api"
    with httpx.Client(timeout=120) as h:
        with open(path, "rb") as f:
            uploaded = h.post(base + "/upload", files={"files": (os.path.basename(path), f)}).json()[0]
        data = [{"path": uploaded, "meta": {"_type": "gradio.FileData"}}, *args]
        event_id = h.post(f"{base}/call/{api_name}", json={"data": data}).json()["event_id"]
        event, result = None, None
        with h.stream("GET", f"{base}/call/{api_name}/{event_id}") as r:
            for line in r.iter_lines():
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:") and event in ("complete", "error"):
                    if event == "error":
                        raise RuntimeError(f"{api_name}: {line[5:200]}")
                    result = json.loads(line[5:])
                    break
        h.get(result[0]["url"]).raise_for_status()


def gradio_profile(url: str, clear: bool = False) -> Optional[dict[str, Any]]:
    """Gradio's profiler summary of the requests since the last clear (None unless GRADIO_PROFILING=1)."""
    if not os.environ.get("GRADIO_PROFILING"):
        return None
    import httpx

    base = url.rstrip("/") + "/gradio_api/profiling/"
    if clear:
        httpx.post(base + "clear", timeout=30).raise_for_status()
        return None
    return httpx.get(base + "summary", timeout=30).json()


def profile_table(profiles: dict[str, Any]) -> str:
    """Per REST row, Gradio's median milliseconds of each phase of the server's time."""
    lines = []
    for name, summary in profiles.items():
        phases = {**(summary or {}).get("phases", {}), "upload": (summary or {}).get("upload", {})}
        parts = [f"{k} {v['p50']:.1f}" for k, v in phases.items() if v.get("p50")]
        lines.append(f"  {name}: " + ", ".join(parts))
    return "\n".join(lines)


CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
SHAPES = os.path.join(ROOT, "examples", "pyramid_shapes", "val", "000000000002.png")


def browser(url: str, photo: str) -> dict[str, float]:
    """Seconds until the page shows a new picture (its <img> src changed and loaded), in headless Chromium:
    a control changed (Pyramid's aggregation: pca, a new drawing; back to l2, drawn before), and a new photo uploaded
    with Compare shown (its first model's column shown; every model and the per-level charts shown), after a first
    Compare on another photo has loaded its models."""
    from playwright.sync_api import sync_playwright

    def src(page, elem: str) -> str:
        return page.locator(f"#{elem} img").first.get_attribute("src") or "" if page.locator(
            f"#{elem} img").count() else ""

    def until_new(page, elem: str, old: str, start: float) -> float:
        # Gradio's <img> loads lazily: a picture below the window (Compare's per-level charts under its tall
        # figure) is fetched only when scrolled near, so the probe asks for it at once, as a scrolled page does
        page.wait_for_function(f"() => {{ const i = document.querySelector('#{elem} img'); "
                               f"if (i && i.loading === 'lazy') i.loading = 'eager'; return i && "
                               f"i.getAttribute('src') !== {json.dumps(old)} && i.complete && i.naturalWidth > 0 }}",
                               timeout=180_000)
        return time.perf_counter() - start

    out: dict[str, float] = {}
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"])
        page = b.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(180_000)
        page.goto(url)
        page.locator("#image-file input[type='file']").set_input_files(photo)
        page.locator("#out-detect img").first.wait_for(state="visible")
        page.get_by_role("tab", name="Pyramid").click()
        page.locator("#out-pyramid img").first.wait_for(state="visible")
        for value, name in (("pca", "pyramid: aggregation changed, new drawing"),
                            ("l2", "pyramid: aggregation changed back, drawn before")):
            page.wait_for_timeout(300)
            old, start = src(page, "out-pyramid"), time.perf_counter()
            page.locator("#aggregation").get_by_text(value, exact=True).click()
            out[name] = until_new(page, "out-pyramid", old, start)
        fresh = photo.replace(".png", "-compare.png")
        from PIL import Image

        arr = np.array(Image.open(photo).convert("RGB"))
        arr[0, 0] = 255 - arr[0, 0]
        Image.fromarray(arr).save(fresh)
        warm = photo.replace(".png", "-warm.png")
        arr[1, 1] = 255 - arr[1, 1]  # differs from both other photos
        Image.fromarray(arr).save(warm)
        # a fresh page with Compare shown: a new photo's upload draws it, model after model. Once to load Compare's
        # models (a server loads a model on its first use), then timed on another new photo.
        for name in (warm, fresh):
            page.goto(url)
            page.get_by_role("tab", name="Compare").click()
            page.wait_for_timeout(500)
            start = time.perf_counter()
            page.locator("#image-file input[type='file']").set_input_files(name)
            first = until_new(page, "out-compare", "", start)
            every = until_new(page, "out-compare-levels", "", start)
        out["compare: first model shown, new photo (from upload)"] = first
        out["compare: all models shown, new photo (from upload)"] = every
        b.close()
    return out


def sweep(url: str, model: Optional[str], added: str) -> dict[str, float]:
    """/scale_sweep on a dataset image (its ground-truth object #0) with the model alone, then with `added` too."""
    from gradio_client import Client, handle_file

    client = Client(url, verbose=False)
    call = lambda extra: client.predict(handle_file(SHAPES), model, "ground truth", 0, -1, -1, extra, 0.5,  # noqa
                                        api_name="/scale_sweep")
    return {"scale sweep, one model (API)": timed(lambda: call([])),
            f"scale sweep, {added} added (API)": timed(lambda: call([added]))}
