"""The guided tour as slides: one self-contained HTML file (the figures embedded as PNG, no script or font fetched from
anywhere) that a teacher can project offline. A title slide (the image, the model, what it knows), then the tour's
eight steps, each with its figure drawn on this image, its paragraph with the loaded model's numbers, the numbers the
figure shows and its "try this"; arrow keys / Page Up / Page Down move between slides.

Gradio-free: `deck(explorer, path, model, score)` -> HTML text; `write_deck(...)` -> the file's path.
"""
from __future__ import annotations

import base64
import html
import io
import os
import re
import tempfile
from typing import Any, Callable, Optional

import numpy as np
from PIL import Image

from .model_card import card
from .tour import STEPS, TITLES, figure, text as step_text
from .tour_facts import facts

Progress = Optional[Callable[[float, str], None]]

STYLE = """
html { scroll-snap-type: y mandatory; }
body { margin: 0; font-family: system-ui, sans-serif; background: #fff; color: #111; }
section { min-height: 100vh; box-sizing: border-box; padding: 2.5vh 4vw; scroll-snap-align: start;
          display: flex; flex-direction: column; border-bottom: 1px solid #ccc; }
h1 { font-size: 4.2vh; margin: 0 0 1vh 0; } h2 { font-size: 3.4vh; margin: 0 0 1vh 0; }
p, li, dd, dt { font-size: 2.3vh; line-height: 1.35; margin: 0.4vh 0; }
.row { display: flex; gap: 2vw; flex: 1; min-height: 0; }
.figure { flex: 3; display: flex; align-items: flex-start; justify-content: center; min-height: 0; }
.figure img { max-width: 100%; max-height: 70vh; object-fit: contain; image-rendering: auto; }
.side { flex: 2; overflow: auto; }
.numbers { display: grid; grid-template-columns: auto 1fr; gap: 0.2vh 1vw; margin-top: 1vh; }
.numbers dt { font-weight: 600; } .numbers dd { margin: 0; }
.try { background: #f3f3f3; padding: 1vh 1vw; border-radius: 6px; }
.footer { font-size: 1.6vh; color: #555; margin-top: 1vh; }
"""

#: Arrow keys and Page Up / Down jump a whole slide (the sections snap, so scrolling works too).
SCRIPT = """
document.addEventListener('keydown', (e) => {
  const s = [...document.querySelectorAll('section')];
  const i = s.findIndex((x) => x.getBoundingClientRect().top > -window.innerHeight / 2);
  const next = ['ArrowDown', 'ArrowRight', 'PageDown', ' '].includes(e.key) ? 1
             : ['ArrowUp', 'ArrowLeft', 'PageUp'].includes(e.key) ? -1 : 0;
  if (next && s[i + next]) { e.preventDefault(); s[i + next].scrollIntoView(); }
});
"""


def png_uri(image: np.ndarray) -> str:
    """An RGB array as a data: URI (PNG, lossless: the maps' colours are data)."""
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buffer, format="PNG", optimize=False)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def markdown(text: str) -> str:
    """The little Markdown the tour's texts use (paragraphs, **bold**, *italic*, `code`) as HTML, escaped first."""
    out = []
    for para in [p for p in text.split("\n\n") if p.strip()]:
        h = html.escape(para.strip(), quote=False)
        h = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", h)
        h = re.sub(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])", r"<em>\1</em>", h)
        h = re.sub(r"`(.+?)`", r"<code>\1</code>", h)
        out.append(f"<p>{h}</p>")
    return "\n".join(out)


def numbers(data: dict[str, Any], limit: int = 10) -> str:
    """The scalar numbers of a view's data (model, sizes, counts, seconds, ...) as a definition list."""
    rows = []
    for key, value in data.items():
        if key == "step" or len(rows) >= limit:
            continue
        if isinstance(value, float):
            value = f"{value:.3g}"
        elif isinstance(value, (list, tuple)) and len(value) <= 4 and all(isinstance(v, (int, float)) for v in value):
            value = " x ".join(f"{v:g}" for v in value)
        elif not isinstance(value, (int, str)) or (isinstance(value, str) and len(value) > 80):
            continue
        rows.append(f"<dt>{html.escape(key.replace('_', ' '))}</dt><dd>{html.escape(str(value))}</dd>")
    return f"<dl class='numbers'>{''.join(rows)}</dl>" if rows else ""


def deck(explorer: Any, path: str, model: Optional[str], score: float = 0.5, progress: Progress = None) -> str:
    """The slides (HTML) of the tour on image `path` with `model` (None: the first detection model)."""
    loaded = explorer.load(path)
    name = model or explorer.registry.names("detection")[0]
    words = facts(explorer.registry, name)
    title = os.path.basename(path)
    h, w = loaded.array.shape[:2]
    slides = [f"<section><h1>Feature Pyramid Networks, step by step</h1>"
              f"<div class='row'><div class='figure'><img alt='the image' src='{png_uri(loaded.array)}'></div>"
              f"<div class='side'><p><strong>Image</strong>: {html.escape(title)}, {w}x{h} px. "
              f"<strong>Score threshold</strong>: {float(score):.2f}.</p>"
              f"{markdown(card(explorer.registry.entry(name)))}</div></div>"
              "<p class='footer'>Lin et al., Feature Pyramid Networks for Object Detection, CVPR 2017. "
              "Made with FPN Explorer.</p></section>"]
    for i, step in enumerate(STEPS):
        if progress:
            progress(i / len(STEPS), f"slide {i + 1} of {len(STEPS)}: {step.title}")
        result = figure(explorer, i, path, name, score)
        slides.append(
            f"<section><h2>{html.escape(TITLES[i])}</h2><div class='row'>"
            f"<div class='figure'><img alt='{html.escape(step.title)}' src='{png_uri(result.image)}'></div>"
            f"<div class='side'>{markdown(step_text(i, words))}{numbers(result.data)}"
            f"<div class='try'>{markdown('**Try this** in the app: ' + step.try_this)}</div></div></div>"
            f"<p class='footer'>Step {i + 1} of {len(STEPS)} &middot; {html.escape(title)} &middot; "
            f"{html.escape(name)}</p></section>")
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>FPN, step by step: {html.escape(title)}</title><style>{STYLE}</style></head><body>"
            + "\n".join(slides) + f"<script>{SCRIPT}</script></body></html>")


def write_deck(explorer: Any, path: str, model: Optional[str], score: float = 0.5, progress: Progress = None) -> str:
    """The deck written to a new temporary file `fpn-tour-<image>.html`; returns its path."""
    explorer.load(path)  # a clear message when there is no image yet
    stem = re.sub(r"[^\w.-]+", "_", os.path.splitext(os.path.basename(path))[0])[:40] or "image"
    folder = tempfile.mkdtemp(prefix="fpn-slides-")
    out = os.path.join(folder, f"fpn-tour-{stem}.html")
    with open(out, "w", encoding="utf-8") as f:
        f.write(deck(explorer, path, model, score, progress))
    return out
