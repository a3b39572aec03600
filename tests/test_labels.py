"""Box labels (fpn/viz/labels.py): sized for the picture as the app shows it, never overlapping."""
import numpy as np

import fpn.viz as V
from fpn.viz.draw import text_size


def overlaps(a, b) -> bool:
    return not (a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1])


def test_label_scale_grows_with_pictures_the_app_shrinks():
    assert V.label_scale((512, 512, 3)) == 0.45 and V.label_scale((480, 640)) == 0.45
    assert abs(V.label_scale((900, 1200, 3)) - 0.45 * 1200 / 640) < 1e-9
    # as displayed (shrunk to 640 px), the text stays >= 12 px high
    for side in (512, 1200, 2048):
        h = text_size("ring 0.97", V.label_scale((side, side)))[1]
        assert h * min(1.0, 640 / side) >= 12, side


def test_labels_of_stacked_boxes_do_not_overlap():
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 400, (40, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(20, 120, (40, 2))], axis=1)
    sizes = [(70, 17)] * len(boxes)
    spots = V.place_labels(boxes, sizes, (512, 512))
    rects = [(x, y, x + w, y + h) for (x, y), (w, h) in zip(spots, sizes)]
    clashes = sum(overlaps(a, b) for i, a in enumerate(rects) for b in rects[i + 1:])
    assert clashes == 0
    assert all(0 <= x <= 512 - 70 and 0 <= y <= 512 - 17 for x, y in spots)
    assert spots[0] == (int(round(boxes[0][0])), int(round(boxes[0][1])) - 17)  # the first: above its box


def test_a_large_upload_gets_larger_labels():
    small = V.draw_detections(np.zeros((400, 400, 3), np.uint8), [[50, 50, 200, 200]], [0.9], [1], ["bg", "ring"])
    large = V.draw_detections(np.zeros((1200, 1200, 3), np.uint8), [[150, 150, 600, 600]], [0.9], [1],
                              ["bg", "ring"])
    assert large.shape[0] - 1200 > small.shape[0] - 400  # the title grows too


def test_numbers_per_level_charts_fit_the_page_at_1_to_1():
    """The charts the app shows are drawn within a view's width (app.layout.VIEW_PX, 910 px at 1280x800), so their
    text is not shrunk (two per row were 2000-2400 px wide: 5 px text as shown)."""
    from app.layout import VIEW_PX

    metrics = {f"model {i}": {"per_level": {"proposal_AR@1000": {f"P{k}": 10.0 * k for k in range(2, 7)},
                                            "bbox_AP": {f"P{k}": 5.0 * k for k in range(2, 6)}},
                              "bbox": {"AP_s": 1.0, "AP_m": 2.0, "AP_l": 3.0},
                              "proposals": {"AR_s@1000": 1.0, "AR_m@1000": 2.0, "AR_l@1000": 3.0}}
               for i in range(6)}
    one = V.level_metrics_view(metrics, columns=1)
    assert one.shape[1] <= VIEW_PX < V.level_metrics_view(metrics).shape[1]
    recall = {f"model {i}": {"proposals": {"P2": 0.5, "P3": 0.2}, "detections": {"P2": 0.4}} for i in range(6)}
    assert V.image_recall_view(recall, columns=1).shape[1] <= VIEW_PX


def test_no_text_is_drawn_under_the_minimum():
    """put_text raises a smaller scale to MIN_TEXT_SCALE: what a figure's text measures and what it draws agree."""
    assert text_size("17.3", 0.3) == text_size("17.3", V.MIN_TEXT_SCALE)
    assert text_size("Ag", 0.3)[1] == V.MIN_TEXT_PX >= 14
    small, floor = np.full((30, 80, 3), 255, np.uint8), np.full((30, 80, 3), 255, np.uint8)
    V.draw.put_text(small, "17.3", (0, 0), scale=0.3)
    V.draw.put_text(floor, "17.3", (0, 0), scale=V.MIN_TEXT_SCALE)
    assert (small == floor).all()


def test_value_labels_of_grouped_bars_do_not_overlap():
    """Six models' bars rising from bar to bar (each label just above its bar would touch the next one's): every label
    keeps its own place, so the chart has as many separate dark blobs above the bars as there are bars."""
    import cv2

    values = {f"m{i}": {"P6": 50.0 + 10 * i} for i in range(6)}
    img = V.grouped_bars(values, "")
    from fpn.viz.level_metrics import PLOT_HEIGHT, PLOT_TOP, bar_span
    top = img[: PLOT_TOP + PLOT_HEIGHT - 75, bar_span(0, 0, 6)[0]:]  # above the lowest bar, right of the y axis
    dark = (top.max(axis=2) < 100).astype(np.uint8)
    spread = cv2.dilate(dark, np.ones((1, 4), np.uint8))  # a label's characters join; two labels stay apart
    count, _ = cv2.connectedComponents(spread)
    assert count - 1 == 6, count - 1
