"""Deliveries to the app over HTTP: signed envelopes, echoes, retries, failures, and Bolt
accepting them."""

from __future__ import annotations

import time
from typing import Any

from slack_bolt.app.async_app import AsyncApp
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from bridge.testing.fake_slack import FakeSlack
from tests.testing.fake_slack.conftest import (
    AGENT,
    CHANNEL,
    Receiver,
    assert_signed,
    bolt_over_http,
)


async def test_user_says_delivers_signed_event(fake: FakeSlack, receiver: Receiver) -> None:
    parent = await fake.user_says(AGENT, CHANNEL, "a &amp; <@UOTHER>")
    reply = await fake.user_says("UOTHER", CHANNEL, "answer", thread_ts=parent)
    assert len(receiver.requests) == 2
    for headers, body in receiver.requests:
        assert headers["Content-Type"] == "application/json"
        assert_signed(fake, headers, body)
    envelope = receiver.bodies()[0]
    assert envelope["type"] == "event_callback"
    assert envelope["team_id"] == "T0FAKE"
    assert envelope["api_app_id"] == "A0FAKE"
    assert envelope["event_id"].startswith("Ev")
    assert envelope["authorizations"][0]["user_id"] == "UBRIDGE"
    event = envelope["event"]
    assert event["type"] == "message"
    assert "subtype" not in event
    assert (event["user"], event["channel"], event["ts"]) == (AGENT, CHANNEL, parent)
    assert event["text"] == "a &amp; <@UOTHER>"
    assert event["event_ts"] == parent
    assert event["channel_type"] == "channel"
    section = event["blocks"][0]["elements"][0]["elements"]
    assert section == [{"type": "text", "text": "a & "}, {"type": "user", "user_id": "UOTHER"}]
    threaded = receiver.events()[1]
    assert (threaded["ts"], threaded["thread_ts"], threaded["parent_user_id"]) == (
        reply,
        parent,
        AGENT,
    )
    assert [s for s, _ in fake.delivered] == [200, 200]
    assert [m.text for m in fake.thread(CHANNEL, parent)] == ["answer"]


async def test_no_event_where_the_bot_is_not(fake: FakeSlack, receiver: Receiver) -> None:
    await fake.user_says(AGENT, "C0OUTSIDE", "hi")
    assert receiver.requests == []
    assert [m.text for m in fake.messages("C0OUTSIDE")] == ["hi"]


async def test_echo_events(client: AsyncWebClient, fake: FakeSlack, receiver: Receiver) -> None:
    meta = {"event_type": "bridge_message", "event_payload": {"id": "m1"}}
    posted = await client.chat_postMessage(channel=CHANNEL, text="hi", metadata=meta)
    await client.chat_update(channel=CHANNEL, ts=posted["ts"], text="changed")
    await fake.flush()
    echo, changed = receiver.events()
    assert (echo["bot_id"], echo["app_id"], echo["user"]) == ("BBRIDGE", "A0FAKE", "UBRIDGE")
    assert echo["bot_profile"]["app_id"] == "A0FAKE"
    assert echo["metadata"] == meta
    assert changed["subtype"] == "message_changed"
    assert changed["message"]["text"] == "changed"
    assert changed["previous_message"]["text"] == "hi"
    for headers, body in receiver.requests:
        assert_signed(fake, headers, body)


async def test_echo_off(client: AsyncWebClient, receiver: Receiver) -> None:
    async with FakeSlack(echo_events=False) as quiet:
        quiet.add_channel(CHANNEL, "handoffs")
        quiet.events_url = receiver.url
        api = AsyncWebClient(token=quiet.bot_token, base_url=quiet.api_url)
        await api.chat_postMessage(channel=CHANNEL, text="hi")
        await quiet.flush()
    assert receiver.requests == []


async def test_send_event_retries_and_status(fake: FakeSlack, receiver: Receiver) -> None:
    event = {"type": "app_home_opened", "user": AGENT, "channel": "D1", "tab": "home"}
    receiver.status = 500
    assert await fake.send_event(event, event_id="Ev1") == 500
    receiver.status = 200
    assert await fake.send_event(event, event_id="Ev1", retry_num=1) == 200
    first, retry = receiver.requests
    assert "X-Slack-Retry-Num" not in first[0]
    assert (retry[0]["X-Slack-Retry-Num"], retry[0]["X-Slack-Retry-Reason"]) == (
        "1",
        "http_timeout",
    )
    assert [(s, e["event_id"]) for s, e in fake.delivered] == [(500, "Ev1"), (200, "Ev1")]


async def test_send_signed_low_level(fake: FakeSlack, receiver: Receiver) -> None:
    body = b'{"type": "event_callback"}'
    old = int(time.time()) - 600
    await fake.send_signed(body, "application/json", timestamp=old)
    await fake.send_signed(body, "application/json", signature="v0=bad")
    verifier = SignatureVerifier(fake.signing_secret)
    (stale_h, _), (bad_h, _) = receiver.requests
    assert stale_h["X-Slack-Request-Timestamp"] == str(old)
    assert stale_h["X-Slack-Signature"] == fake.signature(old, body)
    assert not verifier.is_valid_request(body, stale_h)  # too old
    assert not verifier.is_valid_request(body, bad_h)
    assert fake.delivered[0][1] == {"type": "event_callback"}


async def test_delivery_to_nowhere_is_status_zero(fake: FakeSlack) -> None:
    fake.events_url = "http://127.0.0.1:9/slack/events"
    assert await fake.send_event({"type": "app_home_opened", "user": AGENT}) == 0
    assert fake.delivered[-1][0] == 0


async def test_bolt_accepts_the_deliveries(fake: FakeSlack) -> None:
    """Bolt, wired as the bridge wires it, verifies and routes what the fake sends."""
    app = AsyncApp(
        client=AsyncWebClient(token=fake.bot_token, base_url=fake.api_url),
        signing_secret=fake.signing_secret,
    )
    seen: list[str] = []

    @app.message()
    async def on_message(message: dict[str, Any]) -> None:
        seen.append(f"message:{message['text']}")

    @app.action("claim")
    async def on_claim(ack: Any, body: dict[str, Any]) -> None:
        await ack()
        seen.append(f"claim:{body['actions'][0]['value']}")

    async with bolt_over_http(fake, app):
        button = {
            "type": "button",
            "action_id": "claim",
            "text": {"type": "plain_text", "text": "Claim"},
            "value": "c1",
        }
        posted = await app.client.chat_postMessage(
            channel=CHANNEL, text="p", blocks=[{"type": "actions", "elements": [button]}]
        )
        await fake.flush()
        await fake.user_says(AGENT, CHANNEL, "hello", thread_ts=posted["ts"])
        assert await fake.click(AGENT, CHANNEL, posted["ts"], "claim") == 200
        await fake.wait_for(lambda: len(seen) == 2)
        # The echo of the bot's own post was acknowledged and ignored.
        assert sorted(seen) == ["claim:c1", "message:hello"]
        assert all(status == 200 for status, _ in fake.delivered)
        assert await fake.send_signed(b"{}", "application/json", signature="v0=bad") == 401
