"""Socket Mode in the fake Slack: the real Bolt ``AsyncSocketModeHandler`` connects to it, and a
raw WebSocket client checks the frames one by one."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.app.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bridge.testing.fake_slack import FakeSlack
from tests.testing.fake_slack.conftest import AGENT, CHANNEL

JSON = dict[str, Any]


@pytest.fixture
def fake(fake: FakeSlack) -> FakeSlack:
    """The shared fake, quicker to give up on an envelope nobody acks."""
    fake.delivery_timeout = 2.0
    return fake


@dataclass
class Seen:
    """What the Bolt listeners received."""

    messages: list[JSON] = field(default_factory=list)
    retries: list[tuple[str, str | None, str | None]] = field(default_factory=list)
    actions: list[JSON] = field(default_factory=list)


@pytest.fixture
async def bolt(fake: FakeSlack) -> AsyncIterator[tuple[AsyncSocketModeHandler, Seen]]:
    app = AsyncApp(client=AsyncWebClient(token=fake.bot_token, base_url=fake.api_url))
    seen = Seen()

    @app.event("message")
    async def on_message(event: JSON, body: JSON, request: AsyncBoltRequest) -> None:
        seen.messages.append(event)
        num = request.headers.get("x-slack-retry-num")
        reason = request.headers.get("x-slack-retry-reason")
        seen.retries.append(
            (body["event_id"], num[0] if num else None, reason[0] if reason else None)
        )

    @app.action("claim")
    async def on_claim(ack: AsyncAck, body: JSON) -> None:
        await ack()
        seen.actions.append(body)

    # The handler's SocketModeClient calls apps.connections.open through app.client, whose
    # base_url is the fake's.
    handler = AsyncSocketModeHandler(app, fake.app_token)
    await handler.connect_async()  # type: ignore[no-untyped-call]
    try:
        await fake.wait_socket()
        yield handler, seen
    finally:
        await handler.close_async()  # type: ignore[no-untyped-call]


async def test_bolt_receives_thread_message_and_click(
    fake: FakeSlack, bolt: tuple[AsyncSocketModeHandler, Seen]
) -> None:
    handler, seen = bolt
    assert fake.events_url is None  # nothing can go over HTTP
    assert fake.calls_of("apps.connections.open") == [{}]

    parent = await fake.user_says(AGENT, CHANNEL, "I need a human")
    reply = await fake.user_says(AGENT, CHANNEL, "still there?", thread_ts=parent)
    assert [status for status, _ in fake.delivered] == [200, 200]
    await fake.wait_for(lambda: len(seen.messages) == 2)
    assert seen.messages[1]["ts"] == reply
    assert seen.messages[1]["thread_ts"] == parent
    assert seen.messages[1]["text"] == "still there?"

    button = {"type": "button", "text": {"type": "plain_text", "text": "Claim"}}
    posted = await handler.app.client.chat_postMessage(
        channel=CHANNEL,
        thread_ts=parent,
        text="Claim?",
        blocks=[{"type": "actions", "elements": [{**button, "action_id": "claim", "value": "h1"}]}],
    )
    await fake.flush()  # the echo of the bot's post went over the socket too
    assert await fake.click(AGENT, CHANNEL, str(posted["ts"]), "claim") == 200
    await fake.wait_for(lambda: len(seen.actions) == 1)
    assert seen.actions[0]["type"] == "block_actions"
    assert seen.actions[0]["actions"][0]["value"] == "h1"
    assert seen.actions[0]["container"]["thread_ts"] == parent

    assert [status for status, _ in fake.delivered] == [200, 200, 200, 200]
    assert fake.delivered[3][1]["type"] == "block_actions"
    assert len({ack["envelope_id"] for ack in fake.socket_acks}) == 4


async def test_retry_reaches_bolt_as_retry_headers(
    fake: FakeSlack, bolt: tuple[AsyncSocketModeHandler, Seen]
) -> None:
    _, seen = bolt
    event = {
        "type": "message",
        "user": AGENT,
        "text": "hello",
        "ts": "1700000000.000100",
        "channel": CHANNEL,
        "channel_type": "channel",
    }
    assert await fake.send_event(event, event_id="Ev0RETRY") == 200
    assert (
        await fake.send_event(event, event_id="Ev0RETRY", retry_num=1, retry_reason="timeout")
        == 200
    )
    await fake.wait_for(lambda: len(seen.retries) == 2)
    # Slack sends retry_attempt 0 on a first delivery, and Bolt copies it into the header.
    assert sorted(seen.retries, key=lambda r: str(r[1])) == [
        ("Ev0RETRY", "0", ""),
        ("Ev0RETRY", "1", "timeout"),
    ]


async def test_bolt_reconnects_after_disconnect(
    fake: FakeSlack, bolt: tuple[AsyncSocketModeHandler, Seen]
) -> None:
    _, seen = bolt
    await fake.socket_disconnect()
    await fake.wait_socket()
    assert len(fake.calls_of("apps.connections.open")) == 2
    await fake.user_says(AGENT, CHANNEL, "after the refresh")
    assert fake.delivered[-1][0] == 200
    await fake.wait_for(lambda: any(m["text"] == "after the refresh" for m in seen.messages))


async def test_apps_connections_open_wants_the_app_token(fake: FakeSlack) -> None:
    client = AsyncWebClient(base_url=fake.api_url)
    with pytest.raises(SlackApiError) as err:
        await client.apps_connections_open(app_token=fake.bot_token)
    assert err.value.response["error"] == "invalid_auth"
    with pytest.raises(SlackApiError) as err:
        await client.api_call("apps.connections.open")
    assert err.value.response["error"] == "not_authed"
    with pytest.raises(SlackApiError) as err:  # the app token is no bot token
        await AsyncWebClient(token=fake.app_token, base_url=fake.api_url).auth_test()
    assert err.value.response["error"] == "invalid_auth"

    opened = await client.apps_connections_open(app_token=fake.app_token)
    assert str(opened["url"]).startswith(
        f"ws://127.0.0.1:{fake.base_url.rpartition(':')[2]}/socket/"
    )


async def _socket_url(fake: FakeSlack) -> str:
    client = AsyncWebClient(base_url=fake.api_url)
    return str((await client.apps_connections_open(app_token=fake.app_token))["url"])


async def test_frames_over_a_raw_websocket(fake: FakeSlack) -> None:
    fake.events_url = "http://127.0.0.1:9/slack/events"  # unreachable: the socket wins
    url = await _socket_url(fake)
    async with aiohttp.ClientSession() as session, session.ws_connect(url, autoping=False) as ws:
        hello = await ws.receive_json(timeout=1)
        assert hello["type"] == "hello"
        assert hello["num_connections"] == 1
        assert hello["connection_info"] == {"app_id": fake.app_id}
        assert "host" in hello["debug_info"]
        assert fake.socket_connected

        await ws.ping(b"are you there")
        pong = await ws.receive(timeout=1)
        assert (pong.type, pong.data) == (aiohttp.WSMsgType.PONG, b"are you there")

        command = asyncio.create_task(fake.slash_command(AGENT, CHANNEL, "/handoff", "list"))
        frame = await ws.receive_json(timeout=1)
        assert frame["type"] == "slash_commands"
        assert frame["accepts_response_payload"] is True
        assert "retry_attempt" not in frame
        assert frame["payload"]["command"] == "/handoff"
        assert frame["payload"]["text"] == "list"
        await ws.send_json({"envelope_id": frame["envelope_id"], "payload": {"text": "ok"}})
        assert await command == 200
        assert fake.socket_acks[-1]["payload"] == {"text": "ok"}

        fake.delivery_timeout = 0.2  # not acked: the delivery fails, as Slack would see it
        said = asyncio.create_task(fake.user_says(AGENT, CHANNEL, "anyone?"))
        frame = await ws.receive_json(timeout=1)
        assert frame["type"] == "events_api"
        assert frame["accepts_response_payload"] is False
        assert (frame["retry_attempt"], frame["retry_reason"]) == (0, "")
        assert frame["payload"]["type"] == "event_callback"
        assert frame["payload"]["event"]["text"] == "anyone?"
        await said
        assert fake.delivered[-1] == (0, frame["payload"])

        fake.delivery_timeout = 5.0  # closed before the ack: fails at once
        said = asyncio.create_task(fake.user_says(AGENT, CHANNEL, "gone?"))
        await ws.receive_json(timeout=1)
        await ws.close()
        await asyncio.wait_for(said, 1)
        assert fake.delivered[-1][0] == 0
    assert not fake.socket_connected


async def test_delivery_waits_for_the_next_connection(fake: FakeSlack) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(await _socket_url(fake)) as ws:
            await ws.receive_json(timeout=1)
        said = asyncio.create_task(fake.user_says(AGENT, CHANNEL, "while reconnecting"))
        await asyncio.sleep(0.05)
        assert not said.done()
        async with session.ws_connect(await _socket_url(fake)) as ws:
            assert (await ws.receive_json(timeout=1))["type"] == "hello"
            frame = await ws.receive_json(timeout=1)
            assert frame["payload"]["event"]["text"] == "while reconnecting"
            await ws.send_json({"envelope_id": frame["envelope_id"]})
            await asyncio.wait_for(said, 1)
            assert fake.delivered[-1][0] == 200


async def test_disconnect_then_close(fake: FakeSlack) -> None:
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.WSServerHandshakeError) as err:
            await session.ws_connect(f"ws://{fake.base_url.removeprefix('http://')}/socket/nope")
        assert err.value.status == 401

        async with session.ws_connect(await _socket_url(fake)) as ws:
            await ws.receive_json(timeout=1)
            closing = asyncio.create_task(fake.socket_disconnect("link_disabled", grace=0))
            frame = await ws.receive_json(timeout=1)
            assert frame["type"] == "disconnect"
            assert frame["reason"] == "link_disabled"
            closed = await ws.receive(timeout=1)
            assert closed.type is aiohttp.WSMsgType.CLOSE
            await asyncio.wait_for(closing, 1)
    assert not fake.socket_connected
