"""A load balancer for tests, in front of several bridges: each request goes to the next
backend in turn, as nginx's `upstream` sends it. A backend that refuses the connection (it
is down) is skipped for the next; one that fails once the request went out gets the client
a 502, as nginx does for a POST (it may have been taken)."""

from __future__ import annotations

from types import TracebackType

import aiohttp
from aiohttp import web

# Hop-by-hop headers, and those aiohttp sets itself.
_NOT_PASSED = {"host", "connection", "content-length", "transfer-encoding", "keep-alive"}


class Balancer:
    def __init__(self, backends: list[str]) -> None:
        self.backends = backends
        self.url = ""
        self._next = 0
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Balancer:
        app = web.Application(client_max_size=8 * 1024 * 1024)
        app.router.add_route("*", "/{path:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=40))
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _forward(self, request: web.Request) -> web.Response:
        assert self._session is not None
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _NOT_PASSED}
        for _ in self.backends:
            backend = self.backends[self._next % len(self.backends)]
            self._next += 1
            try:
                async with self._session.request(
                    request.method, backend + request.path_qs, data=body, headers=headers
                ) as answer:
                    content = await answer.read()
                    passed = {
                        k: v for k, v in answer.headers.items() if k.lower() not in _NOT_PASSED
                    }
                    return web.Response(status=answer.status, body=content, headers=passed)
            except aiohttp.ClientConnectorError:
                continue  # down: the next one
            except (aiohttp.ClientError, TimeoutError):
                return web.Response(status=502)
        return web.Response(status=502)
