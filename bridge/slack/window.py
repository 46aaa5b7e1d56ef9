"""How many calls one Slack channel may have under way at once.

A channel whose calls hang must not hold the drainer's workers from every other channel, yet
one whose calls answer at once may use many of them (with self-pacing off, a busy channel is
otherwise held to a few calls at a time for nothing). So each channel gets a window, as a
TCP connection does: it starts at `LOW` calls, widens by one with each call answered within
`QUICK` seconds, up to `HIGH`, and halves, down to `LOW`, with each call that was slower or
came to nothing (a timeout, a lost connection, Slack's own trouble).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from bridge.outbox import Defer, Retry

LOW = 4
HIGH = 24
QUICK = 1.0


class Window:
    """One channel's calls under way, and how many it may have."""

    def __init__(self) -> None:
        self.limit = LOW
        self.under_way = 0
        self._waiting: deque[asyncio.Future[None]] = deque()

    @asynccontextmanager
    async def call(self) -> AsyncIterator[None]:
        """Wait for room in the window (first come, first served), and hold it for one
        call: the block's body. A `Retry` or `Defer` out of it counts as a call that came
        to nothing; any other answer, even a refusal, is an answer."""
        await self._enter()
        started, answered = time.monotonic(), False
        try:
            yield
            answered = True
        except Exception as exc:
            answered = not isinstance(exc, (Retry, Defer))
            raise
        finally:
            quick = answered and time.monotonic() - started <= QUICK
            self.limit = min(self.limit + 1, HIGH) if quick else max(self.limit // 2, LOW)
            self._leave()

    async def _enter(self) -> None:
        if self.under_way < self.limit and not self._waiting:
            self.under_way += 1
            return
        turn = asyncio.get_running_loop().create_future()
        self._waiting.append(turn)
        try:
            await turn  # `_leave` counted this call in as it gave the turn
        except asyncio.CancelledError:
            if turn.cancelled():
                with suppress(ValueError):  # `_leave` may have passed it over already
                    self._waiting.remove(turn)
            else:  # given the turn just as it was cancelled: hand it on
                self._leave()
            raise

    def _leave(self) -> None:
        self.under_way -= 1
        while self._waiting and self.under_way < self.limit:
            turn = self._waiting.popleft()
            if turn.done():  # cancelled while it waited
                continue
            self.under_way += 1
            turn.set_result(None)
