"""Detectron2's input convention, as a transform with torchvision's interface: 8-bit pixels, PIL resize, BGR 0-255.

Our API takes RGB float images in [0, 1]. Detectron2's models read BGR images in 0-255 that its DefaultPredictor
resized as uint8 arrays with PIL's bilinear filter to `int(x + 0.5)` sides (data/transforms/augmentation_impl.py,
ResizeShortestEdge; transform.py, ResizeTransform), minus a pixel mean in 0-255 units, divided by a std of 1, padded
with zeros to a multiple of the backbone's size divisibility (32 with FPN, none for C4). Detections are mapped back with
a Python float scale per axis, clipped, and empty boxes dropped (modeling/postprocessing.py, detector_postprocess).
Images that hold k / 255 values (every 8-bit photo) give Detectron2's input bit for bit.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import torch
from PIL import Image
from torch import Tensor, nn
from torchvision.models.detection.image_list import ImageList


def resized_size(h: int, w: int, min_size: int, max_size: int) -> tuple[int, int]:
    """(new_h, new_w) as Detectron2's ResizeShortestEdge.get_output_shape computes them (480x640 -> 800x1067)."""
    size = min_size * 1.0
    scale = size / min(h, w)
    newh, neww = (size, scale * w) if h < w else (scale * h, size)
    if max(newh, neww) > max_size:
        scale = max_size * 1.0 / max(newh, neww)
        newh, neww = newh * scale, neww * scale
    return int(newh + 0.5), int(neww + 0.5)


def to_uint8(image: Tensor) -> np.ndarray:
    """[3, H, W] float RGB in [0, 1] -> [H, W, 3] uint8 RGB (rounded: exact for k / 255 values)."""
    return (image.detach().float().cpu() * 255).round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()


class Uint8BGRTransform(nn.Module):
    """images (RGB [0, 1]) -> ImageList of BGR 0-255 minus mean, over std; the interface of torchvision's
    GeneralizedRCNNTransform (`forward`, `postprocess`, `min_size`, `max_size`, `image_mean`, `image_std`,
    `size_divisible`), so that `FasterRCNN` runs either.

    Args:
        min_size, max_size: shorter side after resizing, cap on the longer side.
        image_mean, image_std: per BGR channel, in 0-255 units (Detectron2: [103.530, 116.280, 123.675], [1, 1, 1]).
        size_divisible: pad the batch to a multiple of this (0 or 1: no padding beyond the largest image).
        fixed_size: (w, h) to resize every image to exactly (torchvision's argument order), or None.
    """

    def __init__(self, min_size: int, max_size: int, image_mean: list[float], image_std: list[float],
                 size_divisible: int = 32, fixed_size: Optional[tuple[int, int]] = None) -> None:
        super().__init__()
        self.min_size = (int(min_size[-1] if isinstance(min_size, (list, tuple)) else min_size),)
        self.max_size = int(max_size)
        self.image_mean, self.image_std = list(image_mean), list(image_std)
        self.size_divisible = int(size_divisible)
        self.fixed_size = fixed_size

    def _resize(self, image: Tensor) -> Tensor:
        """[3, H, W] RGB [0, 1] -> [3, h, w] float BGR 0-255 (the uint8 image resized by PIL, as Detectron2)."""
        h, w = image.shape[-2:]
        new_h, new_w = (self.fixed_size[1], self.fixed_size[0]) if self.fixed_size else \
            resized_size(int(h), int(w), self.min_size[-1], self.max_size)
        pixels = np.asarray(Image.fromarray(to_uint8(image)).resize((new_w, new_h), Image.BILINEAR))
        bgr = torch.as_tensor(pixels[:, :, ::-1].astype("float32").transpose(2, 0, 1))
        return bgr.to(image.device)

    def forward(self, images: list[Tensor], targets: Optional[list[dict[str, Tensor]]] = None
                ) -> tuple[ImageList, Optional[list[dict[str, Tensor]]]]:
        out, sizes, new_targets = [], [], None if targets is None else []
        mean = torch.tensor(self.image_mean, dtype=torch.float32).view(-1, 1, 1)
        std = torch.tensor(self.image_std, dtype=torch.float32).view(-1, 1, 1)
        for i, image in enumerate(images):
            x = self._resize(image)
            out.append((x - mean.to(x.device)) / std.to(x.device))
            sizes.append((int(x.shape[-2]), int(x.shape[-1])))
            if targets is not None:  # boxes scale with the image, as Detectron2's ResizeTransform.apply_coords
                t = dict(targets[i])
                fx, fy = x.shape[-1] * 1.0 / image.shape[-1], x.shape[-2] * 1.0 / image.shape[-2]
                t["boxes"] = t["boxes"] * t["boxes"].new_tensor([fx, fy, fx, fy])
                new_targets.append(t)
        h = max(s[0] for s in sizes)
        w = max(s[1] for s in sizes)
        if self.size_divisible > 1:
            d = self.size_divisible
            h, w = (h + d - 1) // d * d, (w + d - 1) // d * d
        batch = out[0].new_zeros((len(out), 3, h, w))
        for x, b in zip(out, batch):
            b[:, : x.shape[1], : x.shape[2]].copy_(x)
        return ImageList(batch, sizes), new_targets

    def rescale(self, boxes: Tensor, resized: tuple[int, int], original: tuple[int, int]) -> tuple[Tensor, Tensor]:
        """Boxes [N, 4] in resized pixels -> (boxes in original pixels, indices [M] of the non-empty ones kept): a
        Python float scale per axis, clip, drop empty boxes (Detectron2's detector_postprocess)."""
        boxes = boxes.clone()
        boxes[:, 0::2] *= original[1] / resized[1]
        boxes[:, 1::2] *= original[0] / resized[0]
        h, w = original
        boxes = torch.stack((boxes[:, 0].clamp(min=0, max=w), boxes[:, 1].clamp(min=0, max=h),
                             boxes[:, 2].clamp(min=0, max=w), boxes[:, 3].clamp(min=0, max=h)), dim=-1)
        keep = torch.where((boxes[:, 2] - boxes[:, 0] > 0) & (boxes[:, 3] - boxes[:, 1] > 0))[0]
        return boxes[keep], keep

    def postprocess(self, detections: list[dict[str, Tensor]], image_sizes: list[tuple[int, int]],
                    original_sizes: list[tuple[int, int]]) -> list[dict[str, Tensor]]:
        """Per image {"boxes", "scores", "labels"} from resized to original pixels, empty boxes dropped."""
        out = []
        for det, resized, original in zip(detections, image_sizes, original_sizes):
            boxes, keep = self.rescale(det["boxes"], resized, original)
            out.append({**{k: v[keep] for k, v in det.items()}, "boxes": boxes})
        return out

    def unnormalize(self, batch_image: Tensor, size: tuple[int, int]) -> Tensor:
        """One padded, normalised image [3, H, W] -> the resized RGB input [3, h, w] in [0, 1] (size = (h, w))."""
        mean = torch.tensor(self.image_mean, device=batch_image.device)[:, None, None]
        std = torch.tensor(self.image_std, device=batch_image.device)[:, None, None]
        bgr = batch_image[:, : size[0], : size[1]] * std + mean
        return (bgr.flip(0) / 255).clamp(0, 1)
