"""Botpress's hitl-api integration, replayed request by request against the real bridge."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from bridge.testing.fake_botpress import FakeBotpress
from tests.conftest import ALICE, CHANNEL, Stage, StageFactory

PATH_TOKEN = "s3cret-path-token-0123456789"


@pytest.fixture
async def botpress() -> AsyncIterator[FakeBotpress]:
    async with FakeBotpress() as fake:
        yield fake


@pytest.fixture
async def bp_stage(make_stage: StageFactory, botpress: FakeBotpress) -> Stage:
    stage = await make_stage(
        webhook=False,
        BOTPRESS_WEBHOOK_URL=botpress.webhook_url,
        BOTPRESS_PATH_TOKEN=PATH_TOKEN,
    )
    botpress.endpoint_base_url = f"{stage.bridge.url}/botpress/{PATH_TOKEN}"
    return stage


async def test_a_handoff_from_botpress(bp_stage: Stage, botpress: FakeBotpress) -> None:
    slack, api = bp_stage.slack, bp_stage.api
    assert await botpress.ping() == 200
    user = await botpress.create_user(name="Erin", email="erin@example.com")
    conv = await botpress.create_conversation(title="Refund", description="order 42")
    parent = await bp_stage.parent_ts(conv)
    assert "not known yet" in str(slack.message(CHANNEL, parent).blocks)

    sends = [
        (user, {"type": "text", "text": "I want my money back"}),
        ("BOT", {"type": "text", "text": "Connecting you to an agent"}),
        (user, {"type": "image", "imageUrl": "https://img.example.com/receipt.png"}),
        (user, {"type": "markdown", "markdown": "**urgent**"}),
        ("BOT", {"type": "card", "title": "Order 42", "subtitle": "2 items",
                 "actions": [{"action": "postback", "label": "Track", "value": "t"}]}),
        ("BOT", {"type": "choice", "text": "Pick one", "options": [
            {"label": "Refund", "value": "r"}, {"label": "Replace", "value": "p"}]}),
        ("BOT", {"type": "location", "latitude": 48.85, "longitude": 2.35, "title": "Shop"}),
        ("BOT", {"type": "carousel", "items": [{"title": "A"}, {"title": "B"}]}),
    ]  # fmt: skip
    for who, payload in sends:
        status, _ = await botpress.send(conv, who, payload)
        assert status == 200, payload
    await slack.wait_for(lambda: len(slack.thread(CHANNEL, parent)) == len(sends), timeout=10)
    thread = slack.thread(CHANNEL, parent)
    assert thread[0].username == "Erin" and thread[1].username is None
    shown = str([m.blocks for m in thread])
    for text in ("I want my money back", "receipt.png", "urgent", "Order 42", "Track",
                 "Replace", "openstreetmap", "Shop"):  # fmt: skip
        assert text in shown, text
    await slack.wait_for(lambda: "Erin" in str(slack.message(CHANNEL, parent).blocks))

    await slack.user_says(ALICE, CHANNEL, "Hello Erin", thread_ts=parent)
    await botpress.wait_for(lambda: len(botpress.received) == 2)
    assigned, message = botpress.received
    assert assigned[0] == "/agent-assigned"
    assert assigned[1]["remoteConversationId"] == conv
    assert assigned[1]["agentDisplayName"] == "Alice"
    assert message == ("/message-from-agent", {
        "remoteConversationId": conv, "remoteUserId": assigned[1]["remoteUserId"],
        "messageType": "text", "payload": {"text": "Hello Erin"},
    })  # fmt: skip
    await bp_stage.wait_buttons(parent, ["release", "resolve"])
    await slack.click(ALICE, CHANNEL, parent, "resolve")
    await botpress.wait_for(lambda: len(botpress.received) == 3)
    assert botpress.received[2] == ("/stop-hitl", {"remoteConversationId": conv})
    assert (await api.conversation(conv))["userId"] == user


async def test_close_remote_ticket(bp_stage: Stage, botpress: FakeBotpress) -> None:
    conv = await botpress.create_conversation(title="Closing")
    await bp_stage.parent_ts(conv)
    status, body = await botpress.close("botpress-conversation-uuid")  # what Botpress sends
    assert (status, body) == (200, {"status": "unknown"})
    assert (await bp_stage.api.conversation(conv))["status"] == "waiting"
    status, body = await botpress.close(conv)  # a caller that sends the remote id
    assert (status, body) == (200, {"status": "closed"})
    assert (await bp_stage.api.conversation(conv))["status"] == "stopped"
    await bp_stage.wait_buttons(await bp_stage.parent_ts(conv), [])
    assert botpress.received == []  # a stop asked for by the bot is not echoed


async def test_botpress_paths_need_the_token(bp_stage: Stage, botpress: FakeBotpress) -> None:
    botpress.endpoint_base_url = f"{bp_stage.bridge.url}/botpress"
    assert await botpress.ping() == 404
    botpress.endpoint_base_url = f"{bp_stage.bridge.url}/botpress/wrong-token-000000000"
    assert await botpress.ping() == 404


async def test_bad_requests_get_4xx(bp_stage: Stage, botpress: FakeBotpress) -> None:
    status, _ = await botpress.send("conv_nobody", "BOT", {"type": "text", "text": "x"})
    assert status == 404
    status, _ = await botpress.call("botSendsMessage", {"remoteConversationId": "x"})
    assert status == 400
    conv = await botpress.create_conversation()
    user = await botpress.create_user(name="Erin")
    other = await botpress.create_user(name="Someone else")
    assert (await botpress.send(conv, user, {"type": "text", "text": "hi"}))[0] == 200
    assert (await botpress.send(conv, other, {"type": "text", "text": "hi"}))[0] == 422
    assert (await botpress.send(conv, user, {"type": "text", "text": "a\ud800"}))[0] == 422
    assert (await botpress.call("createRemoteUser", {"name": "\udc00"}))[0] == 422
    async with aiohttp.ClientSession() as http:
        deep = b"[" * 100_000
        async with http.post(f"{botpress.endpoint_base_url}/createRemoteUser", data=deep) as r:
            assert r.status == 400
