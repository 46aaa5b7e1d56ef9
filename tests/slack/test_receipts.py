"""Delivery receipts: agents see which replies reached the bot, and which stayed inside."""

from __future__ import annotations

import pytest

from tests.conftest import ALICE, CHANNEL, StageFactory

pytestmark = pytest.mark.both_databases


async def test_replies_get_a_receipt_and_notes_a_lock(make_stage: StageFactory) -> None:
    stage = await make_stage()
    slack, bot = stage.slack, stage.bot
    assert bot is not None
    _, parent = await stage.handoff()
    reply = await slack.user_says(ALICE, CHANNEL, "on my way", thread_ts=parent)
    note = await slack.user_says(ALICE, CHANNEL, "note: VIP customer", thread_ts=parent)
    await slack.wait_for(lambda: "white_check_mark" in slack.message(CHANNEL, reply).reactions)
    await slack.wait_for(lambda: "lock" in slack.message(CHANNEL, note).reactions)
    assert list(slack.message(CHANNEL, note).reactions) == ["lock"]


async def test_a_reply_the_bot_never_takes_is_flagged(make_stage: StageFactory) -> None:
    stage = await make_stage(BRIDGE_DELIVERY_MAX_ATTEMPTS="2", BRIDGE_RECEIPT_REACTION="eyes")
    slack, bot = stage.slack, stage.bot
    assert bot is not None
    _, parent = await stage.handoff()
    await slack.click(ALICE, CHANNEL, parent, "claim")
    await bot.wait_for(lambda: len(bot.events()) == 1)
    bot.down = True
    reply = await slack.user_says(ALICE, CHANNEL, "you will not see this", thread_ts=parent)
    await slack.wait_for(lambda: "warning" in slack.message(CHANNEL, reply).reactions, timeout=10)
    await slack.wait_for(lambda: any(e.user == ALICE for e in slack.ephemerals))
    assert "did not get your reply" in slack.ephemerals[-1].text
    bot.down = False
    other = await slack.user_says(ALICE, CHANNEL, "and this one?", thread_ts=parent)
    await slack.wait_for(lambda: "eyes" in slack.message(CHANNEL, other).reactions)


async def test_receipts_can_be_turned_off(make_stage: StageFactory) -> None:
    stage = await make_stage(BRIDGE_RECEIPT_REACTION="off")
    slack, bot = stage.slack, stage.bot
    assert bot is not None
    _, parent = await stage.handoff()
    reply = await slack.user_says(ALICE, CHANNEL, "hello", thread_ts=parent)
    await bot.wait_for(lambda: len(bot.events("message")) == 1)
    await slack.flush()
    assert slack.message(CHANNEL, reply).reactions == {}
    assert not slack.calls_of("reactions.add")
