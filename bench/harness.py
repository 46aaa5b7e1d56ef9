"""The driver both directions share: one `Benchmark` says what sets it apart, `main` runs its
contestants through the throughput and latency trials, the diagnostic passes and the tables."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic

from bench.args import parse_args
from bench.contestants import Contestants, contestants
from bench.control import Fakes
from bench.diagnose import profile, trace
from bench.load import TRIAL_TIMEOUT, Load, TargetT
from bench.report import announce, print_latency, print_throughput, wrap_up, write_json
from bench.trials import Trials, latency_trials, throughputs


@dataclass(frozen=True)
class Benchmark(Generic[TargetT]):
    """One direction through the bridge, against the other contestants."""

    prog: str
    description: str
    title: str  # the throughput table's, before the counts
    unit: str  # what one trial counts: "message" (`--messages`) or "event"
    # The bridge's webhook goes to the fake bot, where arrivals are seen; else they are seen
    # when the fake Slack stores them.
    webhook: bool
    text: Callable[[str], str]  # a message's text, around its marker
    # Set a target up for a tag's `n` messages over `m` conversations, before any clock runs.
    prepare: Callable[[TargetT, Fakes, str, int, int], Awaitable[None]]
    bridge: Callable[[Contestants, str], TargetT]  # a target for a bridge at this URL
    others: Callable[[Contestants], dict[str, Callable[[], TargetT]]]  # name -> new target
    targets: dict[str, float] = field(default_factory=dict)  # name -> the most bridge/name may be

    def main(self, argv: list[str] | None = None) -> None:
        args = parse_args(self.prog, self.description, self.unit, argv)
        write_json(args.json, asyncio.run(run(self, args)))


async def run(bench: Benchmark[TargetT], args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {"machine": announce(), "args": vars(args)}
    async with contestants(webhook=bench.webhook) as c:
        arrivals = c.fakes.wait_bot if bench.webhook else c.fakes.wait_slack
        load: Load[TargetT] = Load(
            lambda target, tag, n: bench.prepare(target, c.fakes, tag, n, args.conversations),
            lambda tag, n: arrivals(tag, n, timeout=TRIAL_TIMEOUT),
            bench.text,
            getattr(args, f"{bench.unit}s"),
            args.conversations,
            bench.unit,
        )
        makers: dict[str, Callable[[], TargetT]] = {
            "bridge": lambda: bench.bridge(c, c.bridge_url),
            **bench.others(c),
        }
        results["throughput"] = await throughputs(args, c, makers, load)
        _print_throughput(bench, results["throughput"], load.count, args)
        results["latency"] = await latency_trials(args, c, makers, load)
        print_latency(results["latency"], args, bench.unit)
        if args.profile:
            bridge = makers["bridge"]()
            out = Path(args.profile)
            results["profile"] = await profile(load, bridge, c.bridge.pid, out, c.work)
        if args.trace:
            results["trace"] = await trace(
                load, c, lambda url: bench.bridge(c, url), webhook=bench.webhook
            )
        results |= await wrap_up(c)
    return results


def _print_throughput(
    bench: Benchmark[TargetT], res: Trials, n: int, args: argparse.Namespace
) -> None:
    """The throughput table, then the bridge's seconds over each other contestant's."""
    heading = (
        f"{bench.title}: {n} {bench.unit}s over {args.conversations}"
        f" conversations (median of {args.runs} runs)"
    )
    med = print_throughput(res, n, heading, bench.unit)
    others = [name for name in res if name != "bridge"]
    width = max(map(len, others))
    print()
    for name in others:
        target = bench.targets.get(name)
        note = f"  (target <= {target:g})" if target is not None else ""
        print(f"bridge/{name:{width}s} = {med['bridge'] / med[name]:.2f}{note}")
