"""A fake Botpress: its hitl-api integration's requests, and its webhook receiver.

The requests replay what the integration's published release (`plus/hitl-api` 0.2.x,
botpress/growth `integrations/hitl-api/src`) sends: `index.ts` calls `externalService.ts`,
which builds each body, passes it through its zod schema (`types.ts`) and POSTs it with
axios under `endpointBaseUrl`, no credentials. What the schemas do is done here too:
`createRemoteConversation` keeps only `title`, `description` and `messages` of the startHitl
input; `createRemoteUser` keeps every createUser field after `role`; `botSendsMessage`
carries its ids at the top level and the message payload untouched, with no `type`. The
bridge answers on Botpress's webhook at `/agent-assigned`, `/message-from-agent` and
`/stop-hitl`, which the fake records.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
from collections.abc import Callable
from typing import Any, Self

import aiohttp
from aiohttp import web

JSON = dict[str, Any]

# The headers axios (1.x, in Node) sends with a JSON body; Content-Length is added per call.
AXIOS_HEADERS = {
    "Accept": "application/json, text/plain, */*",
    "Content-Type": "application/json",
    "User-Agent": "axios/1.13.2",
    "Accept-Encoding": "gzip, compress, deflate, br",
}
BOT_USER = "BOT"  # sendRawPayload's remoteUserId when the payload has no userId
_LONE_SURROGATE = re.compile(r"[\ud800-\udfff]")


def axios_json(body: Any) -> bytes:
    """`body` as axios serialises it: JSON.stringify (compact, non-ASCII as is, lone
    surrogates escaped), in UTF-8."""
    text = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    return _LONE_SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text).encode()


class FakeBotpress:
    """The bot's side of a hitl-api install: Botpress's ids, their remote (bridge) ids."""

    def __init__(self) -> None:
        self.endpoint_base_url = ""  # the setting: {BRIDGE_PUBLIC_URL}/botpress/{token}
        self.received: list[tuple[str, JSON]] = []  # (path, body) of webhook calls, in order
        self.fail_next = 0  # answer the next webhook calls with 500
        self.external: dict[str, str] = {}  # Botpress user/conversation id -> its externalId tag
        self._ids = itertools.count(1)
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

    # --- the integration's actions and channel, as index.ts runs them ---------------------

    async def register(self) -> int:
        """`register`: pingExternalService."""
        return (await self.post("ping", {"type": "ping"}))[0]

    async def create_user(self, **input: Any) -> str:
        """`createUser` (the hitl interface: name, pictureUrl?, email?): Botpress's user id."""
        body = {"type": "createRemoteUser", "payload": {"role": "end-user", **input}}
        return self._remember("user", _created(await self.post("createRemoteUser", body)))

    async def start_hitl(self, **input: Any) -> str:
        """`startHitl`: Botpress's conversation id. The zod object drops userId,
        messageHistory and hitlSession; JSON.stringify drops what is undefined."""
        kept = {k: input[k] for k in ("title", "description", "messages") if k in input}
        body = {"type": "createRemoteConversation", "payload": kept}
        created = _created(await self.post("createRemoteConversation", body))
        return self._remember("conv", created)

    async def message(self, conversation_id: str, payload: JSON) -> tuple[int, Any]:
        """A message on the `hitl` channel (sendRawPayload): from the end user when the
        payload carries Botpress's `userId`, else from the bot."""
        user = payload.get("userId")
        remote_user = self.external[user] if isinstance(user, str) and user else BOT_USER
        return await self.bot_sends_message(self.external[conversation_id], remote_user, payload)

    async def stop_hitl(self, conversation_id: str) -> tuple[int, Any]:
        """`stopHitl`: closeRemoteTicket names Botpress's own conversation id."""
        body = {"type": "closeRemoteTicket", "payload": {"botpressConversationId": conversation_id}}
        return await self.post("closeRemoteTicket", body)

    def remote(self, botpress_id: str) -> str:
        """The bridge's id behind a Botpress user or conversation id."""
        return self.external[botpress_id]

    # --- raw requests -------------------------------------------------------------------

    async def bot_sends_message(
        self, remote_conversation: str, remote_user: str, payload: Any, *, nested: bool = False
    ) -> tuple[int, Any]:
        """botSendsMessage as published (ids at the top level), or `nested` as the first
        release sent it (all three under "payload")."""
        fields = {
            "remoteConversationId": remote_conversation,
            "remoteUserId": remote_user,
            "payload": payload,
        }
        body = {"type": "botSendsMessage", "payload": fields} if nested else {
            "type": "botSendsMessage", **fields
        }  # fmt: skip
        return await self.post("botSendsMessage", body)

    async def post(self, name: str, body: Any) -> tuple[int, Any]:
        """POST `body` to `{endpointBaseUrl}/{name}` as axios does; (status, answer)."""
        assert self._session is not None
        url = f"{self.endpoint_base_url}/{name}"
        data = axios_json(body)
        async with self._session.post(url, data=data, headers=AXIOS_HEADERS) as resp:
            with contextlib.suppress(ValueError, aiohttp.ContentTypeError):
                return resp.status, await resp.json()
            return resp.status, await resp.text()

    def _remember(self, kind: str, external_id: str) -> str:
        botpress_id = f"bp_{kind}_{next(self._ids)}"
        self.external[botpress_id] = external_id
        return botpress_id

    async def _receive(self, request: web.Request) -> web.Response:
        if self.fail_next > 0:
            self.fail_next -= 1
            return web.Response(status=500)
        path = "/" + request.match_info["path"].split("/", 1)[-1]
        # The integration's handler JSON.parses the raw body, whatever its content type.
        self.received.append((path, json.loads(await request.text())))
        return web.json_response({})


def _created(answer: tuple[int, Any]) -> str:
    """The `id` of a create call's answer: axios wants a 2xx, the zod schema a string id."""
    status, body = answer
    assert 200 <= status < 300 and isinstance(body, dict), (status, body)
    assert isinstance(body.get("id"), str), body
    return str(body["id"])
