"""Starting and stopping: health, a clean shutdown, and work left for the next start."""

from __future__ import annotations

import asyncio
import time

from tests.conftest import CHANNEL, Stage


async def test_health(stage: Stage) -> None:
    async with stage.api.session.get(stage.bridge.url + "/healthz") as resp:
        assert resp.status == 200


async def test_shutdown_answers_long_polls_and_keeps_the_queue(stage: Stage) -> None:
    slack, api = stage.slack, stage.api
    user = await api.create_user()
    conv = await api.start(user)
    parent = await stage.parent_ts(conv)
    slack.fail("chat.postMessage", "service_unavailable", times=1000, status=503)
    await api.say(conv, "waiting out the outage", user_id=user)

    poll = asyncio.create_task(api.get("/v1/events?wait=30"))
    await asyncio.sleep(0.2)
    started = time.monotonic()
    await stage.bridge.stop()
    status, body = await poll
    assert status == 200 and body["events"] == []
    assert time.monotonic() - started < 5

    slack.heal()
    await stage.restart()
    await slack.wait_for(lambda: len(slack.thread(CHANNEL, parent)) == 1, timeout=10)
    assert slack.thread(CHANNEL, parent)[0].text == "waiting out the outage"
