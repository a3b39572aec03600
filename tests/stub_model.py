"""A stand-in for a loaded detector, for tests that only check which file the app's registry loads."""
from __future__ import annotations

import torch


class StubModel(torch.nn.Linear):
    """What a loader returns in those tests: the registry calls .to(), .eval() and .precision() on it."""

    def __init__(self) -> None:
        super().__init__(2, 2)

    def precision(self, mode: str = "auto") -> "StubModel":
        return self
