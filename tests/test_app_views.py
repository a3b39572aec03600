"""Every view of the app without a browser: what it draws and the numbers behind it (app/views.py), the Python
snippet that redraws it (run here, pixel for pixel), its export files, the guided tour, and the live wiring of the
tabs. Fixtures (tiny random models, an explorer over them, a photo) come from test_app.py.
"""
import json
import os

import numpy as np
import pytest
import torch

import fpn.viz as V
from app.choices import AGGREGATIONS, GTSource, RoISource
from app.errors import AppError
from app.layout import PYRAMID_PX
from test_app import CLASSES, PHOTO_SIZE, ckdir, explorer, photo  # noqa: F401 - pytest fixtures


# ------------------------------------------------------------------------------------------- views
def test_detect(explorer, photo):
    result = explorer.detect(photo, "fpn_tiny", 0.0)
    img, info = result.image, result.data
    assert img.dtype == np.uint8 and info["image_size"] == list(PHOTO_SIZE) and info["detections"]
    assert all(set(d) == {"box", "score", "label", "class"} for d in info["detections"])
    assert {d["class"] for d in info["detections"]} <= set(CLASSES[1:])  # names from the model's config
    assert explorer.detect(photo, "fpn_tiny", 1.01).data["detections"] == []


def test_pyramid(explorer, photo):
    for mode in AGGREGATIONS:
        result = explorer.pyramid(photo, "fpn_tiny", mode, 3, "p4")
        pyr, merge = result.images["pyramid"], result.images["merge"]
        assert pyr.ndim == 3 and merge.ndim == 3 and result.data["cell"] is None
        assert [m["map"] for m in result.data["maps"]] == ["c2", "c3", "c4", "c5", "p2", "p3", "p4", "p5", "p6"]
    c5 = explorer.pyramid(photo, "c5_tiny", "l2", 0, "p3").images
    assert c5["pyramid"].shape[0] < pyr.shape[0]  # single scale: a note instead of the P row
    assert c5["merge"].shape[0] < merge.shape[0] / 2  # a one-line note instead of Fig. 3's panels
    with pytest.raises(AppError, match="Unknown aggregation"):
        explorer.pyramid(photo, "fpn_tiny", "max", 0, "p3")


def test_pyramid_click_reads_the_cell_under_it(explorer, photo):
    ex = explorer.analysis(photo, "fpn_tiny").exploration
    panel = V.pyramid_figure(ex, "channel", 3, highlight="p4", max_width=PYRAMID_PX).panel("p5")  # as the app draws
    x, y = panel.cell_rect(1, 2)[:2]
    result = explorer.pyramid(photo, "fpn_tiny", "channel", 3, "p4", click=(x + 1, y + 1))
    cell = result.data["cell"]
    assert (cell["map"], cell["row"], cell["col"], cell["stride"]) == ("p5", 1, 2, 32)
    assert cell["value"] == pytest.approx(float(ex.pyramid["p5"][3, 1, 2]), abs=1e-4)  # channel 3 of that cell
    assert cell["centre"] == [64, 32] and cell["box"] == [48, 16, 80, 48]
    assert "**P5**, cell (row 1, column 2)" in result.text and "x 48-80, y 16-48" in result.text
    assert not np.array_equal(result.images["pyramid"], explorer.pyramid(photo, "fpn_tiny", "channel", 3, "p4").image)
    missed = explorer.pyramid(photo, "fpn_tiny", "l2", 0, "p4", click=(0, 0))  # the margin: no cell
    assert missed.data["cell"] is None and "Click a cell" in missed.text


def test_anchors(explorer, photo):
    result = explorer.anchors(photo, "fpn_tiny", "p2", "all", "density", -1, -1, GTSource.GROUND_TRUTH, 0.0)
    md = result.text
    assert result.images["anchors"].ndim == 3 and result.images["positives"].ndim == 3
    assert "no ground truth" in md and "as pseudo ground truth" in md and "P6" in md
    assert result.data["level"] == "p2" and result.data["anchors_around_point"]
    result = explorer.anchors(photo, "fpn_tiny", "p3", "1:2", "point", 20, 30, GTSource.DETECTIONS, 1.01)
    assert "every anchor is negative" in result.text and "around (20, 30) px" in result.text
    assert {a["label"] for a in result.data["anchors_around_point"]} == {"negative"}
    assert {a["ratio"] for a in result.data["anchors_around_point"]} == {0.5}
    md = explorer.anchors(photo, "c5_tiny", "p3", "1:1 (1)", "point", -1, -1, GTSource.DETECTIONS, 0.0).text
    assert "P3 is not an RPN map of the 'c5' variant; showing C5" in md
    with pytest.raises(AppError, match="Unknown aspect ratio"):
        explorer.anchors(photo, "fpn_tiny", "p3", "wide", "point", -1, -1, GTSource.DETECTIONS, 0.0)
    with pytest.raises(AppError, match="Unknown mode"):
        explorer.anchors(photo, "fpn_tiny", "p3", "all", "heat", -1, -1, GTSource.DETECTIONS, 0.0)


def test_roi_levels(explorer, photo):
    result = explorer.roi_levels(photo, "fpn_tiny", RoISource.DETECTIONS, 2, 10, 0.0)
    md, idx = result.text, result.data["selected"]["index"]
    assert "k = floor(4 + log2(" in md and "Pooled from P" in md and result.images["pooled"].ndim == 3 and idx == 2
    assert result.data["selected"]["formula"] in md
    assert "Pooled from C5" in explorer.roi_levels(photo, "c5_tiny", RoISource.DETECTIONS, 0, 10, 0.0).text
    # a click selects the smallest of the shown boxes that contains it
    ex = explorer.analysis(photo, "fpn_tiny").exploration
    boxes = ex.proposals[torch.argsort(ex.proposal_scores, descending=True)[:10]]
    cx, cy = float(boxes[3, 0] + boxes[3, 2]) / 2, float(boxes[3, 1] + boxes[3, 3]) / 2
    inside = (boxes[:, 0] <= cx) & (cx <= boxes[:, 2]) & (boxes[:, 1] <= cy) & (cy <= boxes[:, 3])
    area = torch.where(inside, (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]), torch.tensor(float("inf")))
    result = explorer.roi_levels(photo, "fpn_tiny", RoISource.PROPOSALS, 0, 10, 0.0, click=(cx, cy))
    idx = result.data["selected"]["index"]
    assert idx == int(area.argmin()) and f"**Box #{idx}**" in result.text and len(result.data["boxes"]) == 10
    result = explorer.roi_levels(photo, "fpn_tiny", RoISource.DETECTIONS, 0, 10, 1.01)
    assert result.data["selected"]["index"] == 0 and "No detection with score >= 1.01" in result.text


def test_compare(explorer, photo):
    result = explorer.compare(photo, ["fpn_tiny", "c5_tiny"], 0.0)
    table, headers = result.data["rows"], result.data["headers"]
    assert result.image.ndim == 3 and [row[0] for row in table] == ["fpn_tiny", "c5_tiny"]
    assert headers[3:] == ["score threshold", "detections shown", "bbox AP"] and [row[5] for row in table] == [1.5, 1.5]
    with pytest.raises(AppError, match="2 to 6"):
        explorer.compare(photo, ["fpn_tiny"], 0.5)


def test_mask_proposals(explorer, photo):
    result = explorer.mask_proposals(photo, None, 5)  # None: the first mask-proposal model
    img = result.image
    assert img.dtype == np.uint8 and img.shape[0] >= PHOTO_SIZE[0] and img.shape[1] >= PHOTO_SIZE[1]
    assert not np.array_equal(img, V.note_image(V.NO_MASK_MODEL, 320, 70))
    assert 0 < len(result.data["proposals"]) <= 5
    with pytest.raises(AppError, match="is a detection model"):
        explorer.mask_proposals(photo, "fpn_tiny", 5)


# ------------------------------------------------------------------------------------------- export
def _views(explorer, photo):
    """Every view once (name -> ViewResult), with options that exercise the snippets' branches."""
    return {
        "detect": explorer.detect(photo, "fpn_tiny", 0.0),
        "masks": explorer.mask_proposals(photo, None, 5),
        "pyramid": explorer.pyramid(photo, "fpn_tiny", "pca", 3, "p4"),
        "pyramid click": explorer.pyramid(photo, "fpn_tiny", "l2", 0, "p3", click=(60, 300)),
        "anchors gt": explorer.anchors(photo, "c5_tiny", "c5", "all", "density", -1, -1, GTSource.GROUND_TRUTH, 0.0),
        "anchors": explorer.anchors(photo, "fpn_tiny", "p3", "1:2", "point", 20, 30, GTSource.DETECTIONS, 0.0),
        "roi proposals": explorer.roi_levels(photo, "fpn_tiny", RoISource.PROPOSALS, 3, 20, 0.0),
        "roi detections": explorer.roi_levels(photo, "fpn_tiny", RoISource.DETECTIONS, 1, 10, 0.0),
        "compare": explorer.compare(photo, ["fpn_tiny", "c5_tiny"], 0.0, 20),
    }


def test_every_snippet_redraws_its_view_pixel_for_pixel(explorer, photo, monkeypatch):
    """The Python shown under each view, run as a reader would (in the image's folder), gives the same pictures."""
    results = _views(explorer, photo)
    monkeypatch.chdir(os.path.dirname(photo))
    for name, result in results.items():
        assert "import fpn" in result.code and "from app" not in result.code and "import app" not in result.code, name
        scope: dict = {}
        exec(compile(result.code, f"<snippet {name}>", "exec"), scope)  # noqa: S102 - our own generated code
        for stem, img in result.images.items():
            assert np.array_equal(scope[stem], img), f"{name}: {stem} differs"
            assert os.path.isfile(f"{stem}.png")  # the snippet saves it too


def test_export_files_hold_the_full_resolution_pngs_the_data_and_the_code(explorer, photo, tmp_path):
    from PIL import Image

    from app.export import write_files

    result = explorer.pyramid(photo, "fpn_tiny", "l2", 0, "p3", click=(60, 300))
    paths = write_files(result, str(tmp_path))
    assert [os.path.basename(p) for p in paths] == ["pyramid.png", "merge.png", "pyramid.json", "pyramid.py"]
    assert np.array_equal(np.asarray(Image.open(paths[0])), result.images["pyramid"])  # lossless, full size
    data = json.load(open(paths[2]))
    assert data["view"] == "pyramid" and data["cell"] == result.data["cell"] and len(data["maps"]) == 9
    assert open(paths[3]).read() == result.code
    for name, other in _views(explorer, photo).items():  # every view's data is JSON
        assert json.loads(json.dumps(other.data, default=lambda v: v.tolist())) is not None, name


# ------------------------------------------------------------------------------------------- tour
def test_tour_walks_the_paper_on_the_image(explorer, photo):
    import fpn
    from app.tour import STEPS, TITLES, figure, heading, step_index, text
    from app.tour_facts import facts

    assert len(STEPS) == 8 and "Fig. 1" in STEPS[0].title and "Eq. (1)" in STEPS[4].title
    words = facts(explorer.registry, "fpn_tiny")  # the library's defaults (tests/test_tour_facts.py: other settings)
    assert "32² on P2" in text(3, words) and "512² on P6" in text(3, words)
    assert f"d = **{fpn.DEFAULTS['pyramid_channels']}**" in text(2, words)
    assert step_index(TITLES[3]) == 3 and step_index("99. nope") == len(STEPS) - 1 and step_index(None) == 0
    assert heading(0).startswith("### Step 1 of 8")
    for i, step in enumerate(STEPS):
        result = figure(explorer, i, photo, "fpn_tiny", 0.0)
        assert next(iter(result.images)) == step.image and result.image.ndim == 3, step.title
        assert result.data["step"] == TITLES[i] and "fpn.explore" in result.code and step.try_this


# ------------------------------------------------------------------------------------------- live tabs
def test_views_redraw_by_themselves_and_keep_their_endpoints(explorer):
    import gradio as gr

    from app.ui import build_ui

    demo = build_ui(explorer)
    buttons = [b for b in demo.blocks.values() if isinstance(b, gr.Button) and b.visible is True]
    assert not [b.value for b in buttons if str(b.value).startswith("Show")]  # no "Show ..." buttons
    by_name = {d.name: d for d in demo.fns.values()}
    # a new upload reaches the views through the page's router (app/tabs/input_row.py): events with no Python
    # function bump one tab's counter; each counter runs its tab's view on the upload widget
    upload = next(b for b in demo.blocks.values() if (getattr(b, "elem_id", None) or "") == "image-file")
    routed = [d for d in demo.fns.values() if (upload._id, "change") in [tuple(t) for t in d.targets]]
    assert {d.name for d in routed if d.fn is not None} == {"accept_image"}  # only the upload's own check calls Python
    counters = {o._id: o.elem_id for d in routed if d.fn is None for o in d.outputs}
    redrawn = {d.name: d for d in demo.fns.values()
               if d.targets and d.targets[0][0] in counters and d.targets[0][1] == "change" and d.fn is not None}
    for view in ("show_detections", "show_mask_proposals", "show_pyramid", "show_anchors", "show_roi_levels",
                 "show_compare", "show_step"):
        assert view in redrawn, f"{view} does not follow the image"
        assert redrawn[view].api_visibility == "private" and redrawn[view].inputs[0] is upload
    assert len({d.targets[0][0] for d in redrawn.values()}) == len(redrawn)  # one counter per tab
    assert {"pyramid_click", "anchors_click", "roi_click"} <= set(by_name)
    files = [b for b in demo.blocks.values() if isinstance(b, gr.File) and (b.elem_id or "").startswith("files-")]
    assert {f.elem_id for f in files} >= {"files-detect", "files-masks", "files-pyramid", "files-anchors",
                                           "files-roi", "files-compare", "files-tour"}


def test_the_page_routes_a_row_change_to_the_tab_shown():
    """The router's JavaScript, run in a JS engine when one is installed (node), else checked as text: the counter of
    the tab shown goes up by one, every other tab's stays (so its change event, and its request, never fire)."""
    import shutil
    import subprocess

    from app.tabs import TABS
    from app.tabs.input_row import FIRST_TAB, route_js

    assert TABS[0].ID == FIRST_TAB
    cases = [(None, FIRST_TAB, 3, 4), (None, "pyramid", 3, 3), ("pyramid", "pyramid", 0, 1), ("pyramid", "compare", 7, 7),
             ("compare", "compare", None, 1)]
    node = shutil.which("node")
    if node is None:
        assert route_js("compare") == '(n) => (window.fpnTab || "detections") === "compare" ? (n || 0) + 1 : n'
        pytest.skip("node is not installed: the router's text is checked, not run")
    for shown, tab, before, after in cases:
        script = (f"const window = {{fpnTab: {json.dumps(shown)}}}; "
                  f"console.log(JSON.stringify(({route_js(tab)})({json.dumps(before)})))")
        out = subprocess.run([node, "-e", script], capture_output=True, text=True, check=True).stdout.strip()
        assert json.loads(out) == after, (shown, tab, before)
