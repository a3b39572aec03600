"""The app's caches are bounded (counted, never timed): the Analyzer's analyses (by entries and by tensor bytes), the
derived results per analysis, the registry's loaded models, and no view keeps an analysis alive past the Analyzer.
Cached derived results are the library's exact ones; the faster drawing primitives give the plain formulas' pixels."""
import gc
import weakref

import numpy as np
import pytest
import torch
from PIL import Image

import fpn
from app.analysis import MAX_DERIVED, Analyzer, tensor_bytes
from app.examples import ExampleLibrary
from app.images import load_image
from app.models import ModelRegistry
from app.views import Explorer
from fpn.explain.exploration import Exploration
from fpn.viz.draw import blank, blend, to_rgb_uint8

NAMES = ("fpn_a", "fpn_b", "fpn_c")


@pytest.fixture(scope="module")
def ckdir(tmp_path_factory):
    d = tmp_path_factory.mktemp("ck")
    torch.manual_seed(0)
    for name in NAMES:
        m = fpn.build_detector("fpn", "resnet18", num_classes=4, min_size=96, max_size=128, box_score_thresh=0.0,
                               pyramid_channels=32, representation_size=64, rpn_pre_nms_top_n_test=200,
                               rpn_post_nms_top_n_test=100)
        fpn.save_checkpoint(m, str(d / name))
    return str(d)


@pytest.fixture(scope="module")
def registry(ckdir):
    return ModelRegistry(ckdir, "cpu", max_loaded=2)


def image(i: int):
    return load_image(np.random.default_rng(i).integers(0, 255, (80, 100, 3), dtype=np.uint8))


def test_analyzer_keeps_at_most_max_entries_least_recent_dropped(registry):
    analyzer = Analyzer(registry, max_entries=2)
    for i in range(4):
        analyzer.analyze(image(i), NAMES[0])
    assert analyzer.runs == 4
    assert [a.image.sha1 for a in analyzer.cached] == [image(i).sha1 for i in (2, 3)]
    analyzer.analyze(image(2), NAMES[0])  # a hit: no run, becomes the most recent
    assert analyzer.runs == 4 and analyzer.cached[-1].image.sha1 == image(2).sha1
    analyzer.clear()
    assert analyzer.cached == []


def test_analyzer_bounded_by_tensor_bytes(registry):
    one = Analyzer(registry, max_entries=100, max_bytes=1)
    for i in range(3):
        a = one.analyze(image(i), NAMES[0])
        assert a.nbytes == tensor_bytes(a.exploration) > 0
        assert len(one.cached) == 1  # the newest is kept even when alone over the bound
    two = Analyzer(registry, max_entries=100, max_bytes=int(2.5 * a.nbytes))
    for i in range(4):
        two.analyze(image(i), NAMES[0])
    assert len(two.cached) == 2
    assert sum(x.nbytes for x in two.cached) <= two.max_bytes


def test_tensor_bytes_counts_each_storage_once():
    t = torch.zeros(10, 10)
    obj = {"a": t, "b": [t[0], t[:5].T], "c": (torch.zeros(3, dtype=torch.uint8), "text", 4)}
    assert tensor_bytes(obj) == 400 + 3
    assert tensor_bytes(None) == 0


def test_derived_results_bounded_exact_and_keyed_by_the_detections_kept(registry):
    analyzer = Analyzer(registry)
    a = analyzer.analyze(image(0), NAMES[0])
    model = registry.get(NAMES[0])
    det = a.exploration.detections
    scores = torch.sort(det["scores"]).values
    assert len(scores) > 2 * MAX_DERIVED
    for t in scores[: 2 * MAX_DERIVED].tolist():
        labels, boxes = analyzer.anchor_labels(a, t)
        kept = det["boxes"][det["scores"] >= t]
        assert torch.equal(boxes, a.exploration.to_resized(kept))
        exact = fpn.label_anchors(model, a.exploration, a.exploration.to_resized(kept))
        assert labels.keys() == exact.keys() and all(torch.equal(labels[k], exact[k]) for k in exact)
        assert len(a.cache) <= MAX_DERIVED
    assert len(a.cache) == MAX_DERIVED
    # two thresholds keeping the same detections share one result
    lo, hi = float(scores[-3]), float(scores[-2])
    assert analyzer.anchor_labels(a, lo + (hi - lo) / 3)[0] is analyzer.anchor_labels(a, lo + 2 * (hi - lo) / 3)[0]
    boxes = a.exploration.rois[:7]
    pooled, levels = analyzer.pool_boxes(a, boxes)
    exact_pooled, exact_levels = fpn.pool_boxes(model, a.exploration, boxes)
    assert torch.equal(pooled, exact_pooled) and torch.equal(levels, exact_levels)
    assert torch.equal(pooled, a.exploration.pooled[:7])  # the forward pass pooled the same numbers
    assert analyzer.pool_boxes(a, boxes.clone())[0] is pooled
    assert len(a.cache) == MAX_DERIVED


def test_registry_keeps_at_most_max_loaded(registry):
    for name in NAMES + NAMES[:1]:
        assert registry.get(name) is not None
        assert len(registry._loaded) <= registry.max_loaded
    assert list(registry._loaded) == [NAMES[2], NAMES[0]]


def test_views_keep_no_analysis_alive_past_the_analyzer(registry, tmp_path):
    """After every view on more images than the Analyzer keeps, only the explorations it holds are alive: no view,
    no other cache keeps one."""
    analyzer = Analyzer(registry, max_entries=2)
    explorer = Explorer(registry, analyzer, ExampleLibrary(dataset_dirs=()))
    made = []
    analyze = analyzer.analyze

    def watched(*args, **kwargs):
        result = analyze(*args, **kwargs)
        made.append(weakref.ref(result.exploration))
        return result

    analyzer.analyze = watched
    for i in range(3):
        path = str(tmp_path / f"image_{i}.png")
        Image.fromarray(image(10 + i).array).save(path)
        for model in NAMES[:2]:
            explorer.detect(path, model, 0.0)
            explorer.pyramid(path, model)
            explorer.anchors(path, model)
            explorer.roi_levels(path, model)
    gc.collect()
    alive = {id(r()) for r in made if r() is not None}
    assert analyzer.runs == 6 and len(analyzer.cached) == 2
    assert alive == {id(a.exploration) for a in analyzer.cached}


@pytest.mark.parametrize("color", [(245, 245, 245), (0, 0, 0), (1, 2, 3), (0, 114, 178), (245.7, 245.2, 245.0)])
@pytest.mark.parametrize("size", [(0, 0), (1, 1), (1, 9), (9, 1), (37, 53)])
def test_blank_equals_the_plain_fill(color, size):
    ref = np.empty((max(size[0], 1), max(size[1], 1), 3), np.uint8)
    ref[:] = color
    out = blank(*size, color)
    assert out.dtype == np.uint8 and out.flags.c_contiguous and np.array_equal(out, ref)


@pytest.mark.parametrize("image", [torch.rand(3, 37, 53) * 1.2 - 0.1, torch.rand(1, 20, 30), torch.rand(4, 10, 10),
                                   torch.rand(3, 20, 30, dtype=torch.float64)[:, ::2, 1::3],
                                   torch.randint(0, 255, (3, 9, 7), dtype=torch.uint8), torch.rand(10, 12),
                                   np.random.default_rng(0).integers(0, 65535, (20, 30, 3)).astype(np.uint16)])
def test_to_rgb_uint8_equals_converting_after_the_transpose(image):
    a = image.permute(1, 2, 0) if isinstance(image, torch.Tensor) and image.dim() == 3 and image.shape[0] in (1, 3) \
        else image
    a = np.asarray(a.numpy() if isinstance(a, torch.Tensor) else a)
    if a.dtype == np.uint16:
        a = (a / 257.0).round().astype(np.uint8)
    elif a.dtype != np.uint8:
        a = (np.clip(a.astype(np.float32), 0, 1) * 255).round().astype(np.uint8)
    a = a[..., None] if a.ndim == 2 else a
    ref = np.ascontiguousarray(np.repeat(a, 3, axis=2) if a.shape[2] == 1 else a[..., :3])
    out = to_rgb_uint8(image)
    assert out.dtype == np.uint8 and out.flags.c_contiguous and np.array_equal(out, ref)


@pytest.mark.parametrize("alpha", [0.0, 0.45, 1.0, 0.3141])
def test_blend_where_equals_blending_every_pixel(alpha):
    rng = np.random.default_rng(3)
    img, overlay = rng.integers(0, 256, (2, 40, 50, 3)).astype(np.uint8)
    where = rng.random((40, 50)) < 0.3
    for over in (overlay, np.array([10, 200, 30], np.uint8)):
        ref = img.astype(np.float32)
        ref[where] = (ref * (1 - alpha) + over.astype(np.float32) * alpha)[where]
        assert np.array_equal(blend(img, over, alpha, where), ref.round().clip(0, 255).astype(np.uint8))
