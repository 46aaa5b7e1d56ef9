"""`bridge.client`: the bot's side of the bridge, driven against the real bridge."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from standardwebhooks.webhooks import Webhook

from bridge.client import BridgeClient, BridgeError, WebhookVerificationError, verify_webhook
from bridge.model import (
    AgentProfile,
    BlocMessage,
    BlocPayload,
    Decision,
    HistoryItem,
    ImageMessage,
    ImagePayload,
    TextMessage,
    TextPayload,
)
from tests.conftest import ALICE, API_TOKEN, CHANNEL, Stage, StageFactory

pytestmark = pytest.mark.both_databases


@pytest.fixture
async def client(stage: Stage) -> AsyncIterator[BridgeClient]:
    async with BridgeClient(stage.bridge.url, API_TOKEN) as bridge_client:
        yield bridge_client


async def thread_ts(client: BridgeClient, conversation_id: str) -> str:
    """Wait until the parent is posted; its ts, as the bot sees it."""
    for _ in range(500):
        conv = await client.get_conversation(conversation_id)
        if conv.slack.threadTs:
            return conv.slack.threadTs
        await asyncio.sleep(0.01)
    raise AssertionError(f"the parent of {conversation_id} was never posted")


async def take(client: BridgeClient, n: int, **kw: Any) -> list[dict[str, Any]]:
    """The next `n` events of the long-poll (a fresh iterator each time)."""
    got: list[dict[str, Any]] = []
    async with asyncio.timeout(10), contextlib.aclosing(client.events(**kw)) as events:
        async for event in events:
            got.append(event)
            if len(got) == n:
                break
    return got


def text(value: str) -> TextMessage:
    return TextMessage(type="text", payload=TextPayload(text=value))


# --- the whole flow -----------------------------------------------------------------------


async def test_whole_handoff_through_the_client(stage: Stage, client: BridgeClient) -> None:
    slack = stage.slack
    user = await client.create_user(
        "Erin", email="erin@example.com", picture_url="https://img.example.com/erin.png"
    )
    erin = await client.get_user(user)
    assert (erin.userId, erin.name, erin.role) == (user, "Erin", "end-user")
    assert erin.email == "erin@example.com"
    assert erin.pictureUrl == "https://img.example.com/erin.png"

    conv = await client.start_hitl(
        user,
        title="Refund request",
        description="Order 42",
        message_history=[
            HistoryItem("user", text("I want a refund")),
            {"source": {"type": "bot"}, "type": "text", "payload": {"text": "Let me check"}},
        ],
        hitl_session={"priority": "high"},
    )
    assert conv.startswith("conv_")
    ts = await thread_ts(client, conv)
    started = await client.get_conversation(conv)
    assert started.status == "waiting" and started.userId == user
    assert started.title == "Refund request" and started.slack.channel == CHANNEL
    await slack.wait_for(lambda: len(slack.thread(CHANNEL, ts)) == 1)
    transcript = str(slack.thread(CHANNEL, ts)[0].blocks)
    assert "*Erin:* I want a refund" in transcript and "*Bot:* Let me check" in transcript

    # The end user speaks, then the bot adds a notice with a picture (a pydantic model).
    said = await client.send_text(conv, "my order never came", user_id=user)
    assert said
    bloc = BlocMessage(
        type="bloc",
        payload=BlocPayload(
            items=[
                text("Here is the receipt"),
                ImageMessage(
                    type="image", payload=ImagePayload(imageUrl="https://img.example.com/r.png")
                ),
            ]
        ),
    )
    await client.send_message(conv, bloc)
    await slack.wait_for(lambda: len(slack.thread(CHANNEL, ts)) == 3)
    erin_says, notice = slack.thread(CHANNEL, ts)[1:]
    assert erin_says.username == "Erin" and "my order never came" in str(erin_says.blocks)
    assert "Here is the receipt" in str(notice.blocks)
    assert "https://img.example.com/r.png" in str(notice.blocks)

    # Alice answers in the thread: the bot reads hitlAssigned then her message.
    await slack.user_says(ALICE, CHANNEL, "Hi Erin, I'm on it &amp; checking", thread_ts=ts)
    assigned, message = await take(client, 2, wait=5)
    assert assigned["type"] == "hitlAssigned" and message["type"] == "message"
    assert assigned["payload"]["conversationId"] == conv
    assert assigned["payload"]["agent"]["name"] == "Alice"
    assert message["payload"]["payload"] == {"text": "Hi Erin, I'm on it & checking"}
    assert client.cursor is not None
    agent_id = assigned["payload"]["userId"]
    now = await client.get_conversation(conv)
    assert now.status == "assigned" and now.agentId == agent_id
    assert (await client.get_user(agent_id)).role == "agent"

    # The bot stops it: no hitlStopped comes back for that, and stopping twice is fine.
    await client.stop_hitl(conv)
    await client.stop_hitl(conv)
    stopped = await client.get_conversation(conv)
    assert stopped.status == "stopped" and stopped.stoppedAt is not None
    with pytest.raises(BridgeError) as info:
        await client.send_text(conv, "still there?", user_id=user)
    assert (info.value.status, info.value.code) == (409, "conversation_stopped")

    # A client resuming from the saved cursor sees only what came after.
    saved = client.cursor
    conv2 = await client.start_hitl(await client.create_user("Finn"))
    await slack.user_says(ALICE, CHANNEL, "Hello Finn", thread_ts=await thread_ts(client, conv2))
    async with BridgeClient(stage.bridge.url, API_TOKEN) as later:
        events = await take(later, 2, after=saved, wait=5)
    assert [e["type"] for e in events] == ["hitlAssigned", "message"]
    assert {e["payload"]["conversationId"] for e in events} == {conv2}


async def test_an_approval_through_the_client(stage: Stage, client: BridgeClient) -> None:
    """The bot asks, reads the request back, hears the decision in `events()`, and cannot
    cancel what was decided; a pending request it can."""
    user_id = await client.create_user("Erin")
    draft = text("Your refund of $40 is on its way.")
    approval_id = await client.request_approval(
        draft, title="Refund", context="She asked twice", user_id=user_id, expires_in=120
    )
    asked = await client.get_approval(approval_id)
    assert (asked.status, asked.draft, asked.title, asked.userId) == (
        "pending", draft, "Refund", user_id
    )  # fmt: skip
    assert asked.slack.channel == CHANNEL and asked.conversationId is None
    agent = AgentProfile(ALICE, "Alice", "https://img.example.com/alice.png", None)
    await stage.bridge.service.approvals.decide(approval_id, Decision.APPROVE, agent)
    (event,) = await take(client, 1)
    assert event["type"] == "approvalDecided" and event["payload"]["status"] == "approved"
    assert event["payload"]["message"] == draft.model_dump(exclude_none=True)
    decided = await client.get_approval(approval_id)
    assert decided.agent is not None and decided.agent.slackUserId == ALICE
    with pytest.raises(BridgeError) as refused:
        await client.cancel_approval(approval_id)
    assert (refused.value.status, refused.value.code) == (409, "approval_decided")
    pending = await client.request_approval({"type": "text", "payload": {"text": "Maybe"}})
    await client.cancel_approval(pending, idempotency_key="cancel-1")
    assert (await client.get_approval(pending)).status == "cancelled"


async def test_events_cursor_moves_with_each_page(stage: Stage, client: BridgeClient) -> None:
    conv = await client.start_hitl(await client.create_user("Erin"))
    ts = await thread_ts(client, conv)
    await stage.slack.user_says(ALICE, CHANNEL, "one", thread_ts=ts)
    first = await take(client, 1, wait=5)
    assert first[0]["type"] == "hitlAssigned"
    assert client.cursor is None  # the page (hitlAssigned, message) is not all out yet
    # Resuming where the client stands repeats the unfinished page (drop repeats by id).
    again = await take(client, 2, wait=5)
    assert [e["type"] for e in again] == ["hitlAssigned", "message"]
    assert again[0]["id"] == first[0]["id"]
    assert client.cursor is not None
    await stage.slack.user_says(ALICE, CHANNEL, "two", thread_ts=ts)
    more = await take(client, 1, wait=5)
    assert more[0]["payload"]["payload"] == {"text": "two"}


async def test_client_on_a_shared_session(stage: Stage) -> None:
    session = stage.api.session
    async with BridgeClient(stage.bridge.url + "/", API_TOKEN, session=session) as client:
        assert await client.create_user("Gia")
    assert not session.closed
    assert "test-api-token" not in repr(client)


# --- idempotency --------------------------------------------------------------------------


async def test_idempotency_keys_pass_through(stage: Stage, client: BridgeClient) -> None:
    user = await client.create_user("Erin", idempotency_key="user-1")
    assert await client.create_user("Erin", idempotency_key="user-1") == user
    with pytest.raises(BridgeError) as info:
        await client.create_user("Someone else", idempotency_key="user-1")
    assert (info.value.status, info.value.code) == (409, "idempotency_conflict")

    conv = await client.start_hitl(user, title="A", idempotency_key="start-1")
    assert await client.start_hitl(user, title="A", idempotency_key="start-1") == conv

    ts = await thread_ts(client, conv)
    first = await client.send_text(conv, "hello", user_id=user, idempotency_key="say-1")
    again = await client.send_text(conv, "hello", user_id=user, idempotency_key="say-1")
    assert first == again
    await client.stop_hitl(conv, idempotency_key="stop-1")
    await client.stop_hitl(conv, idempotency_key="stop-1")

    # The repeats changed nothing: one user "Erin" message in the thread, one conversation.
    def hellos() -> int:
        return sum("hello" in str(m.blocks) for m in stage.slack.thread(CHANNEL, ts))

    # The stop's parent update is queued behind every message of the conversation.
    await stage.wait_buttons(ts, [])
    assert hellos() == 1
    parents = [m for m in stage.slack.messages(CHANNEL) if not m.is_reply]
    assert len(parents) == 1

    with pytest.raises(BridgeError) as info:
        await client.create_user("Erin", idempotency_key="caf\u00e9")
    assert (info.value.status, info.value.field) == (422, "Idempotency-Key")


# --- errors -------------------------------------------------------------------------------


async def test_errors_carry_the_bridge_code(stage: Stage, client: BridgeClient) -> None:
    with pytest.raises(BridgeError) as info:
        await client.get_user("usr_nobody")
    assert (info.value.status, info.value.code) == (404, "not_found")
    assert info.value.field is None
    with pytest.raises(BridgeError) as info:
        await client.get_conversation("conv_nothing")
    assert (info.value.status, info.value.code) == (404, "not_found")
    with pytest.raises(BridgeError) as info:
        await client.get_conversation("../users/x")  # an id is one path segment, always
    assert info.value.status == 404

    with pytest.raises(BridgeError) as info:
        await client.start_hitl("usr_nobody")
    assert (info.value.status, info.value.code, info.value.field) == (422, "invalid", "userId")
    assert "userId" in str(info.value)

    user = await client.create_user("Erin")
    conv = await client.start_hitl(user)
    other = await client.create_user("Other")
    with pytest.raises(BridgeError) as info:
        await client.send_text(conv, "hi", user_id=other)
    assert (info.value.status, info.value.field) == (422, "userId")
    with pytest.raises(BridgeError) as info:
        await client.send_message(conv, {"type": "image", "payload": {"imageUrl": "ftp://x"}})
    assert (info.value.status, info.value.field) == (422, "payload.imageUrl")
    with pytest.raises(BridgeError) as info:
        await client.start_hitl(user, message_history=[{"source": {"type": "bot"}, "type": "x"}])
    assert info.value.status == 422 and info.value.field == "messageHistory[0].type"
    with pytest.raises(BridgeError) as info:
        await client.create_user("")
    assert (info.value.status, info.value.field) == (422, "name")

    # An unknown cursor is the bot's mistake: raised, not retried.
    with pytest.raises(BridgeError) as info:
        await take(client, 1, after="999999999", wait=1)
    assert (info.value.status, info.value.field) == (422, "after")
    with pytest.raises(ValueError):
        await take(client, 1, wait=0)


async def test_wrong_token_is_401(stage: Stage) -> None:
    async with BridgeClient(stage.bridge.url, "not-the-token") as client:
        with pytest.raises(BridgeError) as info:
            await client.create_user("Erin")
        assert (info.value.status, info.value.code) == (401, "unauthorized")
        with pytest.raises(BridgeError) as info:  # the long-poll does not retry a 401
            await take(client, 1, wait=1)
        assert info.value.status == 401


# --- the long-poll rides out failures ---------------------------------------------------


async def test_events_retry_connection_errors_and_5xx(caplog: pytest.LogCaptureFixture) -> None:
    seen: list[dict[str, str]] = []
    answers: list[web.StreamResponse | None] = [
        web.Response(status=503, text="<html>starting</html>"),
        None,  # drop the connection (aiohttp retries a reused connection once by itself)
        None,
        web.json_response({"error": {"code": "internal", "message": "boom"}}, status=500),
        web.json_response({"events": [{"id": "evt_1", "type": "message"}], "cursor": "7"}),
        web.json_response({"events": [], "cursor": "7"}),
        web.json_response({"events": [{"id": "evt_2", "type": "hitlStopped"}], "cursor": "9"}),
    ]

    async def handle(request: web.Request) -> web.StreamResponse:
        seen.append(dict(request.query) | {"auth": request.headers.get("Authorization", "")})
        answer = answers.pop(0)
        if answer is None:
            assert request.transport is not None
            request.transport.close()
            await asyncio.sleep(0.1)
            return web.Response()
        return answer

    app = web.Application()
    app.router.add_get("/v1/events", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        async with BridgeClient(url, "tok") as client:
            client.retry_base = 0.01
            with caplog.at_level(logging.WARNING, logger="bridge.client"):
                events = await take(client, 2, after="3", wait=2)
    finally:
        await runner.cleanup()
    assert [e["id"] for e in events] == ["evt_1", "evt_2"]
    assert client.cursor == "9"
    assert [q.get("after") for q in seen] == ["3", "3", "3", "3", "3", "7", "7"]
    assert all(q["wait"] == "2" and q["auth"] == "Bearer tok" for q in seen)
    retries = [r.getMessage() for r in caplog.records if "retry" in r.getMessage()]
    assert len(retries) == 3, retries
    assert "HTTP 503" in retries[0] and "HTTP" not in retries[1] and "HTTP 500" in retries[2]
    assert not any("tok" in r.getMessage().split() for r in caplog.records)


# --- webhooks -----------------------------------------------------------------------------


def key(seed: bytes) -> str:
    return "whsec_" + base64.b64encode(seed.ljust(24, b"-")).decode()


KEY_A, KEY_B, KEY_C = key(b"old-key"), key(b"new-key"), key(b"someone-else")


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[str, list[tuple[bytes, dict[str, str]]]]]:
    """A tiny webhook receiver keeping each raw delivery (body, headers)."""
    got: list[tuple[bytes, dict[str, str]]] = []

    async def handle(request: web.Request) -> web.Response:
        got.append((await request.read(), dict(request.headers)))
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}/hook", got
    await runner.cleanup()


async def test_verify_webhook_on_real_deliveries(
    make_stage: StageFactory, receiver: tuple[str, list[tuple[bytes, dict[str, str]]]]
) -> None:
    url, got = receiver
    stage = await make_stage(
        webhook=False, BRIDGE_WEBHOOK_URL=url, BRIDGE_WEBHOOK_SECRET=f"{KEY_A},{KEY_B}"
    )
    async with BridgeClient(stage.bridge.url, API_TOKEN) as client:
        conv = await client.start_hitl(await client.create_user("Erin"))
        ts = await thread_ts(client, conv)
        await stage.slack.user_says(ALICE, CHANNEL, "Hi there", thread_ts=ts)
        await stage.slack.wait_for(lambda: len(got) == 2)
    body, headers = got[1]

    event = verify_webhook(body, headers, KEY_A)
    assert event["type"] == "message" and event["payload"]["conversationId"] == conv
    assert event["id"] == headers["webhook-id"]
    assert verify_webhook(body.decode(), headers, KEY_B) == event  # str bodies too
    lower = {k.lower(): v for k, v in headers.items()}
    assert verify_webhook(body, lower, f" {KEY_C} , {KEY_B} ") == event  # any key will do

    with pytest.raises(WebhookVerificationError):
        verify_webhook(body, headers, KEY_C)
    tampered = body.replace(b"Hi there", b"Hi thore")
    with pytest.raises(WebhookVerificationError):
        verify_webhook(tampered, headers, KEY_A)
    other = {k.lower(): v for k, v in got[0][1].items()}["webhook-signature"]
    with pytest.raises(WebhookVerificationError):  # a signature from another delivery
        verify_webhook(body, {**lower, "webhook-signature": other}, KEY_A)
    with pytest.raises(WebhookVerificationError):
        verify_webhook(body, {k: v for k, v in lower.items() if k != "webhook-id"}, KEY_A)
    with pytest.raises(WebhookVerificationError):
        verify_webhook(body, {**lower, "webhook-signature": "v1"}, KEY_A)
    with pytest.raises(WebhookVerificationError):
        verify_webhook(b"\xff" + body, headers, KEY_A)
    with pytest.raises(ValueError):
        verify_webhook(body, headers, "")
    with pytest.raises(ValueError):
        verify_webhook(body, headers, "whsec_")


def test_verify_webhook_refuses_a_stale_delivery() -> None:
    body = json.dumps({"id": "evt_1", "type": "hitlStopped", "payload": {}})
    signer = Webhook(KEY_A)

    def headers(moment: datetime) -> dict[str, str]:
        return {
            "webhook-id": "evt_1",
            "webhook-timestamp": str(int(moment.timestamp())),
            "webhook-signature": signer.sign("evt_1", moment, body),
        }

    now = datetime.now(UTC)
    assert verify_webhook(body, headers(now), KEY_A)["id"] == "evt_1"
    with pytest.raises(WebhookVerificationError, match="too old"):
        verify_webhook(body, headers(now - timedelta(minutes=6)), KEY_A)
    with pytest.raises(WebhookVerificationError, match="too new"):
        verify_webhook(body, headers(now + timedelta(minutes=6)), KEY_A)
    signed_list = json.dumps([1, 2])
    list_headers = {
        "webhook-id": "evt_1",
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signer.sign("evt_1", now, signed_list),
    }
    with pytest.raises(ValueError, match="not a JSON object"):
        verify_webhook(signed_list, list_headers, KEY_A)
