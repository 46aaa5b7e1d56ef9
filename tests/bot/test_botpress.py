"""Botpress's hitl-api integration, replayed request by request against the real bridge."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bridge.bot.botpress import to_content, to_mrkdwn
from bridge.model import BlocMessage, TextMessage
from bridge.testing.fake_botpress import AXIOS_HEADERS, FakeBotpress, axios_json
from bridge.testing.fake_slack import Message
from tests.conftest import ALICE, CHANNEL, Stage, StageFactory

pytestmark = pytest.mark.both_databases

PATH_TOKEN = "s3cret-path-token-0123456789"
PICTURE = "https://img.example.com/erin.png"
# Keys whose values a person does not read in a Slack message.
_UNSEEN = {"type", "block_id", "action_id", "value", "style", "verbatim", "emoji"}


@pytest.fixture
async def botpress() -> AsyncIterator[FakeBotpress]:
    async with FakeBotpress() as fake:
        yield fake


async def botpress_stage(make_stage: StageFactory, botpress: FakeBotpress, **extra: str) -> Stage:
    stage = await make_stage(
        webhook=False,
        BOTPRESS_WEBHOOK_URL=botpress.webhook_url,
        BOTPRESS_PATH_TOKEN=PATH_TOKEN,
        **extra,
    )
    botpress.endpoint_base_url = f"{stage.bridge.url}/botpress/{PATH_TOKEN}"
    return stage


@pytest.fixture
async def bp_stage(make_stage: StageFactory, botpress: FakeBotpress) -> Stage:
    return await botpress_stage(make_stage, botpress)


def visible(messages: list[Message]) -> str:
    """What a person sees of posts: their blocks' texts, image addresses and titles."""
    out: list[str] = []
    stack: list[Any] = [m.blocks for m in reversed(messages)]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            stack.extend(reversed([v for k, v in node.items() if k not in _UNSEEN]))
        elif isinstance(node, list):
            stack.extend(reversed(node))
        elif isinstance(node, str):
            out.append(node)
    return "\n".join(out)


class Thread:
    """A conversation's Slack thread, read one Botpress message at a time."""

    def __init__(self, stage: Stage, parent: str) -> None:
        self.slack, self.parent, self.seen = stage.slack, parent, 0

    def posts(self) -> list[Message]:
        return self.slack.thread(CHANNEL, self.parent)

    async def next(self, *expected: str) -> tuple[str, list[Message]]:
        """Wait for new posts showing every `expected` text: what they show, and them."""

        def ready() -> bool:
            new = self.posts()[self.seen :]
            return bool(new) and all(text in visible(new) for text in expected)

        await self.slack.wait_for(ready, timeout=10)
        new = self.posts()[self.seen :]
        self.seen += len(new)
        return visible(new), new


# Every kind of message the hitl channel relays, untyped as bot flows send them:
# (payload, what the thread must show, what it must not).
BOT_MESSAGES: list[tuple[dict[str, Any], list[str], list[str]]] = [
    ({"text": "Connecting you to an agent"}, ["Connecting you to an agent"], []),
    (
        {"markdown": "# Refunds\n**Urgent**: read [the policy](https://example.com/policy)\n"
                     "- first\n* second\n~~old~~ and *new*"},
        ["*Refunds*", "*Urgent*", "the policy (", "example.com/policy", "• first", "• second",
         "~old~", "_new_"],
        ["**", "[the policy]", "# ", "~~"],
    ),
    ({"imageUrl": "https://img.example.com/receipt.png", "title": "Receipt"},
     ["https://img.example.com/receipt.png", "Receipt"], []),
    ({"audioUrl": "https://cdn.example.com/voice.mp3", "title": "Voice note"},
     ["Voice note", "cdn.example.com/voice.mp3"], []),
    ({"videoUrl": "https://cdn.example.com/unboxing.mp4"}, ["cdn.example.com/unboxing.mp4"], []),
    ({"fileUrl": "https://cdn.example.com/invoice.pdf", "title": "invoice.pdf"},
     ["invoice.pdf", "cdn.example.com/invoice.pdf"], []),
    ({"latitude": 48.8584, "longitude": 2.2945, "address": "Champ de Mars", "title": "Shop"},
     ["Shop", "Champ de Mars", "openstreetmap.org/?mlat=48.8584&amp;mlon=2.2945"], []),
    (
        {"title": "Order 42", "subtitle": "2 items", "imageUrl": "https://img.example.com/o.png",
         "actions": [{"action": "postback", "label": "Track", "value": "track-42-postback"},
                     {"action": "url", "label": "Invoice", "value": "https://shop.example.com/i"}]},
        ["*Order 42*", "2 items", "Track", "Invoice (", "shop.example.com/i",
         "https://img.example.com/o.png"],
        ["track-42-postback", "postback"],
    ),
    (
        {"items": [{"title": "Plan A", "subtitle": "cheap", "actions": []},
                   {"title": "Plan B", "imageUrl": "https://img.example.com/b.png",
                    "actions": [{"action": "say", "label": "Pick B", "value": "b"}]}]},
        ["*Plan A*", "cheap", "*Plan B*", "Pick B", "https://img.example.com/b.png"],
        [],
    ),
    ({"text": "Pick one", "options": [{"label": "Refund", "value": "r"},
                                      {"label": "Replace", "value": "p"}]},
     ["Pick one", "• Refund", "• Replace"], []),
    ({"text": "Which size?", "options": [{"label": "Small", "value": "s"},
                                         {"label": "Large", "value": "l"}]},
     ["Which size?", "• Small", "• Large"], []),
    ({"items": [{"type": "text", "payload": {"text": "Here is the map"}},
                {"type": "image", "payload": {"imageUrl": "https://img.example.com/map.png"}}]},
     ["Here is the map", "https://img.example.com/map.png"], []),
    ({"data": {"note": "Call back tomorrow", "conversationId": "bp-conv-internal-7",
               "messageId": "bp-msg-internal-8", "id": "bp-id-internal-9"}},
     ["Call back tomorrow"], ["bp-conv-internal-7", "bp-msg-internal-8", "bp-id-internal-9"]),
]  # fmt: skip


async def test_a_handoff_from_botpress(bp_stage: Stage, botpress: FakeBotpress) -> None:
    slack, api = bp_stage.slack, bp_stage.api
    assert await botpress.register() == 200
    user = await botpress.create_user(name="Erin", email="erin@example.com", pictureUrl=PICTURE)
    conv = await botpress.start_hitl(
        title="Refund", description="order 42", userId=user, messageHistory=[], hitlSession={}
    )
    remote = botpress.remote(conv)
    parent = await bp_stage.parent_ts(remote)
    assert "not known yet" in str(slack.message(CHANNEL, parent).blocks)
    thread = Thread(bp_stage, parent)

    # The end user: the HITL plugin may type what it forwards; the payload carries userId.
    status, _ = await botpress.message(conv, {"type": "text", "text": "Money back", "userId": user})
    assert status == 200
    shown, posts = await thread.next("Money back")
    assert posts[0].username == "Erin" and posts[0].icon_url == PICTURE
    await slack.wait_for(lambda: "Erin" in str(slack.message(CHANNEL, parent).blocks))
    status, _ = await botpress.message(conv, {"imageUrl": PICTURE, "userId": user})
    assert status == 200
    shown, posts = await thread.next(PICTURE)
    assert posts[0].username == "Erin" and user not in shown

    for payload, expected, hidden in BOT_MESSAGES:
        status, _ = await botpress.message(conv, payload)
        assert status == 200, payload
        shown, posts = await thread.next(*expected)
        assert all(post.username is None for post in posts)
        assert "From the bot" in shown
        assert not [text for text in hidden if text in shown], (payload, shown)
        assert "{" not in shown and "}" not in shown, shown
    everything = visible(thread.posts())
    assert everything.index("Plan A") < everything.index("Plan B")  # the carousel, in order

    await slack.user_says(ALICE, CHANNEL, "Hello Erin", thread_ts=parent)
    await botpress.wait_for(lambda: len(botpress.received) == 2)
    assigned, message = botpress.received
    assert assigned[0] == "/agent-assigned"
    assert assigned[1]["remoteConversationId"] == remote
    assert assigned[1]["agentDisplayName"] == "Alice"
    assert message == ("/message-from-agent", {
        "remoteConversationId": remote, "remoteUserId": assigned[1]["remoteUserId"],
        "messageType": "text", "payload": {"text": "Hello Erin"},
    })  # fmt: skip
    await bp_stage.wait_buttons(parent, ["release", "resolve"])
    await slack.click(ALICE, CHANNEL, parent, "resolve")
    await botpress.wait_for(lambda: len(botpress.received) == 3)
    assert botpress.received[2] == ("/stop-hitl", {"remoteConversationId": remote})
    assert (await api.conversation(remote))["userId"] == botpress.remote(user)


async def test_the_first_releases_nested_shape(bp_stage: Stage, botpress: FakeBotpress) -> None:
    user = await botpress.create_user(name="Erin")
    conv = await botpress.start_hitl(title="Old integration")
    remote, remote_user = botpress.remote(conv), botpress.remote(user)
    thread = Thread(bp_stage, await bp_stage.parent_ts(remote))
    status, _ = await botpress.bot_sends_message(
        remote, remote_user, {"type": "text", "text": "nested hello"}, nested=True
    )
    assert status == 200
    _, posts = await thread.next("nested hello")
    assert posts[0].username == "Erin"
    status, _ = await botpress.bot_sends_message(
        remote, "BOT", {"text": "bot, nested"}, nested=True
    )
    assert status == 200
    shown, _ = await thread.next("bot, nested")
    assert "From the bot" in shown


async def test_history_that_arrives_is_the_transcript(
    bp_stage: Stage, botpress: FakeBotpress
) -> None:
    lines = [
        {"text": "Where is my order?", "author": "user"},
        {"text": "Let me check", "author": "bot"},
    ]
    conv = await botpress.start_hitl(title="With history", messages=lines)
    thread = Thread(bp_stage, await bp_stage.parent_ts(botpress.remote(conv)))
    await thread.next("Where is my order?", "Let me check")


async def test_close_remote_ticket(bp_stage: Stage, botpress: FakeBotpress) -> None:
    conv = await botpress.start_hitl(title="Closing")
    remote = botpress.remote(conv)
    await bp_stage.parent_ts(remote)
    assert await botpress.stop_hitl(conv) == (200, {"status": "unknown"})  # Botpress's own id
    assert (await bp_stage.api.conversation(remote))["status"] == "waiting"
    assert await botpress.stop_hitl(remote) == (200, {"status": "closed"})  # a caller that knows
    assert (await bp_stage.api.conversation(remote))["status"] == "stopped"
    await bp_stage.wait_buttons(await bp_stage.parent_ts(remote), [])
    assert await botpress.stop_hitl(remote) == (200, {"status": "closed"})  # idempotent
    status, _ = await botpress.bot_sends_message(remote, "BOT", {"text": "too late"})
    assert status == 409
    assert botpress.received == []  # a stop asked for by the bot is not echoed


async def test_an_event_botpress_never_takes_is_a_dead_letter_named_for_it(
    make_stage: StageFactory, botpress: FakeBotpress
) -> None:
    stage = await botpress_stage(make_stage, botpress, BRIDGE_DELIVERY_MAX_ATTEMPTS="1")
    conv = await botpress.start_hitl(title="Nobody home")
    remote = botpress.remote(conv)
    parent = await stage.parent_ts(remote)
    botpress.fail_next = 1
    await stage.slack.click(ALICE, CHANNEL, parent, "claim")

    async def dead() -> list[Any]:
        return list((await stage.api.conversation(remote))["deadLetters"])

    for _ in range(100):
        if await dead():
            break
        await asyncio.sleep(0.05)
    [letter] = await dead()
    assert letter["target"] == "botpress" and letter["kind"] == "hitlAssigned"
    assert letter["id"].startswith("evt_") and "HTTP 500" in letter["error"]


async def test_native_conversations_are_out_of_reach(
    bp_stage: Stage, botpress: FakeBotpress
) -> None:
    api = bp_stage.api
    native, parent = await bp_stage.handoff()
    user = (await api.conversation(native))["userId"]
    for nested in (False, True):
        status, body = await botpress.bot_sends_message(
            native, "BOT", {"text": "hijack"}, nested=nested
        )
        assert (status, body["error"]["code"]) == (404, "not_found")
        status, _ = await botpress.bot_sends_message(
            native, user, {"text": "hijack"}, nested=nested
        )
        assert status == 404
    assert await botpress.stop_hitl(native) == (200, {"status": "unknown"})
    # Anything queued by the calls above would reach the thread before this.
    await api.say(native, "the real one", user)
    await bp_stage.slack.wait_for(lambda: len(bp_stage.slack.thread(CHANNEL, parent)) == 1)
    await asyncio.sleep(0.2)
    posts = bp_stage.slack.thread(CHANNEL, parent)
    assert len(posts) == 1 and "the real one" in visible(posts) and "hijack" not in visible(posts)
    assert (await api.conversation(native))["status"] == "waiting"
    assert bp_stage.buttons(parent) == ["claim"]


async def test_botpress_paths_need_the_token(bp_stage: Stage, botpress: FakeBotpress) -> None:
    assert await botpress.register() == 200
    for base in ("/botpress", "/botpress/wrong-token-000000000", f"/botpress/{PATH_TOKEN}x"):
        botpress.endpoint_base_url = bp_stage.bridge.url + base
        assert await botpress.register() == 404, base
        status, _ = await botpress.post("createRemoteUser", {"payload": {"name": "Mallory"}})
        assert status == 404


async def test_a_webhook_url_without_path_token_stops_start_up(tmp_path: Path) -> None:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "BRIDGE_", "BOTPRESS_"))
    }
    env |= {
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_SIGNING_SECRET": "signing-secret",
        "BRIDGE_CHANNEL": CHANNEL,
        "BRIDGE_API_TOKEN": "api-token",
        "BRIDGE_DATABASE_URL": f"sqlite:///{tmp_path / 'bridge.db'}",
        "BOTPRESS_WEBHOOK_URL": "https://webhook.botpress.cloud/abc",
    }  # fmt: skip
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bridge", "serve", env=env, cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), 30)
    lines = out.decode().strip().splitlines()
    assert proc.returncode == 2, out
    assert len(lines) == 1 and "BOTPRESS_PATH_TOKEN" in lines[0], lines
    assert "Traceback" not in out.decode()


async def test_bad_requests_get_4xx(bp_stage: Stage, botpress: FakeBotpress) -> None:
    status, _ = await botpress.bot_sends_message("conv_nobody", "BOT", {"text": "x"})
    assert status == 404
    user = await botpress.create_user(name="Erin")
    other = await botpress.create_user(name="Someone else")
    remote, erin = botpress.remote(await botpress.start_hitl()), botpress.remote(user)
    assert (await botpress.bot_sends_message(remote, erin, {"text": "hi"}))[0] == 200
    assert (await botpress.bot_sends_message(remote, botpress.remote(other), {"text": "hi"}))[
        0
    ] == 422
    assert (await botpress.bot_sends_message(remote, erin, {"text": "a\ud800"}))[0] == 422
    refused = [
        ("botSendsMessage", {"type": "botSendsMessage", "remoteConversationId": remote}),
        ("botSendsMessage", {"type": "botSendsMessage", "remoteConversationId": remote,
                             "remoteUserId": "BOT", "payload": "hello"}),
        ("botSendsMessage", {"type": "botSendsMessage", "remoteConversationId": 5,
                             "remoteUserId": "BOT", "payload": {}}),
        ("createRemoteUser", {"type": "createRemoteUser", "payload": {"name": "\udc00"}}),
        ("createRemoteUser", {"type": "createRemoteUser", "payload": ["Erin"]}),
        ("createRemoteConversation", {"type": "createRemoteConversation",
                                      "payload": {"messages": 5}}),
        ("createRemoteConversation", {"type": "createRemoteConversation",
                                      "payload": {"messages": [{"text": 5}]}}),
        ("createRemoteConversation", {"type": "createRemoteConversation",
                                      "payload": {"title": ["a"]}}),
        ("closeRemoteTicket", {"type": "closeRemoteTicket",
                               "payload": {"botpressConversationId": 7}}),
    ]  # fmt: skip
    for name, body in refused:
        status, answer = await botpress.post(name, body)
        assert (status, answer["error"]["code"]) == (422, "invalid"), (name, body, answer)
    status, answer = await botpress.post("createRemoteConversation", {"payload": {"messages": 5}})
    assert "payload.messages" in answer["error"]["message"]
    url = f"{botpress.endpoint_base_url}/createRemoteUser"
    async with aiohttp.ClientSession() as http:
        for raw in (b"[" * 100_000, b"{not json", b"\xff\xfe"):
            async with http.post(url, data=raw, headers=AXIOS_HEADERS) as resp:
                assert resp.status == 400, raw[:10]


def nest(item: dict[str, Any]) -> dict[str, Any]:
    """A bloc holding `item`."""
    return {"type": "bloc", "payload": {"items": [item]}}


async def test_odd_payloads_still_read(bp_stage: Stage, botpress: FakeBotpress) -> None:
    conv = await botpress.start_hitl(title="Odd")
    thread = Thread(bp_stage, await bp_stage.parent_ts(botpress.remote(conv)))
    odd: list[Any] = [
        {}, {"items": 5}, {"options": "x", "text": "odd choice"},
        {"latitude": "north", "longitude": None},
        {"actions": [1, None, {"label": 3}], "title": ["t"]}, {"text": {"nested": "deep hi"}},
        {"imageUrl": "javascript:alert(1)", "title": "sneaky"}, {"type": 5, "text": "typed five"},
        nest(nest(nest({"type": "text", "payload": {"text": "inner"}}))["payload"]),
        {"items": [{"title": f"Card {i}", "imageUrl": f"https://img.example.com/{i}.png",
                    "actions": []} for i in range(60)]},
        {"text": "x" * 50_000}, {"type": "image", "imageUrl": None}, {"type": "unknown-kind"},
    ]  # fmt: skip
    for payload in odd:
        status, _ = await botpress.message(conv, payload)
        assert status == 200, payload
        shown, _ = await thread.next()
        assert "{" not in shown and "}" not in shown, (payload, shown)
    await thread.slack.wait_for(lambda: len(thread.posts()) >= len(odd))
    everything = visible(thread.posts())
    for text in ("odd choice", "deep hi", "sneaky", "typed five", "inner", "Card 0"):
        assert text in everything, text
    assert "javascript:" not in everything


async def test_body_limits(make_stage: StageFactory, botpress: FakeBotpress) -> None:
    await botpress_stage(make_stage, botpress, BRIDGE_MAX_BODY="2048")
    url = f"{botpress.endpoint_base_url}/createRemoteUser"
    small = axios_json({"type": "createRemoteUser", "payload": {"name": "Erin"}})
    large = axios_json({"type": "createRemoteUser", "payload": {"name": "E" * 5000}})

    async def chunked(data: bytes) -> AsyncIterator[bytes]:
        for start in range(0, len(data), 512):
            yield data[start : start + 512]

    async with aiohttp.ClientSession() as http:
        async with http.post(url, data=chunked(small), headers=AXIOS_HEADERS) as resp:
            assert resp.status == 200  # no Content-Length, within the limit
        async with http.post(url, data=chunked(large), headers=AXIOS_HEADERS) as resp:
            assert resp.status == 413
            assert (await resp.json())["error"]["code"] == "too_large"
        async with http.post(url, data=large, headers=AXIOS_HEADERS) as resp:
            assert resp.status == 413


# --- to_content, on its own ---------------------------------------------------------------


def test_to_content_limits_and_ids() -> None:
    long = to_content({"text": "y" * 50_000})
    assert isinstance(long, TextMessage) and len(long.payload.text) == 40_000
    many = to_content({"items": [{"title": f"C{i}", "imageUrl": f"https://i.example.com/{i}.png",
                                  "actions": []} for i in range(60)]})  # fmt: skip
    assert isinstance(many, BlocMessage) and len(many.payload.items) == 50
    assert "more items not shown" in str(many.payload.items[-1])
    quiet = to_content({"text": "hi", "userId": "bp-user-1", "conversationId": "bp-conv-1"})
    assert quiet.model_dump() == {"type": "text", "payload": {"text": "hi"}}
    unknown = str(to_content({"userId": "u-1", "meta": {"messageId": "m-1", "label": "Readable"}}))
    assert "Readable" in unknown and "u-1" not in unknown and "m-1" not in unknown
    typed = to_content({"type": "file", "fileUrl": "https://x.example.com/a.pdf", "title": "A"})
    assert typed.model_dump() == {
        "type": "file", "payload": {"fileUrl": "https://x.example.com/a.pdf", "title": "A"}
    }  # fmt: skip


@pytest.mark.parametrize(
    ("markdown", "mrkdwn"),
    [
        ("**bold** and *it* and _it_", "*bold* and _it_ and _it_"),
        ("__bold__ ~~gone~~", "*bold* ~gone~"),
        ("see [the docs](https://x.io/a_b)", "see the docs (https://x.io/a_b)"),
        ("![logo](https://x.io/l.png) <https://x.io>", "logo (https://x.io/l.png) https://x.io"),
        ("## Heading **one**", "*Heading one*"),
        ("- a\n* b\n  + c\n1. d", "• a\n• b\n  • c\n1. d"),
        ("`**code**` and **x**", "`**code**` and *x*"),
        ("```python\n**raw** [x](y)\n```", "```\n**raw** [x](y)\n```"),
        ("2*3*4 and a * b", "2*3*4 and a * b"),
        ("https://x.io/**a**", "https://x.io/**a**"),
    ],
)
def test_markdown_as_mrkdwn(markdown: str, mrkdwn: str) -> None:
    assert to_mrkdwn(markdown) == mrkdwn


def test_the_fake_sends_what_axios_sends() -> None:
    assert axios_json({"a": "é", "b": [1, None]}) == '{"a":"é","b":[1,null]}'.encode()
    assert axios_json({"a": "x\ud800"}) == b'{"a":"x\\ud800"}'
