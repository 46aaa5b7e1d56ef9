"""The chat.* methods, and each one's documented refusals."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bridge.testing.fake_slack import FakeSlack
from tests.testing.fake_slack.conftest import AGENT, CHANNEL, mrkdwn, refusal, section, slack_error

pytestmark = pytest.mark.filterwarnings("ignore:The top-level `text` argument:UserWarning")


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


async def test_a_deleted_parent_stays_as_a_tombstone(
    client: AsyncWebClient, fake: FakeSlack
) -> None:
    posted = await client.chat_postMessage(channel=CHANNEL, text="p")
    await fake.user_says(AGENT, CHANNEL, "reply", thread_ts=posted["ts"])
    await client.chat_delete(channel=CHANNEL, ts=posted["ts"])
    assert fake.message(CHANNEL, posted["ts"]).subtype == "tombstone"
    assert len(fake.thread(CHANNEL, posted["ts"])) == 1


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


async def test_the_text_limit_is_for_blocks_not_the_fallback(client: AsyncWebClient) -> None:
    await client.chat_postMessage(channel=CHANNEL, text="t" * 40_000, blocks=[section("x")])
    body = await refusal(client.chat_postMessage(channel=CHANNEL, text="t" * 40_001))
    assert body["error"] == "msg_too_long"


async def test_post_message_refusals(client: AsyncWebClient, fake: FakeSlack) -> None:
    parent = await client.chat_postMessage(channel=CHANNEL, text="parent")
    reply = await client.chat_postMessage(channel=CHANNEL, text="r", thread_ts=parent["ts"])
    fake.lock_thread(CHANNEL, reply["ts"])  # any message of the thread names it
    for ts in (parent["ts"], reply["ts"]):
        body = await refusal(client.chat_postMessage(channel=CHANNEL, text="x", thread_ts=ts))
        assert body["error"] == "restricted_action_thread_locked"
    history = await client.conversations_history(channel=CHANNEL)
    assert history["messages"][0]["is_locked"] is True
    await client.chat_postMessage(channel=CHANNEL, text="top level is fine")
    fake.lock_thread(CHANNEL, parent["ts"], locked=False)
    await client.chat_postMessage(channel=CHANNEL, text="x", thread_ts=parent["ts"])

    body = await refusal(client.chat_postMessage(channel="C0NEWS", text="x"))
    assert body["error"] == "restricted_action_read_only_channel"
    fake.channels[CHANNEL].member = False
    assert (await refusal(client.chat_postMessage(channel=CHANNEL, text="x")))["error"] == (
        "not_in_channel"
    )
    fake.channels[CHANNEL].archived = True
    assert (await refusal(client.chat_postMessage(channel=CHANNEL, text="x")))["error"] == (
        "is_archived"
    )


async def test_update_refusals(client: AsyncWebClient, fake: FakeSlack) -> None:
    posted = await client.chat_postMessage(channel=CHANNEL, text="p")
    fake.edit_window = 3600.0
    await client.chat_update(channel=CHANNEL, ts=posted["ts"], text="still editable")
    fake.edit_window = 0.0
    await asyncio.sleep(0.01)
    body = await refusal(client.chat_update(channel=CHANNEL, ts=posted["ts"], text="x"))
    assert body["error"] == "edit_window_closed"
    fake.edit_window = None
    body = await refusal(client.chat_update(channel=CHANNEL, ts="1.000001", text="x"))
    assert body["error"] == "message_not_found"
    body = await refusal(client.chat_update(channel="CNONE", ts=posted["ts"], text="x"))
    assert body["error"] == "channel_not_found"
    fake.channels[CHANNEL].archived = True
    body = await refusal(client.chat_update(channel=CHANNEL, ts=posted["ts"], text="x"))
    assert body["error"] == "is_inactive"  # chat.update's word for an archived channel


async def test_delete_refusals(client: AsyncWebClient, fake: FakeSlack) -> None:
    body = await refusal(client.chat_delete(channel=CHANNEL, ts="1.000001"))
    assert body["error"] == "message_not_found"
    human = await fake.user_says(AGENT, CHANNEL, "mine")
    assert (await refusal(client.chat_delete(channel=CHANNEL, ts=human)))["error"] == (
        "cant_delete_message"
    )


async def test_ephemeral_refusals(client: AsyncWebClient, fake: FakeSlack) -> None:
    await client.chat_postEphemeral(channel="C0SMALL", user=AGENT, text="you are in")
    cases: list[tuple[dict[str, Any], str]] = [
        ({"channel": "C0SMALL", "user": "UOTHER"}, "user_not_in_channel"),
        ({"channel": CHANNEL, "user": "UNOBODY"}, "user_not_in_channel"),
        ({"channel": "C0ARCHIVE", "user": AGENT}, "is_archived"),
        ({"channel": "C0OUTSIDE", "user": AGENT}, "not_in_channel"),
        ({"channel": "CNONE", "user": AGENT}, "channel_not_found"),
    ]
    for kwargs, error in cases:
        body = await refusal(client.chat_postEphemeral(text="x", **kwargs))
        assert body["error"] == error, kwargs
    body = await refusal(client.chat_postEphemeral(channel=CHANNEL, user=AGENT, text=""))
    assert body["error"] == "no_text"
    assert [e.text for e in fake.ephemerals] == ["you are in"]
