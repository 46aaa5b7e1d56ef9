"""The event loop the bridge runs on: uvloop's where it is installed (a dependency on Linux
and macOS), else asyncio's own.

uvloop runs the same asyncio code with its loop, transports and timers in C. For the bridge,
whose every message is two HTTP requests, a few futures and hand-offs with the database's
thread, that is CPU it does not spend (bench/RESULTS.md has the figures); the tests run on
the same loop (tests/conftest.py), so what is tested is what runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def factory() -> Callable[[], asyncio.AbstractEventLoop]:
    """What makes the loop: uvloop's `new_event_loop`, or asyncio's."""
    try:
        import uvloop
    except ImportError:  # Windows, or installed without it
        return asyncio.new_event_loop
    return uvloop.new_event_loop


def run(main: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run`, on the loop `factory` makes."""
    with asyncio.Runner(loop_factory=factory()) as runner:
        return runner.run(main)
