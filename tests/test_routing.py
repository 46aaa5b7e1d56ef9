"""Where handoffs go and when they give up: queues and the assign timeout."""

from __future__ import annotations

import pytest

from tests.conftest import ALICE, CHANNEL, StageFactory

pytestmark = pytest.mark.both_databases


async def test_queue_picks_the_channel(make_stage: StageFactory) -> None:
    stage = await make_stage(BRIDGE_QUEUES="billing=C0BILLING")
    stage.slack.add_channel("C0BILLING", "billing")
    api = stage.api
    user = await api.create_user()
    billing = await api.start(user, hitlSession={"queue": "billing", "priority": "high"})
    other = await api.start(user, hitlSession={"queue": "unknown"})
    plain = await api.start(user)
    await stage.parent_ts(plain)
    await stage.parent_ts(billing)
    await stage.parent_ts(other)
    assert (await api.conversation(billing))["slack"]["channel"] == "C0BILLING"
    assert (await api.conversation(other))["slack"]["channel"] == CHANNEL
    assert len(stage.slack.messages("C0BILLING")) == 1


async def test_unclaimed_handoff_times_out(make_stage: StageFactory) -> None:
    stage = await make_stage(BRIDGE_ASSIGN_TIMEOUT="1")
    slack, bot, api = stage.slack, stage.bot, stage.api
    assert bot is not None
    claimed, claimed_parent = await stage.handoff()
    waiting, parent = await stage.handoff()
    await slack.click(ALICE, CHANNEL, claimed_parent, "claim")
    await bot.wait_for(lambda: len(bot.events("hitlStopped")) == 1, timeout=10)
    assert bot.events("hitlStopped")[0]["payload"] == {
        "conversationId": waiting,
        "reason": "timeout",
    }
    await stage.wait_buttons(parent, [])
    assert (await api.conversation(claimed))["status"] == "assigned"
