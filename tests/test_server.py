"""Starting and stopping: health, a clean shutdown, and work left for the next start."""

from __future__ import annotations

import asyncio
import logging
import time
from urllib.parse import urlsplit

import aiohttp
import pytest

from bridge import connections
from bridge.connections import Limits
from tests.conftest import API_TOKEN, CHANNEL, Stage, StageFactory


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


Stream = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def connect(stage: Stage, n: int, send: bytes) -> list[Stream]:
    """`n` raw connections to the bridge, each having sent `send` and nothing more."""
    address = urlsplit(stage.bridge.url)
    streams = []
    for _ in range(n):
        reader, writer = await asyncio.open_connection(address.hostname, address.port)
        writer.write(send)
        streams.append((reader, writer))
    return streams


async def all_closed_by_the_bridge(streams: list[Stream], within: float) -> bool:
    """Whether the bridge closed every one of them within `within` seconds, answering
    nothing."""
    try:
        async with asyncio.timeout(within):
            answers = await asyncio.gather(*(reader.read() for reader, _ in streams))
    except TimeoutError:
        return False
    finally:
        for _, writer in streams:
            writer.close()
    return all(answer == b"" for answer in answers)


async def healthy(stage: Stage) -> bool:
    try:
        async with aiohttp.ClientSession() as http, http.get(stage.bridge.url + "/healthz") as r:
            return r.status == 200
    except aiohttp.ClientError:
        return False


def lines(caplog: pytest.LogCaptureFixture, text: str) -> int:
    return sum(text in r.getMessage() for r in caplog.records if r.name == connections.__name__)


async def test_slow_headers_are_dropped_while_others_are_served(
    make_stage: StageFactory, caplog: pytest.LogCaptureFixture
) -> None:
    stage = await make_stage(limits=Limits(header_timeout=0.5))
    slow = await connect(stage, 50, b"POST /v1/users HTTP/1.1\r\nHost: bridge\r\nContent-")
    assert await healthy(stage)  # while all 50 hang on
    assert await all_closed_by_the_bridge(slow, within=3)
    assert lines(caplog, "sent no whole request header within 0.5 s") == 1
    assert await healthy(stage)


async def test_slow_bodies_are_dropped_without_a_traceback(
    make_stage: StageFactory, caplog: pytest.LogCaptureFixture
) -> None:
    stage = await make_stage(limits=Limits(body_timeout=0.5))
    head = (
        "POST /v1/users HTTP/1.1\r\nHost: bridge\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {API_TOKEN}\r\nContent-Length: 100\r\n\r\n"
    )
    slow = await connect(stage, 20, head.encode() + b'{"name": "Erin')
    assert await healthy(stage)
    assert await all_closed_by_the_bridge(slow, within=3)
    assert lines(caplog, "request body did not arrive within 0.5 s") == 1
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    status, _ = await stage.api.post("/v1/users", {"name": "Erin"})
    assert status == 201


async def test_past_the_most_connections_new_ones_are_closed_at_once(
    make_stage: StageFactory, caplog: pytest.LogCaptureFixture
) -> None:
    stage = await make_stage(limits=Limits(most=10))
    idle = await connect(stage, 10, b"")
    await asyncio.sleep(0.1)  # accepted
    extra = await connect(stage, 5, b"")
    assert await all_closed_by_the_bridge(extra, within=1)  # long before the header timeout
    assert not await healthy(stage)  # no room for it either
    assert lines(caplog, "10 connections open, the most allowed") == 1
    for _, writer in idle:
        writer.close()
    await asyncio.sleep(0.1)
    assert await healthy(stage)
