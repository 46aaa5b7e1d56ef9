"""What a run prints and writes: the machine and the sources measured, the throughput and
latency tables, the run's wrap-up, and the JSON file."""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import platform
import sqlite3
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.contestants import BRIDGE_SETTINGS, Contestants
from bench.procs import ROOT
from bench.summary import BASELINE, Figures, Goal, Summary

CPU_COLUMNS = ("cpu_fakes", "cpu_loadgen", "cpu_others", "cpu_steal")  # after the server's


def machine() -> dict[str, str]:
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    versions = {}
    for dist in ("aiohttp", "slack_sdk", "slack_bolt", "pydantic"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[dist] = metadata.version(dist)
    digest = hashlib.sha256()
    for path in sorted((ROOT / "bridge").rglob("*.py")):
        digest.update(path.relative_to(ROOT).as_posix().encode() + b"\0" + path.read_bytes())
    return {
        "date": datetime.now().astimezone().isoformat(timespec="seconds"),
        # The tree under test is being edited; this names the exact sources measured.
        "bridge_sources_sha256": digest.hexdigest()[:16],
        "nproc": str(len(os.sched_getaffinity(0))),
        "loadavg_at_start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "cpu": model,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "packages": ", ".join(f"{k} {v}" for k, v in versions.items()),
        "bridge_settings": " ".join(f"{k}={v}" for k, v in BRIDGE_SETTINGS.items()) or "default",
    }


def announce() -> dict[str, str]:
    """Print the machine and the sources measured (and a warning if the machine is busy);
    return them for the JSON output."""
    info = machine()
    print(
        f"# {info['date']}  {info['nproc']} cpus  {info['cpu']}  Python {info['python']}"
        f"  SQLite {info['sqlite']}  bridge sources {info['bridge_sources_sha256']}"
        f"  load average {info['loadavg_at_start']}"
    )
    if os.getloadavg()[0] > 0.5:
        print("# warning: the machine is busy; other processes will skew these figures")
    return info


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows, strict=True)]
    lines = [
        "| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |",
        "|" + "|".join("-" * (w + 2) for w in widths) + "|",
    ]
    lines += [
        "| " + " | ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) + " |"
        for row in rows
    ]
    return "\n".join(lines)


def print_throughput(s: Summary, n: int, heading: str, unit: str) -> None:
    """The throughput table of `n` of `unit` under `heading`: per contestant the median over
    the rounds [lowest, highest] of its rate and its server's CPU per `unit`, the medians of
    the rest."""
    print(f"\n## {heading}\n")
    rows = []
    for name, figs in s.throughput.items():
        rows.append(
            [
                name,
                figs["rate"].show(0),
                f"{figs['seconds'].median:.2f}",
                f"{figs['acked_seconds'].median:.2f}",
                *server_cells(figs, n),
                *(f"{figs[k].median:.2f}" for k in CPU_COLUMNS),
            ]
        )
    headers = [
        "contestant",
        f"{unit}s/s",
        "seconds",
        "POSTs answered (s)",
        f"server CPU ms/{unit}",
        "(sys; main thread)",
        f"ctx switches/{unit}",
        "CPU s fakes",
        "CPU s loadgen",
        "CPU s others",
        "steal s",
    ]
    print(table(headers, rows))


def server_cells(figs: Figures, n: int) -> list[str]:
    """Table cells for a server process: CPU ms per message (its range; its system part and
    main thread's), context switches per message; dashes when the contestant has no server."""
    if "cpu_server_ms_per_unit" not in figs:
        return ["-", "-", "-"]
    system = figs["cpu_server_sys_ms_per_unit"].median
    main = figs["cpu_server_main_ms_per_unit"].median
    switches = figs["cpu_server_switches"].median / n
    return [
        figs["cpu_server_ms_per_unit"].show(),
        f"({system:.2f}; {main:.2f})",
        f"{switches:.1f}",
    ]


def print_ratios(s: Summary) -> None:
    """bridge/other per round, wall clock and server CPU, beside the throughput table."""
    width = max(map(len, s.ratios))
    print()
    for name, pair in s.ratios.items():
        cpu = f"  CPU {pair['cpu'].show()}" if "cpu" in pair else ""
        print(f"{name:{width}s}  wall {pair['wall'].show()}{cpu}")


def print_latency(s: Summary, args: argparse.Namespace, unit: str) -> None:
    """The latency tables: per rate and contestant, the median over the rounds [lowest,
    highest] of p50 and p99, then bridge - bare taken round by round."""
    for rate, contestants in s.latency.items():
        print(
            f"\n## Latency at {rate} {unit}s/s for {args.latency_seconds:g} s over "
            f"{args.conversations} conversations ({rounds_note(s.rounds)})\n"
        )
        rows = []
        for name, figs in contestants.items():
            cpu = figs.get("cpu_server_ms_per_unit")
            rows.append(
                [
                    name,
                    figs["p50_ms"].show(),
                    figs["p99_ms"].show(),
                    f"{figs['max_ms'].median:.2f}" if "max_ms" in figs else "",
                    f"{figs['late_p99_ms'].median:.2f}" if "late_p99_ms" in figs else "",
                    cpu.show() if cpu else "",
                ]
            )
        headers = ["contestant", "p50 ms", "p99 ms", "max ms", "send lag p99 ms"]
        print(table([*headers, f"server CPU ms/{unit}"], rows))


def print_summary(
    prog: str, s: Summary, goals: tuple[Goal, ...], unit: str
) -> list[dict[str, Any]]:
    """The run's last words: throughput, CPU per `unit`, the ratios and the latency the
    bridge adds, then each goal with this run's median and range beside it. Returns the
    goals' verdicts."""
    settings = " ".join(f"{k}={v}" for k, v in BRIDGE_SETTINGS.items())
    print(f"\n## Summary: {prog}{' ' + settings if settings else ''}; {rounds_note(s.rounds)}\n")
    width = max(map(len, s.throughput))
    for name, figs in s.throughput.items():
        cpu = figs.get("cpu_server_ms_per_unit")
        cpu_text = f", server CPU {cpu.show()} ms/{unit}" if cpu else ""
        print(f"{name:{width}s}  {figs['rate'].show(0)} {unit}s/s{cpu_text}")
    print_ratios(s)
    for rate, contestants in s.latency.items():
        added = contestants[f"bridge - {BASELINE}"]
        print(
            f"added at {rate} {unit}s/s: p50 {added['p50_ms'].show()} ms,"
            f" p99 {added['p99_ms'].show()} ms"
        )
    verdicts = [goal.judge(s) for goal in goals]
    rows = []
    for goal, v in zip(goals, verdicts, strict=True):
        spread = goal.pick(s)
        met = {True: "yes", False: "no", None: "n/a"}[v["met"]]
        why = f": {v['why']}" if v["why"] else ""
        rows.append([goal.label, v["bound"], spread.show() if spread else "-", met + why])
    print()
    print(table(["issue #14's target", "bound", "this run", "met (median)"], rows))
    return verdicts


def rounds_note(n: int) -> str:
    """What the figures of `n` rounds are."""
    if n == 1:
        return "1 round"
    return f"{n} interleaved rounds: median [lowest, highest]"


async def wrap_up(c: Contestants) -> dict[str, Any]:
    """What a run reports at its end: the fakes' counters, the load, the bridge's log."""
    loadavg = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\nload average at the end: {loadavg}")
    count, first = c.bridge.problems()
    print(f"\nbridge log: {count} WARNING/ERROR lines", *first, sep="\n  ")
    return {
        "fake_stats": await c.fakes.stats(),
        "loadavg_at_end": loadavg,
        "bridge_log_problems": count,
    }


def write_json(path: str | None, data: dict[str, Any]) -> None:
    if path:
        Path(path).write_text(json.dumps(data, indent=2) + "\n")
