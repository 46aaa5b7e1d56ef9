"""A fake Slack driven by the real slack_sdk client, as the bridge drives it, and a small
aiohttp app standing in for the bridge's endpoint."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qs

import pytest
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from bridge.testing.fake_slack import FakeSlack


@asynccontextmanager
async def bolt_over_http(fake: FakeSlack, app: AsyncApp) -> AsyncIterator[None]:
    """Serve a Bolt app at /slack/events on 127.0.0.1, and have the fake deliver there."""

    async def endpoint(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await app.async_dispatch(await to_bolt_request(request)))

    web_app = web.Application()
    web_app.router.add_post("/slack/events", endpoint)
    runner = web.AppRunner(web_app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    fake.events_url = f"http://127.0.0.1:{runner.addresses[0][1]}/slack/events"
    try:
        yield
    finally:
        await runner.cleanup()


CHANNEL = "C0HANDOFF"
AGENT = "UAGENT"
GUEST = "UGUEST"


class Receiver:
    """Stands in for the bridge's /slack/events: records what arrives, answers ``status``."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.status = 200
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/slack/events", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}/slack/events"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        self.requests.append((dict(request.headers), await request.read()))
        return web.Response(status=self.status)

    def bodies(self) -> list[dict[str, Any]]:
        """Each request body decoded: JSON envelopes, or the ``payload`` of a form."""
        out = []
        for headers, body in self.requests:
            if headers["Content-Type"].startswith("application/json"):
                out.append(json.loads(body))
            else:
                out.append(json.loads(parse_qs(body.decode())["payload"][0]))
        return out

    def events(self) -> list[dict[str, Any]]:
        return [b["event"] for b in self.bodies() if b.get("type") == "event_callback"]


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as slack:
        slack.add_channel(CHANNEL, "handoffs")
        slack.add_channel("C0ARCHIVE", "old", archived=True)
        slack.add_channel("C0OUTSIDE", "elsewhere", member=False)
        slack.add_channel("C0NEWS", "news", read_only=True)
        slack.add_channel("C0SMALL", "small", people={AGENT})
        slack.add_user(
            AGENT,
            "alice",
            display_name="Alice",
            real_name="Alice Liddell",
            email="alice@example.com",
            image="https://img.example/alice.png",
        )
        slack.add_user("UOTHER", "bob")
        slack.add_user(GUEST, "gus", team="T0OTHER")
        yield slack


@pytest.fixture
async def receiver(fake: FakeSlack) -> AsyncIterator[Receiver]:
    rec = Receiver()
    await rec.start()
    fake.events_url = rec.url
    yield rec
    await rec.stop()


@pytest.fixture
def client(fake: FakeSlack) -> AsyncWebClient:
    return AsyncWebClient(token=fake.bot_token, base_url=fake.api_url)


async def slack_error(call: Awaitable[Any]) -> SlackApiError:
    """The error slack_sdk raises for ``call``."""
    with pytest.raises(SlackApiError) as info:
        await call
    return info.value


async def refusal(call: Awaitable[Any]) -> dict[str, Any]:
    """The body of Slack's refusal of ``call`` (status 200 unless rate-limited)."""
    with pytest.raises(SlackApiError) as info:
        await call
    body = dict(info.value.response.data)
    body["status"] = info.value.response.status_code
    body["retry_after"] = info.value.response.headers.get("Retry-After")
    return body


def assert_signed(fake: FakeSlack, headers: dict[str, str], body: bytes) -> None:
    assert SignatureVerifier(fake.signing_secret).is_valid_request(body, headers)


def mrkdwn(text: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": text}


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def button(label: str = "Claim", **extra: Any) -> dict[str, Any]:
    return {
        "type": "button",
        "action_id": extra.pop("action_id", "claim"),
        "text": {"type": "plain_text", "text": label},
        **extra,
    }
