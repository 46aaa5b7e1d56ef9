"""The queue as agents see it: App Home and `/hitl`."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.conftest import ALICE, BOB, CHANNEL, StageFactory

pytestmark = pytest.mark.both_databases


async def test_app_home_shows_the_queue_and_keeps_up(
    quick_home: float, make_stage: StageFactory
) -> None:
    stage = await make_stage()
    slack, api = stage.slack, stage.api
    user = await api.create_user("Erin")
    first = await api.start(user, title="Oldest")
    second = await api.start(user, title="Newer", hitlSession={"priority": "urgent"})
    await stage.parent_ts(first)
    await stage.parent_ts(second)
    assert await slack.send_event({"type": "app_home_opened", "user": ALICE, "tab": "home"}) == 200
    await slack.wait_for(lambda: ALICE in slack.home_views, timeout=10)  # published after the ack
    view = json.dumps(slack.home_views[ALICE])
    assert view.index("Oldest") < view.index("Newer") and "Erin" in view
    assert '"action_id": "claim"' in view and ":red_circle:" in view
    assert "Today" in view and "2 handoffs" in view

    # Claiming from Home claims the conversation, and the tab catches up by itself.
    home_claim = await slack.click(ALICE, CHANNEL, await stage.parent_ts(first), "claim", first)
    assert home_claim == 200
    await slack.wait_for(lambda: "Yours* (1)" in json.dumps(slack.home_views[ALICE]), timeout=10)
    assert (await api.conversation(first))["status"] == "assigned"


async def test_a_rate_limited_home_tab_catches_up_with_one_publish(
    make_stage: StageFactory,
) -> None:
    stage = await make_stage()
    slack, api = stage.slack, stage.api
    user = await api.create_user("Erin")
    await stage.parent_ts(await api.start(user, title="First"))
    slack.fail("views.publish", "ratelimited", status=429, headers={"Retry-After": "1"})
    assert await slack.send_event({"type": "app_home_opened", "user": ALICE, "tab": "home"}) == 200
    await slack.wait_for(lambda: len(slack.calls_of("views.publish")) == 1)
    for title in ("Second", "Third"):  # changes while Slack has said to wait
        await stage.parent_ts(await api.start(user, title=title))
    await slack.wait_for(lambda: ALICE in slack.home_views, timeout=10)
    await asyncio.sleep(0.5)
    # One publish once the pause is over, of the view as it is by then: the latest wins.
    assert len(slack.calls_of("views.publish")) == 2
    assert "Third" in json.dumps(slack.home_views[ALICE])


async def test_slash_command_answers_only_the_asker(make_stage: StageFactory) -> None:
    stage = await make_stage()
    slack, api = stage.slack, stage.api
    user = await api.create_user("Erin")
    conv = await api.start(user, title="Refund")
    parent = await stage.parent_ts(conv)
    assert await slack.slash_command(BOB, CHANNEL, "/hitl") == 200
    assert "Refund" in slack.ephemerals[-1].text and "Erin" in slack.ephemerals[-1].text
    assert slack.ephemerals[-1].user == BOB
    await slack.user_says(ALICE, CHANNEL, "on it", thread_ts=parent)
    await stage.wait_buttons(parent, ["release", "resolve"])
    await slack.slash_command(ALICE, CHANNEL, "/hitl", "mine")
    assert "Yours" in slack.ephemerals[-1].text and "Refund" in slack.ephemerals[-1].text
    await slack.slash_command(BOB, CHANNEL, "/hitl", "mine")
    assert "no conversation" in slack.ephemerals[-1].text
    await slack.slash_command(BOB, CHANNEL, "/hitl", "stats")
    assert (
        "1 handoff" in slack.ephemerals[-1].text
        and "median first reply" in slack.ephemerals[-1].text
    )
    await slack.slash_command(BOB, CHANNEL, "/hitl", "what")
    assert "/hitl mine" in slack.ephemerals[-1].text
    assert len(slack.messages(CHANNEL)) == 2  # nothing was posted for everyone to see
