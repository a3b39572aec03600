"""Feature maps drawn cell by cell, large enough to read, with their true relative resolutions kept visible.

One scale factor (figure pixels per cell) is common to all maps, so finer maps are drawn larger, as they are. A coarse
map that would be too small to read (P6 of a 352 px input has 6x7 cells) is zoomed by a further integer factor and
says so "(x5)". Under every map a grey bar has its width at the common scale: the bars compare the true relative
resolutions whatever the zoom. Maps of cells at least `GRID_MIN_CELL` px wide get their stride grid drawn.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np

from .draw import BACKGROUND, BLACK, WHITE, blank, level_color, level_of, put_text, text_size
from .layout import Figure, Panel

CAPTION_SCALE = 0.42
LINE = text_size("Ag", CAPTION_SCALE)[1] + 3
GAP, MARGIN, BAR = 16, 6, 12
#: Figure pixels per cell from which a map's cell borders (its stride grid) are drawn.
GRID_MIN_CELL = 12
TITLE_COLOR = (80, 80, 80)


@dataclass
class MapPicture:
    """One map to draw: `picture` has one pixel per cell ([rows, cols, 3] uint8); `caption`: lines under its name."""

    name: str
    picture: np.ndarray
    stride: int
    caption: list[str] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return int(self.picture.shape[0])

    @property
    def cols(self) -> int:
        return int(self.picture.shape[1])


@dataclass
class MapRow:
    """A titled row of maps; `note` is shown instead when there are none."""

    title: str
    maps: list[MapPicture]
    note: str = ""


def zoom_for(cols: int, factor: int, min_panel: int) -> int:
    """The integer zoom that makes a map of `cols` cells at least `min_panel` px wide at `factor` px per cell."""
    return max(1, math.ceil(min_panel / max(cols * factor, 1)))


def zoom_text(zoom: int) -> str:
    return f"(x{zoom}) zoomed" if zoom > 1 else ""


def _caption_width(m: MapPicture) -> int:
    lines = [m.name.upper() + "  stride 64", zoom_text(8), *m.caption]
    return max(text_size(t, CAPTION_SCALE)[0] for t in lines) + 16


def _column_widths(rows: Sequence[MapRow], factor: int, min_panel: int) -> dict[int, int]:
    widths: dict[int, int] = {}
    for row in rows:
        for m in row.maps:
            k = level_of(m.name)
            w = max(m.cols * factor * zoom_for(m.cols, factor, min_panel), _caption_width(m))
            widths[k] = max(widths.get(k, 0), w)
    return dict(sorted(widths.items()))


def common_factor(rows: Sequence[MapRow], max_width: int, min_panel: int, max_factor: int = 8) -> int:
    """The largest px-per-cell factor (<= max_factor) whose figure fits in max_width; 1 if none does."""
    for f in range(max_factor, 1, -1):
        widths = _column_widths(rows, f, min_panel)
        if sum(widths.values()) + GAP * (len(widths) - 1) + 2 * MARGIN <= max_width:
            return f
    return 1


def _draw_grid(img: np.ndarray, p: Panel) -> None:
    """Darken the cell borders of panel p (its stride grid)."""
    region = img[p.y: p.y + p.height, p.x: p.x + p.width]
    for i in range(1, p.rows):
        region[i * p.cell] = (region[i * p.cell] * 0.6).astype(np.uint8)
    for j in range(1, p.cols):
        region[:, j * p.cell] = (region[:, j * p.cell] * 0.6).astype(np.uint8)


def _rect(img: np.ndarray, x1: int, y1: int, x2: int, y2: int, color: tuple[int, int, int]) -> None:
    """A 1 px outline with corners (x1, y1) and (x2, y2) inclusive, clipped to img."""
    h, w = img.shape[:2]
    xa, xb, ya, yb = max(x1, 0), min(x2, w - 1), max(y1, 0), min(y2, h - 1)
    for y in (y1, y2):
        if 0 <= y < h:
            img[y, xa: xb + 1] = color
    for x in (x1, x2):
        if 0 <= x < w:
            img[ya: yb + 1, x] = color


def mark_cell(img: np.ndarray, p: Panel, row: int, col: int) -> None:
    """Outline one cell of a panel (white inside black, drawn just outside the cell: its colour stays readable)."""
    x1, y1, x2, y2 = p.cell_rect(row, col)
    _rect(img, x1 - 1, y1 - 1, x2, y2, WHITE)
    _rect(img, x1 - 2, y1 - 2, x2 + 1, y2 + 1, BLACK)


def map_grid(rows: Sequence[MapRow], max_width: int = 1100, min_panel: int = 120, max_factor: int = 8,
             highlight: Optional[str] = None, mark: Optional[Sequence[float]] = None,
             footer: Sequence[np.ndarray] = ()) -> Figure:
    """Rows of maps in columns aligned by level (C_k above P_k), drawn at one common px-per-cell factor (the largest
    that fits `max_width`, up to `max_factor`), coarse maps zoomed to at least `min_panel` px.

    highlight: a map framed in its level colour. mark: an input pixel (x, y): the cell containing it is outlined on
    every map (the same place of the image at every resolution). footer: images (legends) stacked under the maps.
    Returns the figure and each map's `Panel` (figure pixel <-> cell).
    """
    factor = common_factor(rows, max_width, min_panel, max_factor)
    widths = _column_widths(rows, factor, min_panel)
    xs, x = {}, MARGIN
    for k, w in widths.items():
        xs[k], x = x, x + w + GAP
    width = max(x - GAP + MARGIN, max([f.shape[1] + 2 * MARGIN for f in footer] + [320]))
    n_caption = 2 + max([len(m.caption) for r in rows for m in r.maps] + [0])
    heights = []
    for row in rows:
        maps_h = max([m.rows * factor * zoom_for(m.cols, factor, min_panel) for m in row.maps] + [0])
        heights.append(LINE + 4 + (n_caption * LINE + maps_h + BAR + 4 if row.maps else LINE + 6))
    height = sum(heights) + 10 * len(rows) + sum(f.shape[0] + 6 for f in footer) + MARGIN
    img = blank(height, width, BACKGROUND)
    panels: list[Panel] = []
    y = MARGIN
    for row, row_h in zip(rows, heights):
        put_text(img, row.title, (MARGIN, y), TITLE_COLOR, 0.45)
        top = y + LINE + 4
        if not row.maps:
            put_text(img, row.note, (MARGIN + 8, top), (60, 60, 60), CAPTION_SCALE)
        for m in row.maps:
            k, zoom = level_of(m.name), zoom_for(m.cols, factor, min_panel)
            x0, cell = xs[k], factor * zoom
            img[top + 4: top + 14, x0: x0 + 10] = level_color(m.name)
            put_text(img, f"{m.name.upper()}  stride {m.stride}", (x0 + 12, top - 1), BLACK, CAPTION_SCALE, pad=1)
            for i, line in enumerate([*m.caption, zoom_text(zoom)]):
                if line:
                    put_text(img, line, (x0, top + LINE * (i + 1)), (50, 50, 50), CAPTION_SCALE, pad=1)
            py = top + n_caption * LINE + 2
            p = Panel(m.name, x0, py, cell, m.rows, m.cols, m.stride, zoom)
            img[py: py + p.height, x0: x0 + p.width] = np.repeat(np.repeat(m.picture, cell, 0), cell, 1)
            if cell >= GRID_MIN_CELL:
                _draw_grid(img, p)
            bar_y = py + p.height + 4
            img[bar_y: bar_y + 4, x0: x0 + m.cols * factor] = (110, 110, 110)
            if m.name == highlight:
                _rect(img, x0 - 3, py - 3, x0 + p.width + 2, py + p.height + 2, level_color(m.name))
                _rect(img, x0 - 4, py - 4, x0 + p.width + 3, py + p.height + 3, level_color(m.name))
            if mark is not None:
                mark_cell(img, p, *p.cell_of_input(float(mark[0]), float(mark[1])))
            panels.append(p)
        y += row_h + 10
    for f in footer:
        img[y: y + f.shape[0], MARGIN: MARGIN + f.shape[1]] = f
        y += f.shape[0] + 6
    return Figure(img, panels)


def scale_note(factor_word: str = "one common scale") -> str:
    """The legend line that explains the grey bars and the zoom marks."""
    return (f"Grey bar under each map: its width at {factor_word} (the true relative resolutions). "
            "(xN): drawn N times larger to be readable.")


def legend_line(text: str, width: int) -> np.ndarray:
    """One line of legend text on white, `width` px wide (at least the text's width)."""
    img = blank(LINE + 2, max(width, text_size(text, CAPTION_SCALE)[0] + 8), WHITE)
    put_text(img, text, (2, 1), BLACK, CAPTION_SCALE)
    return img
