"""Training targets: which windows are positives / negatives and what mask each positive predicts.

For a window of pair (level P_k, MLP) with stride s = 2**k, canonical size c and band [lo, hi) (see scales.py), and a
ground-truth object with box centre (ox, oy) and size z = longer box side (pixels of the resized image):

    centred  :  |ox - x| <= t  and  |oy - y| <= t           (x, y) = window centre
    in band  :  lo <= z < hi                                 (the pair nearest to z in log space)
    positive :  centred and in band, for some object

rule "paper" (the FPN appendix, the default): t = s (one cell either way, for both MLPs); every other window centred
in the un-padded image is a negative (no ignore zone; negatives train only the score branch).
rule "deepmask": t = c / 8 (DeepMask's +-16 px for a 128 px object: s for 5x5, s sqrt(2) for 7x7), and
    near     :  |ox - x| < 2 t and |oy - y| < 2 t and c / 2 < z < 2 c (for the finest/coarsest pair the size test
                is open below/above like its band)
    negative :  not near any object                          (DeepMask: offset >= 32 px or scale off by >= 2**1)
    ignored  :  near some object but positive for none
Under both rules a window centred outside the un-padded image is ignored.

A positive predicts the mask of the positive object whose centre is nearest (max-norm) to the window centre.
Mask target: that object's instance mask cropped to the window's region (square of side `region` centred on the
window) and resampled to mask_size x mask_size with RoIAlign (aligned=True, bilinear on the 0/1 mask), then >= 0.5.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor
from torchvision.ops import roi_align

from .scales import WindowScale

POSITIVE, NEGATIVE, IGNORE = 1, 0, -1
RULES = ("paper", "deepmask")


def window_centres(height: int, width: int, stride: int, device=None) -> Tensor:
    """Centres [height * width, 2] (x, y) in pixels of a level's positions, row-major: (j * stride, i * stride)."""
    ys, xs = torch.meshgrid(
        torch.arange(height, device=device, dtype=torch.float32) * stride,
        torch.arange(width, device=device, dtype=torch.float32) * stride,
        indexing="ij",
    )
    return torch.stack([xs.reshape(-1), ys.reshape(-1)], dim=1)


def window_regions(centres: Tensor, region: float) -> Tensor:
    """Square regions [P, 4] (x1, y1, x2, y2) of side `region` pixels centred on `centres` [P, 2]."""
    half = region / 2.0
    return torch.cat([centres - half, centres + half], dim=1)


def inside_image(centres: Tensor, image_size: tuple[int, int]) -> Tensor:
    """BoolTensor [P]: window centre lies in the un-padded image of size (height, width)."""
    h, w = image_size
    return (centres[:, 0] >= 0) & (centres[:, 0] < w) & (centres[:, 1] >= 0) & (centres[:, 1] < h)


def assign_windows(
    centres: Tensor, scale: WindowScale, boxes: Tensor, valid: Tensor, finest: bool, coarsest: bool,
    rule: str = "paper",
) -> tuple[Tensor, Tensor]:
    """Labels of the windows of one (level, MLP) pair for one image (rules in the module docstring).

    Args:
        centres: [K, 2] window centres (x, y), pixels.  scale: the pair's geometry.
        boxes: [N, 4] ground-truth boxes (x1, y1, x2, y2), pixels of the same image.
        valid: [K] bool, False for windows to ignore whatever the objects (centre in the padding).
        finest / coarsest: the pair is the model's finest / coarsest ("deepmask": its "near" size test is open
            below / above).
        rule: "paper" or "deepmask".
    Returns:
        labels [K] int64 in {1 positive, 0 negative, -1 ignore}; matched [K] int64 object index for positives, else -1.
    """
    if rule not in RULES:
        raise ValueError(f"window label rule must be one of {RULES}, got {rule!r}")
    tolerance = float(scale.stride) if rule == "paper" else scale.tolerance
    k = centres.shape[0]
    labels = torch.full((k,), NEGATIVE, dtype=torch.int64, device=centres.device)
    matched = torch.full((k,), -1, dtype=torch.int64, device=centres.device)
    if boxes.numel() > 0:
        obj_c = (boxes[:, :2] + boxes[:, 2:]) / 2  # [N, 2]
        size = (boxes[:, 2:] - boxes[:, :2]).max(dim=1).values  # [N]
        off = (centres[:, None, :] - obj_c[None, :, :]).abs().amax(dim=2)  # [K, N] max-norm offset
        in_band = (size >= scale.band_lo) & (size < scale.band_hi)  # [N]
        near_lo = 0.0 if finest else scale.canonical / 2
        near_hi = math.inf if coarsest else scale.canonical * 2
        near_size = (size > near_lo) & (size < near_hi)
        positive = (off <= tolerance) & in_band[None, :]  # [K, N]
        if rule == "deepmask":
            labels[((off < 2 * tolerance) & near_size[None, :]).any(dim=1)] = IGNORE
        is_pos = positive.any(dim=1)
        labels[is_pos] = POSITIVE
        if is_pos.any():
            dist = torch.where(positive, off, torch.full_like(off, math.inf))
            matched[is_pos] = dist[is_pos].argmin(dim=1)
    labels[~valid] = IGNORE
    matched[~valid] = -1
    return labels, matched


def crop_mask_targets(masks: Tensor, matched: Tensor, regions: Tensor, mask_size: int) -> Tensor:
    """Mask targets [P, mask_size, mask_size] (float 0/1) of the objects `matched` [P] inside `regions` [P, 4].

    masks: [N, H, W] instance masks (any dtype, nonzero = object) in pixels of the image the regions refer to.
    Parts of a region outside the mask array count as background.
    """
    if matched.numel() == 0:
        return masks.new_zeros((0, mask_size, mask_size), dtype=torch.float32)
    used, inverse = matched.unique(return_inverse=True)
    src = (masks[used] > 0).to(torch.float32)[:, None]  # [U, 1, H, W]: only the objects actually matched
    rois = torch.cat([inverse[:, None].to(regions.dtype), regions], dim=1)
    crops = roi_align(src, rois, output_size=(mask_size, mask_size), spatial_scale=1.0, sampling_ratio=2, aligned=True)
    return (crops[:, 0] >= 0.5).to(torch.float32)
