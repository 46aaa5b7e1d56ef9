"""A fake Botpress: the requests its hitl-api integration sends, and its webhook receiver.

The request shapes follow the integration's source (`externalService.ts`): every call is a
POST of `{"type": ..., "payload": {...}}` under `endpointBaseUrl`; the bridge answers to
Botpress's webhook at `/agent-assigned`, `/message-from-agent` and `/stop-hitl`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any, Self

import aiohttp
from aiohttp import web

JSON = dict[str, Any]


class FakeBotpress:
    def __init__(self) -> None:
        self.endpoint_base_url = ""  # the bridge's {BRIDGE_PUBLIC_URL}/botpress[/token]
        self.received: list[tuple[str, JSON]] = []  # (path, body) of webhook calls, in order
        self.fail_next = 0  # answer the next webhook calls with 500
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._port = 0

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/{path:.*}", self._receive)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self._port = int(self._runner.addresses[0][1])
        self._session = aiohttp.ClientSession()

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def webhook_url(self) -> str:
        """What BOTPRESS_WEBHOOK_URL is set to (Botpress's `webhook.botpress.cloud/{id}`)."""
        return f"http://127.0.0.1:{self._port}/hook-id"

    def calls(self, path: str) -> list[JSON]:
        return [body for p, body in self.received if p == path]

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while not predicate():
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"not met within {timeout} s; received {self.received}")
            await asyncio.sleep(0.01)

    # --- what the integration sends -----------------------------------------------------

    async def call(self, name: str, payload: JSON | None = None) -> tuple[int, Any]:
        body: JSON = {"type": name} if payload is None else {"type": name, "payload": payload}
        assert self._session is not None
        async with self._session.post(f"{self.endpoint_base_url}/{name}", json=body) as resp:
            with contextlib.suppress(ValueError, aiohttp.ContentTypeError):
                return resp.status, await resp.json()
            return resp.status, await resp.text()

    async def ping(self) -> int:
        return (await self.call("ping"))[0]

    async def create_user(self, **user: Any) -> str:
        status, body = await self.call("createRemoteUser", {"role": "end-user", **user})
        assert status == 200, body
        return str(body["id"])

    async def create_conversation(self, **input: Any) -> str:
        status, body = await self.call("createRemoteConversation", input)
        assert status == 200, body
        return str(body["id"])

    async def send(self, conversation: str, user: str, payload: JSON) -> tuple[int, Any]:
        return await self.call(
            "botSendsMessage",
            {"remoteConversationId": conversation, "remoteUserId": user, "payload": payload},
        )

    async def close(self, botpress_conversation_id: str) -> tuple[int, Any]:
        return await self.call(
            "closeRemoteTicket", {"botpressConversationId": botpress_conversation_id}
        )

    async def _receive(self, request: web.Request) -> web.Response:
        if self.fail_next > 0:
            self.fail_next -= 1
            return web.Response(status=500)
        path = "/" + request.match_info["path"].split("/", 1)[-1]
        self.received.append((path, await request.json()))
        return web.json_response({})
