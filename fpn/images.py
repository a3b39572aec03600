"""Images in and out of the models: input checks, conversion to [3, H, W] tensors, the ImageNet statistics the
transform normalises with, the un-normalised view of a transformed image, and the one conversion of boxes between the
two pixel frames: ORIGINAL (the image given) and RESIZED (the image the network sees, before padding).

Both explorations (`fpn.explain.explore` and `fpn.modeling.mask_proposals.explore`) and both models import these from here.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

#: ImageNet mean / std (RGB, images in [0, 1]) that torchvision's ResNets were trained with.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def check_images(images: Any) -> None:
    """A clear ValueError / TypeError unless `images` is a non-empty list of [3, H, W] float tensors."""
    if not isinstance(images, (list, tuple)) or not images:
        raise TypeError("images must be a non-empty list of [3, H, W] float tensors in [0, 1]")
    for i, img in enumerate(images):
        if not isinstance(img, Tensor) or img.dim() != 3 or img.shape[0] != 3:
            shape = tuple(img.shape) if isinstance(img, Tensor) else type(img).__name__
            raise ValueError(f"image {i}: expected a [3, H, W] tensor, got {shape}")
        if not img.is_floating_point():
            raise ValueError(f"image {i}: expected a float tensor in [0, 1], got dtype {img.dtype}")
        if img.shape[1] < 1 or img.shape[2] < 1:
            raise ValueError(f"image {i}: empty image of shape {tuple(img.shape)}")


def as_image_tensor(image: Any) -> Tensor:
    """A [3, H, W] float tensor in [0, 1] from a tensor, a PIL image, or an HxW / HxWx3 / HxWx4 numpy array
    (uint8 / uint16 scaled to [0, 1], floats taken as they are)."""
    if isinstance(image, Tensor):
        if image.dim() != 3 or image.shape[0] != 3:
            raise ValueError(f"expected a [3, H, W] image tensor, got {tuple(image.shape)}")
        return image.float() if image.is_floating_point() else image.float() / 255.0
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover
        Image = None
    if Image is not None and isinstance(image, Image.Image):
        image = np.asarray(image.convert("RGB"))
    if isinstance(image, np.ndarray):
        if image.ndim == 2:
            image = np.repeat(image[..., None], 3, axis=2)
        if image.ndim != 3 or image.shape[2] not in (3, 4):
            raise ValueError(f"expected an HxW, HxWx3 or HxWx4 array, got shape {image.shape}")
        image = image[..., :3]
        scale = 65535.0 if image.dtype == np.uint16 else 255.0 if image.dtype == np.uint8 else 1.0
        # a copy: the caller's array may be read-only (a cached image) and must never be written through
        return torch.from_numpy(np.array(image, dtype=np.float32)).permute(2, 0, 1) / scale
    raise TypeError(f"cannot read an image from {type(image).__name__}")


def unnormalize(transform: Any, batch_image: Tensor, size: tuple[int, int]) -> Tensor:
    """The resized input [3, h, w] in [0, 1] from one padded, normalised image [3, H, W] of the transform's batch;
    size = (h, w), the image's resized size before padding. A transform with its own `unnormalize` (another input
    convention, e.g. `fpn.modeling.uint8_transform`) is asked."""
    if hasattr(transform, "unnormalize"):
        return transform.unnormalize(batch_image, size)
    mean = torch.tensor(transform.image_mean, device=batch_image.device)[:, None, None]
    std = torch.tensor(transform.image_std, device=batch_image.device)[:, None, None]
    return (batch_image[:, : size[0], : size[1]] * std + mean).clamp(0, 1)


def rescale_boxes(boxes: Tensor, from_size: tuple[int, int], to_size: tuple[int, int]) -> Tensor:
    """The one conversion between the two pixel frames: boxes [N, 4] (x1, y1, x2, y2) from the pixels of an image of
    `from_size` to those of the same image at `to_size` (sizes (height, width)). Resized -> original:
    rescale_boxes(b, resized, original); original -> resized: rescale_boxes(b, original, resized). The x and y factors
    differ slightly when the resize rounds the two sides differently."""
    ratio_h = to_size[0] / from_size[0]
    ratio_w = to_size[1] / from_size[1]
    return boxes * boxes.new_tensor([ratio_w, ratio_h, ratio_w, ratio_h])
