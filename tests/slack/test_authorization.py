"""Only who should: agents by user group, who may close, and requests for another app."""

from __future__ import annotations

import json

import pytest

from tests.conftest import ALICE, BOB, CHANNEL, StageFactory

pytestmark = pytest.mark.both_databases


async def test_only_the_user_group_may_answer(make_stage: StageFactory) -> None:
    stage = await make_stage(BRIDGE_AGENT_USERGROUP="S0AGENTS")
    slack, bot, api = stage.slack, stage.bot, stage.api
    assert bot is not None
    slack.add_usergroup("S0AGENTS", [ALICE])
    conv, parent = await stage.handoff()
    await slack.user_says(BOB, CHANNEL, "I am not an agent", thread_ts=parent)
    assert await slack.click(BOB, CHANNEL, parent, "claim") == 200
    await slack.wait_for(lambda: len([e for e in slack.ephemerals if e.user == BOB]) == 2)
    assert all("Only the handoff agents" in e.text for e in slack.ephemerals)
    assert (await api.conversation(conv))["status"] == "waiting"
    await slack.user_says(ALICE, CHANNEL, "I am", thread_ts=parent)
    await bot.wait_for(lambda: len(bot.events()) == 2)
    assert [e["payload"].get("payload") for e in bot.events("message")] == [{"text": "I am"}]


async def test_only_the_assignee_closes_when_so_set(make_stage: StageFactory) -> None:
    stage = await make_stage(BRIDGE_CLOSE_BY="assignee")
    slack, bot, api = stage.slack, stage.bot, stage.api
    assert bot is not None
    conv, parent = await stage.handoff()
    await slack.click(ALICE, CHANNEL, parent, "claim")
    await stage.wait_buttons(parent, ["release", "resolve"])
    await slack.click(BOB, CHANNEL, parent, "resolve")
    await slack.click(BOB, CHANNEL, parent, "release")
    await slack.wait_for(lambda: len(slack.ephemerals) == 2)
    assert all(f"Only <@{ALICE}>" in e.text for e in slack.ephemerals)
    assert (await api.conversation(conv))["status"] == "assigned"
    await slack.click(ALICE, CHANNEL, parent, "resolve")
    await bot.wait_for(lambda: len(bot.events("hitlStopped")) == 1)


async def test_by_default_any_agent_closes(make_stage: StageFactory) -> None:
    stage = await make_stage()
    slack, bot = stage.slack, stage.bot
    assert bot is not None
    _, parent = await stage.handoff()
    await slack.click(ALICE, CHANNEL, parent, "claim")
    await stage.wait_buttons(parent, ["release", "resolve"])
    await slack.click(BOB, CHANNEL, parent, "resolve")
    await bot.wait_for(lambda: len(bot.events("hitlStopped")) == 1)


async def test_requests_for_another_workspace_or_app_are_ignored(make_stage: StageFactory) -> None:
    stage = await make_stage()
    slack, bot = stage.slack, stage.bot
    assert bot is not None
    _, parent = await stage.handoff()
    reply = {
        "type": "message", "channel": CHANNEL, "user": ALICE, "text": "from elsewhere",
        "ts": "1999999999.000200", "thread_ts": parent, "channel_type": "channel",
    }  # fmt: skip
    for team, app in (("T0OTHER", slack.app_id), (slack.team_id, "A0OTHER")):
        envelope = {
            "token": "x", "team_id": team, "api_app_id": app, "type": "event_callback",
            "event_id": f"Ev{team}{app}", "event_time": 1, "event": reply,
        }  # fmt: skip
        status = await slack.send_signed(json.dumps(envelope).encode(), "application/json")
        assert status == 200  # acknowledged, so Slack does not retry, but ignored
    await slack.user_says(ALICE, CHANNEL, "from here", thread_ts=parent)
    await bot.wait_for(lambda: len(bot.events("message")) == 1)
    assert bot.events("message")[0]["payload"]["payload"] == {"text": "from here"}
