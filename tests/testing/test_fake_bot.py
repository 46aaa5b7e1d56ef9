"""The fake bot's webhook receiver, fed with Standard Webhooks deliveries over HTTP."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from standardwebhooks.webhooks import Webhook

from bridge.testing.fake_bot import DEFAULT_SECRET, FakeBot


@pytest.fixture
async def bot() -> AsyncIterator[FakeBot]:
    async with FakeBot() as fake:
        yield fake


def event(event_id: str, type: str = "message") -> dict[str, Any]:
    return {
        "id": event_id,
        "type": type,
        "createdAt": "2026-11-23T22:21:04Z",
        "payload": {"conversationId": "c1"},
    }


async def deliver(
    bot: FakeBot, body: dict[str, Any], *, secret: str | None = None, msg_id: str | None = None
) -> int:
    """POST ``body`` signed the way the bridge signs webhooks; returns the status."""
    data = json.dumps(body)
    now = datetime.now(tz=UTC)
    msg_id = msg_id or str(body["id"])
    signature = Webhook(secret or bot.secret).sign(msg_id, now, data)
    headers = {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
    }
    async with (
        aiohttp.ClientSession() as http,
        http.post(bot.url, data=data.encode(), headers=headers) as resp,
    ):
        return resp.status


def test_default_secret_is_valid() -> None:
    assert DEFAULT_SECRET.startswith("whsec_")
    Webhook(DEFAULT_SECRET)  # raises on a malformed secret


async def test_verified_delivery_is_received(bot: FakeBot) -> None:
    assert bot.url.endswith("/webhook")
    assert await deliver(bot, event("e1")) == 204
    assert bot.received == [event("e1")]
    assert bot.received_headers[0]["webhook-id"] == "e1"
    assert bot.rejected == 0


async def test_bad_signature_is_rejected(bot: FakeBot) -> None:
    other = "whsec_" + "A" * 32
    assert await deliver(bot, event("e1"), secret=other) == 401
    async with (
        aiohttp.ClientSession() as http,
        http.post(bot.url, json=event("e2")) as resp,  # no signature headers at all
    ):
        assert resp.status == 401
    assert bot.rejected == 2
    assert bot.received == []


async def test_fail_next_then_recover(bot: FakeBot) -> None:
    bot.fail_next(2, status=502)
    assert await deliver(bot, event("e1")) == 502
    assert await deliver(bot, event("e1")) == 502
    assert await deliver(bot, event("e1")) == 204
    assert bot.received == [event("e1")]


async def test_down_answers_503(bot: FakeBot) -> None:
    bot.down = True
    assert await deliver(bot, event("e1")) == 503
    bot.down = False
    assert await deliver(bot, event("e1")) == 204
    assert len(bot.received) == 1


async def test_events_drop_repeats_and_filter(bot: FakeBot) -> None:
    for body in (event("e1"), event("e2", "hitlAssigned"), event("e1"), event("e3")):
        assert await deliver(bot, body) == 204
    assert len(bot.received) == 4
    assert [e["id"] for e in bot.events()] == ["e1", "e2", "e3"]
    assert [e["id"] for e in bot.events("hitlAssigned")] == ["e2"]
    assert [e["id"] for e in bot.events("message")] == ["e1", "e3"]


async def test_wait_for(bot: FakeBot) -> None:
    assert await deliver(bot, event("e1")) == 204
    await bot.wait_for(lambda: len(bot.events()) == 1)
    with pytest.raises(AssertionError, match="condition not met"):
        await bot.wait_for(lambda: len(bot.events()) == 2, timeout=0.05)
