"""Every event handler of the app runs through `guard`: one bad request never stops the server.

User errors (AppError, ImageError) become toasts with their message; anything unexpected is logged with its traceback
and shown as a toast naming the handler and the error.
"""
from __future__ import annotations

import contextlib
import functools
import inspect
import logging
import traceback
from typing import Any, Callable, Iterator

import gradio as gr

from .errors import AppError
from .images import ImageError

log = logging.getLogger("fpn.app")


def guard(fn: Callable) -> Callable:
    """Run a handler; user errors become gr.Error toasts, unexpected ones are logged and reported the same way. A
    generator handler (a view streamed as it is computed) stays a generator, guarded at every step."""
    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def stream(*args: Any, **kwargs: Any) -> Iterator[Any]:
            with _errors_as_toasts(fn.__name__):
                yield from fn(*args, **kwargs)

        return stream

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with _errors_as_toasts(fn.__name__):
            return fn(*args, **kwargs)

    return wrapper


@contextlib.contextmanager
def _errors_as_toasts(name: str) -> Iterator[None]:
    try:
        yield
    except gr.Error:
        raise
    except (AppError, ImageError) as e:
        raise gr.Error(str(e), duration=None) from None
    except Exception as e:  # noqa: BLE001 - the server must keep serving
        log.error("handler %s failed:\n%s", name, traceback.format_exc())
        raise gr.Error(f"Unexpected error in {name}: {type(e).__name__}: {e}", duration=None) from None
