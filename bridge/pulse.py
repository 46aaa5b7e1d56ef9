"""A wake-up call for any number of waiters, that cannot be missed."""

from __future__ import annotations

import asyncio
import contextlib


class Pulse:
    """Counts `fire()`s. A waiter reads `count`, checks its condition (which may await), then
    calls `wait(count)`: a fire in between makes `wait` return at once, so none is missed."""

    def __init__(self) -> None:
        self.count = 0
        self._event = asyncio.Event()

    def fire(self) -> None:
        self.count += 1
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self, seen: int, timeout: float | None) -> None:
        """Return at the first fire after `seen`, or after `timeout` seconds."""
        if self.count != seen:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), timeout)
