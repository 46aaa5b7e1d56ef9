"""The driver both directions share: one `Benchmark` says what sets it apart, `main` runs its
contestants through interleaved rounds of throughput and latency trials, the diagnostic
passes, the tables and the summary against the issue's targets."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic

from bench.args import parse_args
from bench.contestants import Contestants, contestants
from bench.control import Fakes
from bench.diagnose import profile, trace
from bench.load import TRIAL_TIMEOUT, Load, TargetT
from bench.report import (
    announce,
    print_latency,
    print_ratios,
    print_summary,
    print_throughput,
    rounds_note,
    wrap_up,
    write_json,
)
from bench.summary import Goal, summarize
from bench.trials import rounds


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
    goals: tuple[Goal, ...] = ()  # issue #14's targets, judged in the summary

    def main(self, argv: list[str] | None = None) -> None:
        args = parse_args(self.prog, self.description, self.unit, argv)
        write_json(args.json, asyncio.run(run(self, args)))


async def run(bench: Benchmark[TargetT], args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {"machine": announce(), "args": vars(args), "unit": bench.unit}
    baseline = Path(args.baseline) if args.baseline else None
    async with contestants(webhook=bench.webhook, baseline=baseline) as c:
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
        if c.baseline_url is not None:
            url = c.baseline_url
            makers["baseline"] = lambda: bench.bridge(c, url)
        res = await rounds(args, c, makers, load)
        results["throughput"] = res.throughput
        results["latency"] = res.latency
        summary = summarize(res)
        results["summary"] = summary.as_json()
        heading = (
            f"{bench.title}: {load.count} {bench.unit}s over {args.conversations} conversations"
            f" ({rounds_note(summary.rounds)})"
        )
        print_throughput(summary, load.count, heading, bench.unit)
        print_ratios(summary)
        print_latency(summary, args, bench.unit)
        if args.profile:
            bridge = makers["bridge"]()
            out = Path(args.profile)
            results["profile"] = await profile(load, bridge, c.bridge.pid, out, c.work)
        if args.trace:
            results["trace"] = await trace(
                load, c, lambda url: bench.bridge(c, url), webhook=bench.webhook
            )
        results |= await wrap_up(c)
    results["goals"] = print_summary(bench.prog, summary, bench.goals, bench.unit)
    return results
