"""Pasting predicted window masks back into the image, their boxes, and COCO RLE encoding.

A proposal is stored compactly as mask probabilities [M, M] over a square region (x1, y1, x2, y2) in image pixels.
Pasting is the inverse of the RoIAlign crop used for the targets: image pixel (x, y) with centre (x + 0.5, y + 0.5)
inside the region samples the M x M grid bilinearly at the same relative position (edge values extend to the region
border; grid_sample's bilinear with align_corners=False, computed separably as two small matmuls), then the probability
is thresholded (>= 0.5). Pixels outside the region or the image are background.
"""
from __future__ import annotations

import functools
import math
from collections.abc import Iterator

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as F


def _bilinear_weights(pixels: Tensor, lo: Tensor, hi: Tensor, m: int) -> Tensor:
    """[P, S, m] weights: row s of mask p samples the m-cell grid spanning [lo[p], hi[p]) at the pixel centre
    pixels[s] + 0.5, bilinearly, the edge values extended to the border (grid_sample's bilinear, align_corners=False,
    "border"). pixels: [S] integer coordinates (float32); lo, hi: [P] region edges along the same axis."""
    pos = (pixels[None] + 0.5 - lo[:, None]) / (hi - lo)[:, None] * 2 - 1
    pos = (((pos + 1) * m - 1) / 2).clamp(0, m - 1)  # grid_sample's unnormalise + border clip, in cells
    i0 = pos.floor()
    w1 = pos - i0
    i0 = i0.long()
    weights = pos.new_zeros((*pos.shape, m))
    weights.scatter_(2, i0[..., None], (1 - w1)[..., None])
    weights.scatter_add_(2, (i0 + 1).clamp(max=m - 1)[..., None], w1[..., None])  # w1 = 0 where i0 = m - 1
    return weights


def _covered_pixels(region: Tensor, image_size: tuple[int, int]) -> tuple[int, int, int, int] | None:
    """(r0, r1, c0, c1): the image pixels [r0:r1, c0:c1] whose centres lie in the region (x1, y1, x2, y2), clipped to
    image_size (H, W); None when there are none."""
    h, w = int(image_size[0]), int(image_size[1])
    x1, y1, x2, y2 = (float(v) for v in region)
    if not (x2 > x1 and y2 > y1):
        return None
    c0, c1 = max(0, math.ceil(x1 - 0.5)), min(w, math.floor(x2 - 0.5) + 1)
    r0, r1 = max(0, math.ceil(y1 - 0.5)), min(h, math.floor(y2 - 0.5) + 1)
    if c1 <= c0 or r1 <= r0:
        return None
    return r0, r1, c0, c1


def sample_window(probs: Tensor, region: Tensor, pixels: tuple[int, int, int, int]) -> Tensor:
    """Probabilities [r1 - r0, c1 - c0] of probs [M, M] over region (x1, y1, x2, y2), sampled at the centres of the
    image pixels [r0:r1, c0:c1] (`pixels`).

    Bilinear sampling on a pixel grid is separable: (W_rows @ probs) @ W_cols^T with [h', M] and [w', M] weights.
    It equals `sample_window_reference` (grid_sample) up to float rounding (|difference| <= 2e-6,
    tests/test_mask_proposals_fast.py), so a thresholded pixel can only differ where its probability lies within
    2e-6 of the threshold; it writes h' x w' floats where grid_sample also builds its sampling grid (two floats per
    pixel plus temporaries), which on the 2-core CPU was most of the pasting time."""
    r0, r1, c0, c1 = pixels
    region = region.float()[:, None]
    arange = functools.partial(torch.arange, device=probs.device, dtype=torch.float32)
    rows = _bilinear_weights(arange(r0, r1), region[1], region[3], probs.shape[-2])[0]
    cols = _bilinear_weights(arange(c0, c1), region[0], region[2], probs.shape[-1])[0]
    return (rows @ probs.float()) @ cols.T


def sample_window_reference(probs: Tensor, region: Tensor, pixels: tuple[int, int, int, int]) -> Tensor:
    """`sample_window` as grid_sample computes it (the definition; the fast version is tested and benchmarked
    against it)."""
    r0, r1, c0, c1 = pixels
    x1, y1, x2, y2 = (float(v) for v in region)
    xs = (torch.arange(c0, c1, device=probs.device, dtype=torch.float32) + 0.5 - x1) / (x2 - x1) * 2 - 1
    ys = (torch.arange(r0, r1, device=probs.device, dtype=torch.float32) + 0.5 - y1) / (y2 - y1) * 2 - 1
    grid = torch.stack(torch.meshgrid(ys, xs, indexing="ij")[::-1], dim=-1)[None]  # [1, h', w', 2] as (x, y)
    sampled = F.grid_sample(probs[None, None].float(), grid, mode="bilinear", padding_mode="border", align_corners=False)
    return sampled[0, 0]


def _paste_window(
    probs: Tensor, region: Tensor, image_size: tuple[int, int], threshold: float, sample=sample_window,
) -> tuple[int, int, int, int, Tensor] | None:
    """(r0, r1, c0, c1, block): the image pixels [r0:r1, c0:c1] the region covers and their Bool mask, or None."""
    pixels = _covered_pixels(region, image_size)
    if pixels is None:
        return None
    return (*pixels, sample(probs, region, pixels) >= threshold)


def paste_mask(probs: Tensor, region: Tensor, image_size: tuple[int, int], threshold: float = 0.5) -> Tensor:
    """One mask: probs [M, M] in [0, 1] over region [4] (pixels) -> BoolTensor [H, W] for image_size (H, W)."""
    out = torch.zeros((int(image_size[0]), int(image_size[1])), dtype=torch.bool, device=probs.device)
    window = _paste_window(probs, region, image_size, threshold)
    if window is not None:
        r0, r1, c0, c1, block = window
        out[r0:r1, c0:c1] = block
    return out


def iter_pasted_masks(
    mask_probs: Tensor, regions: Tensor, image_size: tuple[int, int], threshold: float = 0.5
) -> Iterator[Tensor]:
    """Yield BoolTensor [H, W] per proposal, one at a time (memory: one image-sized mask)."""
    for probs, region in zip(mask_probs, regions):
        yield paste_mask(probs, region, image_size, threshold)


def paste_masks(
    mask_probs: Tensor, regions: Tensor, image_size: tuple[int, int], threshold: float = 0.5, sample=sample_window,
) -> Tensor:
    """All masks: [P, M, M] probs, [P, 4] regions -> BoolTensor [P, H, W] (P * H * W bytes: keep P small).

    sample_window for all P masks at once: the interpolation weights of every mask's rows [P, H, M] and columns
    [P, W, M] in a few whole-tensor operations, then per mask only its two matmuls over the pixels it covers, thresholded
    straight into one zeroed [P, H, W] tensor. Pasting one mask at a time into its own image-sized mask and stacking
    them (as before) spent 2 s of 2.1 s of 100 masks of a 512 x 512 image on zero fills and copies, and dozens of
    small operations per mask were slow on a busy machine. `sample`: sample_window_reference pastes one mask at a
    time with grid_sample instead (for the comparison)."""
    h, w = int(image_size[0]), int(image_size[1])
    out = torch.zeros((mask_probs.shape[0], h, w), dtype=torch.bool, device=mask_probs.device)
    if mask_probs.shape[0] == 0:
        return out
    if sample is not sample_window:
        for i, (probs, region) in enumerate(zip(mask_probs, regions)):
            window = _paste_window(probs, region, (h, w), threshold, sample)
            if window is not None:
                r0, r1, c0, c1, block = window
                out[i, r0:r1, c0:c1] = block
        return out
    probs, edges = mask_probs.float(), regions.float()
    arange = functools.partial(torch.arange, device=mask_probs.device, dtype=torch.float32)
    rows = _bilinear_weights(arange(h), edges[:, 1], edges[:, 3], probs.shape[-2])  # [P, H, M]
    cols = _bilinear_weights(arange(w), edges[:, 0], edges[:, 2], probs.shape[-1])  # [P, W, M]
    for i, region in enumerate(regions.cpu()):
        pixels = _covered_pixels(region, (h, w))
        if pixels is not None:
            r0, r1, c0, c1 = pixels
            torch.ge((rows[i, r0:r1] @ probs[i]) @ cols[i, c0:c1].T, threshold, out=out[i, r0:r1, c0:c1])
    return out


def mask_boxes(
    mask_probs: Tensor, regions: Tensor, image_size: tuple[int, int] | None = None, threshold: float = 0.5
) -> tuple[Tensor, Tensor]:
    """Bounding boxes [P, 4] of the thresholded masks, at the mask grid's resolution (region side / M pixels),
    clipped to image_size (H, W) when given; and a BoolTensor [P], False where the mask is empty (box all zeros)."""
    p, m = mask_probs.shape[0], mask_probs.shape[-1]
    fg = mask_probs >= threshold
    cols, rows = fg.any(dim=1), fg.any(dim=2)  # [P, M]: column / row has foreground
    nonempty = cols.any(dim=1)
    idx = torch.arange(m, device=mask_probs.device)
    big = torch.full_like(idx, m)
    c_min = torch.where(cols, idx, big).amin(dim=1)
    c_max = torch.where(cols, idx, -1).amax(dim=1) + 1
    r_min = torch.where(rows, idx, big).amin(dim=1)
    r_max = torch.where(rows, idx, -1).amax(dim=1) + 1
    cell_w = (regions[:, 2] - regions[:, 0]) / m
    cell_h = (regions[:, 3] - regions[:, 1]) / m
    boxes = torch.stack(
        [
            regions[:, 0] + c_min * cell_w,
            regions[:, 1] + r_min * cell_h,
            regions[:, 0] + c_max * cell_w,
            regions[:, 1] + r_max * cell_h,
        ],
        dim=1,
    )
    if image_size is not None:
        h, w = image_size
        boxes[:, 0::2] = boxes[:, 0::2].clamp(0, w)
        boxes[:, 1::2] = boxes[:, 1::2].clamp(0, h)
    boxes[~nonempty] = 0
    return boxes.reshape(p, 4), nonempty


def encode_proposals(proposals: dict, image_size: tuple[int, int], threshold: float = 0.5) -> list[dict]:
    """COCO RLEs (pycocotools mask.encode, "counts" as str) of all proposals of one image, pasted one at a time.

    proposals: one output dict of MaskProposer in eval mode ("mask_probs", "regions"); image_size: (H, W) of the
    input image the proposals refer to.
    """
    from pycocotools import mask as mask_utils

    h, w = int(image_size[0]), int(image_size[1])
    canvas = np.zeros((h, w), dtype=np.uint8, order="F")  # reused: encode wants Fortran order, no copy per mask
    rles = []
    for probs, region in zip(proposals["mask_probs"].cpu(), proposals["regions"].cpu()):
        window = _paste_window(probs, region, (h, w), threshold)
        if window is not None:
            r0, r1, c0, c1, block = window
            canvas[r0:r1, c0:c1] = block.numpy()
        rle = mask_utils.encode(canvas)
        rle["counts"] = rle["counts"].decode("ascii")
        rles.append(rle)
        if window is not None:
            canvas[r0:r1, c0:c1] = 0
    return rles
