"""Every event handler of the app runs through `guard`: one bad request never stops the server.

User errors (AppError, ImageError) become toasts with their message; anything unexpected is logged with its traceback
and shown as a toast naming the handler and the error.
"""
from __future__ import annotations

import functools
import logging
import traceback
from typing import Any, Callable

import gradio as gr

from .errors import AppError
from .images import ImageError

log = logging.getLogger("fpn.app")


def guard(fn: Callable) -> Callable:
    """Run a handler; user errors become gr.Error toasts, unexpected ones are logged and reported the same way."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except (AppError, ImageError) as e:
            raise gr.Error(str(e), duration=None) from None
        except Exception as e:  # noqa: BLE001 - the server must keep serving
            log.error("handler %s failed:\n%s", fn.__name__, traceback.format_exc())
            raise gr.Error(f"Unexpected error in {fn.__name__}: {type(e).__name__}: {e}", duration=None) from None

    return wrapper
