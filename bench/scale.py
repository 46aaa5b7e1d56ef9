"""Scale: many stored conversations and a big backlog, with the bridge as its own process.

    python -m bench.scale [--sizes 1000,100000] [--replies 200]

For each size: start-up time (to /healthz 200), resident memory after start, and the time
Slack waits for its ack of an agent's reply in a random thread (which must not grow with the
number of conversations). Then resident memory with 10,000 open conversations and a backlog
of 50,000 messages that Slack keeps refusing, sampled while the outbox cycles over it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from bench.procs import free_port
from bridge.store.sqlite import SqliteStore
from bridge.testing.fake_slack import FakeSlack

CHANNEL = "C0SCALE"
AGENT = "U0AGENT"


async def seed(path: Path, conversations: int, backlog_per_conversation: int = 0) -> list[str]:
    """Conversations straight into a migrated database (fast: one transaction); their
    thread ts. With a backlog, each gets that many end-user messages queued for Slack."""
    store = await SqliteStore.open(path)
    await store.close()
    now = "2026-11-23T00:00:00Z"
    threads = [f"1700000000.{n:06d}" for n in range(conversations)]
    with sqlite3.connect(path) as db:
        db.execute(
            "INSERT INTO users (id, role, name, created_at) VALUES ('usr_e', 'end-user', 'E', ?)",
            (now,),
        )
        db.executemany(
            "INSERT INTO conversations (id, user_id, status, channel, thread_ts, history,"
            " created_at, waiting_since) VALUES (?, 'usr_e', 'waiting', ?, ?, '[]', ?, ?)",
            ((f"conv_{n}", CHANNEL, ts, now, now) for n, ts in enumerate(threads)),
        )
        db.executemany(
            "INSERT INTO slack_messages (key, conversation_id, channel, ts) VALUES (?, ?, ?, ?)",
            ((f"parent:conv_{n}", f"conv_{n}", CHANNEL, ts) for n, ts in enumerate(threads)),
        )
        if backlog_per_conversation:
            content = '{"type":"text","payload":{"text":"queued"}}'
            rows = [
                (f"msg_{n}_{k}", f"conv_{n}")
                for n in range(conversations)
                for k in range(backlog_per_conversation)
            ]
            db.executemany(
                "INSERT INTO messages (id, conversation_id, author_id, content, created_at)"
                f" VALUES (?, ?, 'usr_e', '{content}', '{now}')",
                rows,
            )
            t = time.time()
            db.executemany(
                "INSERT INTO outbox (target, conversation_id, kind, payload, next_at, created_at)"
                " VALUES ('slack', ?, 'message', ?, ?, ?)",
                (
                    (conv, f'{{"channel":"{CHANNEL}","messageId":"{mid}"}}', t, t)
                    for mid, conv in rows
                ),
            )  # the schema's triggers make each conversation's first row its head
    return threads


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class BridgeProcess:
    def __init__(self, slack: FakeSlack, db: Path, port: int) -> None:
        self.env = dict(os.environ) | {
            "SLACK_BOT_TOKEN": slack.bot_token,
            "SLACK_SIGNING_SECRET": slack.signing_secret,
            "SLACK_API_URL": slack.api_url,
            "BRIDGE_CHANNEL": CHANNEL,
            "BRIDGE_API_TOKEN": "bench-api-token-0123456789",
            "BRIDGE_DATABASE_URL": f"sqlite:///{db}",
            "BRIDGE_PORT": str(port),
            "BRIDGE_SLACK_RATE": "0",
            "BRIDGE_RETRY_BASE": "1",
            "BRIDGE_RETRY_MAX": "2",
            "BRIDGE_LOG_LEVEL": "ERROR",
        }
        self.url = f"http://127.0.0.1:{port}"
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self, http: aiohttp.ClientSession) -> float:
        started = time.monotonic()
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bridge", "serve", env=self.env,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        while time.monotonic() - started < 60:
            try:
                async with http.get(f"{self.url}/healthz") as resp:
                    if resp.status == 200:
                        return time.monotonic() - started
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.02)
        raise RuntimeError("the bridge did not start")

    async def stop(self) -> None:
        if self.proc and self.proc.returncode is None:
            self.proc.terminate()
            await self.proc.wait()


async def one_size(conversations: int, replies: int) -> None:
    async with FakeSlack(echo_events=False) as slack, aiohttp.ClientSession() as http:
        slack.add_channel(CHANNEL, "scale")
        slack.add_user(AGENT, "agent", display_name="Agent")
        with tempfile.TemporaryDirectory() as tmp:
            threads = await seed(Path(tmp) / "b.db", conversations)
            bridge = BridgeProcess(slack, Path(tmp) / "b.db", free_port())
            startup = await bridge.start(http)
            assert bridge.proc is not None
            slack.events_url = f"{bridge.url}/slack/events"
            rss = rss_mb(bridge.proc.pid)
            waits = []
            for n in range(replies):
                event = {
                    "type": "message", "channel": CHANNEL, "user": AGENT, "text": f"reply {n}",
                    "ts": f"1800000000.{n:06d}", "thread_ts": random.choice(threads),
                    "channel_type": "channel",
                }  # fmt: skip
                started = time.monotonic()
                assert await slack.send_event(event) == 200
                waits.append(time.monotonic() - started)
            await bridge.stop()
    waits.sort()
    p50, p99 = statistics.median(waits), waits[int(len(waits) * 0.99) - 1]
    print(f"{conversations:>8} {startup:10.2f} {rss:9.1f} {p50 * 1000:11.2f} {p99 * 1000:11.2f}")


async def backlog(conversations: int, per_conversation: int, seconds: float) -> None:
    async with FakeSlack(echo_events=False) as slack, aiohttp.ClientSession() as http:
        slack.add_channel(CHANNEL, "scale")
        slack.fail("chat.postMessage", "service_unavailable", status=503, times=200_000)
        with tempfile.TemporaryDirectory() as tmp:
            await seed(Path(tmp) / "b.db", conversations, per_conversation)
            bridge = BridgeProcess(slack, Path(tmp) / "b.db", free_port())
            startup = await bridge.start(http)
            assert bridge.proc is not None
            samples = []
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                samples.append(rss_mb(bridge.proc.pid))
                await asyncio.sleep(seconds / 10)
            attempts = len(slack.calls_of("chat.postMessage"))
            await bridge.stop()
    print(
        f"backlog of {conversations * per_conversation} messages over {conversations}"
        f" conversations (Slack answering 503): start-up {startup:.2f} s, {attempts} attempts"
        f" in {seconds:.0f} s; resident memory {min(samples):.1f}-{max(samples):.1f} MB"
        f" (first {samples[0]:.1f}, last {samples[-1]:.1f})"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1000,100000")
    parser.add_argument("--replies", type=int, default=200)
    parser.add_argument("--backlog-seconds", type=float, default=20)
    args = parser.parse_args()
    print(f"{'convs':>8} {'startup s':>10} {'RSS MB':>9} {'ack p50 ms':>11} {'ack p99 ms':>11}")
    for size in (int(s) for s in args.sizes.split(",")):
        await one_size(size, args.replies)
    await backlog(10_000, 5, args.backlog_seconds)


if __name__ == "__main__":
    asyncio.run(main())
