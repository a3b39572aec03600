"""The tour as a slide deck (app/slides.py): one self-contained HTML file, a title slide and the 8 steps, each with
its figure embedded as PNG, its paragraph with the loaded model's numbers and the view's numbers."""
import base64
import io
import re

import pytest
from PIL import Image

from app.errors import AppError
from app.slides import deck, markdown, write_deck
from app.tour import STEPS
from test_app import CLASSES, PHOTO_SIZE, ckdir, explorer, photo  # noqa: F401 - pytest fixtures


def test_the_deck_holds_the_eight_steps_with_their_figures_and_numbers(explorer, photo, tmp_path):
    path = write_deck(explorer, photo, "fpn_tiny", 0.0)
    page = open(path, encoding="utf-8").read()
    assert path.endswith("fpn-tour-photo.html")
    sections = re.findall(r"<section>(.*?)</section>", page, flags=re.S)
    assert len(sections) == 1 + len(STEPS)
    for i, (section, step) in enumerate(zip(sections[1:], STEPS)):
        assert f"{i + 1}. {step.title}" in section and "Try this" in section
        uri = re.search(r"src='data:image/png;base64,([^']+)'", section).group(1)
        assert Image.open(io.BytesIO(base64.b64decode(uri))).size[0] > 50  # a real picture, embedded
    assert "d = <strong>256</strong>" in sections[3] and "<strong>7x7</strong>" in sections[6]  # the model's numbers
    assert "<dt>model</dt><dd>fpn_tiny</dd>" in sections[7]  # the view's numbers
    assert f"{PHOTO_SIZE[1]}x{PHOTO_SIZE[0]} px" in sections[0] and "fpn_tiny" in sections[0]
    assert not re.search(r"(src|href)=['\"]?https?:", page)  # nothing fetched: it works offline


def test_markdown_escapes_and_formats():
    assert markdown("a **b** `c` <x>\n\nd") == "<p>a <strong>b</strong> <code>c</code> &lt;x&gt;</p>\n<p>d</p>"


def test_no_image_says_so(explorer):
    with pytest.raises(AppError, match="No image yet"):
        deck(explorer, None, "fpn_tiny")
