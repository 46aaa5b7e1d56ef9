"""Waiting in tests for something the fake will see, with a failure that says what."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import Callable


# A deadline argument (not a caller-side asyncio.timeout) lets the failure name the predicate.
async def wait_until(
    predicate: Callable[[], bool],
    timeout: float,
    state: Callable[[], str] | None = None,
) -> None:
    """Poll ``predicate`` every 10 ms; AssertionError naming it if false after ``timeout``
    (with ``state()``, what the fake saw, appended)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        if predicate():
            return
        if loop.time() >= deadline:
            what = getattr(predicate, "__qualname__", repr(predicate))
            with contextlib.suppress(OSError, TypeError):
                what = inspect.getsource(predicate).strip()
            detail = f"; {state()}" if state is not None else ""
            raise AssertionError(f"condition not met within {timeout} s: {what}{detail}")
        await asyncio.sleep(0.01)
