"""The fast inference path of the Sec. 6 proposer against its reference: separable mask pasting against grid_sample
(random regions and the bundled model's real proposals), the batched paste_masks against pasting one at a time,
RLEs against the pasted masks, the in-place MLP against conv -> ReLU, and the bf16 window conv's bound."""
from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from fpn.mask_proposals import MaskMLP, encode_proposals, paste_mask, paste_masks
from fpn.modeling.mask_proposals.fused_mlp import FusedMaskMLP
from fpn.modeling.mask_proposals.paste import _covered_pixels, sample_window, sample_window_reference

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHECKPOINT = os.path.join(ROOT, "checkpoints", "mask_proposals_dual_resnet18_cpu")
BOUND = 2e-6  # |separable - grid_sample| on probabilities in [0, 1] (measured: at most 1.0e-6)


def _random_proposals(n: int, size: tuple[int, int], mask_size: int = 14, seed: int = 0):
    """n probability grids and square-ish regions of 1..500 px, many reaching past the image's borders."""
    g = torch.Generator().manual_seed(seed)
    h, w = size
    probs = torch.rand(n, mask_size, mask_size, generator=g)
    corner = torch.rand(n, 2, generator=g) * torch.tensor([w + 100.0, h + 100.0]) - 50
    side = torch.rand(n, 2, generator=g) ** 2 * 500 + 0.3
    return probs, torch.cat([corner, corner + side], 1)


def _assert_matches_reference(masks: torch.Tensor, probs: torch.Tensor, regions: torch.Tensor,
                              size: tuple[int, int], threshold: float = 0.5) -> int:
    """masks [P, H, W] equal grid_sample's pasting except where grid_sample's probability is within BOUND of the
    threshold; the separable probabilities are within BOUND of grid_sample's. Returns how many pixels were compared."""
    compared = 0
    for i, (p, r) in enumerate(zip(probs, regions)):
        pixels = _covered_pixels(r, size)
        if pixels is None:
            assert not masks[i].any()
            continue
        r0, r1, c0, c1 = pixels
        ref = sample_window_reference(p, r, pixels)
        fast = sample_window(p, r, pixels)
        assert (fast - ref).abs().max().item() <= BOUND
        block = masks[i, r0:r1, c0:c1]
        differ = block != (ref >= threshold)
        assert ((ref[differ] - threshold).abs() <= BOUND).all(), "a pixel away from the threshold changed"
        outside = masks[i].clone()
        outside[r0:r1, c0:c1] = False
        assert not outside.any(), "a pixel outside the region is set"
        compared += ref.numel()
    return compared


@pytest.mark.parametrize("mask_size", [14, 28])
def test_separable_paste_equals_grid_sample_on_random_regions(mask_size):
    size = (217, 301)
    probs, regions = _random_proposals(200, size, mask_size)
    masks = paste_masks(probs, regions, size)
    assert masks.shape == (200, *size) and masks.dtype == torch.bool
    assert _assert_matches_reference(masks, probs, regions, size) > 500_000  # not a vacuous comparison
    reference = paste_masks(probs, regions, size, sample=sample_window_reference)
    assert (masks != reference).sum().item() <= 1e-5 * masks.numel()  # borderline pixels only


def test_paste_masks_equals_pasting_one_at_a_time_and_rles():
    from pycocotools import mask as mask_utils

    size = (120, 90)
    probs, regions = _random_proposals(30, size, seed=1)
    regions[3] = torch.tensor([50.0, 50.0, 50.0, 80.0])  # empty region
    regions[4] = torch.tensor([-80.0, -80.0, -60.0, -60.0])  # outside the image
    masks = paste_masks(probs, regions, size)
    one_at_a_time = torch.stack([paste_mask(p, r, size) for p, r in zip(probs, regions)])
    for pasted in (masks, one_at_a_time):
        _assert_matches_reference(pasted, probs, regions, size)
    assert (masks != one_at_a_time).sum().item() <= 1e-5 * masks.numel()  # borderline pixels only
    assert not masks[3].any() and not masks[4].any() and masks.any()
    rles = encode_proposals({"mask_probs": probs, "regions": regions}, size)
    decoded = np.stack([mask_utils.decode({**r, "counts": r["counts"].encode()}) for r in rles]).astype(bool)
    assert np.array_equal(decoded, one_at_a_time.numpy())  # the same pasting, RLE-encoded
    assert paste_masks(probs[:0], regions[:0], size).shape == (0, *size)


def test_mlp_forward_equals_conv_then_relu():
    torch.manual_seed(0)
    mlp = MaskMLP(d=16, window=5, hidden=32, mask_size=14).eval()
    for conv in (mlp.window, mlp.objectness):
        torch.nn.init.normal_(conv.weight, std=0.2)
        torch.nn.init.normal_(conv.bias, std=0.2)
    x = torch.randn(2, 16, 11, 13)
    with torch.no_grad():
        hidden, obj = mlp(x)
        ref_hidden = F.relu(F.conv2d(x, mlp.window.weight, mlp.window.bias, padding=2))
        ref_obj = F.conv2d(ref_hidden, mlp.objectness.weight, mlp.objectness.bias)[:, 0]
    assert torch.equal(hidden, ref_hidden) and torch.equal(obj, ref_obj)
    # training through it: the in-place ReLU keeps the gradients of conv -> ReLU
    x.requires_grad_(True)
    mlp(x)[1].sum().backward()
    grad = x.grad.clone()
    x.grad = None
    F.conv2d(F.relu(mlp.window(x)), mlp.objectness.weight, mlp.objectness.bias).sum().backward()
    assert torch.allclose(grad, x.grad, atol=1e-6)


def test_bf16_window_conv_gives_fp32_outputs_near_fp32():
    torch.manual_seed(0)
    mlp = MaskMLP(d=32, window=7, hidden=64, mask_size=14).eval()
    torch.nn.init.normal_(mlp.window.weight, std=0.05)
    torch.nn.init.normal_(mlp.objectness.weight, std=0.1)
    x = torch.randn(1, 32, 20, 24)
    with torch.no_grad():
        hidden, obj = mlp(x)
        hidden16, obj16 = FusedMaskMLP.of(mlp, torch.bfloat16)(x)
    assert hidden16.dtype == torch.float32 and obj16.dtype == torch.float32
    assert hidden16.shape == hidden.shape
    # bf16 inputs and weights (8-bit mantissas), fp32 accumulation: a few parts in a thousand of the output's scale
    assert (hidden16 - hidden).abs().max().item() <= 0.01 * hidden.abs().max().item()
    assert (obj16 - obj).abs().max().item() <= 0.01 * obj.abs().max().item()


@pytest.fixture(scope="module")
def bundled():
    import fpn

    if not os.path.exists(CHECKPOINT + ".json"):
        pytest.skip("the bundled mask proposer is not in checkpoints/")
    return fpn.load_checkpoint(CHECKPOINT).eval()


def _photo_and_shapes():
    from skimage import data

    photo = torch.from_numpy(data.coffee()).permute(2, 0, 1).float() / 255  # 400 x 600
    g = torch.Generator().manual_seed(3)
    shapes = torch.rand(3, 300, 420, generator=g) * 0.2 + 0.4
    shapes[:, 40:160, 60:200] = torch.tensor([0.9, 0.2, 0.1])[:, None, None]
    yy, xx = torch.meshgrid(torch.arange(300.0), torch.arange(420.0), indexing="ij")
    shapes[:, ((xx - 300) / 70) ** 2 + ((yy - 190) / 50) ** 2 <= 1] = torch.tensor([0.1, 0.3, 0.9])[:, None]
    return [photo, shapes]


def test_bundled_model_pastes_as_the_reference_on_real_images(bundled):
    torch.manual_seed(0)
    for image in _photo_and_shapes():
        with torch.no_grad():
            out = bundled([image])[0]
        size = tuple(image.shape[-2:])
        n = out["masks"].shape[0]
        assert n == min(100, out["scores"].numel()) and out["masks"].any()
        assert _assert_matches_reference(out["masks"], out["mask_probs"][:n], out["regions"][:n], size) > 0
        # the dense MLPs as conv -> ReLU -> objectness, bit for bit
        image_list, _ = bundled.transform([image])
        with torch.no_grad():
            pyramid = bundled.pyramid(bundled.backbone(image_list.tensors))
            for scale, (hidden, obj) in zip(bundled.scales, bundled.dense(pyramid)):
                head = bundled.heads[scale.mlp]
                ref = F.relu(head.window(pyramid[scale.level]))
                assert torch.equal(hidden, ref)
                assert torch.equal(obj, head.objectness(ref)[:, 0])
