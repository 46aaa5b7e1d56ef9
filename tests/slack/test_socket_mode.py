"""Socket Mode: the same handoff, with Slack's traffic over a WebSocket instead of HTTP."""

from __future__ import annotations

import pytest

from bridge.testing.fake_slack import FakeSlack
from tests.conftest import ALICE, CHANNEL, StageFactory

pytestmark = pytest.mark.both_databases


async def test_handoff_over_socket_mode(make_stage: StageFactory, slack: FakeSlack) -> None:
    stage = await make_stage(SLACK_APP_TOKEN=slack.app_token)
    bot, api = stage.bot, stage.api
    assert bot is not None
    slack.delivery_timeout = 3
    await slack.wait_socket()
    _, parent = await stage.handoff()
    await slack.user_says(ALICE, CHANNEL, "hello over the socket", thread_ts=parent)
    await bot.wait_for(lambda: len(bot.events()) == 2)
    await stage.wait_buttons(parent, ["release", "resolve"])  # as Alice sees it, claimed
    assert await slack.click(ALICE, CHANNEL, parent, "resolve") == 200
    await bot.wait_for(lambda: len(bot.events()) == 3)
    assert [e["type"] for e in bot.events()] == ["hitlAssigned", "message", "hitlStopped"]
    await slack.flush()
    assert all(status == 200 for status, _ in slack.delivered)
    # No HTTP endpoint for Slack in Socket Mode.
    status, _ = await api.call("POST", "/slack/events", raw=b"{}")
    assert status == 404


async def test_events_for_another_workspace_over_the_socket_are_ignored(
    make_stage: StageFactory, slack: FakeSlack
) -> None:
    stage = await make_stage(SLACK_APP_TOKEN=slack.app_token)
    bot = stage.bot
    assert bot is not None
    slack.delivery_timeout = 3
    await slack.wait_socket()
    _, parent = await stage.handoff()
    assert await slack.click(ALICE, CHANNEL, parent, "claim") == 200
    # The app is installed in another workspace too, and Slack sends its events here as well.
    slack.team_id = "T0OTHER"
    await slack.user_says(ALICE, CHANNEL, "from elsewhere", thread_ts=parent)
    slack.team_id = "T0FAKE"
    await slack.user_says(ALICE, CHANNEL, "from here", thread_ts=parent)
    await bot.wait_for(lambda: len(bot.events("message")) == 1)
    await slack.flush()
    assert [e["payload"]["payload"] for e in bot.events("message")] == [{"text": "from here"}]
    assert all(status == 200 for status, _ in slack.delivered)  # acknowledged all the same
