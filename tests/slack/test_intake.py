"""The intake: an agent's reply is handled as it arrives when Slack need not be asked
anything about it, else kept and handled once Slack can tell; never out of order."""

from __future__ import annotations

import pytest

from tests.conftest import ALICE, BOB, CHANNEL, Stage

pytestmark = pytest.mark.both_databases


async def test_a_known_agents_reply_is_relayed_before_slack_is_answered(stage: Stage) -> None:
    slack, bot, api = stage.slack, stage.bot, stage.api
    assert bot is not None
    _, parent = await stage.handoff()
    await slack.user_says(ALICE, CHANNEL, "Hi, I'm Alice", thread_ts=parent)
    await bot.wait_for(lambda: len(bot.events("message")) == 1, timeout=10)
    _, listed = await api.get("/v1/events")
    cursor = listed["cursor"]
    await slack.user_says(ALICE, CHANNEL, "Your refund is on its way", thread_ts=parent)
    # Slack has its answer: the reply is an event already, not a row waiting for the intake.
    _, listed = await api.get(f"/v1/events?after={cursor}&wait=0")
    said = [e["payload"]["payload"] for e in listed["events"] if e["type"] == "message"]
    assert said == [{"text": "Your refund is on its way"}]


async def test_a_reply_handled_at_once_waits_behind_one_kept_for_slack(stage: Stage) -> None:
    slack, bot = stage.slack, stage.bot
    assert bot is not None
    _, parent = await stage.handoff()
    await slack.user_says(ALICE, CHANNEL, "Alice here", thread_ts=parent)
    await bot.wait_for(lambda: len(bot.events("message")) == 1, timeout=10)
    # Bob is new: who he is must be asked, and Slack cannot tell for a while.
    slack.fail("users.info", "internal_error", status=500, times=3)
    await slack.user_says(BOB, CHANNEL, "Bob here too", thread_ts=parent)
    await slack.user_says(ALICE, CHANNEL, "Over to you, Bob", thread_ts=parent)
    await bot.wait_for(lambda: len(bot.events("message")) == 3, timeout=15)
    said = [e["payload"]["payload"]["text"] for e in bot.events("message")]
    assert said == ["Alice here", "Bob here too", "Over to you, Bob"]
