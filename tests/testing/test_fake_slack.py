"""The fake Slack, driven by the real slack_sdk client and received by a small aiohttp app."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs

import aiohttp
import pytest
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.app.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from bridge.testing.fake_slack import FakeSlack

CHANNEL = "C0HANDOFF"
AGENT = "UAGENT"


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
        slack.add_user(
            AGENT,
            "alice",
            display_name="Alice",
            real_name="Alice Liddell",
            email="alice@example.com",
            image="https://img.example/alice.png",
        )
        slack.add_user("UOTHER", "bob")
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


def mrkdwn(text: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": text}


async def slack_error(call: Any) -> SlackApiError:
    with pytest.raises(SlackApiError) as info:
        await call
    return info.value


# ---------------------------------------------------------------- Web API


async def test_auth_test_names_the_bot(client: AsyncWebClient, fake: FakeSlack) -> None:
    resp = await client.auth_test()
    assert resp["user_id"] == "UBRIDGE"
    assert resp["bot_id"] == "BBRIDGE"
    assert resp["team_id"] == "T0FAKE"
    assert resp["app_id"] == "A0FAKE"
    assert resp["is_enterprise_install"] is False
    assert fake.calls == [("auth.test", {})]


async def test_post_and_thread_reply(client: AsyncWebClient, fake: FakeSlack) -> None:
    parent = await client.chat_postMessage(channel=CHANNEL, text="Handoff *Ada*")
    assert parent["channel"] == CHANNEL
    assert parent["message"]["bot_id"] == "BBRIDGE"
    reply = await client.chat_postMessage(
        channel=CHANNEL,
        text="hello",
        thread_ts=parent["ts"],
        username="Ada",
        icon_url="https://img.example/ada.png",
    )
    assert float(reply["ts"]) > float(parent["ts"])
    assert reply["message"]["thread_ts"] == parent["ts"]
    assert reply["message"]["parent_user_id"] == "UBRIDGE"

    assert [m.ts for m in fake.messages(CHANNEL)] == [parent["ts"], reply["ts"]]
    (stored,) = fake.thread(CHANNEL, parent["ts"])
    assert (stored.user, stored.bot_id, stored.text) == ("UBRIDGE", "BBRIDGE", "hello")
    assert (stored.username, stored.icon_url) == ("Ada", "https://img.example/ada.png")
    assert fake.message(CHANNEL, parent["ts"]).thread_ts is None
    # A reply aimed at a reply joins the same thread.
    again = await client.chat_postMessage(channel=CHANNEL, text="x", thread_ts=reply["ts"])
    assert fake.message(CHANNEL, again["ts"]).thread_ts == parent["ts"]


async def test_channel_name_is_accepted(client: AsyncWebClient, fake: FakeSlack) -> None:
    resp = await client.chat_postMessage(channel="#handoffs", text="hi")
    assert resp["channel"] == CHANNEL


async def test_update_rewrites_the_message(client: AsyncWebClient, fake: FakeSlack) -> None:
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "waiting"}}]
    posted = await client.chat_postMessage(channel=CHANNEL, text="waiting", blocks=blocks)
    new_blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "assigned"}}]
    resp = await client.chat_update(
        channel=CHANNEL, ts=posted["ts"], text="assigned", blocks=new_blocks
    )
    assert resp["ts"] == posted["ts"]
    msg = fake.message(CHANNEL, posted["ts"])
    assert (msg.text, msg.blocks, msg.edited) == ("assigned", new_blocks, True)
    # Leaving blocks out keeps them; an empty list removes them.
    await client.chat_update(channel=CHANNEL, ts=posted["ts"], text="again")
    assert fake.message(CHANNEL, posted["ts"]).blocks == new_blocks
    await client.chat_update(channel=CHANNEL, ts=posted["ts"], text="plain", blocks=[])
    assert fake.message(CHANNEL, posted["ts"]).blocks is None


async def test_update_errors(client: AsyncWebClient, fake: FakeSlack) -> None:
    err = await slack_error(client.chat_update(channel=CHANNEL, ts="1.000001", text="x"))
    assert err.response["error"] == "message_not_found"
    human = await fake.user_says(AGENT, CHANNEL, "mine")
    err = await slack_error(client.chat_update(channel=CHANNEL, ts=human, text="x"))
    assert err.response["error"] == "cant_update_message"


async def test_ephemeral(client: AsyncWebClient, fake: FakeSlack) -> None:
    resp = await client.chat_postEphemeral(
        channel=CHANNEL, user=AGENT, text="Bob has it", thread_ts="1.000001"
    )
    assert resp["message_ts"]
    (eph,) = fake.ephemerals
    assert (eph.channel, eph.user, eph.text, eph.thread_ts) == (
        CHANNEL,
        AGENT,
        "Bob has it",
        "1.000001",
    )
    assert eph.ts == resp["message_ts"]
    err = await slack_error(client.chat_postEphemeral(channel=CHANNEL, user="UNOBODY", text="x"))
    assert err.response["error"] == "user_not_in_channel"
    err = await slack_error(client.chat_postEphemeral(channel="CNONE", user=AGENT, text="x"))
    assert err.response["error"] == "channel_not_found"


async def test_permalink(client: AsyncWebClient, fake: FakeSlack) -> None:
    parent = await client.chat_postMessage(channel=CHANNEL, text="p")
    reply = await client.chat_postMessage(channel=CHANNEL, text="r", thread_ts=parent["ts"])
    resp = await client.chat_getPermalink(channel=CHANNEL, message_ts=parent["ts"])
    digits = parent["ts"].replace(".", "")
    assert resp["permalink"] == f"https://fake.slack.com/archives/{CHANNEL}/p{digits}"
    resp = await client.chat_getPermalink(channel=CHANNEL, message_ts=reply["ts"])
    assert f"thread_ts={parent['ts']}" in resp["permalink"]
    err = await slack_error(client.chat_getPermalink(channel=CHANNEL, message_ts="1.000001"))
    assert err.response["error"] == "message_not_found"


async def test_users_info(client: AsyncWebClient) -> None:
    user = (await client.users_info(user=AGENT))["user"]
    assert (user["id"], user["name"], user["is_bot"], user["deleted"]) == (
        AGENT,
        "alice",
        False,
        False,
    )
    profile = user["profile"]
    assert profile["display_name"] == "Alice"
    assert profile["real_name"] == "Alice Liddell"
    assert profile["email"] == "alice@example.com"
    assert profile["image_512"] == "https://img.example/alice.png"
    assert profile["image_original"] == "https://img.example/alice.png"
    bob = (await client.users_info(user="UOTHER"))["user"]["profile"]
    assert "email" not in bob
    assert "image_original" not in bob
    assert bob["image_192"].startswith("https://")
    err = await slack_error(client.users_info(user="UNOBODY"))
    assert err.response["error"] == "user_not_found"


async def test_replies_metadata_and_pages(client: AsyncWebClient, fake: FakeSlack) -> None:
    meta = {"event_type": "bridge_message", "event_payload": {"message_id": "m1"}}
    parent = await client.chat_postMessage(channel=CHANNEL, text="p")
    for i in range(3):
        await client.chat_postMessage(
            channel=CHANNEL, text=f"r{i}", thread_ts=parent["ts"], metadata=meta
        )
    plain = await client.conversations_replies(channel=CHANNEL, ts=parent["ts"])
    texts = [m["text"] for m in plain["messages"]]
    assert texts == ["p", "r0", "r1", "r2"]
    assert all("metadata" not in m for m in plain["messages"])
    assert plain["messages"][0]["reply_count"] == 3
    assert plain["has_more"] is False

    with_meta = await client.conversations_replies(
        channel=CHANNEL, ts=parent["ts"], include_all_metadata=True
    )
    assert [m.get("metadata") for m in with_meta["messages"]] == [None, meta, meta, meta]

    seen: list[str] = []
    cursor = None
    while True:
        page = await client.conversations_replies(
            channel=CHANNEL, ts=parent["ts"], limit=3, cursor=cursor
        )
        seen += [m["text"] for m in page["messages"]]
        cursor = page["response_metadata"]["next_cursor"]
        assert page["has_more"] is bool(cursor)
        if not cursor:
            break
    assert seen == texts

    err = await slack_error(client.conversations_replies(channel=CHANNEL, ts="1.000001"))
    assert err.response["error"] == "thread_not_found"


async def test_history_is_top_level_newest_first(client: AsyncWebClient, fake: FakeSlack) -> None:
    first = await client.chat_postMessage(channel=CHANNEL, text="one")
    await client.chat_postMessage(channel=CHANNEL, text="in thread", thread_ts=first["ts"])
    await fake.user_says(AGENT, CHANNEL, "two")
    resp = await client.conversations_history(channel=CHANNEL, limit=1)
    assert [m["text"] for m in resp["messages"]] == ["two"]
    assert resp["has_more"] is True
    rest = await client.conversations_history(
        channel=CHANNEL, cursor=resp["response_metadata"]["next_cursor"]
    )
    assert [m["text"] for m in rest["messages"]] == ["one"]


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"channel": "CNONE", "text": "x"}, "channel_not_found"),
        ({"channel": "C0OUTSIDE", "text": "x"}, "not_in_channel"),
        ({"channel": "C0ARCHIVE", "text": "x"}, "is_archived"),
        ({"channel": CHANNEL}, "no_text"),
        ({"channel": CHANNEL, "text": "x" * 40_001}, "msg_too_long"),
        ({"channel": CHANNEL, "text": "x", "thread_ts": "1.000001"}, "thread_not_found"),
        ({"channel": CHANNEL, "text": "x", "blocks": [{"text": "no type"}]}, "invalid_blocks"),
        ({"channel": CHANNEL, "text": "x", "blocks": [{"type": "divider"}] * 51}, "invalid_blocks"),
        (
            {
                "channel": CHANNEL,
                "text": "x",
                "blocks": [{"type": "section", "text": mrkdwn("x" * 3001)}],
            },
            "invalid_blocks",
        ),
        (
            {
                "channel": CHANNEL,
                "text": "x",
                "blocks": [{"type": "header", "text": {"type": "plain_text", "text": "x" * 151}}],
            },
            "invalid_blocks",
        ),
    ],
)
@pytest.mark.filterwarnings("ignore:The top-level `text` argument:UserWarning")
async def test_post_message_errors(
    client: AsyncWebClient, fake: FakeSlack, kwargs: dict[str, Any], error: str
) -> None:
    err = await slack_error(client.chat_postMessage(**kwargs))
    assert err.response.status_code == 200
    assert err.response["error"] == error
    assert fake.messages(CHANNEL) == []


async def test_invalid_blocks_says_where(client: AsyncWebClient) -> None:
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}]
    err = await slack_error(client.chat_postMessage(channel=CHANNEL, text="x", blocks=blocks))
    assert err.response["errors"] == [
        "must be less than 3001 characters [json-pointer:/blocks/0/text/text]"
    ]


async def test_tokens(fake: FakeSlack) -> None:
    wrong = AsyncWebClient(token="xoxb-wrong", base_url=fake.api_url)
    err = await slack_error(wrong.auth_test())
    assert err.response["error"] == "invalid_auth"
    anonymous = AsyncWebClient(base_url=fake.api_url)
    err = await slack_error(anonymous.auth_test())
    assert err.response["error"] == "not_authed"


async def test_unknown_method(client: AsyncWebClient, fake: FakeSlack) -> None:
    err = await slack_error(client.api_call("pigeons.send", json={"n": 1}))
    assert err.response["error"] == "unknown_method"
    assert fake.calls[-1] == ("pigeons.send", {"n": 1})


async def test_form_and_query_params_are_merged(client: AsyncWebClient, fake: FakeSlack) -> None:
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "form"}}]
    meta = {"event_type": "t", "event_payload": {"k": "v"}}
    await client.api_call(
        "chat.postMessage",
        data={"channel": CHANNEL, "blocks": json.dumps(blocks), "metadata": json.dumps(meta)},
        params={"text": "from query"},
    )
    (msg,) = fake.messages(CHANNEL)
    assert (msg.text, msg.blocks, msg.metadata) == ("from query", blocks, meta)
    method, params = fake.calls[-1]
    assert method == "chat.postMessage"
    assert params["blocks"] == blocks


async def test_rate_limit_fault(client: AsyncWebClient, fake: FakeSlack) -> None:
    fake.fail("chat.postMessage", "ratelimited", status=429, headers={"Retry-After": "2"})
    err = await slack_error(client.chat_postMessage(channel=CHANNEL, text="x"))
    assert err.response.status_code == 429
    assert err.response.headers["Retry-After"] == "2"
    assert err.response["error"] == "ratelimited"
    assert fake.messages(CHANNEL) == []
    await client.chat_postMessage(channel=CHANNEL, text="x")  # only once
    assert len(fake.messages(CHANNEL)) == 1


async def test_rate_limit_one_channel(client: AsyncWebClient, fake: FakeSlack) -> None:
    fake.add_channel("C0SECOND", "second")
    fake.rate_limit(CHANNEL, 3)
    await client.chat_postMessage(channel="C0SECOND", text="not limited")
    err = await slack_error(client.chat_postMessage(channel=CHANNEL, text="x"))
    assert (err.response.status_code, err.response.headers["Retry-After"]) == (429, "3")
    await client.chat_postMessage(channel=CHANNEL, text="x")


async def test_server_error_fault_times(client: AsyncWebClient, fake: FakeSlack) -> None:
    fake.fail("users.info", "fatal_error", times=2, status=503)
    for _ in range(2):
        err = await slack_error(client.users_info(user=AGENT))
        assert err.response.status_code == 503
    assert (await client.users_info(user=AGENT))["user"]["id"] == AGENT


async def test_applied_fault_posts_but_errors(client: AsyncWebClient, fake: FakeSlack) -> None:
    fake.fail("chat.postMessage", status=500, applied=True)
    await slack_error(client.chat_postMessage(channel=CHANNEL, text="lost answer"))
    assert [m.text for m in fake.messages(CHANNEL)] == ["lost answer"]


async def test_file_upload_v2(client: AsyncWebClient, fake: FakeSlack, receiver: Receiver) -> None:
    parent = await client.chat_postMessage(channel=CHANNEL, text="p")
    resp = await client.files_upload_v2(
        channel=CHANNEL, content=b"%PDF", filename="a.pdf", title="A", thread_ts=parent["ts"]
    )
    (reply,) = fake.thread(CHANNEL, parent["ts"])
    assert reply.subtype == "file_share"
    assert reply.files is not None
    assert reply.files[0]["id"] == resp["file"]["id"]
    assert fake.file_content(resp["file"]["id"]) == b"%PDF"


# ---------------------------------------------------------------- deliveries


def assert_signed(fake: FakeSlack, headers: dict[str, str], body: bytes) -> None:
    assert SignatureVerifier(fake.signing_secret).is_valid_request(body, headers)


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


async def test_file_share_and_private_download(fake: FakeSlack, receiver: Receiver) -> None:
    files = [{"name": "shot.png", "content": b"\x89PNG"}]
    await fake.user_says(AGENT, CHANNEL, "look", files=files)
    event = receiver.events()[0]
    assert event["subtype"] == "file_share"
    (file,) = event["files"]
    assert (file["name"], file["mimetype"], file["filetype"], file["size"]) == (
        "shot.png",
        "image/png",
        "png",
        4,
    )
    for key in ("id", "title", "url_private", "url_private_download", "permalink"):
        assert file[key]
    async with aiohttp.ClientSession() as http:
        auth = {"Authorization": f"Bearer {fake.bot_token}"}
        async with http.get(file["url_private_download"], headers=auth) as resp:
            assert (resp.status, await resp.read()) == (200, b"\x89PNG")
        async with http.get(file["url_private"]) as resp:
            assert resp.content_type == "text/html"  # a login page, not the file


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


async def test_edit_delete_and_other_bots(fake: FakeSlack, receiver: Receiver) -> None:
    fake.add_user("UHELPER", "helper", is_bot=True, bot_id="BHELPER")
    ts = await fake.user_says(AGENT, CHANNEL, "tpyo")
    await fake.edit(AGENT, CHANNEL, ts, "typo")
    await fake.delete(CHANNEL, ts)
    await fake.other_bot_says("BHELPER", CHANNEL, "modern")
    await fake.other_bot_says("BLEGACY", CHANNEL, "legacy")
    _, edited, deleted, modern, legacy = receiver.events()
    assert edited["subtype"] == "message_changed"
    assert edited["message"]["edited"]["user"] == AGENT
    assert (edited["message"]["text"], edited["previous_message"]["text"]) == ("typo", "tpyo")
    assert (deleted["subtype"], deleted["deleted_ts"]) == ("message_deleted", ts)
    assert deleted["previous_message"]["text"] == "typo"
    assert (modern["bot_id"], modern["user"], "subtype" in modern) == ("BHELPER", "UHELPER", False)
    assert (legacy["subtype"], legacy["bot_id"], "user" in legacy) == (
        "bot_message",
        "BLEGACY",
        False,
    )


async def test_click_sends_block_actions(
    client: AsyncWebClient, fake: FakeSlack, receiver: Receiver
) -> None:
    button = {
        "type": "button",
        "action_id": "claim",
        "text": {"type": "plain_text", "text": "Claim"},
        "value": "conv-1",
    }
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": "Handoff"}},
        {"type": "actions", "block_id": "buttons", "elements": [button]},
    ]
    posted = await client.chat_postMessage(channel=CHANNEL, text="Handoff", blocks=blocks)
    await fake.flush()
    receiver.requests.clear()

    assert await fake.click(AGENT, CHANNEL, posted["ts"], "claim") == 200
    headers, body = receiver.requests[0]
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert_signed(fake, headers, body)
    payload = json.loads(parse_qs(body.decode())["payload"][0])
    assert payload["type"] == "block_actions"
    assert payload["user"] == {
        "id": AGENT,
        "username": "alice",
        "name": "alice",
        "team_id": "T0FAKE",
    }
    assert payload["container"] == {
        "type": "message",
        "message_ts": posted["ts"],
        "channel_id": CHANNEL,
        "is_ephemeral": False,
    }
    assert payload["channel"] == {"id": CHANNEL, "name": "handoffs"}
    assert payload["message"]["ts"] == posted["ts"]
    assert payload["message"]["blocks"][1]["elements"] == [button]
    (action,) = payload["actions"]
    assert (action["action_id"], action["block_id"], action["value"]) == (
        "claim",
        "buttons",
        "conv-1",
    )
    assert action["text"]["text"] == "Claim"

    # A stale click: the button is gone but the click still arrives.
    await client.chat_update(channel=CHANNEL, ts=posted["ts"], text="done", blocks=[])
    await fake.click(AGENT, CHANNEL, posted["ts"], "claim", value="conv-1")
    stale = receiver.bodies()[-1]
    assert stale["actions"][0]["value"] == "conv-1"
    assert "blocks" not in stale["message"] or stale["message"]["blocks"][0]["type"] == "rich_text"

    # The response_url of the click answers ephemerally by default.
    async with aiohttp.ClientSession() as http:
        await http.post(payload["response_url"], json={"text": "Bob has it"})
    assert [(e.user, e.text) for e in fake.ephemerals] == [(AGENT, "Bob has it")]


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


async def test_wait_for_times_out_clearly(fake: FakeSlack) -> None:
    with pytest.raises(AssertionError, match="condition not met"):
        await fake.wait_for(lambda: False, timeout=0.05)


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

    async def endpoint(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await app.async_dispatch(await to_bolt_request(request)))

    web_app = web.Application()
    web_app.router.add_post("/slack/events", endpoint)
    runner = web.AppRunner(web_app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    fake.events_url = f"http://127.0.0.1:{runner.addresses[0][1]}/slack/events"
    try:
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
    finally:
        await runner.cleanup()


async def test_smaller_methods(client: AsyncWebClient, fake: FakeSlack) -> None:
    fake.add_usergroup("S0AGENTS", [AGENT])
    assert (await client.usergroups_users_list(usergroup="S0AGENTS"))["users"] == [AGENT]
    posted = await client.chat_postMessage(channel=CHANNEL, text="p")
    await client.reactions_add(channel=CHANNEL, timestamp=posted["ts"], name="eyes")
    assert fake.message(CHANNEL, posted["ts"]).reactions == {"eyes": ["UBRIDGE"]}
    err = await slack_error(
        client.reactions_add(channel=CHANNEL, timestamp=posted["ts"], name="eyes")
    )
    assert err.response["error"] == "already_reacted"
    view = {"type": "home", "blocks": [{"type": "divider"}]}
    await client.views_publish(user_id=AGENT, view=view)
    assert fake.home_views[AGENT]["type"] == "home"
    # A parent deleted under its replies stays as a tombstone.
    await fake.user_says(AGENT, CHANNEL, "reply", thread_ts=posted["ts"])
    await client.chat_delete(channel=CHANNEL, ts=posted["ts"])
    assert fake.message(CHANNEL, posted["ts"]).subtype == "tombstone"
    assert len(fake.thread(CHANNEL, posted["ts"])) == 1
