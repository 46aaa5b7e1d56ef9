"""One slow party never stalls the rest: a channel or a conversation whose calls hang delays
no other."""

from __future__ import annotations

import time

import pytest

from tests.conftest import ALICE, CHANNEL, StageFactory

pytestmark = pytest.mark.both_databases

SLOW = "C0SLOW"


@pytest.mark.parametrize("quick_first", [0, 30], ids=["hung", "quick-then-hung"])
async def test_a_hung_channel_holds_no_other_back(
    make_stage: StageFactory, quick_first: int
) -> None:
    stage = await make_stage(BRIDGE_QUEUES=f"slow={SLOW}")
    slack, api = stage.slack, stage.api
    slack.add_channel(SLOW, "slow-queue")
    user = await api.create_user("Erin")
    # Quick at first, its window opens wide before its calls hang.
    quick = [await api.start(user, hitlSession={"queue": "slow"}) for _ in range(quick_first)]
    for conv in quick:
        await stage.parent_ts(conv)
    slack.hang("chat.postMessage", SLOW)
    for _ in range(40):  # more than the drainer has workers
        await api.start(user, hitlSession={"queue": "slow"})
    started = time.monotonic()
    conv = await api.start(user)
    await stage.parent_ts(conv)
    assert time.monotonic() - started < 3  # not the 10 s of a Slack call's timeout
    slack.heal()


async def test_a_webhook_stuck_on_one_conversation_holds_no_other_back(
    make_stage: StageFactory,
) -> None:
    stage = await make_stage()
    slack, bot = stage.slack, stage.bot
    assert bot is not None
    stuck, stuck_parent = await stage.handoff()
    other, other_parent = await stage.handoff()
    bot.hang_for.add(stuck)
    await slack.user_says(ALICE, CHANNEL, "hello?", thread_ts=stuck_parent)
    started = time.monotonic()
    await slack.user_says(ALICE, CHANNEL, "hi there", thread_ts=other_parent)
    await bot.wait_for(lambda: len(bot.events("message")) == 1)
    assert time.monotonic() - started < 3
    assert bot.events("message")[0]["payload"]["conversationId"] == other
    bot.release()
    await bot.wait_for(lambda: len(bot.events("message")) == 2)  # retried, and delivered
