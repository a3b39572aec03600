"""The fast inference paths as a conversion of the model, the way torch's fusion passes swap fused modules in.

    convert(model, torch.float32)    fp32 fast path: BN folded, ReLU / sums fused, Winograd 3x3, channels-last,
                                     RoIAlign split over the threads
    convert(model, torch.bfloat16)   the same in bf16 where oneDNN has native kernels (convolutions, fc6 / fc7);
                                     fp32 where precision matters (box decoding, NMS, softmax, Eq. (1), RoIAlign)
    revert(model)                    the paper's modules as written (`FasterRCNN.exact()`)

In place: each paper module of a kind in `FUSED` is replaced, in its parent, by its fused version
(`fpn.modeling.fast.fused.Fused`), which shares the plain module's children, parameters and buffers. So the model's
state-dict keys and tensors do not change (checkpoints load into a converted model, and a converted model saves the
same file), and every holder of the parent (a view of the detector built on the same submodules, such as the scale
sweep's) runs the same path: nothing is converted behind the user's back, and nothing is reverted either.
"""
from __future__ import annotations

import logging
from typing import Optional, Union

import torch
from torch import nn

from ...devices import cpu_has_bf16_kernels, native_bf16
from ..bottom_up import BottomUp
from ..pyramid import FeaturePyramid
from ..roi_heads.box_head import ResNetConv5Head, TwoMLPHead
from ..roi_heads.pooler import LevelRoIPooler
from ..rpn.head import RPNHead
from .backbone import FusedBottomUp, FusedConv5Head
from .fused import Fused
from .heads import FusedConv2d, FusedRoIPooler, FusedRPNHead, FusedTwoMLPHead

#: plain module class -> fused class, for every compute dtype (and the convolutions of every FeaturePyramid, see
#: `convert`)
FUSED: dict[type, type] = {BottomUp: FusedBottomUp, RPNHead: FusedRPNHead, ResNetConv5Head: FusedConv5Head,
                           LevelRoIPooler: FusedRoIPooler}
#: ... and those that only bf16 changes (in fp32 the plain module is already what the fast path runs)
FUSED_BF16: dict[type, type] = {**FUSED, TwoMLPHead: FusedTwoMLPHead}
#: the names `precision` accepts
PRECISIONS = ("bf16", "fp32", "auto")
DTYPES = {"bf16": torch.bfloat16, "fp32": torch.float32}

_log = logging.getLogger(__name__)
_said_auto: set[str] = set()


def _swap(root: nn.Module, replace) -> nn.Module:
    """Replace, in every parent of `root`'s tree, each child by replace(child) (one replacement per module, however
    many parents hold it). Returns root."""
    new: dict[int, nn.Module] = {}
    for parent in list(root.modules()):
        for name, child in list(parent._modules.items()):
            if child is None:
                continue
            if id(child) not in new:
                new[id(child)] = replace(child)
            parent._modules[name] = new[id(child)]
    return root


def convert(root: nn.Module, dtype: torch.dtype = torch.float32, map_dtype: Optional[torch.dtype] = None
            ) -> nn.Module:
    """Swap the fused modules in (in place) for inference in `dtype` (torch.float32 or torch.bfloat16). A model
    converted before is converted again to `dtype`. map_dtype: the dtype the pyramid hands on (None: `dtype`; the
    mask proposer's MLPs read fp32). Returns root."""
    if dtype not in (torch.float32, torch.bfloat16):
        raise ValueError(f"the fast path computes in torch.float32 or torch.bfloat16, not {dtype}")
    table = FUSED_BF16 if dtype == torch.bfloat16 else FUSED

    def replace(child: nn.Module) -> nn.Module:
        plain = _plain(child)
        cls = table.get(type(plain))
        if cls is None:
            return plain
        return cls.of(plain, dtype)

    _swap(root, replace)
    for pyramid in [m for m in root.modules() if isinstance(m, FeaturePyramid)]:
        for convs, out_dtype in ((pyramid.lateral.convs, None), (pyramid.output, map_dtype)):
            for name, conv in list(convs.items()):
                convs[name] = fused = FusedConv2d.of(conv, dtype)
                fused.__dict__["out_dtype"] = out_dtype
    return root


def revert(root: nn.Module) -> nn.Module:
    """The paper's modules back in place of the fused ones, in the mode (train / eval) the model is in; the folded
    and cast weights the fused path kept are dropped. Returns root."""
    _swap(root, _plain)
    for module in root.modules():
        module.__dict__.pop("_inference_weights", None)
    return root


def _plain(module: nn.Module) -> nn.Module:
    if isinstance(module, Fused):
        module.plain.training = module.training  # eval() / train() after conversion reached the fused one
        return module.plain
    return module


def inference_precision(root: nn.Module) -> str:
    """"exact" (no fused module: the paper's modules as written), "fp32" or "bf16" (the fused modules' dtype)."""
    dtypes = {m.compute_dtype for m in root.modules() if isinstance(m, Fused)}
    if not dtypes:
        return "exact"
    return "bf16" if torch.bfloat16 in dtypes else "fp32"


def resolve_precision(mode: str, device: Union[str, torch.device]) -> torch.dtype:
    """"bf16" | "fp32" | "auto" -> the compute dtype on `device`. "auto": bf16 where the device runs it natively
    (`fpn.devices.native_bf16`), else fp32, said once per device kind in the log."""
    if mode not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {mode!r}")
    if mode == "bf16" and torch.device(device).type == "cpu" and not cpu_has_bf16_kernels():
        raise ValueError("precision('bf16'): this CPU has no oneDNN bf16 kernels (AVX-512 or AVX-NE-CONVERT; an "
                         "AVX2-only CPU has none), so bf16 would be emulated, far slower than fp32, and oneDNN's "
                         "fused bf16 convolutions refuse to run; use precision('fp32') or precision('auto')")
    if mode != "auto":
        return DTYPES[mode]
    if native_bf16(device):
        return torch.bfloat16
    kind = torch.device(device).type
    if kind not in _said_auto:
        _said_auto.add(kind)
        _log.warning("precision('auto'): %s has no native bf16 arithmetic (AVX-512 BF16 / AMX, or CUDA sm80+); "
                     "inference runs in fp32", kind)
    return torch.float32


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter (CPU for a model without parameters)."""
    return next((p.device for p in model.parameters()), torch.device("cpu"))
