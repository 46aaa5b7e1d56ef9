"""The timed trials: throughput (a closed loop, from the first POST until the last arrival)
and latency (paced, per message), run for every contestant, interleaved, with their figures."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable

from bench.contestants import Contestants
from bench.cpu import CpuMeter, quiet
from bench.load import Load, TargetT, closed_loop, paced
from bench.marks import now

Trials = dict[str, list[dict[str, float]]]  # contestant -> one dict of figures per run


def percentile(values: Iterable[float], p: float) -> float:
    """The `p`-th percentile (0-100), linear between the closest ranks."""
    data = sorted(values)
    if not data:
        return float("nan")
    pos = (len(data) - 1) * p / 100
    low = int(pos)
    high = min(low + 1, len(data) - 1)
    return data[low] + (data[high] - data[low]) * (pos - low)


def latencies(sent: dict[str, float], arrived: dict[str, float]) -> list[float]:
    """Milliseconds from leaving the load generator to arriving at the fake, per marker."""
    return [(arrived[k] - t) * 1000 for k, t in sent.items()]


def latency_figures(lat: list[float], late: list[float], cpu: dict[str, float]) -> dict[str, float]:
    """One latency trial's figures: percentiles of `lat` (ms), how late the sender was (its
    p99, ms), and what the rest of the machine used meanwhile."""
    return {
        "cpu_others": cpu["others"],
        "cpu_steal": cpu["steal"],
        "p50_ms": percentile(lat, 50),
        "p99_ms": percentile(lat, 99),
        "max_ms": max(lat),
        "late_p99_ms": percentile(late, 99) * 1000,
    }


async def throughput(
    load: Load[TargetT], target: TargetT, tag: str, meter: CpuMeter
) -> dict[str, float]:
    """One throughput trial: `load.count` messages in a closed loop, timed from the first
    POST until the last arrives."""
    await load.prepare(target, tag, load.count)
    await quiet()
    meter.start()
    start = now()
    acked = await closed_loop(target, tag, load.count, load.conversations, load.text)
    end = max((await load.arrivals(tag, load.count)).values())
    cpu = meter.stop()
    return {
        "seconds": end - start,
        "rate": load.count / (end - start),
        "acked_seconds": acked - start,
        **{f"cpu_{k}": v for k, v in cpu.items()},
    }


async def latency(
    load: Load[TargetT], target: TargetT, tag: str, n: int, rate: float, meter: CpuMeter
) -> dict[str, float]:
    """One latency trial: `n` messages paced at `rate` per second."""
    await load.prepare(target, tag, n)
    await quiet()
    meter.start()
    sent, late = await paced(target, tag, n, load.conversations, rate, load.text)
    lat = latencies(sent, await load.arrivals(tag, n))
    return latency_figures(lat, late, meter.stop())


async def throughputs(
    args: argparse.Namespace,
    c: Contestants,
    makers: dict[str, Callable[[], TargetT]],
    load: Load[TargetT],
) -> Trials:
    """`args.runs` throughput trials of each contestant, interleaved so that drift hits all
    alike."""
    per = f"{load.unit}s/s"
    out: Trials = {name: [] for name in makers}
    for r in range(args.runs):
        for name, make in makers.items():
            server = {"server": c.servers[name]} if name in c.servers else {}
            figures = await throughput(load, make(), f"t{r}{name}", CpuMeter(c.pids | server))
            out[name].append(figures)
            print(
                f"  run {r + 1} {name:6s} {figures['seconds']:6.2f} s {figures['rate']:6.0f} {per}"
                f"  (all POSTs answered at {figures['acked_seconds']:.2f} s;"
                f" others used {figures['cpu_others']:.2f} CPU s,"
                f" steal {figures['cpu_steal']:.2f} s)",
                flush=True,
            )
    return out


async def latency_trials(
    args: argparse.Namespace,
    c: Contestants,
    makers: dict[str, Callable[[], TargetT]],
    load: Load[TargetT],
) -> dict[str, Trials]:
    """For each of `args.rates`: `args.latency_runs` paced trials of the bridge and the bare
    forwarder, interleaved."""
    out: dict[str, Trials] = {}
    for rate in args.rates:
        n = max(args.conversations, round(rate * args.latency_seconds))
        trials: Trials = {"bridge": [], "bare": []}
        out[f"{rate:g}"] = trials
        for r in range(args.latency_runs):
            for name, runs in trials.items():
                tag = f"l{r}{name}{round(rate)}"
                figures = await latency(load, makers[name](), tag, n, rate, CpuMeter(c.pids))
                runs.append(figures)
                print(
                    f"  {rate:g}/s run {r + 1} {name:6s} p50 {figures['p50_ms']:8.2f} ms"
                    f"  p99 {figures['p99_ms']:8.2f} ms"
                    f"  (others used {figures['cpu_others']:.2f} CPU s,"
                    f" steal {figures['cpu_steal']:.2f} s)",
                    flush=True,
                )
    return out
