"""`python -m bench.instances`: the bridge on PostgreSQL with one, two and three instances,
against one on SQLite, in the same run.

Each setup starts its instances (`python -m bridge serve`) on a database of its own, against
the same fakes (`bench.fakes`). The bot's conversations are spread over the instances, as a
balancer spreads them: conversation j's messages go to instance j mod n. For each setup,
interleaved over `--rounds` (the order turned each round):

- throughput: `-n` end-user messages over `-m` conversations, closed loop (each
  conversation's next POST once the last was answered), in messages a second from the first
  POST until the fake Slack has stored the last;
- latency at `--rate` messages a second for `--seconds`: from each POST leaving to the fake
  Slack storing it, p50 and p99 in ms;
- each instance's resident memory at the end, in MB;
- CPU a message in the throughput trial: the instances' together, and PostgreSQL's server
  processes' on this machine (none, for SQLite, or for a server elsewhere).

PostgreSQL is the server `BRIDGE_TEST_POSTGRES_URL` names (a superuser's: a database is made
for each setup and round), or else a throwaway cluster with `fsync` on, as a deployment runs
(`bridge/testing/postgres.py`). Results: bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import statistics
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from bench.contestants import API_TOKEN, bridge_env, handoffs
from bench.control import Fakes, start_fakes
from bench.load import TRIAL_TIMEOUT, closed_loop, paced
from bench.marks import marker, now
from bench.overhead import text
from bench.procs import Proc, start_server
from bridge.client import BridgeClient
from bridge.testing import postgres

SETUPS = "sqlite:1,postgresql:1,postgresql:2,postgresql:3"


@dataclass
class Spread:
    """The bot's POSTs, conversation j's to instance j mod n."""

    bots: list[BridgeClient]
    conversations: list[tuple[str, str]] = field(default_factory=list)  # (id, end user)

    async def open(self, conversations: int) -> None:
        made = await handoffs(self.bots[0], conversations)
        self.conversations = [(conv, user) for conv, user, _ in made]

    async def send(self, conversation: int, words: str) -> None:
        conv, user = self.conversations[conversation]
        await self.bots[conversation % len(self.bots)].send_text(conv, words, user_id=user)


@dataclass
class Figures:
    rate: float  # messages a second
    p50: float  # ms
    p99: float  # ms
    rss: list[float]  # MB, each instance
    bridge_cpu: float  # ms of CPU a message, the instances together
    postgres_cpu: float  # ms of CPU a message, PostgreSQL's processes on this machine


def cpu_seconds(pids: list[int]) -> float:
    """User and system CPU the processes `pids` have used."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def postgres_pids() -> list[int]:
    """PostgreSQL's server processes on this machine (its backends come and go)."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            if stat.read_text().split(" (", 1)[1].startswith(("postgres)", "postmaster)")):
                pids.append(int(stat.parent.name))
    return pids


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def trial(
    session: aiohttp.ClientSession,
    fakes: Fakes,
    work: Path,
    database: str,
    instances: int,
    tag: str,
    args: argparse.Namespace,
) -> Figures:
    env = bridge_env(fakes, work / "unused.db", webhook=False)
    env |= {"BRIDGE_DATABASE_URL": database, "BRIDGE_LOG_LEVEL": "WARNING"}
    procs: list[Proc] = []
    try:
        urls = []
        for i in range(instances):
            proc, url = await start_server(session, f"{tag}i{i}", "bridge", env, work)
            procs.append(proc)
            urls.append(url)
        target = Spread(
            [BridgeClient(u, API_TOKEN, session=session, timeout=TRIAL_TIMEOUT) for u in urls]
        )
        await target.open(args.m)
        warm = f"{tag}w"
        await asyncio.gather(*(target.send(j, text(marker(warm, j, 0))) for j in range(args.m)))
        await fakes.wait_slack(warm, args.m, timeout=60)

        mine = [p.pid for p in procs]
        cpu = (cpu_seconds(mine), cpu_seconds(postgres_pids()))
        start = now()
        await closed_loop(target, f"{tag}t", args.n, args.m, text)
        stored = await fakes.wait_slack(f"{tag}t", args.n)
        rate = args.n / (max(stored.values()) - start)
        per = 1000 / args.n
        bridge_cpu = (cpu_seconds(mine) - cpu[0]) * per
        postgres_cpu = (cpu_seconds(postgres_pids()) - cpu[1]) * per

        count = int(args.rate * args.seconds)
        sent, _ = await paced(target, f"{tag}l", count, args.m, args.rate, text)
        stored = await fakes.wait_slack(f"{tag}l", count)
        latency = sorted((stored[k] - sent[k]) * 1000 for k in sent)
        p99 = latency[min(len(latency) - 1, int(len(latency) * 0.99))]
        rss = [rss_mb(p.pid) for p in procs]
        return Figures(rate, statistics.median(latency), p99, rss, bridge_cpu, postgres_cpu)
    finally:
        for proc in procs:
            await proc.stop()


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    with postgres.server(fsync=True) as url:
        if url is None:
            raise SystemExit(f"no PostgreSQL: install Debian's postgresql, or set {postgres.ENV}")
        yield url


async def run(args: argparse.Namespace) -> None:
    setups = [(kind, int(n)) for kind, n in (s.split(":") for s in args.setups.split(","))]
    results: dict[tuple[str, int], list[Figures]] = {setup: [] for setup in setups}
    with postgres_server() as server, tempfile.TemporaryDirectory(prefix="hitl-bench-") as tmp:
        work = Path(tmp)
        connector = aiohttp.TCPConnector(limit=200)
        async with aiohttp.ClientSession(connector=connector) as session:
            fakes = await start_fakes(session, work)
            try:
                for r in range(args.rounds):
                    for k in range(len(setups)):
                        kind, instances = setups[(k + r) % len(setups)]
                        database = (
                            postgres.fresh_database(server)
                            if kind == "postgresql"
                            else f"sqlite:///{work}/r{r}.db"
                        )
                        tag = f"{kind[0]}{instances}r{r}"
                        figures = await trial(session, fakes, work, database, instances, tag, args)
                        results[(kind, instances)].append(figures)
                        print(f"  round {r + 1} {kind} x{instances}: {_line(figures)}", flush=True)
            finally:
                await fakes.proc.stop()
    report(results, args)


def _line(f: Figures) -> str:
    rss = " ".join(f"{mb:.0f}" for mb in f.rss)
    return (
        f"{f.rate:7.0f} msg/s  p50 {f.p50:6.1f} ms  p99 {f.p99:6.1f} ms  RSS {rss} MB"
        f"  CPU/msg bridge {f.bridge_cpu:.2f} ms, PostgreSQL {f.postgres_cpu:.2f} ms"
    )


def report(results: dict[tuple[str, int], list[Figures]], args: argparse.Namespace) -> None:
    print(
        f"\n{platform.node()}: {platform.machine()}, Python {platform.python_version()};"
        f" {args.n} messages over {args.m} conversations; latency at {args.rate:g}/s for"
        f" {args.seconds:g} s; median of {args.rounds} rounds [min, max]"
    )
    base = statistics.median(f.rate for f in next(iter(results.values())))
    print(
        f"{'setup':16} {'msg/s':>18} {'vs first':>9} {'p50 ms':>7} {'p99 ms':>7} {'RSS MB':>8}"
        f" {'CPU ms/msg: bridge':>18} {'PostgreSQL':>10}"
    )
    for (kind, instances), runs in results.items():
        rates = [f.rate for f in runs]
        rate = statistics.median(rates)
        spread = f"[{min(rates):.0f}, {max(rates):.0f}]"
        rss = statistics.median(mb for f in runs for mb in f.rss)
        print(
            f"{kind + ' x' + str(instances):16} {rate:6.0f} {spread:>11} {rate / base:9.2f}"
            f" {statistics.median(f.p50 for f in runs):7.1f}"
            f" {statistics.median(f.p99 for f in runs):7.1f} {rss:8.0f}"
            f" {statistics.median(f.bridge_cpu for f in runs):18.2f}"
            f" {statistics.median(f.postgres_cpu for f in runs):10.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.instances", description=__doc__)
    parser.add_argument("-n", type=int, default=2000, help="messages a throughput trial")
    parser.add_argument("-m", type=int, default=50, help="conversations")
    parser.add_argument("--rate", type=float, default=100, help="latency trial, messages/s")
    parser.add_argument("--seconds", type=float, default=10, help="latency trial's length")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--setups", default=SETUPS, help=f"database:instances, ... (default {SETUPS})"
    )
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
