"""`kill -9` in the middle of traffic loses nothing that was acknowledged.

The bridge runs as a real `hitl-bridge serve` process. Messages flow both ways across many
conversations; the process is killed with SIGKILL part way and started again on the same
database. Every message that got a 2xx (from the bot API) or an ack (to Slack) must then
arrive, once, in order per conversation.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest

from bridge.client import BridgeClient, BridgeError
from bridge.testing.fake_bot import FakeBot
from bridge.testing.fake_slack import FakeSlack
from tests.balancer import Balancer
from tests.conftest import ALICE, API_TOKEN, CHANNEL, environ
from tests.test_cli import free_port

CONVERSATIONS = 20
PER_CONVERSATION = 15  # each way: 300 end-user messages and 300 agent replies in all


class Process:
    def __init__(self, env: dict[str, str], cwd: Path, port: int) -> None:
        self.env, self.cwd, self.base = env, cwd, f"http://127.0.0.1:{port}"
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self, http: aiohttp.ClientSession) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bridge", "serve",
            env=self.env, cwd=self.cwd,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                async with http.get(f"{self.base}/healthz") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
        raise AssertionError("the bridge did not come up")

    async def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), 15)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()


class Traffic:
    """Both ways at once, receipts on (the default), through `client` and Slack's events
    URL, while `kill` is called five times along the way: the bot and the agents retry until
    they get their 2xx, as they would, with the same idempotency key or event id. Then every
    message acknowledged must arrive, once, in order per conversation."""

    def __init__(self, slack: FakeSlack, bot: FakeBot, client: BridgeClient) -> None:
        self.slack, self.bot, self.client = slack, bot, client
        self.threads: dict[str, str] = {}  # conversation -> its thread's ts
        self.acked_up: dict[str, list[str]] = {}
        self.acked_down: dict[str, list[str]] = {}
        self.replies: dict[str, str] = {}  # ts of each agent reply -> its text
        self.total = CONVERSATIONS * PER_CONVERSATION

    async def run(self, kill: Callable[[int], Awaitable[None]]) -> None:
        client = self.client
        self.user = user = await client.create_user("Erin")
        convs = [await client.start_hitl(user) for _ in range(CONVERSATIONS)]
        while len(self.threads) < len(convs):
            for conv in convs:
                thread = (await client.get_conversation(conv)).slack.threadTs
                if thread:
                    self.threads[conv] = thread
            await asyncio.sleep(0.05)
        self.acked_up = {c: [] for c in convs}
        self.acked_down = {c: [] for c in convs}

        async def killer() -> None:
            for n in range(1, 6):
                while sum(map(len, self.acked_up.values())) < self.total * n // 7:
                    await asyncio.sleep(0.01)
                await kill(n)

        traffic = [self._end_user(c) for c in convs] + [self._agent(c) for c in convs]
        await asyncio.gather(killer(), *traffic)

        def arrived_up() -> int:
            return sum(1 for m in self.slack.messages(CHANNEL) if m.text.startswith("up "))

        def receipts() -> int:
            return sum(1 for ts in self.replies if self.slack.message(CHANNEL, ts).reactions)

        await self.slack.wait_for(lambda: arrived_up() >= self.total, timeout=60)
        await self.bot.wait_for(lambda: len(self.bot.events("message")) >= self.total, timeout=60)
        await self.slack.wait_for(lambda: receipts() == self.total, timeout=60)
        await asyncio.sleep(0.5)  # anything left to arrive twice would arrive now

    async def _end_user(self, conv: str) -> None:
        for n in range(PER_CONVERSATION):
            text = f"up {conv} {n}"
            # As a bot does through a crash: the same call, with the same key, until the
            # bridge answers it (a connection cut by the kill, or no answer yet, is retried).
            while True:
                try:
                    await self.client.send_text(conv, text, user_id=self.user, idempotency_key=text)
                    break
                except (aiohttp.ClientError, TimeoutError, BridgeError):
                    await asyncio.sleep(0.05)
            self.acked_up[conv].append(text)
            await asyncio.sleep(0.02)

    async def _agent(self, conv: str) -> None:
        slack = self.slack
        for n in range(PER_CONVERSATION):
            text = f"down {conv} {n}"
            ts = await slack.user_says(
                ALICE, CHANNEL, text, thread_ts=self.threads[conv], deliver=False
            )
            self.replies[ts] = text
            event, event_id = slack.message_event(slack.message(CHANNEL, ts)), f"Ev{ts}"
            retry = None
            while await slack.send_event(event, event_id=event_id, retry_num=retry) != 200:
                retry = min((retry or 0) + 1, 3)
                await asyncio.sleep(0.05)
            self.acked_down[conv].append(text)
            await asyncio.sleep(0.02)

    def check(self) -> None:
        for conv, thread in self.threads.items():
            shown = [m.text for m in self.slack.thread(CHANNEL, thread) if m.text.startswith("up ")]
            assert shown == self.acked_up[conv], f"lost, doubled or out of order in {conv}"
            relayed = [
                e["payload"]["payload"]["text"]
                for e in self.bot.events("message")
                if e["payload"]["conversationId"] == conv
            ]
            assert relayed == self.acked_down[conv], f"lost, doubled or out of order: {conv}"


async def test_kill_9_five_times_loses_nothing_acknowledged(
    slack: FakeSlack, bot: FakeBot, tmp_path: Path
) -> None:
    port = free_port()
    env = dict(os.environ) | environ(slack, bot, tmp_path / "bridge.db")
    env |= {"BRIDGE_PORT": str(port), "BRIDGE_LOG_LEVEL": "WARNING"}
    bridge = Process(env, tmp_path, port)
    slack.events_url = f"{bridge.base}/slack/events"

    async with aiohttp.ClientSession() as http:
        await bridge.start(http)
        traffic = Traffic(slack, bot, BridgeClient(bridge.base, API_TOKEN, session=http))

        async def kill(n: int) -> None:
            await bridge.kill()
            await asyncio.sleep(0.1)
            await bridge.start(http)

        try:
            await traffic.run(kill)
        finally:
            await bridge.stop()
    traffic.check()


async def test_kill_9_one_of_three_instances_loses_nothing_acknowledged(
    slack: FakeSlack, bot: FakeBot, tmp_path: Path, postgres_url: str
) -> None:
    """Three instances on one PostgreSQL database behind a balancer; one of them killed
    five times (each in turn), and started again."""
    ports = [free_port() for _ in range(3)]
    env = dict(os.environ) | environ(slack, bot, postgres_url)
    env |= {"BRIDGE_LOG_LEVEL": "WARNING"}
    bridges = [Process(env | {"BRIDGE_PORT": str(port)}, tmp_path, port) for port in ports]

    async with aiohttp.ClientSession() as http, Balancer([b.base for b in bridges]) as balancer:
        for bridge in bridges:
            await bridge.start(http)
        slack.events_url = f"{balancer.url}/slack/events"
        traffic = Traffic(slack, bot, BridgeClient(balancer.url, API_TOKEN, session=http))

        async def kill(n: int) -> None:
            bridge = bridges[n % 3]
            await bridge.kill()
            await asyncio.sleep(0.1)
            await bridge.start(http)

        try:
            await traffic.run(kill)
        finally:
            for bridge in bridges:
                await bridge.stop()
    traffic.check()


@pytest.mark.both_databases
async def test_kill_9_after_approvals_are_clicked_loses_no_decision(
    slack: FakeSlack, bot: FakeBot, tmp_path: Path, database: str
) -> None:
    """Agents approve requests, in conversations' threads and in the channel; the bridge is
    killed as soon as Slack has its acks. Started again, it tells the bot every decision,
    once, after what came before it in its conversation."""
    port = free_port()
    env = dict(os.environ) | environ(slack, bot, database)
    env |= {"BRIDGE_PORT": str(port), "BRIDGE_LOG_LEVEL": "WARNING"}
    bridge = Process(env, tmp_path, port)
    slack.events_url = f"{bridge.base}/slack/events"
    draft = {"type": "text", "payload": {"text": "Your refund is on its way."}}

    async with aiohttp.ClientSession() as http:
        await bridge.start(http)
        client = BridgeClient(bridge.base, API_TOKEN, session=http)
        try:
            user = await client.create_user("Erin")
            convs = [await client.start_hitl(user) for _ in range(5)]
            asked = [await client.request_approval(draft, conversation_id=c) for c in convs]
            asked += [await client.request_approval(draft) for _ in range(5)]
            posts: dict[str, str] = {}
            while len(posts) < len(asked):
                for approval_id in asked:
                    ts = (await client.get_approval(approval_id)).slack.ts
                    if ts:
                        posts[approval_id] = ts
                await asyncio.sleep(0.05)
            for conv in convs:  # a reply first: the decision must come after it
                thread = (await client.get_conversation(conv)).slack.threadTs
                assert thread is not None
                await slack.user_says(ALICE, CHANNEL, f"on it {conv}", thread_ts=thread)
            clicks = [slack.click(ALICE, CHANNEL, ts, "approval_approve") for ts in posts.values()]
            assert await asyncio.gather(*clicks) == [200] * len(asked)  # every one acked
            await bridge.kill()
            await bridge.start(http)
            await bot.wait_for(lambda: len(bot.events("approvalDecided")) >= len(asked), 30)
            await asyncio.sleep(0.5)  # anything left to arrive twice would arrive now
        finally:
            await bridge.stop()

    decided = [e["payload"]["approvalId"] for e in bot.events("approvalDecided")]
    assert sorted(decided) == sorted(asked)  # each once
    for conv in convs:
        seen = [e["type"] for e in bot.events() if e["payload"].get("conversationId") == conv]
        assert seen == ["hitlAssigned", "message", "approvalDecided"], conv
