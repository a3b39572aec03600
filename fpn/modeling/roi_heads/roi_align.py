"""RoIAlign with a faster backward pass on the CPU.

The forward pass is torchvision's ``roi_align`` (bit-identical, so inference is unchanged). Its CPU backward visits
every output element (RoI x channel x bin) and recomputes the same bilinear weights for each channel: 1.3 s of a
10 s training step of the C4 baseline (512 RoIs x 256 channels x 14 x 14 bins, one thread). The gradient is linear
in the output's gradient, grad_input[n, :, y, x] = sum over (RoI, bin) of w[(n, y, x), (RoI, bin)] * grad_out[RoI, :,
bin], with at most 4 samples x 4 corners nonzero per (RoI, bin); here w is built once (as torchvision computes it, in
the same operation order) as a sparse CSR matrix and applied to all channels at once by a sparse x dense product
(`tests/test_roi_align.py` checks it against torchvision's gradient; `scripts/benchmark_roi_align.py` times both).
"""
from __future__ import annotations

import contextlib
import warnings
from typing import Iterator

import torch
from torch import Tensor
from torchvision.ops import roi_align as tv_roi_align

_SPARSE_BACKWARD = True


@contextlib.contextmanager
def sparse_backward(enabled: bool) -> Iterator[None]:
    """Use (True, the default) or bypass (False: torchvision's backward) the sparse CPU backward, e.g. to compare."""
    global _SPARSE_BACKWARD
    before, _SPARSE_BACKWARD = _SPARSE_BACKWARD, enabled
    try:
        yield
    finally:
        _SPARSE_BACKWARD = before


def roi_align(input: Tensor, rois: Tensor, output_size: int, spatial_scale: float, sampling_ratio: int,
              aligned: bool) -> Tensor:
    """torchvision.ops.roi_align(input [N, C, H, W], rois [R, 5] = (image index, x1, y1, x2, y2) in input pixels
    before ``spatial_scale``) -> [R, C, S, S]; on the CPU, when a gradient is needed and the sampling grid is fixed
    (``sampling_ratio`` > 0), with the sparse backward described above."""
    if (_SPARSE_BACKWARD and input.device.type == "cpu" and sampling_ratio > 0 and torch.is_grad_enabled()
            and input.requires_grad and not rois.requires_grad):
        return _SparseBackwardRoIAlign.apply(input, rois, output_size, spatial_scale, sampling_ratio, aligned)
    return tv_roi_align(input, rois, output_size, spatial_scale=spatial_scale, sampling_ratio=sampling_ratio,
                        aligned=aligned)


class _SparseBackwardRoIAlign(torch.autograd.Function):
    @staticmethod
    def forward(ctx, input, rois, output_size, spatial_scale, sampling_ratio, aligned):
        ctx.save_for_backward(rois)
        ctx.args = (input.shape, input.dtype, output_size, spatial_scale, sampling_ratio, aligned)
        # torchvision's kernel, its autocast rule included (computed in fp32, returned in the input's dtype)
        return tv_roi_align(input, rois, output_size, spatial_scale=spatial_scale, sampling_ratio=sampling_ratio,
                            aligned=aligned)

    @staticmethod
    def backward(ctx, grad_out):
        (rois,) = ctx.saved_tensors
        shape, dtype, size, scale, ratio, aligned = ctx.args
        n, c, h, w = shape
        # fp32 at least, as torchvision's autocast rule computes this gradient under bf16 / fp16 autocast
        work = torch.promote_types(grad_out.dtype, torch.float32)
        if rois.shape[0] == 0:
            return grad_out.new_zeros(shape, dtype=dtype), None, None, None, None, None
        with torch.autocast("cpu", enabled=False):  # a backward called under autocast must not recast the product
            weights = sample_weights(rois.to(work), size, scale, ratio, aligned, n, h, w)
            rows = grad_out.to(work).permute(0, 2, 3, 1).reshape(-1, c)  # [R * S * S, C]: (RoI, bin) x channel
            grad_in = (weights @ rows).view(n, h, w, c).permute(0, 3, 1, 2)  # channels-last, as the features
        return grad_in.to(dtype), None, None, None, None, None


def sample_weights(rois: Tensor, size: int, scale: float, ratio: int, aligned: bool, images: int, height: int,
                   width: int) -> Tensor:
    """Sparse CSR [N * H * W, R * S * S]: the weight of input cell (n, y, x) in output (RoI, bin), that is the
    bilinear weights of the bin's ratio x ratio sample points, divided by their count, as torchvision's kernel."""
    r = rois.shape[0]
    offset = 0.5 if aligned else 0.0
    x1, y1, x2, y2 = (rois[:, i] * scale - offset for i in range(1, 5))
    roi_w, roi_h = x2 - x1, y2 - y1
    if not aligned:  # torchvision's legacy mode: RoIs at least one cell wide
        roi_w, roi_h = roi_w.clamp(min=1.0), roi_h.clamp(min=1.0)
    bins = torch.arange(size, dtype=rois.dtype, device=rois.device)
    samples = torch.arange(ratio, dtype=rois.dtype, device=rois.device) + 0.5

    def along(start: Tensor, extent: Tensor, cells: int):  # one axis: [R, S (bin), ratio (sample)] each
        bin_size = (extent / size)[:, None, None]
        t = start[:, None, None] + bins[None, :, None] * bin_size + samples[None, None, :] * bin_size / ratio
        inside = (t >= -1.0) & (t <= cells)  # samples beyond a cell of the border add nothing
        t = t.clamp(min=0.0)
        low = t.long()
        edge = low >= cells - 1  # the last row / column: both corners on it, weight all on "low"
        low = torch.where(edge, torch.full_like(low, cells - 1), low)
        high = torch.where(edge, low, low + 1)
        frac = torch.where(edge, torch.zeros_like(t), t - low.to(t.dtype))
        return inside, (low, high), (1.0 - frac, frac)

    in_y, ys, wy = along(y1, roi_h, height)
    in_x, xs, wx = along(x1, roi_w, width)
    # broadcast to [R, S (ph), S (pw), ratio (iy), ratio (ix)]
    Y = lambda t: t[:, :, None, :, None]  # noqa: E731
    X = lambda t: t[:, None, :, None, :]  # noqa: E731
    inside = Y(in_y) & X(in_x)
    image = rois[:, 0].long()[:, None, None, None, None] * (height * width)
    cells, vals = [], []  # the matrix's rows: input cell n * H * W + y * W + x of each corner of each sample
    for yy, wyy in zip(ys, wy):
        for xx, wxx in zip(xs, wx):
            cells.append(image + Y(yy) * width + X(xx))
            vals.append(torch.where(inside, Y(wyy) * X(wxx), torch.zeros((), dtype=rois.dtype)) / (ratio * ratio))
    cells = torch.stack(cells, -1).reshape(r * size * size, -1)
    vals = torch.stack(vals, -1).reshape(r * size * size, -1)
    outputs = torch.arange(r * size * size, device=rois.device)[:, None].expand_as(cells)  # its columns: (RoI, bin)
    index = torch.stack([cells.reshape(-1), outputs.reshape(-1)])
    with warnings.catch_warnings():  # "sparse CSR support is in beta": the product used here is stable
        warnings.simplefilter("ignore", UserWarning)
        coo = torch.sparse_coo_tensor(index, vals.reshape(-1), (images * height * width, r * size * size),
                                      check_invariants=True)
        return coo.coalesce().to_sparse_csr()
