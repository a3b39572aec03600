"""The paper's optimizer and learning-rate schedule (Sec. 5): SGD with momentum and weight decay, linear warmup,
then x ``gamma`` at step milestones."""
from __future__ import annotations

import torch


class WarmupMultiStep:
    """lr factor at optimizer step ``s`` (0-based): linear warmup from ``warmup_factor`` over ``warmup_iters``
    steps, times ``gamma`` at each milestone (step numbers)."""

    def __init__(self, warmup_iters: int, warmup_factor: float, milestones: list[int], gamma: float) -> None:
        self.warmup_iters, self.warmup_factor = int(warmup_iters), float(warmup_factor)
        self.milestones, self.gamma = sorted(int(m) for m in milestones), float(gamma)

    def __call__(self, step: int) -> float:
        factor = self.gamma ** sum(step >= m for m in self.milestones)
        if step < self.warmup_iters:
            alpha = step / self.warmup_iters
            factor *= self.warmup_factor * (1 - alpha) + alpha
        return factor


def milestones_for(steps: list[float], total_iters: int) -> list[int]:
    """Step numbers of the lr drops: values <= 1 are fractions of the run, larger ones step numbers."""
    return [round(s * total_iters) if 0 < s <= 1 else int(s) for s in steps]


def make_optimizer(model: torch.nn.Module, lr: float, momentum: float, weight_decay: float) -> torch.optim.SGD:
    """SGD over every trainable parameter, in one group.

    Detectron's recipe decays all trainable weights, biases and normalisation parameters included, so a separate
    no-decay group would carry the same numbers.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)


def make_scheduler(optimizer: torch.optim.Optimizer, schedule: WarmupMultiStep) -> torch.optim.lr_scheduler.LambdaLR:
    """Multiplies the optimizer's base lr by ``schedule(step)``; step it once per optimizer step."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
