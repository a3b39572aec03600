"""fpn.modeling.roi_heads.roi_align: torchvision's RoIAlign forward, a sparse CPU backward with torchvision's gradient."""
from __future__ import annotations

import pytest
import torch
from torchvision.ops import roi_align as tv_roi_align

from fpn.modeling.roi_heads.roi_align import roi_align, sparse_backward


def _rois(n_images: int, count: int, width: float, height: float, seed: int = 0) -> torch.Tensor:
    """RoIs of every kind torchvision's kernel treats apart: inside, across the border, beyond it, under one cell."""
    g = torch.Generator().manual_seed(seed)
    centre = torch.rand(count, 2, generator=g) * torch.tensor([width * 1.2, height * 1.2]) - 0.1 * torch.tensor([width, height])
    size = torch.rand(count, 2, generator=g) ** 2 * torch.tensor([width, height]) * 0.8 + 0.1
    boxes = torch.cat([centre - size / 2, centre + size / 2], 1)
    image = torch.randint(0, max(n_images - 1, 1), (count, 1), generator=g).float()  # the last image gets no RoI
    return torch.cat([image, boxes], 1)


def _both(x: torch.Tensor, rois: torch.Tensor, *args) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(output, input gradient) of ours and of torchvision's for the same random output gradient."""
    out = roi_align(x, rois, *args)
    grad_out = torch.randn(out.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float32).to(out.dtype)
    (ours,) = torch.autograd.grad(out, x, grad_out)
    ref_out = tv_roi_align(x, rois, args[0], spatial_scale=args[1], sampling_ratio=args[2], aligned=args[3])
    (ref,) = torch.autograd.grad(ref_out, x, grad_out)
    return out, ref_out, ours, ref


@pytest.mark.parametrize("size,stride,ratio,aligned", [(7, 4, 2, False), (7, 32, 2, True), (14, 16, 2, False),
                                                       (14, 16, 1, True), (5, 8, 3, False)])
def test_the_gradient_is_torchvisions_and_the_forward_is_its_own(size, stride, ratio, aligned):
    x = torch.randn(3, 16, 384 // stride, 480 // stride, requires_grad=True)
    rois = _rois(3, 300, 480, 384)
    out, ref_out, ours, ref = _both(x, rois, size, 1.0 / stride, ratio, aligned)
    assert torch.equal(out, ref_out)
    assert ref[-1].abs().sum() == 0 and ours[-1].abs().sum() == 0  # no RoI on the last image: no gradient
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5)
    assert ours.is_contiguous(memory_format=torch.channels_last)


def test_float64_gradcheck():
    x = torch.randn(2, 3, 9, 11, dtype=torch.float64, requires_grad=True)
    rois = _rois(2, 6, 88, 72, seed=3).double()
    assert torch.autograd.gradcheck(lambda t: roi_align(t, rois, 3, 1 / 8, 2, True), (x,))


def test_under_bf16_autocast_with_channels_last_features_as_in_training():
    x = torch.randn(2, 32, 24, 30).to(torch.bfloat16, memory_format=torch.channels_last).requires_grad_()
    rois = _rois(2, 64, 480, 384, seed=5)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out, ref_out, ours, ref = _both(x, rois, 14, 1 / 16, 2, False)
    assert torch.equal(out, ref_out) and ours.dtype == ref.dtype == torch.bfloat16
    torch.testing.assert_close(ours.float(), ref.float(), rtol=1e-2, atol=1e-2)  # one bf16 rounding of a fp32 sum


def test_torchvisions_own_backward_where_the_sparse_one_does_not_apply():
    x = torch.randn(2, 8, 12, 15, requires_grad=True)
    rois = _rois(2, 20, 480, 384, seed=7)
    for args in ((7, 1 / 32, 0, True),):  # adaptive sampling (Detectron2's): the grid depends on the RoI
        out, ref_out, ours, ref = _both(x, rois, *args)
        assert torch.equal(ours, ref)
    with sparse_backward(False):
        out, ref_out, ours, ref = _both(x, rois, 7, 1 / 32, 2, False)
        assert torch.equal(ours, ref)
    assert roi_align(x.detach(), rois, 7, 1 / 32, 2, False).grad_fn is None  # inference: torchvision's op alone


def test_an_empty_batch_of_rois_has_a_zero_gradient():
    x = torch.randn(2, 4, 6, 6, requires_grad=True)
    out = roi_align(x, torch.zeros(0, 5), 7, 0.25, 2, False)
    (grad,) = torch.autograd.grad(out.sum(), x, allow_unused=True)
    assert out.shape == (0, 4, 7, 7) and (grad is None or not grad.any())
