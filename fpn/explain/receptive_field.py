"""Receptive fields of one cell of C2..C5 or P2..P6: theoretical (from the architecture) and effective (from gradients).

Theoretical receptive field (TRF): the input pixels that can change the cell's activation at all, as a bounding box.
It is computed from the layers' geometry only (kernel, stride, padding, dilation of every conv and pool):

    bottom-up  C_k: cell i sees the pixels [lo_k + i * 2**k, hi_k + i * 2**k] per axis, walking conv1, the max-pool and
               the main path of every residual block (the 1x1 shortcut sees a subset, union taken anyway); for the
               torchvision ResNets lo_k = -hi_k, so the field is centred on pixel i * 2**k (as the anchors are).
    pyramid    M_k(i) = C_k(i) [lateral 1x1] U M_{k+1}(floor(i * H_{k+1} / H_k)) [nearest-neighbour up-sampling];
               P_k(i) = U over the 3x3 output conv's taps t of M_k(i + t) (taps on the zero padding add nothing);
               P6(i) = P5(2 i) (stride-2 subsampling). The bottom_up / no_lateral ablations drop the terms they lack.
    So a P_k cell sees C_k's field and, through the top-down pathway, the (much larger) fields of C_{k+1}..C5: P2
    reaches as far as C5 does. Boxes are bounding boxes of these unions, clipped to the padded network input.

Effective receptive field (ERF, Luo et al., NeurIPS 2016): |d a / d x| where a = the sum over channels of the cell's
activation (a gradient of 1 on every channel of that cell, 0 elsewhere) and x the network input; the magnitude is
summed over the three colour channels. One backward pass; zero outside the TRF, typically concentrated near its centre.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

import torch
from torch import Tensor, nn
from torch.nn.modules.utils import _pair

from ..modeling.anchors import cell_anchors
from ..modeling.bottom_up import STAGE_OF
from ..modeling.detector import FasterRCNN
from ..images import as_image_tensor, unnormalize

__all__ = ["ReceptiveField", "receptive_field", "receptive_field_levels", "theoretical_receptive_field", "RF_LEVELS",
           "bottom_up_spans"]

#: Every map whose cells have a receptive field here, fine to coarse: the bottom-up stages, then the pyramid.
RF_LEVELS = ("c2", "c3", "c4", "c5", "p2", "p3", "p4", "p5", "p6")
#: Fraction of the ERF's mass that `ReceptiveField.effective_size` encloses, by default.
ERF_MASS = 0.9


@dataclass(frozen=True)
class Span:
    """One axis of a map's receptive field: cell i sees input pixels lo + i * jump .. hi + i * jump (inclusive)."""

    lo: int
    hi: int
    jump: int

    @property
    def size(self) -> int:
        return self.hi - self.lo + 1

    def through(self, layer: nn.Module, axis: int) -> "Span":
        """The span after a conv / pool layer: output o reads inputs o * stride - padding + dilation * t, t < kernel."""
        k, s = _pair(layer.kernel_size)[axis], _pair(layer.stride)[axis]
        p, d = _pair(layer.padding)[axis], _pair(getattr(layer, "dilation", 1))[axis]
        return Span(self.lo - p * self.jump, self.hi + (d * (k - 1) - p) * self.jump, self.jump * s)

    def union(self, other: "Span") -> "Span":
        return Span(min(self.lo, other.lo), max(self.hi, other.hi), self.jump)


def _block(span: Span, block: nn.Module, axis: int) -> Span:
    """A residual block: its main path's convs in order, united with the shortcut (identity or 1x1 downsample)."""
    main, shortcut = span, span
    for name, layer in block.named_children():
        if isinstance(layer, (nn.Conv2d, nn.MaxPool2d)) and name != "downsample":
            main = main.through(layer, axis)
    downsample = getattr(block, "downsample", None)
    if downsample is not None:
        for layer in downsample.modules():
            if isinstance(layer, nn.Conv2d):
                shortcut = shortcut.through(layer, axis)
    return main.union(shortcut) if shortcut.jump == main.jump else main


def bottom_up_spans(bottom_up: nn.Module, axis: int = 1) -> dict[str, Span]:
    """{"c2": Span, ...} of a `BottomUp` (axis 0: y, 1: x), from its stem (conv1, max-pool) and stages."""
    span = Span(0, 0, 1).through(bottom_up.conv1, axis).through(bottom_up.maxpool, axis)
    out = {}
    for name in bottom_up.names:
        for block in getattr(bottom_up, STAGE_OF[name]):
            span = _block(span, block, axis)
        out[name] = span
    return out


def receptive_field_levels(model: FasterRCNN) -> list[str]:
    """The maps of `model` that have cells: its bottom-up stages and its pyramid levels (e.g. c2..c5, p2..p6)."""
    levels = list(model.bottom_up.names)
    if model.pyramid is not None:
        levels += list(model.pyramid.outputs)
    return levels


def _axis_interval(model: FasterRCNN, level: str, index: int, axis: int,
                   grids: Optional[dict[str, tuple[int, int]]]) -> tuple[int, int]:
    """(first, last) input pixel, one axis, that cell `index` of `level` can see (see the module docstring)."""
    spans = bottom_up_spans(model.bottom_up, axis)
    if level in spans:
        s = spans[level]
        return s.lo + index * s.jump, s.hi + index * s.jump
    pyr = model.pyramid
    names = pyr.levels  # "c2".."c5", fine to coarse
    top = int(names[-1][1:])

    def size(k: int) -> Optional[int]:  # M_k and P_k have C_k's grid
        grid = None if grids is None else grids.get(f"c{k}", grids.get(f"p{k}"))
        return None if grid is None else grid[axis]

    def merged(k: int, i: int) -> tuple[int, int]:
        parts = []
        if f"c{k}" in pyr.lateral.convs:
            s = spans[f"c{k}"].through(pyr.lateral.convs[f"c{k}"], axis)
            parts.append((s.lo + i * s.jump, s.hi + i * s.jump))
        if pyr.top_down is not None and k < top:
            n, n_up = size(k), size(k + 1)
            parts.append(merged(k + 1, i * n_up // n if n and n_up else i // 2))  # nearest: floor(i * in / out)
        return min(p[0] for p in parts), max(p[1] for p in parts)

    def pyramid_cell(k: int, i: int) -> tuple[int, int]:
        if f"p{k}" not in pyr.output:  # P6: stride-2 subsampling (kernel 1) of the coarsest output
            return pyramid_cell(k - 1, 2 * i)
        conv = pyr.output[f"p{k}"]
        kernel, stride = _pair(conv.kernel_size)[axis], _pair(conv.stride)[axis]
        pad, dil = _pair(conv.padding)[axis], _pair(conv.dilation)[axis]
        n = size(k)
        taps = [i * stride - pad + dil * t for t in range(kernel)]
        taps = [t for t in taps if n is None or 0 <= t < n] or [i]
        parts = [merged(k, t) for t in taps]
        return min(p[0] for p in parts), max(p[1] for p in parts)

    return pyramid_cell(int(level[1:]), index)


def theoretical_receptive_field(model: FasterRCNN, level: str, cell: tuple[int, int],
                                grid_sizes: Optional[dict[str, tuple[int, int]]] = None,
                                input_size: Optional[tuple[int, int]] = None) -> tuple[int, int, int, int]:
    """The TRF of cell (row, column) of `level` as a box (x1, y1, x2, y2): pixel edges of the network input, so the
    field covers pixels x1..x2 - 1 and its width is x2 - x1.

    grid_sizes: {map: (H, W)} of the run (lets the P levels skip taps on the zero padding and follow the exact
    nearest-neighbour up-sampling; without them the cell is taken to be away from the borders).
    input_size: (H, W) of the padded input, to clip the box to the pixels that exist.
    """
    if level not in receptive_field_levels(model):
        raise ValueError(f"{level!r} is not a map of this model; choose one of {receptive_field_levels(model)}")
    y1, y2 = _axis_interval(model, level, int(cell[0]), 0, grid_sizes)
    x1, x2 = _axis_interval(model, level, int(cell[1]), 1, grid_sizes)
    x2, y2 = x2 + 1, y2 + 1
    if input_size is not None:
        x1, y1 = max(x1, 0), max(y1, 0)
        x2, y2 = min(x2, int(input_size[1])), min(y2, int(input_size[0]))
    return x1, y1, x2, y2


@dataclass
class ReceptiveField:
    """What one cell sees. Pixels are those of the network input (`image`: the resized input, [3, H, W] in [0, 1]).

    level: "c2".."c5" / "p2".."p6"; cell: (row, column) on that map, whose grid is grid_size (rows, columns);
    stride: px per cell; centre: (x, y) px, the cell's position (column * stride, row * stride), where its anchors sit.
    theoretical_box: (x1, y1, x2, y2) the TRF clipped to the padded input (pixel edges); nominal_size: (w, h) px of
    the TRF of a cell away from the borders. erf: [H, W] |d a / d x| (summed over RGB), float. erf_mass: [R] the
    fraction of the ERF's total mass inside the square of side 2 r + 1 px centred on the cell, r = 0..R-1;
    effective_size: the side (px) of the smallest such square holding the fraction effective_mass of it.
    anchors: [A, 4] the RPN anchors of this cell (x1, y1, x2, y2 px), empty when the RPN does not read this map;
    anchor_shapes: [(size, aspect ratio)] of those anchors (size = sqrt of area, px).
    """

    level: str
    cell: tuple[int, int]
    grid_size: tuple[int, int]
    stride: int
    centre: tuple[float, float]
    theoretical_box: tuple[int, int, int, int]
    nominal_size: tuple[int, int]
    erf: Tensor
    erf_mass: Tensor
    effective_size: int
    effective_mass: float
    anchors: Tensor
    anchor_shapes: list[tuple[int, float]]
    image: Tensor

    @property
    def theoretical_size(self) -> tuple[int, int]:
        """(w, h) px of the clipped TRF."""
        x1, y1, x2, y2 = self.theoretical_box
        return x2 - x1, y2 - y1


def _mass_within(grad: Tensor, centre: tuple[int, int]) -> Tensor:
    """Cumulative fraction of `grad`'s mass [H, W] inside squares of half-side r (Chebyshev distance) around centre."""
    h, w = grad.shape
    ys = (torch.arange(h) - centre[1]).abs()[:, None]
    xs = (torch.arange(w) - centre[0]).abs()[None, :]
    dist = torch.maximum(ys, xs).flatten()
    mass = torch.bincount(dist, weights=grad.flatten().double(), minlength=int(dist.max()) + 1)
    total = float(mass.sum())
    return (mass.cumsum(0) / total).float() if total > 0 else torch.zeros(mass.shape[0])


def _cell_anchors(model: FasterRCNN, level: str, cell: tuple[int, int], grid: tuple[int, int],
                  padded: tuple[int, int]) -> tuple[Tensor, list[tuple[int, float]]]:
    gen = model.rpn.anchors
    if level not in gen.sizes:
        return torch.zeros(0, 4), []
    stride_y, stride_x = gen.strides({level: grid}, padded)[level]
    base = cell_anchors(gen.sizes[level], gen.aspect_ratios, gen.cells)
    shift = torch.tensor([cell[1] * stride_x, cell[0] * stride_y] * 2, dtype=base.dtype)
    shapes = gen.anchor_shapes(level)
    return base + shift, shapes


def receptive_field(model: FasterRCNN, image: Any, level: str, cell: Optional[Sequence[int]] = None,
                    point: Optional[Sequence[float]] = None, mass: float = ERF_MASS) -> ReceptiveField:
    """Theoretical and effective receptive field of one cell of `level` on `image` (one forward + one backward pass).

    Args:
        model: a detector (`build_detector`, `load_checkpoint`, ...); it resizes the image as it always does.
        image: [3, H, W] float tensor in [0, 1], PIL image or numpy array.
        level: "c2".."c5" or "p2".."p6" (those the model has: `receptive_field_levels`).
        cell: (row, column) on that map; or point: (x, y) px of the resized input, the cell whose centre is nearest;
            neither: the centre cell. Clamped to the grid.
        mass: the fraction of the ERF's mass that `effective_size` encloses (0.9: the square holding 90% of it).
    """
    level = str(level).lower()
    levels = receptive_field_levels(model)
    if level not in levels:
        raise ValueError(f"{level.upper()} is not a map of this {model.config.get('variant', 'fpn')} model; "
                         f"choose one of {', '.join(n.upper() for n in levels)}")
    g = _input_gradient(model, image, level, cell, point)
    row, col = g.cell
    stride = 2 ** int(level[1:])
    magnitude = g.grad.abs().sum(0).cpu()  # [H_padded, W_padded]: how much each input pixel moves the cell
    centre = (col * stride, row * stride)
    cumulative = _mass_within(magnitude, centre)
    inside = torch.nonzero(cumulative >= mass - 1e-6)
    radius = int(inside[0]) if len(inside) else int(cumulative.shape[0]) - 1
    size = g.resized_size
    nominal = theoretical_receptive_field(model, level, (row, col))
    anchors, shapes = _cell_anchors(model, level, (row, col), g.grids[level], g.padded_size)
    return ReceptiveField(
        level=level, cell=(row, col), grid_size=g.grids[level], stride=stride,
        centre=(float(centre[0]), float(centre[1])),
        theoretical_box=theoretical_receptive_field(model, level, (row, col), g.grids, g.padded_size),
        nominal_size=(nominal[2] - nominal[0], nominal[3] - nominal[1]),
        erf=magnitude[: size[0], : size[1]].clone(), erf_mass=cumulative, effective_size=2 * radius + 1,
        effective_mass=float(mass), anchors=anchors, anchor_shapes=shapes,
        image=unnormalize(model.transform, g.input, size).cpu(),
    )


@dataclass
class _Gradient:
    """d(one cell's summed activations) / d(input), and the frames it lives in."""
    grad: Tensor  # [3, H_padded, W_padded] on the normalised, padded input
    input: Tensor  # [3, H_padded, W_padded] that input
    cell: tuple[int, int]  # (row, column) on the level's grid, clamped
    grids: dict[str, tuple[int, int]]  # (rows, columns) of every map computed
    resized_size: tuple[int, int]  # (H, W) of the resized image, before padding
    padded_size: tuple[int, int]  # (H_padded, W_padded)


def _input_gradient(model: FasterRCNN, image: Any, level: str, cell: Optional[Sequence[int]],
                    point: Optional[Sequence[float]]) -> _Gradient:
    """One forward pass to `level` and one backward pass from the chosen cell; the model's mode is restored."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            image_list, _ = model.transform([as_image_tensor(image).to(device)])
        x = image_list.tensors.detach().requires_grad_(True)
        with torch.enable_grad():
            bottom_up = model.bottom_up(x)
            maps = {**bottom_up, **model.pyramid(bottom_up)} if level.startswith("p") else bottom_up
            fmap = maps[level][0]
            grid = (int(fmap.shape[-2]), int(fmap.shape[-1]))
            row, col = _clamped_cell(cell, point, image_list.image_sizes[0], 2 ** int(level[1:]), grid)
            (grad,) = torch.autograd.grad(fmap[:, row, col].sum(), x)
    finally:
        model.train(was_training)
    return _Gradient(grad=grad[0].detach(), input=image_list.tensors[0].detach(), cell=(row, col),
                     grids={n: (int(m.shape[-2]), int(m.shape[-1])) for n, m in maps.items()},
                     resized_size=tuple(image_list.image_sizes[0]), padded_size=(int(x.shape[-2]), int(x.shape[-1])))


def _clamped_cell(cell: Optional[Sequence[int]], point: Optional[Sequence[float]], resized_size: Sequence[int],
                  stride: int, grid: tuple[int, int]) -> tuple[int, int]:
    """The (row, column) asked for: `cell`, else the cell whose centre is nearest `point` ((x, y) pixels of the
    resized image), else the centre cell; clamped to the grid."""
    if cell is None:
        px = point if point is not None else ((resized_size[1] - 1) / 2, (resized_size[0] - 1) / 2)
        cell = (round(float(px[1]) / stride), round(float(px[0]) / stride))
    return int(min(max(int(cell[0]), 0), grid[0] - 1)), int(min(max(int(cell[1]), 0), grid[1] - 1))
