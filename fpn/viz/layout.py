"""Where each feature map lies in a drawn figure, so that a pixel of the figure maps back to a map cell.

A figure function that draws maps cell by cell (nearest neighbour) returns a `Figure`: the RGB image and one `Panel`
per map. `Figure.locate(x, y)` inverts the drawing: figure pixel -> (panel, row, column).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np


@dataclass(frozen=True)
class Panel:
    """One map drawn in a figure: its cells are `cell` x `cell` figure pixels, the top-left cell at (x, y).

    name: the map ("p4", "c3"); rows, cols: its grid size; stride: input pixels per cell (cell (r, c) is centred on
    input pixel (c * stride, r * stride), as the anchors are); zoom: how many times larger than the figure's common
    scale this map is drawn (1 = to scale with the others).
    """

    name: str
    x: int
    y: int
    cell: int
    rows: int
    cols: int
    stride: int
    zoom: int = 1

    @property
    def width(self) -> int:
        return self.cols * self.cell

    @property
    def height(self) -> int:
        return self.rows * self.cell

    def contains(self, x: float, y: float) -> bool:
        return self.x <= x < self.x + self.width and self.y <= y < self.y + self.height

    def cell_at(self, x: float, y: float) -> tuple[int, int]:
        """(row, column) of the cell under figure pixel (x, y) (clamped to the grid)."""
        r = int((y - self.y) // self.cell)
        c = int((x - self.x) // self.cell)
        return min(max(r, 0), self.rows - 1), min(max(c, 0), self.cols - 1)

    def cell_rect(self, row: int, col: int) -> tuple[int, int, int, int]:
        """(x1, y1, x2, y2) figure pixels of a cell (x2, y2 exclusive)."""
        x1, y1 = self.x + col * self.cell, self.y + row * self.cell
        return x1, y1, x1 + self.cell, y1 + self.cell

    def cell_of_input(self, x: float, y: float) -> tuple[int, int]:
        """(row, column) of the cell whose centre is nearest to input pixel (x, y) (the anchors' rule)."""
        return (int(np.clip(round(y / self.stride), 0, self.rows - 1)),
                int(np.clip(round(x / self.stride), 0, self.cols - 1)))


@dataclass
class Figure:
    """A drawn figure ([H, W, 3] uint8 RGB) and where its maps are."""

    image: np.ndarray
    panels: list[Panel] = field(default_factory=list)

    def panel(self, name: str) -> Optional[Panel]:
        return next((p for p in self.panels if p.name == name), None)

    def locate(self, x: float, y: float) -> Optional[tuple[Panel, int, int]]:
        """(panel, row, column) under figure pixel (x, y), or None between panels."""
        for p in self.panels:
            if p.contains(x, y):
                return (p, *p.cell_at(x, y))
        return None


def input_box(stride: int, row: int, col: int, height: int, width: int) -> tuple[int, int, int, int]:
    """The stride x stride input patch centred on cell (row, col): (x1, y1, x2, y2) pixels of an input of
    height x width, clipped to it."""
    half = stride / 2
    cx, cy = col * stride, row * stride
    return (int(max(cx - half, 0)), int(max(cy - half, 0)), int(min(cx + half, width)), int(min(cy + half, height)))
