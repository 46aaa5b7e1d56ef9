"""Per-channel pacing of posts, each method's rate tier, and Slack's `Retry-After` pauses.

Each key (a channel, a method) keeps a theoretical arrival time (the GCRA form of a token
bucket): a call may go once the key's schedule allows it, with up to `burst` at once after a
quiet spell. `reserve()` books the next slot and says how long to wait for it, so a caller
can step aside (the outbox defers the row) instead of holding a worker while it waits;
`take()` books one only if it may go now.

`Pacer` keeps the budgets in memory, for a bridge that has its database to itself;
`SharedPacer` keeps them in the database, one budget for all the instances that share it
(PostgreSQL), so a 429 one of them meets pauses them all.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from bridge.store import Store


class Pacing(Protocol):
    """A budget per key, at some rate with some burst."""

    async def reserve(self, key: str) -> float:
        """Book a call for `key`: seconds until its slot (0 = now)."""
        ...

    async def take(self, key: str) -> float:
        """Book a call for `key` if it may go now (0); else the seconds until it may, and
        nothing is booked."""
        ...

    async def paused(self, key: str) -> float:
        """Seconds left of a `Retry-After` pause (0 = not paused)."""
        ...

    async def pause(self, key: str, seconds: float) -> None:
        """Slack said 429: nothing more for `key` for `seconds`, and no burst after."""
        ...


PacingFor = Callable[[str, float, int], Pacing]
"""A budget for a name (`posts`, or a method's), at `rate` calls a second with bursts up to
`burst`."""


@dataclass
class _Channel:
    tat: float  # when the bucket would be full again (theoretical arrival time)
    paused_until: float = 0.0


class Pacer(Pacing):
    """`rate` calls a second per key with bursts up to `burst`, in memory; rate 0 = no
    pacing, only pauses."""

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

    async def reserve(self, channel: str) -> float:
        state, now = self._channel(channel), self._clock()
        tat = max(state.tat, now, state.paused_until)
        slot = max(tat - self._tolerance, now, state.paused_until)
        state.tat = tat + self._interval
        return slot - now

    async def take(self, channel: str) -> float:
        state, now = self._channel(channel), self._clock()
        wait = max(0.0, state.tat - self._tolerance - now, state.paused_until - now)
        if wait == 0:
            state.tat = max(state.tat, now) + self._interval
        return wait

    async def paused(self, channel: str) -> float:
        state = self._channels.get(channel)
        return max(0.0, state.paused_until - self._clock()) if state else 0.0

    async def pause(self, channel: str, seconds: float) -> None:
        state, now = self._channel(channel), self._clock()
        state.paused_until = max(state.paused_until, now + seconds)
        state.tat = max(state.tat, state.paused_until + self._tolerance)


class SharedPacer(Pacing):
    """`Pacer`'s budgets, kept in the database's `pacing` table under `name`: every instance
    on the database spends from the same ones. Times are the instances' clocks, which must
    agree (as the outbox's leases already ask)."""

    def __init__(
        self,
        store: Store,
        name: str,
        rate: float,
        burst: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._name = name
        self._interval = 1.0 / rate if rate > 0 else 0.0
        self._tolerance = (burst - 1) * self._interval
        self._clock = clock

    def _key(self, key: str) -> str:
        return f"{self._name} {key}" if key else self._name

    async def reserve(self, key: str) -> float:
        if not self._interval:  # no schedule to book (nor to skew across clocks): the pause
            return await self.paused(key)
        key, now, spend = self._key(key), self._clock(), (self._interval, self._tolerance)
        return await self._store.write(lambda tx: tx.pace_reserve(key, now, *spend))

    async def take(self, key: str) -> float:
        if not self._interval:
            return await self.paused(key)
        key, now, spend = self._key(key), self._clock(), (self._interval, self._tolerance)
        return await self._store.write(lambda tx: tx.pace_take(key, now, *spend))

    async def paused(self, key: str) -> float:
        key, now = self._key(key), self._clock()
        return await self._store.read(lambda tx: tx.pace_paused(key, now))

    async def pause(self, key: str, seconds: float) -> None:
        key, now, tolerance = self._key(key), self._clock(), self._tolerance
        await self._store.write(lambda tx: tx.pace_pause(key, now, seconds, tolerance))
