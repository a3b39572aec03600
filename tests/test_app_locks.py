"""The Analyzer's locks: a cache hit is answered while another analysis runs or another model downloads; two
requests for the same new (image, model) run the model once. Ordered with threading events (a model held mid-run, a
download held), never timed: the joins' timeouts only keep a broken lock from hanging the suite."""
import threading

import numpy as np
import pytest
import torch

import fpn
from app.analysis import Analyzer
from app.images import load_image
from app.models import ModelRegistry

MODEL = "fpn_tiny"
JOIN_S = 60  # a guard against a deadlock, not a speed bound


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    d = tmp_path_factory.mktemp("ck")
    torch.manual_seed(0)
    m = fpn.build_detector("fpn", "resnet18", num_classes=3, min_size=64, max_size=96, pyramid_channels=16,
                           representation_size=32, rpn_pre_nms_top_n_test=50, rpn_post_nms_top_n_test=20)
    fpn.save_checkpoint(m, str(d / MODEL))
    return ModelRegistry(str(d), "cpu")


def image(i: int):
    return load_image(np.random.default_rng(i).integers(0, 255, (60, 80, 3), dtype=np.uint8))


def in_thread(fn, *args):
    out: dict = {}
    t = threading.Thread(target=lambda: out.setdefault("value", fn(*args)), daemon=True)
    t.start()
    return t, out


def held_explore(monkeypatch, runs: list):
    """fpn.explore that, once `release` is not set, holds every run until it is (started: one run began)."""
    started, release, real = threading.Event(), threading.Event(), fpn.explore

    def explore(model, array, **kwargs):
        runs.append(1)
        started.set()
        assert release.wait(JOIN_S)
        return real(model, array, **kwargs)

    monkeypatch.setattr(fpn, "explore", explore)
    return started, release


def test_a_cache_hit_is_answered_while_another_analysis_runs(registry, monkeypatch):
    analyzer = Analyzer(registry)
    cached = analyzer.analyze(image(0), MODEL)
    runs: list = []
    started, release = held_explore(monkeypatch, runs)
    slow, slow_out = in_thread(analyzer.analyze, image(1), MODEL)
    assert started.wait(JOIN_S)
    hit, hit_out = in_thread(analyzer.analyze, image(0), MODEL)
    hit.join(JOIN_S)
    assert not hit.is_alive() and hit_out["value"] is cached  # answered while the other run is held
    assert slow.is_alive() and not release.is_set()
    release.set()
    slow.join(JOIN_S)
    assert slow_out["value"].image.sha1 == image(1).sha1 and runs == [1]


def test_the_same_new_image_twice_at_once_runs_the_model_once(registry, monkeypatch):
    analyzer = Analyzer(registry)
    runs: list = []
    started, release = held_explore(monkeypatch, runs)
    first, first_out = in_thread(analyzer.analyze, image(2), MODEL)
    assert started.wait(JOIN_S)
    second, second_out = in_thread(analyzer.analyze, image(2), MODEL)
    release.set()
    first.join(JOIN_S)
    second.join(JOIN_S)
    assert second_out["value"] is first_out["value"]
    assert runs == [1] and analyzer.runs == 1


def test_a_model_being_fetched_holds_no_lock_of_the_analyzer(registry, monkeypatch):
    """While one request waits for its model (a download, a load), hits and runs of other models go on."""
    analyzer = Analyzer(registry)
    cached = analyzer.analyze(image(3), MODEL)
    fetching, release = threading.Event(), threading.Event()
    real_get = registry.get

    def get(name, progress=None):
        if name == "downloading":
            fetching.set()
            assert release.wait(JOIN_S)
            name = MODEL
        return real_get(name, progress)

    monkeypatch.setattr(registry, "get", get)
    waiting, _ = in_thread(analyzer.analyze, image(4), "downloading")
    assert fetching.wait(JOIN_S)
    assert analyzer.analyze(image(3), MODEL) is cached
    other = analyzer.analyze(image(5), MODEL)  # a miss of another key runs meanwhile
    assert other.image.sha1 == image(5).sha1 and waiting.is_alive()
    release.set()
    waiting.join(JOIN_S)
    assert not waiting.is_alive()


def test_a_failed_run_is_retried_by_the_next_request(registry, monkeypatch):
    analyzer = Analyzer(registry)

    def broken(model, array, **kwargs):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(fpn, "explore", broken)
    with pytest.raises(RuntimeError):
        analyzer.analyze(image(6), MODEL)
    assert analyzer._key_locks == {}
    monkeypatch.undo()
    assert analyzer.analyze(image(6), MODEL).image.sha1 == image(6).sha1 and analyzer.runs == 1
