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
from pathlib import Path
from typing import Any

import aiohttp

from bridge.testing.fake_bot import FakeBot
from bridge.testing.fake_slack import FakeSlack
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


async def test_kill_9_loses_nothing_acknowledged(
    slack: FakeSlack, bot: FakeBot, tmp_path: Path
) -> None:
    port = free_port()
    env = dict(os.environ) | environ(slack, bot, tmp_path / "bridge.db")
    env |= {"BRIDGE_PORT": str(port), "BRIDGE_LOG_LEVEL": "WARNING"}
    bridge = Process(env, tmp_path, port)
    slack.events_url = f"{bridge.base}/slack/events"
    headers = {"Authorization": f"Bearer {API_TOKEN}"}

    async with aiohttp.ClientSession(headers=headers) as http:
        await bridge.start(http)

        async def call(method: str, path: str, body: Any = None) -> tuple[int, Any]:
            try:
                async with http.request(method, bridge.base + path, json=body) as resp:
                    return resp.status, await resp.json()
            except (aiohttp.ClientError, ValueError):
                return 0, None

        _, user = await call("POST", "/v1/users", {"name": "Erin"})
        convs = []
        for _ in range(CONVERSATIONS):
            _, body = await call("POST", "/v1/conversations", {
                "userId": user["userId"], "messageHistory": [],
            })  # fmt: skip
            convs.append(body["conversationId"])
        threads: dict[str, str] = {}
        while len(threads) < len(convs):
            for conv in convs:
                _, body = await call("GET", f"/v1/conversations/{conv}")
                if body and body["slack"]["threadTs"]:
                    threads[conv] = body["slack"]["threadTs"]
            await asyncio.sleep(0.05)

        acked_up: dict[str, list[str]] = {c: [] for c in convs}
        acked_down: dict[str, list[str]] = {c: [] for c in convs}

        async def end_user(conv: str) -> None:
            for n in range(PER_CONVERSATION):
                text = f"up {conv} {n}"
                status, _ = await call("POST", f"/v1/conversations/{conv}/messages", {
                    "type": "text", "payload": {"text": text}, "userId": user["userId"],
                })  # fmt: skip
                if status == 202:
                    acked_up[conv].append(text)
                await asyncio.sleep(0.01)

        async def agent(conv: str, index: int) -> None:
            for n in range(PER_CONVERSATION):
                text = f"down {conv} {n}"
                event = {
                    "type": "message", "channel": CHANNEL, "user": ALICE, "text": text,
                    "ts": f"1990000000.{index:03d}{n:03d}", "thread_ts": threads[conv],
                    "channel_type": "channel",
                }  # fmt: skip
                if await slack.send_event(event, event_id=f"Ev{index:03d}{n:03d}") == 200:
                    acked_down[conv].append(text)
                await asyncio.sleep(0.01)

        async def killer() -> None:
            while sum(map(len, acked_up.values())) < CONVERSATIONS * PER_CONVERSATION // 3:
                await asyncio.sleep(0.01)
            await bridge.kill()

        traffic = [end_user(c) for c in convs] + [agent(c, i) for i, c in enumerate(convs)]
        await asyncio.gather(killer(), *traffic)
        sent_before_restart = sum(map(len, acked_up.values())), sum(map(len, acked_down.values()))
        assert 0 < sent_before_restart[0] < CONVERSATIONS * PER_CONVERSATION
        await bridge.start(http)
        try:
            total_up = sum(map(len, acked_up.values()))
            total_down = sum(map(len, acked_down.values()))

            def arrived_up() -> int:
                return sum(1 for m in slack.messages(CHANNEL) if m.text.startswith("up "))

            def arrived_down() -> int:
                return len(bot.events("message"))

            await slack.wait_for(lambda: arrived_up() >= total_up, timeout=60)
            await bot.wait_for(lambda: arrived_down() >= total_down, timeout=60)
            await asyncio.sleep(0.5)  # anything left to arrive twice would arrive now
        finally:
            await bridge.stop()

    for conv, thread in threads.items():
        shown = [m.text for m in slack.thread(CHANNEL, thread) if m.text.startswith("up ")]
        assert len(shown) == len(set(shown)), f"a message was posted twice in {conv}"
        assert shown == sorted(shown, key=lambda t: int(t.split()[-1])), f"out of order: {conv}"
        assert set(acked_up[conv]) <= set(shown), f"an acknowledged message was lost in {conv}"

        relayed = [
            e["payload"]["payload"]["text"]
            for e in bot.events("message")
            if e["payload"]["conversationId"] == conv
        ]
        assert len(relayed) == len(set(relayed)), f"a reply was relayed twice in {conv}"
        assert relayed == sorted(relayed, key=lambda t: int(t.split()[-1])), conv
        assert set(acked_down[conv]) <= set(relayed), f"an acknowledged reply was lost: {conv}"
