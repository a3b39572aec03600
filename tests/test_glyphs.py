"""Typography in the figures (fpn/viz/glyphs.py): "²" and "±", which OpenCV's Hershey fonts lack, drawn as glyphs
and checked at pixel level; the legends' white items outlined, so the receptive field's key matches its picture;
Fig. 1(a)'s image scales kept under the panel's title (the tour's step 1)."""
import numpy as np

import fpn.viz.draw as D
from fpn.viz.glyphs import runs


def ink(img: np.ndarray) -> np.ndarray:
    return img.min(axis=2) < 128  # dark pixels on white


def drawn(text: str, scale: float = 0.9) -> np.ndarray:
    w, h = D.text_size(text, scale)
    img = np.full((h + 8, w + 8, 3), 255, np.uint8)
    D.put_text(img, text, (0, 0), scale=scale)
    return img


def test_runs_split_out_the_glyphs():
    assert runs("64² px, ±3.1") == ["64", "²", " px, ", "±", "3.1"] and runs("plain") == ["plain"]


def test_the_square_is_a_raised_small_two():
    plain, squared = ink(drawn("64")), ink(drawn("64²"))
    extra = squared[:, plain.shape[1] - 8:]  # the columns right of "64": the small 2
    rows = np.nonzero(extra.any(axis=1))[0]
    digit_rows = np.nonzero(plain.any(axis=1))[0]
    assert len(rows) and rows.max() < (digit_rows.min() + digit_rows.max()) / 2 + 2  # in the upper half: raised
    assert len(rows) < 0.8 * len(digit_rows)  # and smaller than a digit
    assert D.text_size("64²")[0] < D.text_size("64^2")[0]


def test_plus_minus_has_its_bar():
    img = ink(drawn("±3"))
    plus = ink(drawn("+3"))
    assert img.sum() > plus.sum()  # the bar under the plus
    w = D.text_size("±")[0]
    bottom = np.nonzero(img[:, :w].any(axis=1))[0].max()
    assert img[bottom, 1:w - 2].mean() > 0.6  # a horizontal bar across the glyph's width


def test_text_without_glyphs_is_drawn_as_before():
    import cv2

    img = np.full((30, 120, 3), 255, np.uint8)
    D.put_text(img, "P4: 128 px", (0, 0))
    ref = np.full((30, 120, 3), 255, np.uint8)
    w, h = D.text_size("P4: 128 px")
    cv2.putText(ref, "P4: 128 px", (2, 2 + h - 3), D.FONT, 0.45, D.BLACK, 1, cv2.LINE_AA)
    assert np.array_equal(img, ref)


def test_white_legend_items_are_outlined():
    key = D.legend([("theoretical RF", D.WHITE), ("ERF", (200, 0, 200))])
    swatch = key[4:17, 3:16]
    assert ink(swatch).any()  # the white square's outline shows on the white legend
    assert (key[8:13, 7:12] == 255).all()  # and it is white inside


def test_fig1_a_thumbnails_stay_under_the_title():
    """Fig. 1(a)'s three image scales shrink to fit under "(a) Featurized image pyramid" (a square image reached it)."""
    from types import SimpleNamespace

    import torch

    from fpn.viz.designs import PANEL_H, TITLE_BOTTOM, designs_view

    maps = {k: torch.rand(8, s, s) for k, s in (("c2", 32), ("c3", 16), ("c4", 8), ("c5", 4))}
    ex = SimpleNamespace(image=np.full((256, 256, 3), 200, np.uint8), bottom_up=maps,
                         pyramid={k.replace("c", "p"): v for k, v in maps.items()},
                         strides={"c2": 4, "c3": 8, "c4": 16, "c5": 32, "p2": 4, "p3": 8, "p4": 16, "p5": 32})
    fig = designs_view(ex)
    panel = fig[:PANEL_H, :250]  # panel (a)'s left part: the thumbnails' frames are grey (120, 120, 120)
    frame_rows = np.nonzero((panel == 120).all(axis=2).sum(axis=1) >= 30)[0]  # a frame's top or bottom edge
    assert len(frame_rows) and frame_rows.min() >= TITLE_BOTTOM - 2
