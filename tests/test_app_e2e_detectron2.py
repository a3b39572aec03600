"""End to end, Detectron2's zoo: the model list offers its models with their published numbers; picking the RPN-only
R50-C4 downloads it (from a local HTTP server standing in for the zoo: seeded weights in the zoo's .pkl format, under
a name carrying their md5 prefix) into the empty hub cache and the Detections view draws its proposals, no error."""
import dataclasses
import hashlib
import http.server
import threading

import pytest

import e2e_support as E
from detectron2_support import key_shapes, random_weights, write_zoo_pkl
from fpn.weights import detectron2_zoo

pytestmark = [E.needs_chromium, pytest.mark.slow]
NAME = "COCO-Detection/rpn_R_50_C4_1x"


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    """The local zoo and an empty torch hub cache; yields (the model's label, the hub cache folder)."""
    pkl = write_zoo_pkl(random_weights(key_shapes()[NAME], 0), tmp_path_factory.mktemp("zoo") / "m.pkl")
    body = pkl.read_bytes()
    entry = detectron2_zoo.ZOO[NAME]
    entry = dataclasses.replace(entry, suffix=f"{entry.suffix.split('/')[0]}/model_final_"
                                              f"{hashlib.md5(body).hexdigest()[:6]}.pkl")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            ok = self.path == f"/{NAME}/{entry.suffix}"
            self.send_response(200 if ok else 404)
            self.send_header("Content-Length", str(len(body) if ok else 0))
            self.end_headers()
            if ok:
                self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    with pytest.MonkeyPatch.context() as mp:
        home = tmp_path_factory.mktemp("torch_home")
        mp.setenv("TORCH_HOME", str(home))
        mp.setenv("FPN_DETECTRON2_MIRROR", f"http://127.0.0.1:{httpd.server_address[1]}")
        mp.setitem(detectron2_zoo.ZOO, NAME, entry)
        yield entry.label, home / "hub" / "checkpoints"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def url(zoo, tmp_path_factory):
    yield from E.serve(tmp_path_factory)


@pytest.fixture(scope="module")
def page(url):
    yield from E.browse(url)


def test_pick_a_zoo_model_downloads_it_and_draws(page, url, zoo):
    label, hub_cache = zoo
    page.goto(url)
    page.get_by_text("Detectron2 model zoo: picking a model the first time downloads it").first.wait_for()
    page.get_by_role("tab", name="Detections").click()
    page.locator("#examples-photo button.thumbnail-item").filter(has_text="astronaut").click()
    page.locator("#load-msg", has_text="Loaded:").wait_for()
    page.locator("#model input").click()
    assert page.get_by_role("option", name="Detectron2 R50-C4 1x, COCO, AP 35.7").count() == 1
    page.get_by_role("option", name=label).click()
    button = page.locator("#btn-detect")
    if button.count():
        button.click()
    target = hub_cache / detectron2_zoo.ZOO[NAME].filename
    for _ in range(240):  # the download (43 MB from the local server), then the model's first run
        if target.is_file():
            break
        page.wait_for_timeout(500)
    assert [p.name for p in hub_cache.iterdir()] == [target.name]  # atomic: no .part file left
    page.locator(".progress-text, .eta-bar").first.wait_for(state="detached", timeout=180_000)
    E.wait_image(page, "out-detect")
    assert not E.errors(page)
