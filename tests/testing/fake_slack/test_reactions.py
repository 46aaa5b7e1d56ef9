"""The reactions.* methods, and their refusals."""

from __future__ import annotations

from typing import Any

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bridge.testing.fake_slack import MAX_EMOJI, FakeSlack
from tests.testing.fake_slack.conftest import AGENT, CHANNEL, refusal, slack_error

pytestmark = pytest.mark.filterwarnings("ignore:The top-level `text` argument:UserWarning")


async def test_reactions_add(client: AsyncWebClient, fake: FakeSlack) -> None:
    posted = await client.chat_postMessage(channel=CHANNEL, text="p")
    await client.reactions_add(channel=CHANNEL, timestamp=posted["ts"], name="eyes")
    assert fake.message(CHANNEL, posted["ts"]).reactions == {"eyes": ["UBRIDGE"]}
    err = await slack_error(
        client.reactions_add(channel=CHANNEL, timestamp=posted["ts"], name="eyes")
    )
    assert err.response["error"] == "already_reacted"


async def test_reaction_refusals(client: AsyncWebClient, fake: FakeSlack) -> None:
    parent = await client.chat_postMessage(channel=CHANNEL, text="p")
    ts = parent["ts"]
    cases: list[tuple[dict[str, Any], str]] = [
        ({"timestamp": "yesterday", "name": "eyes"}, "bad_timestamp"),
        ({"timestamp": "1.000001", "name": "eyes"}, "message_not_found"),
        ({"timestamp": ts, "name": "Not An Emoji!"}, "invalid_name"),
        ({"timestamp": ts, "name": ""}, "invalid_name"),
        ({"timestamp": "", "name": "eyes"}, "no_item_specified"),
        ({"channel": "CNONE", "timestamp": ts, "name": "eyes"}, "channel_not_found"),
    ]
    for kwargs, error in cases:
        body = await refusal(client.reactions_add(**{"channel": CHANNEL, **kwargs}))
        assert body["error"] == error, kwargs
    await client.reactions_add(channel=CHANNEL, timestamp=ts, name=":+1::skin-tone-2:")
    assert (await refusal(client.reactions_remove(channel=CHANNEL, timestamp=ts, name="eyes")))[
        "error"
    ] == "no_reaction"

    # Slack's maximum of distinct emoji: another one is refused, a present one still joins.
    full = await client.chat_postMessage(channel=CHANNEL, text="popular")
    msg = fake.message(CHANNEL, full["ts"])
    msg.reactions = {f"emoji_{i}": ["UOTHER"] for i in range(MAX_EMOJI)}
    body = await refusal(client.reactions_add(channel=CHANNEL, timestamp=full["ts"], name="eyes"))
    assert body["error"] == "too_many_emoji"
    await client.reactions_add(channel=CHANNEL, timestamp=full["ts"], name="emoji_0")

    reply = await fake.user_says(AGENT, CHANNEL, "reply", thread_ts=ts)
    fake.lock_thread(CHANNEL, ts)
    for target in (ts, reply):
        body = await refusal(client.reactions_add(channel=CHANNEL, timestamp=target, name="ok"))
        assert body["error"] == "thread_locked"
    body = await refusal(client.reactions_remove(channel=CHANNEL, timestamp=ts, name="+1"))
    assert body["error"] == "thread_locked"
    fake.lock_thread(CHANNEL, ts, locked=False)

    await client.chat_delete(channel=CHANNEL, ts=ts)  # a tombstone: it has a reply
    body = await refusal(client.reactions_add(channel=CHANNEL, timestamp=ts, name="eyes"))
    assert body["error"] == "not_reactable"

    old = await fake.user_says(AGENT, "C0ARCHIVE", "old news")
    body = await refusal(client.reactions_add(channel="C0ARCHIVE", timestamp=old, name="eyes"))
    assert body["error"] == "is_archived"
