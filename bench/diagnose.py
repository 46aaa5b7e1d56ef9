"""The untimed diagnostic trials both benchmarks can add: one throughput pass with py-spy
attached (`--profile`), and one against a second bridge run by `bench.traced` (`--trace`)."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable
from pathlib import Path

import aiohttp

from bench.common import Fakes, Load, TargetT, bridge_env, closed_loop, start_server
from bench.profile import Spy, summarize
from bench.traced import report, snapshot


async def _drive(load: Load[TargetT], target: TargetT, tag: str) -> None:
    """`load.count` messages in a closed loop, until all have arrived."""
    await closed_loop(target, tag, load.count, load.conversations, load.text)
    await load.arrivals(tag, load.count)


async def profile(load: Load[TargetT], target: TargetT, pid: int, out: Path) -> str:
    """One pass of the bridge (process `pid`) with py-spy attached; its summary, printed."""
    await load.prepare(target, "p", load.count)
    spy = Spy(pid, out)
    await spy.start()
    try:
        await _drive(load, target, "p")
    finally:
        await spy.stop()
    summary = summarize(out)
    print(f"\n## py-spy profile of the bridge during one throughput trial ({out})\n")
    print(summary)
    return summary


async def trace(
    load: Load[TargetT],
    session: aiohttp.ClientSession,
    fakes: Fakes,
    work: Path,
    target: Callable[[str], TargetT],
    *,
    webhook: bool,
) -> str:
    """One pass against a second bridge run by `bench.traced` (its `target` made from its
    URL), counting transactions, commits, SQLite round trips and Slack calls; the report,
    printed."""
    env = bridge_env(fakes, work / "traced.db", 0, webhook=webhook)
    env["BENCH_TRACE_FILE"] = str(work / "trace.json")
    proc, url = await start_server(session, "traced", "bench.traced", env, work)
    try:
        traced = target(url)
        await load.prepare(traced, "x", load.count)
        os.kill(proc.pid, signal.SIGUSR1)  # reset the counters
        await asyncio.sleep(0.1)
        await _drive(load, traced, "x")
        counters = await snapshot(proc.pid, work / "trace.json")
    finally:
        await proc.stop()
    summary = report(counters, load.count, unit=load.unit)
    print("\n## Where the bridge's time goes (bench.traced, one throughput trial)\n")
    print(summary)
    return summary
