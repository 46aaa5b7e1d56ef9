"""A budget of requests per client address and route, on the routes that ask for no
credentials (`/healthz`, `/metrics`, `/files/...`).

Everything else is closed to strangers by a token, a signature or a path token, which a
refused request costs almost nothing to check. These three do real work for anyone: a
metrics refresh reads the database, a file link fetches from Slack. Past its budget an
address gets 429 with `Retry-After` until its budget refills; other addresses, and its other
routes, are not affected. Behind a proxy every client shares the proxy's address, so the
budget is generous, and each route has its own: a burst of file downloads never makes the
balancer's health check fail.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from bridge.logs import Notice

log = logging.getLogger(__name__)

# Addresses remembered at once before the idle ones are forgotten; an idle address's budget
# is full, so forgetting it changes nothing.
TIDY_AT = 10_000

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class PerClient:
    """`rate` requests a second per key, bursts up to `burst` (GCRA: each key keeps the time
    its budget would be full again)."""

    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._interval = 1.0 / rate
        self._tolerance = (burst - 1) * self._interval
        self._clock = clock
        self._full_at: dict[str, float] = {}

    def take(self, key: str) -> float:
        """Spend one request of `key`'s budget: 0 if it may go now, else the seconds until
        it may (and nothing is spent)."""
        now = self._clock()
        full_at = max(self._full_at.get(key, now), now)
        wait = full_at - self._tolerance - now
        if wait > 0:
            return wait
        if len(self._full_at) >= TIDY_AT and key not in self._full_at:
            self._tidy(now)
        self._full_at[key] = full_at + self._interval
        return 0.0

    def __len__(self) -> int:
        return len(self._full_at)

    def _tidy(self, now: float) -> None:
        self._full_at = {k: t for k, t in self._full_at.items() if t > now}


class Throttle:
    """The middleware: requests to `paths` (a path equal to one, or under one ending in `/`)
    spend their client's budget for that one."""

    def __init__(self, paths: tuple[str, ...], rate: float, burst: int) -> None:
        self._paths = paths
        self._budget = PerClient(rate, burst)
        self.refused = Notice(
            f"refusing requests from a client past {rate:g} a second on {', '.join(paths)} (429)",
            log,
        )

    async def cleanup(self, app: web.Application) -> None:
        """`on_cleanup`: no report is due once the app is gone."""
        self.refused.close()

    def _route(self, path: str) -> str | None:
        """Which of `paths` this request spends from, if any."""
        for p in self._paths:
            if path == p or (p.endswith("/") and path.startswith(p)):
                return p
        return None

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        route = self._route(request.path)
        if route is None:
            return await handler(request)
        wait = self._budget.take(f"{route} {request.remote or ''}")
        if wait == 0:
            return await handler(request)
        self.refused.happened()
        seconds = math.ceil(wait)
        body = {
            "error": {
                "code": "rate_limited",
                "message": f"too many requests from this address; try again in {seconds} s",
            }
        }
        return web.json_response(body, status=429, headers={"Retry-After": str(seconds)})
