"""Feature maps [C, H, W] -> pictures: a channel aggregate (L2 norm, mean, one channel) as a heat map, or PCA to RGB."""
from __future__ import annotations

from typing import Optional, Sequence

import cv2
import numpy as np
import torch
from torch import Tensor

from .draw import BLACK, WHITE, blank, put_text, text_size

AGGREGATIONS = ("l2", "pca", "channel", "mean")

_DIVERGING = np.stack([np.interp(np.linspace(0, 1, 256), [0, 0.5, 1], c) for c in
                       ((59, 245, 180), (76, 245, 4), (192, 245, 38))], axis=1).round().astype(np.uint8)


def colorize(values: np.ndarray, vmin: Optional[float] = None, vmax: Optional[float] = None,
             diverging: bool = False) -> np.ndarray:
    """[H, W] floats -> [H, W, 3] uint8 RGB: viridis between vmin and vmax (default: 1st / 99th percentile), or
    blue-white-red symmetric around 0 when diverging."""
    v = np.asarray(values, dtype=np.float32)
    if diverging:
        m = value_range([v], True)[1] if vmax is None else float(vmax)
        m = m if m > 0 else 1.0
        idx = np.clip((v / m + 1) * 127.5, 0, 255).astype(np.uint8)
        return _DIVERGING[idx]
    lo, hi = value_range([v]) if vmin is None or vmax is None else (0.0, 0.0)
    lo, hi = lo if vmin is None else float(vmin), hi if vmax is None else float(vmax)
    u8 = np.clip((v - lo) / (hi - lo if hi > lo else 1.0) * 255, 0, 255).astype(np.uint8)
    return cv2.applyColorMap(u8, cv2.COLORMAP_VIRIDIS)[..., ::-1].copy()


def aggregate(feature: Tensor, mode: str = "l2", channel: int = 0) -> np.ndarray:
    """[C, H, W] -> [H, W] float32: "l2" norm over channels, "mean", or "channel" (index clamped to C - 1)."""
    if feature.dim() != 3:
        raise ValueError(f"expected a [C, H, W] feature map, got {tuple(feature.shape)}")
    f = feature.detach().float().cpu()
    if mode == "l2":
        return torch.linalg.vector_norm(f, dim=0).numpy()
    if mode == "mean":
        return f.mean(0).numpy()
    if mode == "channel":
        return f[min(max(int(channel), 0), f.shape[0] - 1)].numpy()
    raise ValueError(f"unknown aggregation {mode!r}; choose one of {', '.join(AGGREGATIONS)}")


def pca_basis(feature: Tensor, k: int = 3, iters: int = 8, max_pixels: int = 4096) -> tuple[Tensor, Tensor]:
    """(mean [C], top-k principal directions [C, k]) of the C-dim pixel vectors of a [C, H, W] map.

    Fitted on at most `max_pixels` evenly strided pixels, by subspace iteration on the C x C covariance: a few ms
    even for C = 2048, where a full float32 eigendecomposition can take seconds on a small CPU.
    """
    x = feature.detach().float().cpu().flatten(1).T.numpy()  # [HW, C]
    x = x[:: max(1, x.shape[0] // max_pixels)]
    mean = x.mean(0)
    xc = x - mean
    cov = (xc.T @ xc / max(x.shape[0] - 1, 1)).astype(np.float64)
    q = np.linalg.qr(np.random.default_rng(0).standard_normal((cov.shape[0], k)))[0]
    for _ in range(iters):
        q = np.linalg.qr(cov @ q)[0]
    # orient each direction so its largest component is positive: stable colours from run to run
    signs = np.sign(q[np.abs(q).argmax(0), np.arange(q.shape[1])])
    q = q * np.where(signs == 0, 1.0, signs)
    return torch.from_numpy(mean), torch.from_numpy(q.astype(np.float32))


def pca_rgb(features: Sequence[Tensor], basis_from: Optional[Tensor] = None) -> list[np.ndarray]:
    """Project [C, H, W] maps onto the 3 principal components of `basis_from` (default: the first map) and show
    them as RGB, with one shared normalisation so the maps can be compared."""
    mean, basis = pca_basis(features[0] if basis_from is None else basis_from)
    m, b = mean.numpy(), basis.numpy()
    projected = [((f.detach().float().cpu().flatten(1).T.numpy() - m) @ b).reshape(*f.shape[1:], 3) for f in features]
    allv = np.concatenate([p.reshape(-1, 3) for p in projected])
    lo, hi = np.percentile(allv, 1, axis=0), np.percentile(allv, 99, axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    return [(np.clip((p - lo) / span, 0, 1) * 255).round().astype(np.uint8) for p in projected]


def render(features: Sequence[Tensor], mode: str = "l2", channel: int = 0, shared_scale: bool = False) -> list[np.ndarray]:
    """Maps [C, H, W] -> RGB [H, W, 3] uint8 pictures. shared_scale: one colour scale for all maps (Fig. 3 terms);
    otherwise each map is normalised on its own (maps of different levels have different magnitudes)."""
    features = list(features)
    if not features:
        return []
    if mode == "pca":
        if shared_scale:
            return pca_rgb(features, basis_from=features[-1])
        return [pca_rgb([f])[0] for f in features]
    values = [aggregate(f, mode, channel) for f in features]
    diverging = is_diverging(mode)
    if not shared_scale:
        return [colorize(v, diverging=diverging) for v in values]
    lo, hi = value_range(values, diverging)
    return [colorize(v, lo, hi, diverging=diverging) for v in values]


def is_diverging(mode: str) -> bool:
    """Signed aggregates (one channel, the mean) get the blue-white-red map centred on 0; the L2 norm viridis."""
    return mode in ("channel", "mean")


def value_range(values: Sequence[np.ndarray], diverging: bool = False) -> tuple[float, float]:
    """The colour scale `colorize` uses by default, over all `values` together: (1st, 99th) percentile, or
    (-m, m) with m the 99th percentile of |value| when diverging."""
    allv = np.concatenate([np.asarray(v, dtype=np.float32).ravel() for v in values])
    if diverging:
        m = float(np.percentile(np.abs(allv), 99))
        m = m if m > 0 else 1.0
        return -m, m
    return float(np.percentile(allv, 1)), float(np.percentile(allv, 99))


def describe(mode: str, channel: int, num_channels: int) -> str:
    """Short caption of what a rendered map shows."""
    if mode == "channel":
        return f"ch {min(max(int(channel), 0), num_channels - 1)}/{num_channels}"
    return {"l2": "L2 over {} ch", "mean": "mean of {} ch", "pca": "PCA of {} ch"}[mode].format(num_channels)


def meaning(mode: str, channel: int = 0, num_channels: Optional[int] = None) -> str:
    """What the colour of a rendered map means, in words (the caption of its colour bar)."""
    chans = f"the {num_channels} channels" if num_channels else "the channels"
    if mode == "pca":
        return f"colour = the 3 principal components of {chans} of each cell, as R, G, B"
    if mode == "l2":
        return f"colour = L2 norm of {chans} of each cell (how strongly it responds)"
    what = f"channel {int(channel)}" if mode == "channel" else f"mean of {chans}"
    return f"colour = {what} of each cell: blue negative, white 0, red positive"


def colorbar(mode: str, label: str, width: int = 360, lo: Optional[float] = None,
             hi: Optional[float] = None) -> np.ndarray:
    """A labelled colour bar ([H, width, 3] uint8) for maps rendered with `mode`: the gradient with its ends
    (`lo` / `hi` when one scale is shared, else "low" / "high"), and `label` (what the colour means) above it.
    PCA colours have no scale: the label alone."""
    h_text = text_size("Ag", 0.42)[1] + 4
    if mode == "pca":
        img = blank(h_text + 2, max(width, text_size(label, 0.42)[0] + 8), WHITE)
        put_text(img, label, (2, 1), BLACK, 0.42)
        return img
    diverging = is_diverging(mode)
    left = f"{lo:.3g}" if lo is not None else ("negative" if diverging else "low")
    right = f"{hi:.3g}" if hi is not None else ("positive" if diverging else "high")
    lw, rw = text_size(left, 0.42)[0] + 8, text_size(right, 0.42)[0] + 8
    bar_w = max(width - lw - rw, 64)
    img = blank(h_text + 18, max(lw + bar_w + rw, text_size(label, 0.42)[0] + 8), WHITE)
    put_text(img, label, (2, 1), BLACK, 0.42)
    ramp = np.linspace(-1.0 if diverging else 0.0, 1.0, bar_w, dtype=np.float32)[None, :].repeat(12, 0)
    img[h_text + 3: h_text + 15, lw: lw + bar_w] = colorize(ramp, vmin=0.0, vmax=1.0, diverging=diverging)
    put_text(img, left, (2, h_text), BLACK, 0.42)
    put_text(img, right, (lw + bar_w + 4, h_text), BLACK, 0.42)
    return img
