"""A fake bot: the receiver of the bridge's Standard Webhooks deliveries, on 127.0.0.1."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from types import TracebackType
from typing import Any, Self

from aiohttp import web
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from bridge.testing.waiting import wait_until

__all__ = ["DEFAULT_SECRET", "FakeBot"]

# A valid Standard Webhooks secret: "whsec_" + base64 of 24 bytes.
DEFAULT_SECRET = "whsec_" + base64.b64encode(b"hitl-bridge-fake-bot-key").decode()


class FakeBot:
    """Receives webhooks at ``url``, verifies them and keeps them for assertions."""

    def __init__(self, secret: str = DEFAULT_SECRET) -> None:
        self.secret = secret
        self.received: list[dict[str, Any]] = []
        self.received_headers: list[dict[str, str]] = []  # parallel to ``received``
        self.rejected = 0
        self.down = False
        self.hang_for: set[str] = set()  # conversation ids whose events are never answered
        self._unhang = asyncio.Event()
        self._webhook = Webhook(secret)
        self._failures: list[int] = []
        self._runner: web.AppRunner | None = None
        self._port = 0

    async def start(self) -> None:
        """Listen on a free port of 127.0.0.1."""
        app = web.Application()
        app.router.add_post("/webhook", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self._port = int(self._runner.addresses[0][1])

    def release(self) -> None:
        """Stop hanging: what is stuck gets a 504 now, and later events go through."""
        self.hang_for.clear()
        self._unhang.set()
        self._unhang = asyncio.Event()

    async def stop(self) -> None:
        """Stop listening."""
        self.release()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT/webhook``."""
        if not self._port:
            raise RuntimeError("FakeBot is not started")
        return f"http://127.0.0.1:{self._port}/webhook"

    def events(self, type: str | None = None) -> list[dict[str, Any]]:
        """Received events without repeats (by ``id``, first arrival), optionally of one type."""
        seen: set[object] = set()
        unique: list[dict[str, Any]] = []
        for event in self.received:
            key = event.get("id")
            if key in seen:
                continue
            seen.add(key)
            if type is None or event.get("type") == type:
                unique.append(event)
        return unique

    def fail_next(self, n: int, status: int = 500) -> None:
        """Answer the next ``n`` verified deliveries with ``status`` (not recorded)."""
        self._failures.extend([status] * n)

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        """Poll ``predicate`` every 10 ms; AssertionError if still false after ``timeout``,
        saying what the bot received."""

        def state() -> str:
            types = [event.get("type") for event in self.received[-10:]]
            return f"received {len(self.received)} (last types {types}), rejected {self.rejected}"

        await wait_until(predicate, timeout, state)

    async def _handle(self, request: web.Request) -> web.Response:
        if self.down:
            return web.Response(status=503, text="down")
        body = await request.read()
        headers = dict(request.headers)
        try:
            payload = self._webhook.verify(body, headers)
        except (WebhookVerificationError, ValueError):
            # ValueError: malformed headers or a body that is not JSON.
            self.rejected += 1
            return web.Response(status=401, text="invalid signature")
        if self._failures:
            return web.Response(status=self._failures.pop(0), text="failing on purpose")
        if not isinstance(payload, dict):
            self.rejected += 1
            return web.Response(status=400, text="body is not a JSON object")
        if (payload.get("payload") or {}).get("conversationId") in self.hang_for:
            await self._unhang.wait()  # a receiver stuck on this conversation, until stopped
            return web.Response(status=504, text="stuck")
        self.received.append(payload)
        self.received_headers.append(
            {k.lower(): v for k, v in headers.items() if k.lower().startswith("webhook-")}
        )
        return web.Response(status=204)
