"""The Flask class of this server: Flask, remembering which of its functions are plain.

Flask's ``ensure_sync`` (its documented override point for how views run) asks
``inspect.iscoroutinefunction`` of every hook and view it calls, on every request: three
times per protected request (a hook, the view, the app context's teardown), each time
unwrapping the function and reading its code flags. The answer for a given function
never changes, so it is kept here: a set of the plain functions the app has called,
bounded by what the app registered (measured: ~2 µs of a protected request in process).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask


class AuthServerFlask(Flask):
    """Flask whose ``ensure_sync`` remembers the functions that need no wrapping."""

    #: More than any app registers; past it, functions are simply not remembered.
    MAX_REMEMBERED = 4096

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._plain: set[Callable[..., Any]] = set()

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        try:
            if func in self._plain:
                return func
        except TypeError:  # an unhashable callable: ask every time
            return super().ensure_sync(func)
        synced = super().ensure_sync(func)
        if synced is func and len(self._plain) < self.MAX_REMEMBERED:
            self._plain.add(func)
        return synced
