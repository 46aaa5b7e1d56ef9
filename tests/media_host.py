"""A web server standing in for where the bot's media lives, on a loopback address."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web
from aiohttp.typedefs import Handler

PICTURE = b"\x89PNG picture"


class MediaHost:
    """`/{name}`: a picture; `/gone/{name}`: a 404; `/to?url=U`: a 302 to U; `/hops/{n}`:
    n redirects before a picture; `/big/{size}`: that many bytes (`?chunked=1`: without a
    length); `/slow`: an answer that never comes; `/stall`: one that stops part way; `/gzip`:
    an encoded body. `hits` lists the paths asked for."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        self.url = ""
        self._released = asyncio.Event()

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._count])
        app.router.add_get("/to", self._to)
        app.router.add_get("/hops/{n}", self._hops)
        app.router.add_get("/big/{size}", self._big)
        app.router.add_get("/slow", self._slow)
        app.router.add_get("/stall", self._stall)
        app.router.add_get("/gzip", self._gzip)
        app.router.add_get("/gone/{name}", self._gone)
        app.router.add_get("/{name}", self._picture)
        return app

    @web.middleware
    async def _count(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        self.hits.append(request.path)
        return await handler(request)

    def release(self) -> None:
        """Let the answers that wait (`/slow`, `/stall`) end, so the server can stop."""
        self._released.set()

    async def _picture(self, request: web.Request) -> web.Response:
        return web.Response(body=PICTURE, content_type="image/png")

    async def _to(self, request: web.Request) -> web.Response:
        raise web.HTTPFound(request.query["url"])

    async def _hops(self, request: web.Request) -> web.Response:
        left = int(request.match_info["n"])
        raise web.HTTPFound(f"/hops/{left - 1}" if left > 1 else "/picture.png")

    async def _big(self, request: web.Request) -> web.StreamResponse:
        body = b"x" * int(request.match_info["size"])
        if not request.query.get("chunked"):
            return web.Response(body=body, content_type="image/png")
        response = web.StreamResponse(headers={"Content-Type": "image/png"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        await response.write(body)
        await response.write_eof()
        return response

    async def _slow(self, request: web.Request) -> web.Response:
        await self._released.wait()
        return web.Response(body=PICTURE, content_type="image/png")

    async def _stall(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "image/png"})
        await response.prepare(request)
        await response.write(PICTURE[:4])
        await self._released.wait()
        return response

    async def _gone(self, request: web.Request) -> web.Response:
        return web.Response(status=404)

    async def _gzip(self, request: web.Request) -> web.Response:
        return web.Response(body=PICTURE, headers={"Content-Encoding": "gzip"})


@asynccontextmanager
async def serving(app: web.Application, host: str = "127.0.0.1") -> AsyncIterator[str]:
    """`app` served on `host` (any of 127.0.0.0/8 on Linux), port chosen freely: its URL."""
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, host, 0).start()
    try:
        yield f"http://{host}:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


@asynccontextmanager
async def media_host(host: str = "127.0.0.1") -> AsyncIterator[MediaHost]:
    """A `MediaHost` serving on `host`."""
    media = MediaHost()
    async with serving(media.app(), host) as media.url:
        try:
            yield media
        finally:
            media.release()  # before the server stops: it waits for its answers to end
