"""Per-channel pacing of posts: a token bucket, and Slack's `Retry-After` pauses."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class _Bucket:
    tokens: float
    at: float
    paused_until: float = 0.0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class Pacer:
    """`rate` posts per second per channel with bursts up to `burst`; rate 0 = no pacing,
    only pauses. Waiters of one channel go in turn, each reserving its token before it
    sleeps, so a backlog drains at exactly the rate."""

    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def _bucket(self, channel: str) -> _Bucket:
        bucket = self._buckets.get(channel)
        if bucket is None:
            bucket = self._buckets[channel] = _Bucket(self._burst, self._clock())
        return bucket

    async def acquire(self, channel: str) -> None:
        bucket = self._bucket(channel)
        async with bucket.lock:
            while (wait := bucket.paused_until - self._clock()) > 0:
                await asyncio.sleep(wait)
            if self._rate <= 0:
                return
            now = self._clock()
            bucket.tokens = min(self._burst, bucket.tokens + (now - bucket.at) * self._rate)
            bucket.at = now
            bucket.tokens -= 1
            if bucket.tokens < 0:
                await asyncio.sleep(-bucket.tokens / self._rate)

    def pause(self, channel: str, seconds: float) -> None:
        """Slack said 429: nothing more to this channel for `seconds`, and no burst after."""
        bucket = self._bucket(channel)
        bucket.paused_until = max(bucket.paused_until, self._clock() + seconds)
        bucket.tokens = 0.0
        bucket.at = bucket.paused_until
