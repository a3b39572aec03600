"""Bottom-up pathway (Sec. 3): a ResNet whose stage outputs C2..C5 feed the pyramid.

C_k is the output of the last residual block of stage conv_k; its stride is 2**k pixels of the (resized, padded)
input image: C2 /4, C3 /8, C4 /16, C5 /32. conv1 is not part of the pyramid (memory footprint, Sec. 3).
"""
from __future__ import annotations

import os
from collections import OrderedDict
from functools import partial
from typing import Optional, Union

import torch
from torch import Tensor, nn
from torch.nn import functional as F
from torchvision import models
from torchvision.ops import misc

from ..hub import read_state_dict

DEPTHS = ("resnet18", "resnet34", "resnet50", "resnet101")
STRIDES = {"c2": 4, "c3": 8, "c4": 16, "c5": 32}
#: the torchvision ResNet stage whose output is C_k
STAGE_OF = {"c2": "layer1", "c3": "layer2", "c4": "layer3", "c5": "layer4"}


def stage_channels(depth: str) -> dict[str, int]:
    """Channels of C2..C5 for a ResNet depth (basic blocks: 64..512, bottlenecks: 256..2048)."""
    _check_depth(depth)
    base = [64, 128, 256, 512]
    mult = 1 if depth in ("resnet18", "resnet34") else 4
    return {name: c * mult for name, c in zip(("c2", "c3", "c4", "c5"), base)}


def _check_depth(depth: str) -> None:
    if depth not in DEPTHS:
        raise ValueError(f"unknown backbone {depth!r}; choose one of {', '.join(DEPTHS)}")


class FrozenBatchNorm2d(misc.FrozenBatchNorm2d):
    """BatchNorm with fixed statistics and affine parameters (the paper fine-tunes with BN frozen).

    Same buffers (and state-dict keys) as torchvision's and the same arithmetic, y = x * scale + shift. Without
    autograd it scales the conv output in place instead of allocating two new maps: bit-identical results, and a CPU
    ResNet-50 runs markedly faster (scripts/benchmark.py measures it).
    """

    def forward(self, x: Tensor) -> Tensor:
        scale = (self.weight * (self.running_var + self.eps).rsqrt()).reshape(1, -1, 1, 1)
        shift = self.bias.reshape(1, -1, 1, 1) - self.running_mean.reshape(1, -1, 1, 1) * scale
        if torch.is_grad_enabled() and x.requires_grad:
            return x * scale + shift
        # the input is a conv output nobody else reads: safe to overwrite when no graph is recorded
        return x.mul_(scale).add_(shift)


class FrozenBatchNorm2dKernel(FrozenBatchNorm2d):
    """Frozen BN computed by `F.batch_norm` without autograd, as Detectron2's FrozenBatchNorm2d does
    (detectron2/layers/batch_norm.py): the same affine map as `FrozenBatchNorm2d`, other rounding; with autograd
    x * scale + shift. Same buffers and state-dict keys."""

    def forward(self, x: Tensor) -> Tensor:
        if torch.is_grad_enabled() and x.requires_grad:
            return super().forward(x)
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, training=False,
                            eps=self.eps)


def load_imagenet_state_dict(depth: str) -> dict[str, Tensor]:
    """ImageNet weights of torchvision's ResNet: from torch's hub cache if present, else downloaded there (sha256
    checked, tqdm progress on stderr; `fpn.imagenet_weights`).

    Offline and without the file, raises fpn.WeightsDownloadError (a RuntimeError) that names the file and the
    folder to put it in.
    """
    from ..hub import WeightsDownloadError, imagenet_weights

    _check_depth(depth)
    try:
        path = imagenet_weights(depth)
    except WeightsDownloadError as err:
        raise WeightsDownloadError(f"could not load ImageNet weights for {depth}: {err} (Or pass "
                                   f"backbone_weights='/path/to/the/file'.)") from err
    return read_state_dict(path, "ImageNet weights")


def backbone_defaults(weights: object, norm: Optional[str], trainable_layers: Optional[int]) -> tuple[str, int]:
    """(norm, trainable_layers) with the defaults filled in: from pretrained weights the paper's fine-tuning setting,
    frozen BN and 3 trainable stages; from scratch trainable BN and all 5 stages."""
    pretrained = weights is not None
    return norm or ("frozen_bn" if pretrained else "bn"), (3 if pretrained else 5) if trainable_layers is None \
        else trainable_layers


def make_resnet(
    depth: str = "resnet50",
    weights: Optional[Union[str, os.PathLike]] = None,
    norm: Optional[str] = None,
    eps: float = 1e-5,
    stride_in_1x1: bool = False,
    bn_kernel: str = "scale_shift",
) -> models.ResNet:
    """A torchvision ResNet with `weights` (None: random init, "imagenet", or a state-dict file).

    norm: "frozen_bn" (statistics and affine fixed, the paper's fine-tuning setting) or "bn" (trainable BatchNorm).
    Default: "frozen_bn" when weights are given, "bn" when training from scratch.
    eps: added to the running variance before the square root (torchvision's COCO_V1 detector uses 0).
    stride_in_1x1: put each stage's stride on the first block's 1x1 conv instead of its 3x3 (MSRA's original
        ResNet, the layout of Detectron / Detectron2's weights: their STRIDE_IN_1X1).
    bn_kernel: how frozen BN computes at inference: "scale_shift" (x * scale + shift, torchvision's) or
        "batch_norm" (`F.batch_norm`, Detectron2's); the same map with other rounding.
    """
    _check_depth(depth)
    if norm is None:
        norm = "frozen_bn" if weights is not None else "bn"
    if norm not in ("frozen_bn", "bn"):
        raise ValueError(f"norm must be 'frozen_bn' or 'bn', got {norm!r}")
    if bn_kernel not in ("scale_shift", "batch_norm"):
        raise ValueError(f"bn_kernel must be 'scale_shift' or 'batch_norm', got {bn_kernel!r}")
    frozen = FrozenBatchNorm2d if bn_kernel == "scale_shift" else FrozenBatchNorm2dKernel
    norm_layer = partial(frozen if norm == "frozen_bn" else nn.BatchNorm2d, eps=eps)
    resnet = getattr(models, depth)(weights=None, norm_layer=norm_layer)
    if stride_in_1x1:
        _move_stride_to_1x1(resnet)
    if weights is not None:
        state = load_imagenet_state_dict(depth) if weights == "imagenet" else read_state_dict(weights, "backbone weights")
        state = {k: v for k, v in state.items() if not k.startswith("fc.") and not k.endswith("num_batches_tracked")}
        missing, unexpected = resnet.load_state_dict(state, strict=False)
        missing = [k for k in missing if not k.startswith("fc.")]
        if missing or unexpected:
            raise ValueError(
                f"backbone weights do not fit {depth}: missing {missing[:5]}{'...' if len(missing) > 5 else ''}, "
                f"unexpected {unexpected[:5]}{'...' if len(unexpected) > 5 else ''}"
            )
    return resnet


def _move_stride_to_1x1(resnet: models.ResNet) -> None:
    """Each strided bottleneck strides in its first 1x1 conv (MSRA ResNet) instead of its 3x3 (torchvision's)."""
    for stage in (resnet.layer1, resnet.layer2, resnet.layer3, resnet.layer4):
        block = stage[0]
        if not hasattr(block, "conv3"):
            raise ValueError("stride_in_1x1 applies to bottleneck ResNets (resnet50 / resnet101)")
        block.conv1.stride, block.conv2.stride = block.conv2.stride, (1, 1)


class BottomUp(nn.Module):
    """ResNet stem + stages conv2..conv_last, returning {"c2": C2, ..., "c<last>": C_last}.

    Args:
        resnet: a torchvision ResNet (see `make_resnet`). Its `layer4` is not used when `last` is "c4"
            (the C4 baseline runs conv5 inside the RoI head instead).
        last: the deepest stage computed, "c4" or "c5".
        trainable_layers: how many stages, counted from conv5 down to conv1, receive gradients (0..5), as in torchvision.

    Input [N, 3, H, W] (normalised image batch, H and W multiples of 32); output maps [N, C_k, H / 2**k, W / 2**k].
    The fast inference paths swap in `fpn.modeling.fast.backbone.FusedBottomUp` (BN folded into the convs, ReLU /
    residual sums fused, channels-last maps; same parameters).
    """

    def __init__(self, resnet: models.ResNet, last: str = "c5", trainable_layers: int = 3) -> None:
        super().__init__()
        if last not in ("c4", "c5"):
            raise ValueError(f"last must be 'c4' or 'c5', got {last!r}")
        if not 0 <= trainable_layers <= 5:
            raise ValueError(f"trainable_layers must be in 0..5, got {trainable_layers}")
        self.names = ["c2", "c3", "c4"] + (["c5"] if last == "c5" else [])
        self.conv1, self.bn1, self.relu, self.maxpool = resnet.conv1, resnet.bn1, resnet.relu, resnet.maxpool
        self.layer1, self.layer2, self.layer3 = resnet.layer1, resnet.layer2, resnet.layer3
        if last == "c5":
            self.layer4 = resnet.layer4
        trainable = ["layer4", "layer3", "layer2", "layer1", "conv1"][:trainable_layers]
        if trainable_layers == 5:
            trainable.append("bn1")
        for name, param in self.named_parameters():
            param.requires_grad_(any(name.startswith(t) for t in trainable))
        depth_channels = [m.out_channels for m in resnet.layer4.modules() if isinstance(m, nn.Conv2d)][-1]
        widths = {"c5": depth_channels, "c4": depth_channels // 2, "c3": depth_channels // 4, "c2": depth_channels // 8}
        self.out_channels = {n: widths[n] for n in self.names}
        self.strides = {n: STRIDES[n] for n in self.names}

    def forward(self, x: Tensor) -> "OrderedDict[str, Tensor]":
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        out: "OrderedDict[str, Tensor]" = OrderedDict()
        for name in self.names:
            x = getattr(self, STAGE_OF[name])(x)
            out[name] = x
        return out
