"""What every fused module is: a paper module with another forward, sharing its children, parameters and buffers.

`Fused.of(plain, dtype)` builds one: an instance of a subclass of the plain module's class whose `__dict__` starts as
a copy of the plain module's, so it holds the very same `_modules`, `_parameters` and `_buffers` dicts. Its
state-dict keys and tensors are the plain module's (checkpoints load either way, optimisers see the same
parameters); `.to()`, `load_state_dict` and `eval()` reach the same tensors and children. The plain module is kept
as `.plain` (outside `_modules`, so it is no extra state) for `fpn.modeling.fast.revert`.

The fused forward runs only at inference (eval mode, no autograd graph): in training, or with autograd on (receptive
fields, saliency), a fused module runs the plain forward, so gradients are the paper's modules' own.
"""
from __future__ import annotations

from typing import TypeVar

import torch
from torch import nn

M = TypeVar("M", bound="Fused")


class Fused:
    """Mixin of the fused module classes; subclasses also derive from the plain class they replace (so isinstance
    checks and attributes such as `out_channels` or `strides` keep working)."""

    plain: nn.Module
    #: dtype of the fused arithmetic (torch.float32 or torch.bfloat16)
    compute_dtype: torch.dtype

    @classmethod
    def of(cls: type[M], plain: nn.Module, compute_dtype: torch.dtype) -> M:
        if isinstance(plain, Fused):
            plain = plain.plain
        fused = cls.__new__(cls)
        fused.__dict__.update(plain.__dict__)  # the same child / parameter / buffer dicts: one state, two forwards
        fused.__dict__["plain"] = plain
        fused.__dict__["compute_dtype"] = compute_dtype
        return fused

    def fused_now(self) -> bool:
        """Whether the fused forward runs: eval mode, no autograd graph recorded."""
        return not self.training and not torch.is_grad_enabled()

    def extra_repr(self) -> str:
        return f"fused, {str(self.compute_dtype).replace('torch.', '')}"
