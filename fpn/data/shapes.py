"""PyramidShapes' ten shape classes: unit polygons (with holes), random rotation and stretch, exact rasterisation.

A shape is drawn without anti-aliasing, so its mask is exactly the set of painted pixels (its ground truth).
"""
from __future__ import annotations

import cv2
import numpy as np

CLASS_NAMES: tuple[str, ...] = (
    "ellipse", "rectangle", "triangle", "star", "hexagon",
    "ring", "cross", "heart", "arrow", "crescent",
)
MAX_EXTENT = 450  # pixels, longest side of an object's box


def _circle(n: int = 48, r: float = 1.0, cx: float = 0.0, cy: float = 0.0) -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.stack([cx + r * np.cos(t), cy + r * np.sin(t)], 1)


def _regular(k: int, phase: float = -np.pi / 2) -> np.ndarray:
    t = phase + np.arange(k) * 2 * np.pi / k
    return np.stack([np.cos(t), np.sin(t)], 1)


def _star() -> np.ndarray:
    t = -np.pi / 2 + np.arange(10) * np.pi / 5
    r = np.where(np.arange(10) % 2 == 0, 1.0, 0.45)
    return np.stack([r * np.cos(t), r * np.sin(t)], 1)


def _heart() -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, 64, endpoint=False)
    x = 16 * np.sin(t) ** 3
    y = -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
    pts = np.stack([x, y], 1)
    pts -= pts.mean(0)
    return pts / np.abs(pts).max()


_CROSS = np.array([[-0.3, -1], [0.3, -1], [0.3, -0.3], [1, -0.3], [1, 0.3], [0.3, 0.3], [0.3, 1], [-0.3, 1],
                   [-0.3, 0.3], [-1, 0.3], [-1, -0.3], [-0.3, -0.3]], dtype=np.float64)
_ARROW = np.array([[-1, -0.17], [0.25, -0.17], [0.25, -0.5], [1, 0], [0.25, 0.5], [0.25, 0.17], [-1, 0.17]],
                  dtype=np.float64)


def _shape_polygons(cls: int, rng: np.random.Generator) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(filled polygons, hole polygons) of class ``cls`` in unit coordinates around the origin."""
    name = CLASS_NAMES[cls]
    if name == "ellipse":
        return [_circle(64)], []
    if name == "rectangle":
        return [np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], dtype=np.float64)], []
    if name == "triangle":
        return [_regular(3)], []
    if name == "star":
        return [_star()], []
    if name == "hexagon":
        return [_regular(6, 0.0)], []
    if name == "ring":
        return [_circle(64)], [_circle(64, float(rng.uniform(0.45, 0.65)))]
    if name == "cross":
        return [_CROSS.copy()], []
    if name == "heart":
        return [_heart()], []
    if name == "arrow":
        return [_ARROW.copy()], []
    if name == "crescent":
        return [_circle(64)], [_circle(64, 0.85, cx=float(rng.uniform(0.35, 0.55)))]
    raise ValueError(name)


# Stretch (x scale / y scale) allowed per class: ellipses/rectangles/hexagons also give the 1:2 and 2:1 boxes.
_STRETCH = {"ellipse": (0.5, 2.0), "rectangle": (0.5, 2.0), "hexagon": (0.7, 1.4), "arrow": (0.8, 1.5)}


def _rasterize(polys: list[np.ndarray], holes: list[np.ndarray], h: int, w: int) -> np.ndarray:
    """Binary mask [h, w] (uint8 0/1) of polygons given in local pixel coordinates.  No anti-aliasing,
    so the mask is exactly the set of painted pixels."""
    m = np.zeros((h, w), np.uint8)
    cv2.fillPoly(m, [np.round(p).astype(np.int32) for p in polys], 1, lineType=cv2.LINE_8)
    if holes:
        cv2.fillPoly(m, [np.round(p).astype(np.int32) for p in holes], 0, lineType=cv2.LINE_8)
    return m


def make_shape(rng: np.random.Generator, cls: int, sqrt_area: float, img_h: int, img_w: int):
    """Local mask of a shape with about ``sqrt_area ** 2`` pixels, rotated and stretched."""
    polys, holes = _shape_polygons(cls, rng)
    lo, hi = _STRETCH.get(CLASS_NAMES[cls], (0.85, 1.2))
    stretch = np.exp(rng.uniform(np.log(lo), np.log(hi)))
    theta = rng.uniform(0, 2 * np.pi)
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    lin = rot @ np.diag([np.sqrt(stretch), 1 / np.sqrt(stretch)])
    polys = [p @ lin.T for p in polys]
    holes = [p @ lin.T for p in holes]
    unit_area = sum(cv2.contourArea(p.astype(np.float32)) for p in polys) - sum(
        cv2.contourArea(p.astype(np.float32)) for p in holes)
    scale = sqrt_area / np.sqrt(max(unit_area, 1e-6))
    allpts = np.concatenate(polys)
    extent = float((allpts.max(0) - allpts.min(0)).max())
    max_extent = min(MAX_EXTENT, 0.9 * min(img_h, img_w))
    scale = min(scale, max_extent / extent)
    polys = [p * scale for p in polys]
    holes = [p * scale for p in holes]
    allpts = np.concatenate(polys)
    lo_xy = np.floor(allpts.min(0)) - 1
    polys = [p - lo_xy for p in polys]
    holes = [p - lo_xy for p in holes]
    w, h = (np.ceil(np.concatenate(polys).max(0)) + 2).astype(int)
    return _rasterize(polys, holes, int(h), int(w))
