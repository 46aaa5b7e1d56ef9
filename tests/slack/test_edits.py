"""An agent edits or deletes a reply the end user already has."""

from __future__ import annotations

import pytest

from tests.conftest import ALICE, BOB, CHANNEL, StageFactory

pytestmark = pytest.mark.both_databases


async def test_edits_and_deletions_are_explained_not_relayed(make_stage: StageFactory) -> None:
    stage = await make_stage()
    slack, bot = stage.slack, stage.bot
    assert bot is not None
    _, parent = await stage.handoff()
    ts = await slack.user_says(ALICE, CHANNEL, "the refund is 10 EUR", thread_ts=parent)
    await bot.wait_for(lambda: len(bot.events("message")) == 1)
    await slack.edit(ALICE, CHANNEL, ts, "the refund is 100 EUR")
    await slack.wait_for(lambda: len(slack.ephemerals) == 1)
    assert "edit was not sent" in slack.ephemerals[0].text
    await slack.delete(CHANNEL, ts)
    await slack.wait_for(lambda: len(slack.ephemerals) == 2)
    assert "does not take it back" in slack.ephemerals[1].text
    note = await slack.user_says(BOB, CHANNEL, "note: careful", thread_ts=parent)
    await slack.edit(BOB, CHANNEL, note, "note: very careful")  # never relayed: nothing to say
    await slack.flush()
    assert len(slack.ephemerals) == 2 and all(e.user == ALICE for e in slack.ephemerals)
    assert len(bot.events("message")) == 1


async def test_corrections_can_be_relayed(make_stage: StageFactory) -> None:
    stage = await make_stage(BRIDGE_RELAY_CORRECTIONS="true")
    slack, bot = stage.slack, stage.bot
    assert bot is not None
    _, parent = await stage.handoff()
    ts = await slack.user_says(ALICE, CHANNEL, "the refund is 10 EUR", thread_ts=parent)
    await slack.edit(ALICE, CHANNEL, ts, "the refund is 100 EUR")
    await bot.wait_for(lambda: len(bot.events("message")) == 2)
    texts = [e["payload"]["payload"]["text"] for e in bot.events("message")]
    assert texts == ["the refund is 10 EUR", "Correction: the refund is 100 EUR"]
    await slack.wait_for(lambda: len(slack.ephemerals) == 1)
    assert "marked as a correction" in slack.ephemerals[0].text
