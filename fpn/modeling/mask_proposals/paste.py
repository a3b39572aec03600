"""Pasting predicted window masks back into the image, their boxes, and COCO RLE encoding.

A proposal is stored compactly as mask probabilities [M, M] over a square region (x1, y1, x2, y2) in image pixels.
Pasting is the inverse of the RoIAlign crop used for the targets: image pixel (x, y) with centre (x + 0.5, y + 0.5)
inside the region samples the M x M grid bilinearly at the same relative position (edge values extend to the region
border), then the probability is thresholded (>= 0.5). Pixels outside the region or the image are background.
"""
from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as F


def _paste_window(
    probs: Tensor, region: Tensor, image_size: tuple[int, int], threshold: float
) -> tuple[int, int, int, int, Tensor] | None:
    """(r0, r1, c0, c1, block): the image pixels [r0:r1, c0:c1] the region covers and their Bool mask, or None."""
    h, w = int(image_size[0]), int(image_size[1])
    x1, y1, x2, y2 = (float(v) for v in region)
    if not (x2 > x1 and y2 > y1):
        return None
    # pixels whose centres lie in the region, clipped to the image
    c0, c1 = max(0, math.ceil(x1 - 0.5)), min(w, math.floor(x2 - 0.5) + 1)
    r0, r1 = max(0, math.ceil(y1 - 0.5)), min(h, math.floor(y2 - 0.5) + 1)
    if c1 <= c0 or r1 <= r0:
        return None
    xs = (torch.arange(c0, c1, device=probs.device, dtype=torch.float32) + 0.5 - x1) / (x2 - x1) * 2 - 1
    ys = (torch.arange(r0, r1, device=probs.device, dtype=torch.float32) + 0.5 - y1) / (y2 - y1) * 2 - 1
    grid = torch.stack(torch.meshgrid(ys, xs, indexing="ij")[::-1], dim=-1)[None]  # [1, h', w', 2] as (x, y)
    sampled = F.grid_sample(probs[None, None].float(), grid, mode="bilinear", padding_mode="border", align_corners=False)
    return r0, r1, c0, c1, sampled[0, 0] >= threshold


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
    mask_probs: Tensor, regions: Tensor, image_size: tuple[int, int], threshold: float = 0.5
) -> Tensor:
    """All masks: [P, M, M] probs, [P, 4] regions -> BoolTensor [P, H, W] (P * H * W bytes: keep P small)."""
    h, w = int(image_size[0]), int(image_size[1])
    if mask_probs.shape[0] == 0:
        return torch.zeros((0, h, w), dtype=torch.bool, device=mask_probs.device)
    return torch.stack(list(iter_pasted_masks(mask_probs, regions, image_size, threshold)))


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
