"""Anchors on the pyramid (Sec. 4.1): one anchor area per level, three aspect ratios.

P2..P6 carry anchors of area 32^2, 64^2, 128^2, 256^2, 512^2 with aspect ratios 1:2, 1:1, 2:1: 15 anchor shapes over the
pyramid, 3 per position. Single-scale variants (C4, C5, P2-only) put all five areas on their one map: 15 per position.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

FPN_ANCHOR_SIZES = {"p2": (32,), "p3": (64,), "p4": (128,), "p5": (256,), "p6": (512,)}
ASPECT_RATIOS = (0.5, 1.0, 2.0)
#: How an RPN map's anchor stride is found (PyramidAnchors): 2**k of its level, or padded size // grid size.
STRIDE_RULES = ("level", "padded_grid")


CELLS = ("torchvision", "detectron2")


def cell_anchors(sizes: tuple[float, ...], aspect_ratios: tuple[float, ...] = ASPECT_RATIOS,
                 cells: str = "torchvision") -> Tensor:
    """Zero-centred anchors [len(sizes) * len(aspect_ratios), 4] (x1, y1, x2, y2 pixels).

    Aspect ratio = height / width; each anchor keeps area size^2. cells="torchvision": float32 arithmetic, rounded to
    whole pixels, ordered ratio-major; "detectron2": Python floats, not rounded (+-22.63 x +-11.31 for 32 px at 1:2),
    ordered size-major (detectron2/modeling/anchor_generator.py, generate_cell_anchors): the order decides which
    RPN output channel belongs to which anchor on maps with several sizes (C4).
    """
    if cells not in CELLS:
        raise ValueError(f"anchor cells must be one of {CELLS}, got {cells!r}")
    if cells == "detectron2":
        out = []
        for size in sizes:
            for ratio in aspect_ratios:
                w = math.sqrt(size ** 2.0 / ratio)
                h = ratio * w
                out.append([-w / 2.0, -h / 2.0, w / 2.0, h / 2.0])
        return torch.tensor(out)
    scales = torch.as_tensor(sizes, dtype=torch.float32)
    ratios = torch.as_tensor(aspect_ratios, dtype=torch.float32)
    h_ratios = torch.sqrt(ratios)
    w_ratios = 1 / h_ratios
    ws = (w_ratios[:, None] * scales[None, :]).view(-1)
    hs = (h_ratios[:, None] * scales[None, :]).view(-1)
    return (torch.stack([-ws, -hs, ws, hs], dim=1) / 2).round()


class PyramidAnchors(nn.Module):
    """Anchors for every position of every level.

    Args:
        sizes: {level: anchor sizes (sqrt of area, pixels)}, e.g. FPN_ANCHOR_SIZES, or {"c4": (32, 64, 128, 256, 512)}.
        aspect_ratios: height / width ratios shared by all levels.

    forward(grid_sizes, image_size) -> {level: anchors [H_k * W_k * A_k, 4]} in resized-input pixels (x1, y1, x2, y2),
    ordered position-major (row, column) then anchor, the order of the RPN head's flattened outputs.
    The anchor at grid cell (i, j) is centred on (j * stride, i * stride); stride_rule says how the stride is found:
    "level", 2**k for map k (the paper's), or "padded_grid", padded image size // grid size (torchvision's rule: the
    same except for P6 when the padded size is an odd multiple of 32, e.g. 56 instead of 64 on a 224 px input; used
    for torchvision weights, to give its detections).
    cells: the zero-centred anchors' arithmetic and order ("torchvision" or "detectron2", see `cell_anchors`).
    """

    def __init__(self, sizes: dict[str, tuple[int, ...]], aspect_ratios: tuple[float, ...] = ASPECT_RATIOS,
                 stride_rule: str = "level", cells: str = "torchvision") -> None:
        super().__init__()
        if stride_rule not in STRIDE_RULES:
            raise ValueError(f"anchor stride rule must be one of {STRIDE_RULES}, got {stride_rule!r}")
        self.stride_rule = stride_rule
        self.sizes = {k: tuple(v) for k, v in sizes.items()}
        self.aspect_ratios = tuple(aspect_ratios)
        self.cells = cells
        self._cell = {k: cell_anchors(v, self.aspect_ratios, cells) for k, v in self.sizes.items()}

    def num_anchors_per_location(self) -> dict[str, int]:
        return {k: len(v) * len(self.aspect_ratios) for k, v in self.sizes.items()}

    def anchor_shapes(self, level: str) -> list[tuple[int, float]]:
        """(size, aspect ratio) of each anchor of a position of `level`, in the RPN head's channel order."""
        sizes = self.sizes[level]
        if self.cells == "detectron2":
            return [(int(s), float(r)) for s in sizes for r in self.aspect_ratios]
        return [(int(s), float(r)) for r in self.aspect_ratios for s in sizes]

    def size_of_each(self, grid_sizes: dict[str, tuple[int, int]]) -> Tensor:
        """Anchor size (sqrt of area, pixels) of every anchor, [sum_k H_k * W_k * A_k] int64, in forward's order."""
        out = []
        for level, (height, width) in grid_sizes.items():
            sizes = torch.as_tensor(self.sizes[level], dtype=torch.int64)
            if self.cells == "detectron2":  # size-major, like its cell_anchors
                per_position = sizes.repeat_interleave(len(self.aspect_ratios))
            else:  # ratio-major, like cell_anchors
                per_position = sizes.repeat(len(self.aspect_ratios))
            out.append(per_position.repeat(height * width))
        return torch.cat(out)

    def strides(self, grid_sizes: dict[str, tuple[int, int]], image_size: tuple[int, int]) -> dict[str, tuple[int, int]]:
        """(stride_y, stride_x) per level in pixels."""
        if self.stride_rule == "level":
            return {k: (2 ** int(k[1:]), 2 ** int(k[1:])) for k in grid_sizes}
        return {k: (image_size[0] // g[0], image_size[1] // g[1]) for k, g in grid_sizes.items()}

    def forward(
        self, grid_sizes: dict[str, tuple[int, int]], image_size: tuple[int, int], device: torch.device,
        dtype: torch.dtype = torch.float32,
    ) -> dict[str, Tensor]:
        anchors = {}
        for level, (stride_y, stride_x) in self.strides(grid_sizes, image_size).items():
            height, width = grid_sizes[level]
            shifts_x = torch.arange(0, width, dtype=torch.int32, device=device) * stride_x
            shifts_y = torch.arange(0, height, dtype=torch.int32, device=device) * stride_y
            shift_y, shift_x = torch.meshgrid(shifts_y, shifts_x, indexing="ij")
            shift_x, shift_y = shift_x.reshape(-1), shift_y.reshape(-1)
            shifts = torch.stack((shift_x, shift_y, shift_x, shift_y), dim=1)
            base = self._cell[level].to(device=device, dtype=dtype)
            anchors[level] = (shifts.view(-1, 1, 4) + base.view(1, -1, 4)).reshape(-1, 4)
        return anchors
