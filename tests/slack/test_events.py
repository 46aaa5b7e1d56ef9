"""What Slack sends the bridge, and what the bridge makes of it."""

from __future__ import annotations

import json
import time

import aiohttp
import pytest

from tests.conftest import ALICE, BOB, CHANNEL, Stage

pytestmark = pytest.mark.both_databases


async def test_slack_retries_are_relayed_once(stage: Stage) -> None:
    slack, bot = stage.slack, stage.bot
    assert bot is not None
    _, parent = await stage.handoff()
    event = {
        "type": "message",
        "channel": CHANNEL,
        "user": ALICE,
        "text": "only once please",
        "ts": "1999999999.000100",
        "thread_ts": parent,
        "parent_user_id": slack.bot_user_id,
        "channel_type": "channel",
    }
    assert await slack.send_event(event, event_id="Ev0RETRY") == 200
    for attempt in (1, 2, 3):
        assert await slack.send_event(event, event_id="Ev0RETRY", retry_num=attempt) == 200
    # A retry that Slack gave a new envelope still names the same message: still once.
    assert await slack.send_event(event, event_id="Ev0OTHER") == 200
    await bot.wait_for(lambda: len(bot.events("message")) == 1)
    await slack.flush()
    assert [e["type"] for e in bot.events()] == ["hitlAssigned", "message"]


async def test_bots_and_edits_are_not_agent_replies(stage: Stage) -> None:
    slack, bot = stage.slack, stage.bot
    assert bot is not None
    slack.add_user("U0OTHERBOT", "otherbot", is_bot=True, bot_id="B0OTHER")
    _, parent = await stage.handoff()
    await slack.other_bot_says("B0OTHER", CHANNEL, "I am a bot", thread_ts=parent)
    await slack.other_bot_says("B0LEGACY", CHANNEL, "legacy bot", thread_ts=parent)
    ts = await slack.user_says(ALICE, CHANNEL, "real reply", thread_ts=parent)
    await slack.edit(ALICE, CHANNEL, ts, "real reply, edited")
    await slack.delete(CHANNEL, ts)
    await slack.user_says(BOB, CHANNEL, "top-level chatter, not in a thread")
    await bot.wait_for(lambda: len(bot.events()) == 2)
    await slack.flush()
    assert [e["payload"].get("payload") for e in bot.events("message")] == [{"text": "real reply"}]
    assert all(status == 200 for status, _ in slack.delivered)


async def test_agent_text_reads_as_a_person_would(stage: Stage) -> None:
    slack, bot = stage.slack, stage.bot
    assert bot is not None
    _, parent = await stage.handoff()
    await slack.user_says(
        ALICE,
        CHANNEL,
        f"Ask <@{BOB}> &lt;he knows&gt; or see <https://help.example.com|the help page>",
        thread_ts=parent,
    )
    await bot.wait_for(lambda: len(bot.events("message")) == 1)
    text = bot.events("message")[0]["payload"]["payload"]["text"]
    assert text == "Ask @Bob Builder <he knows> or see the help page (https://help.example.com)"


async def test_second_agent_replies_as_themselves_without_reassigning(stage: Stage) -> None:
    slack, bot, api = stage.slack, stage.bot, stage.api
    assert bot is not None
    conv, parent = await stage.handoff()
    await slack.user_says(ALICE, CHANNEL, "first", thread_ts=parent)
    await slack.user_says(BOB, CHANNEL, "second", thread_ts=parent)
    await bot.wait_for(lambda: len(bot.events("message")) == 2)
    assert len(bot.events("hitlAssigned")) == 1
    first, second = bot.events("message")
    assert second["payload"]["agent"]["slackUserId"] == BOB
    assert first["payload"]["userId"] != second["payload"]["userId"]
    body = await api.conversation(conv)
    assert body["agentId"] == first["payload"]["userId"]


async def test_stale_buttons_change_nothing_and_say_why(stage: Stage) -> None:
    slack, bot = stage.slack, stage.bot
    assert bot is not None
    conv, parent = await stage.handoff()
    await slack.click(ALICE, CHANNEL, parent, "claim")
    await bot.wait_for(lambda: len(bot.events()) == 1)
    assert await slack.click(BOB, CHANNEL, parent, "claim", value=conv) == 200
    assert await slack.click(BOB, CHANNEL, parent, "resolve", value=conv) == 200  # allowed
    await bot.wait_for(lambda: len(bot.events()) == 2)
    assert await slack.click(ALICE, CHANNEL, parent, "release", value=conv) == 200
    assert await slack.click(ALICE, CHANNEL, parent, "claim", value="conv_forged") == 200
    await slack.wait_for(lambda: len(slack.ephemerals) == 2)
    texts = [e.text for e in slack.ephemerals]
    assert f"<@{ALICE}>" in texts[0]  # Bob is told Alice has it
    assert f"resolved by <@{BOB}>" in texts[1]
    assert [e["type"] for e in bot.events()] == ["hitlAssigned", "hitlStopped"]
    assert f"<@{BOB}>" in str(slack.message(CHANNEL, parent).blocks)  # who resolved it


async def test_bot_notices_and_media_show_in_the_thread(stage: Stage) -> None:
    slack, api = stage.slack, stage.api
    user = await api.create_user("Erin", pictureUrl="https://img.example.com/erin.png")
    conv = await api.start(user)
    parent = await stage.parent_ts(conv)
    messages = [
        ({"type": "text", "payload": {"text": "Connecting you to a human"}}, None),
        (
            {
                "type": "image",
                "payload": {"imageUrl": "https://img.example.com/cat.png", "title": "cat"},
            },
            user,
        ),
        (
            {
                "type": "file",
                "payload": {"fileUrl": "https://files.example.com/r.pdf", "title": "receipt"},
            },
            user,
        ),
        (
            {
                "type": "bloc",
                "payload": {
                    "items": [
                        {"type": "text", "payload": {"text": "see this <!channel>"}},
                        {"type": "video", "payload": {"videoUrl": "https://v.example.com/v.mp4"}},
                    ]
                },
            },
            user,
        ),
    ]
    for body, who in messages:
        if who:
            body = {**body, "userId": who}
        status, answer = await api.post(f"/v1/conversations/{conv}/messages", body)
        assert status == 202, answer
    await slack.wait_for(lambda: len(slack.thread(CHANNEL, parent)) == 4)
    notice, image, file, bloc = slack.thread(CHANNEL, parent)
    assert notice.username is None and "From the bot" in json.dumps(notice.blocks)
    assert image.username == "Erin" and image.icon_url == "https://img.example.com/erin.png"
    assert any(b["type"] == "image" for b in image.blocks or [])
    assert "<https://files.example.com/r.pdf|receipt>" in json.dumps(file.blocks)
    assert "<!channel>" not in json.dumps(bloc.blocks)
    assert "v.example.com/v.mp4" in json.dumps(bloc.blocks)


async def test_requests_not_from_slack_are_refused(stage: Stage) -> None:
    slack = stage.slack
    body = json.dumps({"type": "event_callback", "event": {"type": "message"}}).encode()
    assert await slack.send_signed(body, "application/json", signature="v0=forged") == 401
    stale = int(time.time()) - 600
    assert await slack.send_signed(body, "application/json", timestamp=stale) == 401


async def test_slack_url_verification_and_unused_events(stage: Stage) -> None:
    slack = stage.slack
    body = json.dumps({"type": "url_verification", "challenge": "abc123", "token": "t"}).encode()
    assert await slack.send_signed(body, "application/json") == 200
    assert await slack.send_event({"type": "app_home_opened", "user": ALICE, "tab": "home"}) == 200
    assert await slack.send_event({"type": "reaction_added", "user": ALICE}) == 200


async def test_slacks_ssl_check_is_answered_unsigned_as_bolt_does(stage: Stage) -> None:
    slack = stage.slack
    calls = len(slack.calls)
    async with aiohttp.ClientSession() as http:
        probe = {"ssl_check": "1", "token": "legacy-verification-token"}
        async with http.post(stage.bridge.url + "/slack/events", data=probe) as resp:
            assert resp.status == 200 and await resp.read() == b""
        # Anything else unsigned is still refused.
        async with http.post(stage.bridge.url + "/slack/events", data={"command": "/hitl"}) as resp:
            assert resp.status == 401
    assert len(slack.calls) == calls
