"""Ctrl-C / SIGTERM during training: finish the step in progress, save, then stop."""
from __future__ import annotations

import contextlib
import signal
import sys
from collections.abc import Iterator
from types import FrameType


class StopRequest:
    """A SIGINT/SIGTERM handler that only records the request (``signum``); the loop stops at the end of the step.

    A second signal raises KeyboardInterrupt at once.  ``announce``: printed to stderr on the first signal
    (None: silent, as on ranks other than 0).
    """

    def __init__(self, announce: str | None = None) -> None:
        self.signum: int | None = None
        self.announce = announce

    @property
    def requested(self) -> bool:
        return self.signum is not None

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is not None:
            raise KeyboardInterrupt
        self.signum = signum
        if self.announce:
            print(f"\nreceived {signal.Signals(signum).name}: {self.announce}", file=sys.stderr)

    @contextlib.contextmanager
    def installed(self) -> Iterator[StopRequest]:
        """Handle SIGINT and SIGTERM inside the ``with`` block; the previous handlers come back after it."""
        old = {s: signal.signal(s, self) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield self
        finally:
            for s, handler in old.items():
                signal.signal(s, handler)
