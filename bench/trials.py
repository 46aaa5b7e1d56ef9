"""The timed trials: throughput (a closed loop, from the first POST until the last arrival)
and latency (paced, per message), run for every contestant in interleaved rounds, with their
figures."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from bench.contestants import Contestants
from bench.cpu import CpuMeter, quiet
from bench.load import Load, TargetT, closed_loop, paced
from bench.marks import now

Trials = dict[str, list[dict[str, float]]]  # contestant -> one dict of figures per round


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


def rotate(names: list[str], r: int) -> list[str]:
    """`names` in round `r`'s order: each round starts one place further on, so that over the
    rounds every contestant runs first, second, ... as often as the others (none always
    follows the bridge's leftover work, or comes first after the latency trials)."""
    k = r % len(names)
    return names[k:] + names[:k]


def server_figures(cpu: dict[str, float], n: int) -> dict[str, float]:
    """The server's CPU per message (ms: user + system; its system part; its main thread),
    if the meter measured one."""
    if "server" not in cpu:
        return {}
    return {
        "cpu_server_ms_per_unit": cpu["server"] * 1000 / n,
        "cpu_server_sys_ms_per_unit": cpu["server_sys"] * 1000 / n,
        "cpu_server_main_ms_per_unit": cpu["server_main"] * 1000 / n,
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
        **server_figures(cpu, load.count),
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
    cpu = meter.stop()
    return latency_figures(lat, late, cpu) | server_figures(cpu, n)


@dataclass(frozen=True)
class Rounds:
    """Every trial's figures, by contestant, in round order (index r is round r + 1)."""

    throughput: Trials
    latency: dict[str, Trials]  # rate, as printed ("100") -> the bridge's and bare's trials


async def rounds(
    args: argparse.Namespace,
    c: Contestants,
    makers: dict[str, Callable[[], TargetT]],
    load: Load[TargetT],
) -> Rounds:
    """`args.rounds` rounds. Each runs one throughput trial of every contestant, then, for
    each of `args.rates`, one paced latency trial of the bridge and of the bare forwarder;
    the contestants' order rotates from round to round (`rotate`). A round's figures are
    compared with each other, so that drift on a shared machine hits both sides of a ratio
    alike."""
    per = f"{load.unit}s/s"
    out = Rounds(
        {name: [] for name in makers},
        {f"{rate:g}": {"bridge": [], "bare": []} for rate in args.rates},
    )

    def meter(name: str) -> CpuMeter:
        return CpuMeter(c.pids | ({"server": c.servers[name]} if name in c.servers else {}))

    for r in range(args.rounds):
        print(f"round {r + 1} of {args.rounds}", flush=True)
        for name in rotate(list(makers), r):
            figures = await throughput(load, makers[name](), f"t{r}{name}", meter(name))
            out.throughput[name].append(figures)
            cpu = figures.get("cpu_server_ms_per_unit")
            per_unit = f"  CPU {cpu:5.2f} ms/{load.unit}" if cpu is not None else ""
            print(
                f"  {name:6s} {figures['seconds']:6.2f} s {figures['rate']:6.0f} {per}{per_unit}"
                f"  (all POSTs answered at {figures['acked_seconds']:.2f} s;"
                f" others used {figures['cpu_others']:.2f} CPU s,"
                f" steal {figures['cpu_steal']:.2f} s)",
                flush=True,
            )
        for i, rate in enumerate(args.rates):
            n = max(args.conversations, round(rate * args.latency_seconds))
            trials = out.latency[f"{rate:g}"]
            for name in rotate(list(trials), r):
                tag = f"l{r}{name}{i}"
                figures = await latency(load, makers[name](), tag, n, rate, meter(name))
                trials[name].append(figures)
                print(
                    f"  {name:6s} at {rate:g}/s  p50 {figures['p50_ms']:6.2f} ms"
                    f"  p99 {figures['p99_ms']:6.2f} ms"
                    f"  (others used {figures['cpu_others']:.2f} CPU s,"
                    f" steal {figures['cpu_steal']:.2f} s)",
                    flush=True,
                )
    return out
