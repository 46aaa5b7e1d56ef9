"""The handoff loop as people live it: a bot hands off, agents work the thread in Slack."""

from __future__ import annotations

import asyncio

import pytest

from tests.conftest import ALICE, BOB, CHANNEL, Stage

pytestmark = pytest.mark.both_databases


async def test_agent_claims_by_replying_then_resolves(stage: Stage) -> None:
    slack, bot, api = stage.slack, stage.bot, stage.api
    assert bot is not None
    user = await api.create_user("Erin", email="erin@example.com")
    conv = await api.start(
        user,
        history=[
            {"source": {"type": "user", "userId": user}, "type": "text", "payload": {"text": "hi"}},
            {"source": {"type": "bot"}, "type": "text", "payload": {"text": "How can I help?"}},
        ],
        title="Refund request",
        description="Wants a refund for order 42",
    )
    parent = await stage.parent_ts(conv)

    # The agents see the parent with a Claim button, and the transcript as the first reply.
    top = slack.message(CHANNEL, parent)
    assert "Refund request" in str(top.blocks) and "erin@example.com" in str(top.blocks)
    assert stage.buttons(parent) == ["claim"]
    await slack.wait_for(lambda: len(slack.thread(CHANNEL, parent)) == 1)
    assert "How can I help?" in str(slack.thread(CHANNEL, parent)[0].blocks)

    # The end user speaks; the message shows under their name.
    await api.say(conv, "my order never came", user_id=user)
    await slack.wait_for(lambda: len(slack.thread(CHANNEL, parent)) == 2)
    said = slack.thread(CHANNEL, parent)[1]
    assert said.username == "Erin" and "my order never came" in str(said.blocks)

    # Alice answers in the thread: that claims it, then relays her words.
    await slack.user_says(ALICE, CHANNEL, "Hi Erin, I'm on it &amp; checking", thread_ts=parent)
    await bot.wait_for(lambda: len(bot.events()) == 2)
    assigned, message = bot.events()
    assert assigned["type"] == "hitlAssigned"
    assert assigned["payload"]["agent"] == {
        "name": "Alice",
        "pictureUrl": "https://img.example.com/alice.png",
        "email": "alice@example.com",
        "slackUserId": ALICE,
    }
    assert message["type"] == "message"
    assert message["payload"]["payload"] == {"text": "Hi Erin, I'm on it & checking"}
    assert message["payload"]["userId"] == assigned["payload"]["userId"]
    await stage.wait_buttons(parent, ["release", "resolve"])
    assert (await api.conversation(conv))["status"] == "assigned"

    # Alice resolves: the bot hears it, and the parent has no buttons left.
    await slack.click(ALICE, CHANNEL, parent, "resolve")
    await bot.wait_for(lambda: len(bot.events()) == 3)
    assert bot.events()[2]["type"] == "hitlStopped"
    assert bot.events()[2]["payload"] == {"conversationId": conv, "reason": "resolved"}
    await stage.wait_buttons(parent, [])
    body = await api.conversation(conv)
    assert body["status"] == "stopped" and body["stoppedAt"]

    # A late reply is not relayed; Alice is told so.
    await slack.user_says(ALICE, CHANNEL, "one more thing", thread_ts=parent)
    await slack.wait_for(lambda: any(e.user == ALICE for e in slack.ephemerals))
    assert len(bot.events()) == 3


async def test_two_agents_claim_at_once_one_wins(stage: Stage) -> None:
    slack, bot = stage.slack, stage.bot
    assert bot is not None
    _, parent = await stage.handoff()

    await asyncio.gather(
        slack.click(ALICE, CHANNEL, parent, "claim"), slack.click(BOB, CHANNEL, parent, "claim")
    )
    await bot.wait_for(lambda: len(bot.events("hitlAssigned")) == 1)
    winner = bot.events("hitlAssigned")[0]["payload"]["agent"]["slackUserId"]
    loser = BOB if winner == ALICE else ALICE
    await slack.wait_for(lambda: any(e.user == loser for e in slack.ephemerals))
    told = next(e for e in slack.ephemerals if e.user == loser)
    assert f"<@{winner}>" in told.text


async def test_release_then_claim_again_fires_assigned_again(stage: Stage) -> None:
    slack, bot, api = stage.slack, stage.bot, stage.api
    assert bot is not None
    conv, parent = await stage.handoff()
    await slack.click(ALICE, CHANNEL, parent, "claim")
    await bot.wait_for(lambda: len(bot.events("hitlAssigned")) == 1)
    await stage.wait_buttons(parent, ["release", "resolve"])
    await slack.click(ALICE, CHANNEL, parent, "release")
    await stage.wait_buttons(parent, ["claim"])
    assert (await api.conversation(conv))["status"] == "waiting"
    await slack.click(BOB, CHANNEL, parent, "claim")
    await bot.wait_for(lambda: len(bot.events("hitlAssigned")) == 2)
    assert bot.events("hitlAssigned")[1]["payload"]["agent"]["name"] == "Bob Builder"
    assert [e["type"] for e in bot.events()] == ["hitlAssigned", "hitlAssigned"]


async def test_notes_stay_in_slack(stage: Stage) -> None:
    slack, bot = stage.slack, stage.bot
    assert bot is not None
    _, parent = await stage.handoff()
    await slack.user_says(ALICE, CHANNEL, "  NOTE: this one is tricky", thread_ts=parent)
    await slack.user_says(BOB, CHANNEL, "private: agreed", thread_ts=parent)
    await slack.user_says(ALICE, CHANNEL, "Hello!", thread_ts=parent)
    await bot.wait_for(lambda: len(bot.events()) == 2)
    assert [e["type"] for e in bot.events()] == ["hitlAssigned", "message"]
    assert bot.events()[1]["payload"]["payload"]["text"] == "Hello!"


async def test_bot_stop_is_not_echoed(stage: Stage) -> None:
    slack, bot, api = stage.slack, stage.bot, stage.api
    assert bot is not None
    conv, parent = await stage.handoff()
    status, body = await api.post(f"/v1/conversations/{conv}/stop", {})
    assert (status, body) == (200, {})
    status, _ = await api.post(f"/v1/conversations/{conv}/stop")
    assert status == 200
    await stage.wait_buttons(parent, [])
    assert "bot" in str(slack.message(CHANNEL, parent).blocks).lower()
    status, body = await api.post(
        f"/v1/conversations/{conv}/messages", {"type": "text", "payload": {"text": "late"}}
    )
    assert status == 409 and body["error"]["code"] == "conversation_stopped"
    assert bot.events() == []


async def test_long_history_and_long_messages_fit_slack(stage: Stage) -> None:
    slack, api = stage.slack, stage.api
    user = await api.create_user("Erin")
    history = [
        {
            "source": {"type": "user", "userId": user} if n % 2 else {"type": "bot"},
            "type": "text",
            "payload": {"text": f"line {n} " + "blah " * 60},
        }
        for n in range(700)
    ]
    conv = await api.start(user, history=history)
    parent = await stage.parent_ts(conv)
    await api.say(conv, "x" * 39000, user_id=user)

    await slack.wait_for(lambda: stage.said(parent, "Erin").count("x") >= 39000, timeout=10)
    replies = slack.thread(CHANNEL, parent)
    transcript = [m for m in replies if m.username is None]
    assert len(transcript) > 1  # split across several posts, each within Block Kit's limits
    shown = "".join(str(m.blocks) for m in transcript)
    assert all(f"line {n} " in shown for n in range(700))
    erin = [m for m in replies if m.username == "Erin"]
    assert len(erin) > 1 and replies[-len(erin) :] == erin  # in several posts, in a row
    assert stage.said(parent, "Erin").count("x") == 39000
