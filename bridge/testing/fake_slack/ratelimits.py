"""Slack's rate limits, off until a test turns them on: per method and app by tier, and
``chat.postMessage``'s own pacing per channel."""

from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import dataclass

from bridge.testing.fake_slack.faults import Fault

# Calls a minute per method, from each method page's "Rate Limits" (Tier 2: 20+, Tier 3: 50+,
# Tier 4: 100+). chat.postMessage has its own per-channel limit (limit_posts); auth.test is
# "special" and left free. chat.getPermalink's page says only "special rate limits apply":
# the fake holds it to Tier 3 rather than leave it unlimited.
TIERS: dict[str, int] = {
    "usergroups.users.list": 20,
    "reactions.remove": 20,
    "apps.connections.open": 50,
    "chat.update": 50,
    "chat.delete": 50,
    "chat.getPermalink": 50,
    "reactions.add": 50,
    "conversations.info": 50,
    "conversations.replies": 50,
    "conversations.history": 50,
    "users.info": 100,
    "views.publish": 100,
    "views.open": 100,
    "chat.postEphemeral": 100,
    "files.info": 100,
    "files.getUploadURLExternal": 100,
    "files.completeUploadExternal": 100,
}


@dataclass
class Bucket:
    """A token bucket: ``burst`` calls at once, then ``rate`` calls a second."""

    rate: float
    burst: float
    tokens: float
    at: float

    def take(self, now: float) -> int | None:
        """Spend a token; if none is left, return the Retry-After (whole seconds) instead."""
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens < 1:
            return max(1, math.ceil((1 - self.tokens) / self.rate))
        self.tokens -= 1
        return None


class RateLimits:
    """The limits in force, and the calls they refused."""

    def __init__(self) -> None:
        self.post_limit: tuple[float, int] | None = None  # see limit_posts()
        self.ratelimited = 0  # chat.postMessage calls refused by limit_posts()
        # Every call the fake's own limits answered 429, per method (see limit_method).
        self.ratelimited_by_method: Counter[str] = Counter()
        self._once: dict[str, list[int]] = {}  # channel -> Retry-After of its next posts
        self._post_buckets: dict[str, Bucket] = {}
        self._method_buckets: dict[str, Bucket] = {}

    def limit_posts(self, rate: float, burst: int = 1) -> None:
        """Pace ``chat.postMessage`` per channel from now on."""
        self.post_limit = (rate, burst)
        self._post_buckets.clear()

    def rate_limit(self, channel: str, retry_after: int) -> None:
        """Refuse the next ``chat.postMessage`` to ``channel``."""
        self._once.setdefault(channel, []).append(retry_after)

    def limit_method(
        self,
        method: str,
        per_minute: float | None,
        *,
        burst: int | None = None,
        scale: float = 1.0,
    ) -> None:
        """Rate-limit one method from now on (None lifts the limit)."""
        if per_minute is None:
            self._method_buckets.pop(method, None)
            return
        if per_minute <= 0 or scale <= 0:
            raise ValueError("per_minute and scale must be positive")
        size = float(burst if burst is not None else max(1, math.floor(per_minute)))
        rate = per_minute / 60 * scale
        self._method_buckets[method] = Bucket(rate, size, size, time.monotonic())

    def enforce_tiers(self, scale: float = 1.0) -> None:
        """``limit_method`` every method of ``TIERS`` by its tier."""
        for method, per_minute in TIERS.items():
            self.limit_method(method, per_minute, scale=scale)

    def check(self, method: str, channel: str | None) -> Fault | None:
        """429 if one of the limits refuses this call (each method its own)."""
        retry_after: int | None = None
        now = time.monotonic()
        if method == "chat.postMessage":
            retry_after = self._post_retry_after(channel or "", now)
        bucket = self._method_buckets.get(method)
        if retry_after is None and bucket is not None:
            retry_after = bucket.take(now)
        if retry_after is None:
            return None
        self.ratelimited_by_method[method] += 1
        return Fault("ratelimited", 429, {"Retry-After": str(retry_after)}, False)

    def _post_retry_after(self, channel: str, now: float) -> int | None:
        pending = self._once.get(channel)
        if pending:
            return pending.pop(0)
        if self.post_limit is None:
            return None
        # Slack's own pacing of chat.postMessage: a token bucket per channel.
        rate, burst = self.post_limit
        bucket = self._post_buckets.setdefault(channel, Bucket(rate, burst, burst, now))
        retry_after = bucket.take(now)
        if retry_after is not None:
            self.ratelimited += 1
        return retry_after
