"""People acting in the workspace: edits, deletions, other bots, clicks and their
response_url."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

import aiohttp
from slack_sdk.web.async_client import AsyncWebClient

from bridge.testing.fake_slack import FakeSlack
from tests.testing.fake_slack.conftest import AGENT, CHANNEL, Receiver, assert_signed


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
