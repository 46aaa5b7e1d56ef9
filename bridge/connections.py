"""The listening socket, guarded against clients that hold connections without using them
(slowloris). aiohttp bounds neither how long a request may take to arrive nor how many
connections may be open at once, so this does (the figures are `Limits`'):

- a connection that has not delivered a whole request header `header_timeout` seconds
  after it opened is closed (between requests, aiohttp's keep-alive timeout, `keepalive`,
  closes an idle connection, a half-sent next request included);
- a request whose body has not all arrived `body_timeout` seconds after its header has its
  connection closed;
- while `most` connections are open, a new one is closed as soon as it is accepted, so slow
  clients cannot use up the process's file descriptors.

Each condition is logged once when it begins, then at most once a minute with a count:
never a line per connection.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web

from bridge.logs import Notice

log = logging.getLogger(__name__)

MAX_CONNECTIONS = 1000

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def most_connections() -> int:
    """`MAX_CONNECTIONS`, or half the files the process may open if that is fewer (the rest
    are for the database, the calls out and the logs)."""
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (ImportError, OSError, ValueError):  # not a POSIX system
        return MAX_CONNECTIONS
    if soft == resource.RLIM_INFINITY:
        return MAX_CONNECTIONS
    return max(1, min(MAX_CONNECTIONS, soft // 2))


@dataclass(frozen=True)
class Limits:
    """How long a client may take, how many connections may be open at once, and how often
    one client may ask what needs no credentials."""

    header_timeout: float = 10.0
    body_timeout: float = 60.0
    # Longer than load balancers' usual idle timeout (60 s): the balancer, not the bridge,
    # ends an idle connection, so no request is ever sent down one the bridge is closing.
    keepalive: float = 75.0
    most: int = field(default_factory=most_connections)
    # Requests a second, and at once, one client address may make where no credentials are
    # asked (see `bridge.throttle`).
    anonymous_rate: float = 20.0
    anonymous_burst: int = 100


class Guard:
    """The limits: the site counts and times connections through it, and its middleware
    (outermost) times bodies."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.open = 0
        self.slow_headers = Notice(
            f"closing connections that sent no whole request header within "
            f"{limits.header_timeout:g} s (slow or idle clients)",
            log,
        )
        self.slow_bodies = Notice(
            f"closing connections whose request body did not arrive within "
            f"{limits.body_timeout:g} s",
            log,
        )
        self.full = Notice(
            f"{limits.most} connections open, the most allowed: closing new ones at once", log
        )

    async def cleanup(self, app: web.Application) -> None:
        """`on_cleanup`: no report is due once the app is gone."""
        for notice in (self.slow_headers, self.slow_bodies, self.full):
            notice.close()

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        connection = request.transport.get_protocol() if request.transport else None
        if isinstance(connection, _Connection):
            connection.served()
        if not request.body_exists or request.content.is_eof():
            return await handler(request)
        deadline = _BodyDeadline(self, request)
        try:
            return await handler(request)
        except ConnectionError:
            if not deadline.passed:
                raise
            # The connection is gone, so this is never sent; it only spares aiohttp's
            # "Error handling request" traceback for a close that was ours.
            return web.Response(status=408)
        finally:
            deadline.cancel()


class GuardedSite(web.BaseSite):
    """A TCP site whose every connection goes through a `Guard`."""

    def __init__(self, runner: web.BaseRunner, host: str, port: int, guard: Guard) -> None:
        super().__init__(runner)
        self._host = host
        self._port = port
        self._guard = guard

    @property
    def name(self) -> str:
        return f"http://{self._host}:{self._port}"

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        assert server is not None  # BaseSite checked that the runner was set up
        self._server = await asyncio.get_running_loop().create_server(
            lambda: _Connection(self._guard, server), self._host, self._port
        )


class _Connection(asyncio.Protocol):
    """One connection: refused when too many are open, else counted while open and closed
    if its first request header is late; everything else is aiohttp's handler's."""

    def __init__(self, guard: Guard, server: web.Server) -> None:
        self._guard = guard
        self._server = server
        self._handler: web.RequestHandler | None = None
        self._header_due: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self._guard.open >= self._guard.limits.most:
            self._guard.full.happened()
            transport.close()
            return
        self._guard.open += 1
        self._handler = self._server()
        self._header_due = asyncio.get_running_loop().call_later(
            self._guard.limits.header_timeout, self._late
        )
        self._handler.connection_made(transport)

    def served(self) -> None:
        """A whole request header arrived: the header deadline is met."""
        if self._header_due is not None:
            self._header_due.cancel()
            self._header_due = None

    def connection_lost(self, exc: Exception | None) -> None:
        if self._handler is None:
            return  # refused: never counted
        self._guard.open -= 1
        self.served()
        self._handler.connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._handler is not None:
            self._handler.data_received(data)

    def eof_received(self) -> None:
        # None: the transport closes once the client has sent all it will.
        if self._handler is not None:
            self._handler.eof_received()

    def pause_writing(self) -> None:
        if self._handler is not None:
            self._handler.pause_writing()

    def resume_writing(self) -> None:
        if self._handler is not None:
            self._handler.resume_writing()

    def _late(self) -> None:
        self._header_due = None
        if self._handler is not None and self._handler.transport is not None:
            self._guard.slow_headers.happened()
            self._handler.force_close()


class _BodyDeadline:
    """Closes the request's connection unless its body has all arrived in time."""

    def __init__(self, guard: Guard, request: web.Request) -> None:
        self.passed = False
        self._guard = guard
        self._request = request
        self._timer = asyncio.get_running_loop().call_later(guard.limits.body_timeout, self._expire)
        request.content.on_eof(self.cancel)

    def cancel(self) -> None:
        self._timer.cancel()

    def _expire(self) -> None:
        if self._request.transport is None:
            return  # the client went away by itself
        self.passed = True
        self._guard.slow_bodies.happened()
        # The handler's read then fails with ConnectionResetError (see Guard.middleware).
        self._request.transport.close()
