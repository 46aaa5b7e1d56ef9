"""The load generator's side of `bench.fakes`: starting that process, its control API (when
marked messages arrived, storing people's messages), and the fake workspace it serves."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
from slack_sdk.web.async_client import AsyncWebClient

from bench.procs import Proc, child_env

CHANNEL = "C0BENCH"
AGENTS = [f"U0AGENT{i:02d}" for i in range(5)]

T = TypeVar("T")


@dataclass
class Fakes:
    """The fake Slack and fake bot, running in their own process (`python -m bench.fakes`)."""

    proc: Proc
    session: aiohttp.ClientSession
    slack_api_url: str = ""
    bot_url: str = ""
    bot_secret: str = ""
    bot_token: str = ""
    signing_secret: str = ""
    control: str = ""

    async def start(self) -> None:
        await self.proc.start(pipe_stdout=True)
        info = json.loads(await self.proc.first_line())
        self.slack_api_url = info["slack_api_url"]
        self.bot_url = info["bot_url"]
        self.bot_secret = info["bot_secret"]
        self.bot_token = info["bot_token"]
        self.signing_secret = info["signing_secret"]
        self.control = info["control_url"]

    async def _wait(self, side: str, tag: str, count: int, timeout: float) -> dict[str, float]:
        params = {"tag": tag, "count": str(count), "timeout": str(timeout)}
        client_timeout = aiohttp.ClientTimeout(total=timeout + 10)
        async with self.session.get(
            f"{self.control}/{side}/wait", params=params, timeout=client_timeout
        ) as resp:
            body = await resp.json()
        times: dict[str, float] = body["times"]
        if len(times) < count:
            raise RuntimeError(
                f"only {len(times)} of {count} marked messages reached the fake {side} "
                f"(tag {tag}) within {timeout} s"
            )
        return times

    async def wait_slack(self, tag: str, count: int, timeout: float = 120.0) -> dict[str, float]:
        """When each message marked with `tag` was stored by the fake Slack (at least
        `count` of them), waiting up to `timeout` seconds."""
        return await self._wait("slack", tag, count, timeout)

    async def wait_bot(self, tag: str, count: int, timeout: float = 120.0) -> dict[str, float]:
        """When each webhook marked with `tag` was received by the fake bot."""
        return await self._wait("bot", tag, count, timeout)

    async def store_messages(self, items: list[dict[str, str]]) -> list[bytes]:
        """People's messages stored in the fake Slack without any event delivery (``user``,
        ``channel``, ``thread_ts``, ``text`` each): the body of each one's event, in order."""
        out: list[bytes] = []
        for i in range(0, len(items), 500):
            body = {"messages": items[i : i + 500]}
            async with self.session.post(f"{self.control}/slack/store", json=body) as resp:
                answer = await resp.json(content_type=None)
                if resp.status != 200:
                    raise RuntimeError(f"POST /slack/store: HTTP {resp.status} {answer}")
            out += [event.encode() for event in answer["events"]]
        return out

    async def stats(self) -> dict[str, Any]:
        async with self.session.get(f"{self.control}/stats") as resp:
            return dict(await resp.json())


async def start_fakes(session: aiohttp.ClientSession, workdir: Path) -> Fakes:
    proc = Proc("fakes", [sys.executable, "-m", "bench.fakes"], child_env({}), workdir)
    fakes = Fakes(proc, session)
    await fakes.start()
    return fakes


async def bounded_gather(limit: int, jobs: Iterable[Awaitable[T]]) -> list[T]:
    """Run `jobs` with at most `limit` at a time; results in order."""
    gate = asyncio.Semaphore(limit)

    async def one(job: Awaitable[T]) -> T:
        async with gate:
            return await job

    return await asyncio.gather(*(one(job) for job in jobs))


async def parents(client: AsyncWebClient, m: int) -> list[str]:
    """`m` parent messages posted straight to the fake Slack (for contestants that store
    nothing): their ts."""

    async def one(j: int) -> str:
        resp = await client.chat_postMessage(channel=CHANNEL, text=f"bench parent {j}")
        return str(resp["ts"])

    return await bounded_gather(10, (one(j) for j in range(m)))
