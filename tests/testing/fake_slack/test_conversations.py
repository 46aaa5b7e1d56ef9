"""The conversations.* methods: threads, history, and their pages."""

from __future__ import annotations

from slack_sdk.web.async_client import AsyncWebClient

from bridge.testing.fake_slack import FakeSlack
from tests.testing.fake_slack.conftest import AGENT, CHANNEL, slack_error


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
