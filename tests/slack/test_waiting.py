"""Waiting too long: reminders, nudges, priorities, and clocks that survive a restart."""

from __future__ import annotations

import asyncio

import pytest

from bridge.testing.fake_slack import FakeSlack
from tests.conftest import ALICE, CHANNEL, StageFactory

pytestmark = pytest.mark.both_databases


def texts(slack: FakeSlack, parent: str) -> list[str]:
    return [m.text for m in slack.thread(CHANNEL, parent)]


async def test_unclaimed_handoffs_get_reminders_up_to_a_limit(make_stage: StageFactory) -> None:
    stage = await make_stage(
        BRIDGE_REMIND_AFTER="0.3", BRIDGE_REMIND_REPEAT="2", BRIDGE_AGENT_USERGROUP="S0AGENTS"
    )
    slack = stage.slack
    slack.add_usergroup("S0AGENTS", [ALICE])
    _, parent = await stage.handoff()
    await slack.wait_for(lambda: len(texts(slack, parent)) == 2, timeout=5)
    await asyncio.sleep(1.0)
    reminders = texts(slack, parent)
    assert len(reminders) == 2  # no more than BRIDGE_REMIND_REPEAT
    assert all("Still waiting" in t and "<!subteam^S0AGENTS>" in t for t in reminders)


async def test_claimed_handoffs_are_not_reminded_and_release_starts_over(
    make_stage: StageFactory,
) -> None:
    stage = await make_stage(BRIDGE_REMIND_AFTER="0.5", BRIDGE_REMIND_REPEAT="1")
    slack = stage.slack
    _, parent = await stage.handoff()
    await slack.click(ALICE, CHANNEL, parent, "claim")
    await asyncio.sleep(1.0)
    assert texts(slack, parent) == []
    await stage.wait_buttons(parent, ["release", "resolve"])
    await slack.click(ALICE, CHANNEL, parent, "release")
    await slack.wait_for(lambda: len(texts(slack, parent)) == 1, timeout=5)
    assert "<!here>" in texts(slack, parent)[0]


async def test_reminder_clocks_survive_a_restart(make_stage: StageFactory) -> None:
    stage = await make_stage()
    slack = stage.slack
    _, parent = await stage.handoff()
    await stage.bridge.stop()
    await asyncio.sleep(0.5)
    stage.settings = stage.settings.model_copy(update={"remind_after": 0.3})
    await stage.restart()
    await slack.wait_for(lambda: len(texts(slack, parent)) >= 1, timeout=5)


async def test_an_idle_assignee_is_nudged_once(make_stage: StageFactory) -> None:
    stage = await make_stage(BRIDGE_IDLE_REMINDER="0.4")
    slack = stage.slack
    _, parent = await stage.handoff()
    await slack.user_says(ALICE, CHANNEL, "looking into it", thread_ts=parent)
    await slack.wait_for(lambda: any("no reply here" in t for t in texts(slack, parent)), 5)
    await asyncio.sleep(0.8)
    nudges = [t for t in texts(slack, parent) if "no reply here" in t]
    assert len(nudges) == 1 and f"<@{ALICE}>" in nudges[0]
    await slack.user_says(ALICE, CHANNEL, "still here", thread_ts=parent)  # the clock restarts
    await slack.wait_for(
        lambda: len([t for t in texts(slack, parent) if "no reply here" in t]) == 2, 5
    )


async def test_priority_shows_and_urgent_calls_the_agents(make_stage: StageFactory) -> None:
    stage = await make_stage(BRIDGE_AGENT_USERGROUP="S0AGENTS")
    slack, api = stage.slack, stage.api
    slack.add_usergroup("S0AGENTS", [ALICE])
    user = await api.create_user()
    urgent = await api.start(user, hitlSession={"priority": "URGENT"})
    low = await api.start(user, hitlSession={"priority": "low"})
    shown = str(slack.message(CHANNEL, await stage.parent_ts(urgent)).blocks)
    assert "Urgent" in shown and "<!subteam^S0AGENTS>" in shown
    shown = str(slack.message(CHANNEL, await stage.parent_ts(low)).blocks)
    assert "Low priority" in shown and "subteam" not in shown
    status, body = await api.post(
        "/v1/conversations",
        {"userId": user, "messageHistory": [], "hitlSession": {"priority": "asap"}},
    )
    assert status == 422 and body["error"]["message"].startswith("hitlSession.priority")


async def test_a_team_persona_hides_who_answers(make_stage: StageFactory) -> None:
    stage = await make_stage(
        BRIDGE_PERSONA_NAME="Support Team",
        BRIDGE_PERSONA_PICTURE="https://img.example.com/team.png",
    )
    slack, bot = stage.slack, stage.bot
    assert bot is not None
    _, parent = await stage.handoff()
    await slack.user_says(ALICE, CHANNEL, "hello", thread_ts=parent)
    await bot.wait_for(lambda: len(bot.events()) == 2)
    for event in bot.events():
        agent = event["payload"]["agent"]
        assert (agent["name"], agent["pictureUrl"]) == (
            "Support Team",
            "https://img.example.com/team.png",
        )
        assert agent["email"] is None
