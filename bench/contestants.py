"""The contestants: the bridge and the bare forwarder, started against the fakes, and the bot
API's client that sets conversations up in them and sends the bot's messages."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from bench.control import CHANNEL, Fakes, bounded_gather, start_fakes
from bench.load import TRIAL_TIMEOUT
from bench.marks import now
from bench.procs import HOST, Proc, start_server
from bridge.client import BridgeClient

API_TOKEN = "bench-api-token-0123456789"

BRIDGE_SETTINGS: dict[str, str] = {}  # `--set NAME=VALUE`: more settings for the bridge


def bridge_env(fakes: Fakes, db: Path, *, webhook: bool) -> dict[str, str]:
    """The bridge's settings against the fakes (as in tests/conftest.py), no self-pacing."""
    env = {
        "SLACK_BOT_TOKEN": fakes.bot_token,
        "SLACK_SIGNING_SECRET": fakes.signing_secret,
        "SLACK_API_URL": fakes.slack_api_url,
        "BRIDGE_CHANNEL": CHANNEL,
        "BRIDGE_API_TOKEN": API_TOKEN,
        "BRIDGE_DATABASE_URL": f"sqlite:///{db}",
        "BRIDGE_HOST": HOST,
        "BRIDGE_SLACK_RATE": "0",
        "BRIDGE_SLACK_TIERS": "0",  # the fake Slack enforces no tiers either
        "BRIDGE_RETRY_BASE": "0.05",
        "BRIDGE_RETRY_MAX": "0.5",
    }
    if webhook:
        env |= {"BRIDGE_WEBHOOK_URL": fakes.bot_url, "BRIDGE_WEBHOOK_SECRET": fakes.bot_secret}
    return env | BRIDGE_SETTINGS


@dataclass
class Contestants:
    """The fakes, the bridge and the bare forwarder, running, on one client session."""

    session: aiohttp.ClientSession
    work: Path
    fakes: Fakes
    bridge: Proc
    bridge_url: str
    bare_url: str
    pids: dict[str, int]  # the processes besides the servers whose CPU is counted
    servers: dict[str, int]  # each contestant's server process
    baseline_url: str | None = None  # `--baseline`: the bridge of another source tree

    def bot(self, url: str) -> BridgeClient:
        """The bot API of the server at `url` (the bridge's, or the bare forwarder's one
        route of it), over the shared session: its connection pool, no session of its own."""
        # No call is cut short before the trial itself would give up.
        return BridgeClient(url, API_TOKEN, session=self.session, timeout=TRIAL_TIMEOUT)


@contextlib.asynccontextmanager
async def contestants(*, webhook: bool, baseline: Path | None = None) -> AsyncIterator[Contestants]:
    """Start the fakes and both servers in a scratch directory (and the bridge of the
    source tree `baseline`, if given, against a database of its own); stop them all at the
    end (printing each one's last output if something failed)."""
    with tempfile.TemporaryDirectory(prefix="hitl-bench-") as tmp:
        work = Path(tmp)
        connector = aiohttp.TCPConnector(limit=200)
        async with aiohttp.ClientSession(connector=connector) as session:
            fakes = await start_fakes(session, work)
            procs = [fakes.proc]
            try:
                env = bridge_env(fakes, work / "bridge.db", webhook=webhook)
                bridge, bridge_url = await start_server(session, "bridge", "bridge", env, work)
                procs.append(bridge)
                bare, bare_url = await start_server(session, "bare", "bench.bare", env, work)
                procs.append(bare)
                servers = {"bridge": bridge.pid, "bare": bare.pid}
                baseline_url = None
                if baseline is not None:
                    env = bridge_env(fakes, work / "baseline.db", webhook=webhook)
                    env["PYTHONPATH"] = str(baseline)  # resolved by the caller
                    other, baseline_url = await start_server(
                        session, "baseline", "bridge", env, work
                    )
                    procs.append(other)
                    servers["baseline"] = other.pid
                yield Contestants(
                    session,
                    work,
                    fakes,
                    bridge,
                    bridge_url,
                    bare_url,
                    {"fakes": fakes.proc.pid, "loadgen": os.getpid()},
                    servers,
                    baseline_url,
                )
            except BaseException:
                for proc in procs:
                    print(f"--- {proc.name}: {proc.tail()}", file=sys.stderr)
                raise
            finally:
                for proc in reversed(procs):
                    await proc.stop()


async def handoffs(bot: BridgeClient, m: int, timeout: float = 60.0) -> list[tuple[str, str, str]]:
    """`m` new handoffs in the bridge, parents posted: (conversation id, end user id, thread
    ts) each."""

    async def one(j: int) -> tuple[str, str]:
        user = await bot.create_user(f"Bench User {j:03d}")
        return await bot.start_hitl(user, title=f"bench {j}"), user

    async def thread_ts(conversation_id: str) -> str:
        deadline = now() + timeout
        while True:
            ts = (await bot.get_conversation(conversation_id)).slack.threadTs
            if ts:
                return ts
            if now() > deadline:
                raise RuntimeError(f"the parent of {conversation_id} was never posted")
            await asyncio.sleep(0.02)

    made = await bounded_gather(10, (one(j) for j in range(m)))
    return [(conv, user, await thread_ts(conv)) for conv, user in made]
