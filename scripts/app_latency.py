#!/usr/bin/env python
"""The app's latency as a user feels it: requests through Gradio's API (gradio_client), on a served app.

    python scripts/app_latency.py                         # 5 runs each, table + app_latency.json
    python scripts/app_latency.py --runs 7 --json out.json --users 20 --many 50
    python scripts/app_latency.py --url http://127.0.0.1:7860/   # an app already running (no server started)
    python scripts/app_latency.py --root ../other_checkout       # serve another checkout's app.py (A/B)

Starts `python app.py` on 127.0.0.1 (a free port, the bundled checkpoints: the default model is the first detection
model) as a subprocess, so the client does not share the server's interpreter, and measures wall time per request,
upload and download of the pictures included:

- /detect on a new photo (never analysed: the model runs), /detect again on the same photo (analysed), /pyramid
  again (analysed: only drawing and serving), detect + pyramid on a new photo (both requests, one after the other);
  medians of --runs runs. A "new photo" is one of scikit-image's photos (astronaut, coffee, chelsea, ...) with one
  pixel changed per run, so its hash is new and the model runs, on the same content each time.
- the analysed-photo requests again through Gradio's REST API as curl makes them (POST /call, read the event
  stream): gradio_client polls its message queue every 50 ms, which adds up to ~0.1 s a request by itself; with
  the server's CPU seconds per request (from /proc, load-independent).
- --users clients at once, 3 /detect each on one analysed photo: errors, p50, p95 of the requests;
  --many clients at once, 1 /detect each: errors.

With GRADIO_PROFILING=1 in the environment the served app records Gradio's own split of each request (queue wait,
preprocess, the handler, postprocess and its PNG encoding / file caching, upload) and the table prints its medians.

Targets (issue 20) are printed beside: analysed <= 0.08 s, new detect + pyramid <= 0.5 s, 20 users p95 <= 2 s,
0 errors. The machine is shared and noisy: the load average is printed with the numbers.
"""
from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any, Optional

import numpy as np

from app_probes import browser, gradio_profile, profile_table, rest_call, server_cpu_s, sweep, timed

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PHOTOS = ("astronaut.png", "coffee.png", "chelsea.png", "rocket.jpg", "motorcycle_left.png")
TARGETS = {"detect, analysed photo": 0.08, "pyramid, analysed photo": 0.08, "detect + pyramid, new photo": 0.5,
           "c4 detect, new photo": 1.5, "mask proposals, new photo": 0.4}


def new_photos(count: int, folder: str) -> list[str]:
    """`count` PNGs never seen by the server: scikit-image photos in turn, each with one pixel set from its index."""
    import skimage.data
    from PIL import Image

    base = os.path.dirname(skimage.data.__file__)
    paths = []
    for i in range(count):
        arr = np.array(Image.open(os.path.join(base, PHOTOS[i % len(PHOTOS)])).convert("RGB"))
        arr[0, 0] = [(i * 37 + int(time.time())) % 256, i % 256, (i // 256) % 256]
        path = os.path.join(folder, f"photo{i:03d}.png")
        Image.fromarray(arr).save(path)
        paths.append(path)
    return paths


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(checkpoints: str, root: str = ROOT, timeout_s: float = 180.0) -> tuple[subprocess.Popen, str]:
    """`python ROOT/app.py` on a free port; returns (process, url) once it answers."""
    import urllib.request

    port = free_port()
    proc = subprocess.Popen([sys.executable, os.path.join(root, "app.py"), "--port", str(port), "--checkpoints",
                             checkpoints], cwd=root, env={**os.environ, "PYTHONPATH": root}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"app.py exited with {proc.returncode}:\n{proc.stderr.read()[-3000:]}")
        try:
            urllib.request.urlopen(url + "config", timeout=2).read()
            return proc, url
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise SystemExit(f"app.py did not answer on {url} within {timeout_s:.0f} s")


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def crowd(url: str, path: str, users: int, requests: int, model: Optional[str]) -> dict[str, Any]:
    """`users` clients at once (each its own gradio_client.Client), `requests` /detect each: latencies and errors."""
    from gradio_client import Client, handle_file

    clients = [Client(url, verbose=False) for _ in range(users)]

    def user(client) -> tuple[list[float], list[str]]:
        times, errors = [], []
        for _ in range(requests):
            try:
                times.append(timed(lambda: client.predict(handle_file(path), model, 0.5, api_name="/detect")))
            except Exception as e:  # noqa: BLE001 - counted and reported
                errors.append(f"{type(e).__name__}: {str(e)[:120]}")
        return times, errors

    start = time.perf_counter()
    with cf.ThreadPoolExecutor(users) as pool:
        results = list(pool.map(user, clients))
    wall = time.perf_counter() - start
    times = [t for r in results for t in r[0]]
    errors = [e for r in results for e in r[1]]
    return {"users": users, "requests": users * requests, "errors": len(errors), "error_examples": errors[:3],
            "p50_s": percentile(times, 50), "p95_s": percentile(times, 95), "wall_s": wall}


def measure(url: str, runs: int, users: int, many: int, model: Optional[str],
            server_pid: Optional[int] = None, c4_model: str = "", mask_model: str = "") -> dict[str, Any]:
    """The table's numbers; server_pid: the server's process, for its CPU seconds per REST request; c4_model /
    mask_model: the heavy models timed on new photos too ("": skipped)."""
    from gradio_client import Client, handle_file

    client = Client(url, verbose=False)
    folder = tempfile.mkdtemp(prefix="app-latency-")
    photos = iter(new_photos(6 * runs + 6, folder))
    detect = lambda p: client.predict(handle_file(p), model, 0.5, api_name="/detect")  # noqa: E731
    pyramid = lambda p: client.predict(handle_file(p), model, "l2", 0, "p3", api_name="/pyramid")  # noqa: E731
    detect(next(photos))  # warm-up: the model loads, Gradio's first request
    rows: dict[str, list[float]] = {k: [] for k in (
        "detect, new photo", "detect, analysed photo", "pyramid, analysed photo, first drawing",
        "pyramid, analysed photo", "detect + pyramid, new photo")}
    for _ in range(runs):
        p = next(photos)
        rows["detect, new photo"].append(timed(lambda: detect(p)))
        rows["detect, analysed photo"].append(timed(lambda: detect(p)))
        rows["pyramid, analysed photo, first drawing"].append(timed(lambda: pyramid(p)))
        rows["pyramid, analysed photo"].append(timed(lambda: pyramid(p)))
        q = next(photos)
        rows["detect + pyramid, new photo"].append(timed(lambda: (detect(q), pyramid(q))))
    heavy = {"c4 detect, new photo": c4_model and (lambda p: client.predict(handle_file(p), c4_model, 0.5,
                                                                            api_name="/detect")),
             "mask proposals, new photo": mask_model and (lambda p: client.predict(handle_file(p), mask_model, 10,
                                                                                   api_name="/mask_proposals"))}
    for name, call in heavy.items():
        if call:
            call(next(photos))  # the model loads
            rows[name] = [timed(lambda: call(p)) for p in [next(photos) for _ in range(runs)]]
    shared = next(photos)
    detect(shared)  # the crowd asks about an analysed photo
    def both(path: str) -> None:  # what a page does on a new photo: its detections, then its pyramid
        rest_call(url, path, "detect", [model, 0.5])
        rest_call(url, path, "pyramid", [model, "l2", 0, "p3"])

    rest = {"detect, analysed photo (REST, curl-like)": lambda: rest_call(url, shared, "detect", [model, 0.5]),
            "pyramid, analysed photo (REST, curl-like)": lambda: rest_call(url, shared, "pyramid",
                                                                            [model, "l2", 0, "p3"]),
            "detect + pyramid, new photo (REST, curl-like)": lambda: both(next(photos))}
    cpu, profiles = {}, {}
    for name, fn in rest.items():
        fn()
        gradio_profile(url, clear=True)
        before = server_cpu_s(server_pid)
        rows[name] = [timed(fn) for _ in range(runs)]
        cpu[name] = (server_cpu_s(server_pid) - before) / runs
        profiles[name] = gradio_profile(url)
    out = {"url": url, "runs": runs, "load_average": os.getloadavg(), "gradio_profile": profiles,
           "requests": {k: {"median_s": statistics.median(v), "min_s": min(v), "max_s": max(v),
                            "target_s": TARGETS.get(k.split(" (")[0]), "server_cpu_s": cpu.get(k)}
                        for k, v in rows.items()},
           "crowd": crowd(url, shared, users, 3, model) if users else None,
           "many": crowd(url, shared, many, 1, model) if many else None}
    return out


def table(result: dict[str, Any]) -> str:
    lines = [f"{'request (wall time, s; gradio_client unless REST)':48s} {'median':>7s} {'min':>7s} {'max':>7s} "
             f"{'target':>7s} {'server CPU':>10s}"]
    for name, r in result["requests"].items():
        target = f"{r['target_s']:.2f}" if r["target_s"] else ""
        cpu = f"{r['server_cpu_s']:.3f}" if r.get("server_cpu_s") is not None else ""
        lines.append(f"{name:48s} {r['median_s']:7.3f} {r['min_s']:7.3f} {r['max_s']:7.3f} {target:>7s} {cpu:>10s}")
    for key in ("crowd", "many"):
        c = result[key]
        if c is None:
            continue
        lines.append(f"{c['users']} users at once, {c['requests']} /detect: {c['errors']} errors, p50 "
                     f"{c['p50_s']:.3f} s, p95 {c['p95_s']:.3f} s, all done in {c['wall_s']:.1f} s")
    if result.get("gradio_profile"):
        lines.append("Gradio's split of the server time (ms, p50; GRADIO_PROFILING=1):\n"
                     + profile_table(result["gradio_profile"]))
    for name, seconds in (result.get("browser") or {}).items():
        lines.append(f"{name:48s} {seconds:7.3f}")
    lines.append("load average: " + ", ".join(f"{v:.2f}" for v in result["load_average"]))
    return "\n".join(lines)


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--runs", type=int, default=5, help="runs per request kind (medians)")
    p.add_argument("--users", type=int, default=20, help="clients at once, 3 /detect each (0: skipped)")
    p.add_argument("--many", type=int, default=50, help="clients at once, 1 /detect each (errors; 0: skipped)")
    p.add_argument("--browser", action="store_true",
                   help="also in headless Chromium (Playwright): a control change, Compare on a new photo; and the "
                        "scale sweep with one added model (API)")
    p.add_argument("--sweep-added", default="c5_resnet18_cpu", help="the model --browser adds to the scale sweep")
    p.add_argument("--checkpoints", default=os.path.join(ROOT, "checkpoints"))
    p.add_argument("--model", default=None, help="model name (default: the app's default)")
    p.add_argument("--c4-model", default="c4_resnet18_cpu", help="the C4 model timed on new photos ('': skipped)")
    p.add_argument("--mask-model", default="mask_proposals_dual_resnet18_cpu",
                   help="the mask proposer timed on new photos ('': skipped)")
    p.add_argument("--root", default=ROOT, help="the checkout whose app.py is served (another one: an A/B run)")
    p.add_argument("--url", default=None, help="measure an app already served there (default: start app.py)")
    p.add_argument("--json", default="app_latency.json", help="where the numbers are written")
    args = p.parse_args(argv)
    proc = None
    url = args.url
    if url is None:
        proc, url = start_server(args.checkpoints, args.root)
    try:
        result = measure(url, args.runs, args.users, args.many, args.model, proc.pid if proc else None,
                         args.c4_model, args.mask_model)
        if args.browser:
            photo = new_photos(1, tempfile.mkdtemp(prefix="app-latency-browser-"))[0]
            result["browser"] = {**browser(url, photo), **sweep(url, args.model, args.sweep_added)}
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)
    print(table(result))
    with open(args.json, "w") as f:
        json.dump(result, f, indent=1)
    print(f"written {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
