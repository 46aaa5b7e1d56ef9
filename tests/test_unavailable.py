"""A database that cannot take writes (a full disk, a read-only mount), lived through the real
bridge: every door answers 503 with `Retry-After`, `/healthz` turns 503, the log says so once,
and once the database takes writes again, everything works with nothing acknowledged lost."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from bridge.store import Store
from bridge.testing.fake_botpress import AXIOS_HEADERS, FakeBotpress
from tests.conftest import ALICE, API_TOKEN, CHANNEL, Stage, StageFactory

PATH_TOKEN = "s3cret-path-token-0123456789"
DOWN = "database cannot take writes"
UP = "database takes writes again"
# Bigger than any free room left in the file's pages: storing it needs new pages. (A letter
# no block's keys or other texts have, to count it in what the bridge posts.)
BIG = "Q" * 30_000
BEARER = {"Authorization": f"Bearer {API_TOKEN}", "Content-Type": "application/json"}


@pytest.fixture
async def botpress() -> AsyncIterator[FakeBotpress]:
    async with FakeBotpress() as fake:
        yield fake


async def post(
    session: aiohttp.ClientSession, url: str, body: Any, headers: dict[str, str]
) -> tuple[int, str | None, Any]:
    """(status, Retry-After, JSON answer or None)."""
    async with session.post(url, data=json.dumps(body), headers=headers) as resp:
        text = await resp.text()
        return resp.status, resp.headers.get("Retry-After"), json.loads(text) if text else None


async def health(stage: Stage) -> int:
    async with stage.api.session.get(stage.bridge.url + "/healthz") as resp:
        return resp.status


async def wait_health(stage: Stage, status: int, timeout: float = 5.0) -> None:
    for _ in range(int(timeout / 0.05)):
        if await health(stage) == status:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"/healthz never answered {status}")


def lines(caplog: pytest.LogCaptureFixture, words: str) -> int:
    return sum(words in r.getMessage() for r in caplog.records)


def store_of(stage: Stage) -> Store:
    return stage.bridge.service.store


async def test_a_full_disk_answers_503_everywhere_then_recovers_with_nothing_lost(
    make_stage: StageFactory, botpress: FakeBotpress, caplog: pytest.LogCaptureFixture
) -> None:
    stage = await make_stage(
        BOTPRESS_WEBHOOK_URL=botpress.webhook_url, BOTPRESS_PATH_TOKEN=PATH_TOKEN
    )
    slack, bot, api, session = stage.slack, stage.bot, stage.api, stage.api.session
    assert bot is not None
    botpress.endpoint_base_url = f"{stage.bridge.url}/botpress/{PATH_TOKEN}"
    user = await api.create_user()
    conv = await api.start(user)
    parent = await stage.parent_ts(conv)
    await api.say(conv, "said before the disk filled up", user_id=user)
    await slack.user_says(ALICE, CHANNEL, "Alice, before", thread_ts=parent)  # claims it
    await bot.wait_for(lambda: len(bot.events("message")) == 1)
    await slack.wait_for(lambda: len(slack.thread(CHANNEL, parent)) == 2)

    caplog.clear()
    caplog.set_level(logging.INFO)
    await store_of(stage).constrain_for_tests(full=True)

    # The bot API: JSON 503 `unavailable` with Retry-After, not a plain 500.
    said = {"type": "text", "payload": {"text": BIG}, "userId": user}
    messages = f"{stage.bridge.url}/v1/conversations/{conv}/messages"
    status, retry_after, answer = await post(session, messages, said, BEARER)
    assert (status, retry_after) == (503, "5")
    assert answer["error"]["code"] == "unavailable"
    # Slack: 503, not acknowledged, so Slack sends it again.
    ts = await slack.user_says(ALICE, CHANNEL, BIG, thread_ts=parent, deliver=False)
    event = slack.message_event(slack.message(CHANNEL, ts))
    assert await slack.send_event(event, event_id="Ev0FULL") == 503
    # Botpress: the same 503, in its routes' error shape.
    opened = {"type": "createRemoteConversation", "payload": {"description": BIG[:10_000],
              "messages": [{"text": BIG}]}}  # fmt: skip
    url = f"{botpress.endpoint_base_url}/createRemoteConversation"
    status, retry_after, answer = await post(session, url, opened, AXIOS_HEADERS)
    assert (status, retry_after, answer["error"]["code"]) == (503, "5", "unavailable")
    assert await health(stage) == 503
    # One line for the outage, not a traceback per request.
    assert lines(caplog, DOWN) == 1
    assert [r.getMessage() for r in caplog.records if r.exc_info] == []

    await store_of(stage).constrain_for_tests()
    await wait_health(stage, 200)
    assert lines(caplog, UP) == 1

    # What was refused is sent again, and now goes through; what went before is all there.
    status, _, answer = await post(session, messages, said, BEARER)
    assert status == 202, answer
    assert await slack.send_event(event, event_id="Ev0FULL", retry_num=1) == 200
    status, _, answer = await post(session, url, opened, AXIOS_HEADERS)
    assert status == 200, answer
    await bot.wait_for(lambda: len(bot.events("message")) == 2)
    assert [e["payload"]["payload"]["text"] for e in bot.events("message")] == [
        "Alice, before",
        BIG,
    ]

    def posted() -> str:
        return "".join(str(m.blocks) for m in slack.thread(CHANNEL, parent) if m.bot_id)

    await slack.wait_for(lambda: posted().count("Q") == len(BIG))
    await stage.parent_ts(answer["id"])  # Botpress's handoff reached Slack too
    assert "said before the disk filled up" in posted()
    assert posted().count("Q") == len(BIG)  # the bot's long message, once
    assert lines(caplog, DOWN) == 1 and lines(caplog, UP) == 1


async def test_a_read_only_database_holds_deliveries_quietly_and_sends_them_once(
    stage: Stage, caplog: pytest.LogCaptureFixture
) -> None:
    slack, api = stage.slack, stage.api
    slack.hang("chat.postMessage", CHANNEL)
    conv = await api.start(await api.create_user())  # acknowledged: its parent is on its way
    await slack.wait_for(lambda: len(slack.calls_of("chat.postMessage")) == 1)

    caplog.clear()
    caplog.set_level(logging.INFO)
    await store_of(stage).constrain_for_tests(read_only=True)
    slack.heal()  # the post fails: a retry the drainer cannot record yet
    status, answer = await api.post("/v1/users", {"name": "Nobody"})
    assert (status, answer["error"]["code"]) == (503, "unavailable")
    assert (await api.get(f"/v1/conversations/{conv}"))[0] == 200  # reads go on
    assert await health(stage) == 503  # its probe write is refused too
    await asyncio.sleep(1.2)  # the drainer and the probe have tried again meanwhile
    assert await health(stage) == 503
    assert slack.messages(CHANNEL) == []
    assert lines(caplog, DOWN) == 1
    assert [r.getMessage() for r in caplog.records if r.exc_info] == []

    await store_of(stage).constrain_for_tests()
    await wait_health(stage, 200)
    await stage.parent_ts(conv)
    await asyncio.sleep(0.2)
    assert len(slack.messages(CHANNEL)) == 1  # posted once, though maybe sent before
    assert lines(caplog, DOWN) == 1 and lines(caplog, UP) == 1
