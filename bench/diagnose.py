"""The untimed diagnostic trials both benchmarks can add: one throughput pass with py-spy
attached (`--profile`), and one against a second bridge run by `bench.traced` (`--trace`)."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable
from pathlib import Path

from bench.contestants import Contestants, bridge_env
from bench.load import Load, TargetT, closed_loop
from bench.marks import now
from bench.procs import start_server
from bench.profile import Spy, summarize
from bench.traced import report, snapshot


async def _drive(load: Load[TargetT], target: TargetT, tag: str) -> float:
    """`load.count` messages in a closed loop, until all have arrived; the seconds from the
    first POST until the last arrived."""
    start = now()
    await closed_loop(target, tag, load.count, load.conversations, load.text)
    return max((await load.arrivals(tag, load.count)).values()) - start


async def profile(load: Load[TargetT], target: TargetT, pid: int, out: Path, work: Path) -> str:
    """One pass of the bridge (process `pid`) with py-spy attached (its log in `work`); its
    summary, printed."""
    await load.prepare(target, "p", load.count)
    spy = Spy(pid, out, work)
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
    load: Load[TargetT], c: Contestants, target: Callable[[str], TargetT], *, webhook: bool
) -> str:
    """One pass against a second bridge run by `bench.traced` (its `target` made from its
    URL), counting transactions, commits, SQLite round trips and Slack calls; the report,
    printed."""
    env = bridge_env(c.fakes, c.work / "traced.db", webhook=webhook)
    env["BENCH_TRACE_FILE"] = str(c.work / "trace.json")
    proc, url = await start_server(c.session, "traced", "bench.traced", env, c.work)
    try:
        traced = target(url)
        await load.prepare(traced, "x", load.count)
        os.kill(proc.pid, signal.SIGUSR1)  # reset the counters
        await asyncio.sleep(0.1)
        wall = await _drive(load, traced, "x")
        counters = await snapshot(proc.pid, c.work / "trace.json")
    finally:
        await proc.stop()
    summary = report(counters, load.count, wall, unit=load.unit)
    print("\n## Where the bridge's time goes (bench.traced, one throughput trial)\n")
    print(summary)
    return summary
