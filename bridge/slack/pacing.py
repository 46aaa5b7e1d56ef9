"""Per-channel pacing of posts, and Slack's `Retry-After` pauses.

Each channel keeps a theoretical arrival time (the GCRA form of a token bucket): a post may go
once the channel's schedule allows it, with up to `burst` posts at once after a quiet spell.
`reserve()` books the next slot and says how long to wait for it, so a caller can step aside
(the outbox defers the row) instead of holding a worker while it waits.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Channel:
    tat: float  # when the bucket would be full again (theoretical arrival time)
    paused_until: float = 0.0


class Pacer:
    """`rate` posts per second per channel with bursts up to `burst`; rate 0 = no pacing,
    only pauses."""

    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._interval = 1.0 / rate if rate > 0 else 0.0
        self._tolerance = (burst - 1) * self._interval
        self._clock = clock
        self._channels: dict[str, _Channel] = {}

    def _channel(self, channel: str) -> _Channel:
        state = self._channels.get(channel)
        if state is None:
            state = self._channels[channel] = _Channel(tat=self._clock())
        return state

    def reserve(self, channel: str) -> float:
        """Book a post in `channel`: seconds until its slot (0 = now)."""
        state, now = self._channel(channel), self._clock()
        tat = max(state.tat, now, state.paused_until)
        slot = max(tat - self._tolerance, now, state.paused_until)
        state.tat = tat + self._interval
        return slot - now

    def available(self, channel: str) -> float:
        """Seconds until a post in `channel` could go (0 = now), booking nothing."""
        state = self._channels.get(channel)
        if state is None:
            return 0.0
        now = self._clock()
        return max(0.0, state.tat - self._tolerance - now, state.paused_until - now)

    def paused(self, channel: str) -> float:
        """Seconds left of a `Retry-After` pause (0 = not paused)."""
        state = self._channels.get(channel)
        return max(0.0, state.paused_until - self._clock()) if state else 0.0

    def pause(self, channel: str, seconds: float) -> None:
        """Slack said 429: nothing more to this channel for `seconds`, and no burst after."""
        state, now = self._channel(channel), self._clock()
        state.paused_until = max(state.paused_until, now + seconds)
        state.tat = max(state.tat, state.paused_until + self._tolerance)
