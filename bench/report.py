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
from statistics import median
from typing import Any

from bench.contestants import BRIDGE_SETTINGS, Contestants
from bench.procs import ROOT
from bench.trials import Trials

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


def print_throughput(res: Trials, n: int, heading: str, unit: str) -> dict[str, float]:
    """The throughput table of `n` of `unit` under `heading`; the median seconds of each
    contestant."""
    print(f"\n## {heading}\n")
    med = {name: median(t["seconds"] for t in trials) for name, trials in res.items()}
    rows = [
        [
            name,
            f"{med[name]:.2f}",
            f"{n / med[name]:.0f}",
            ", ".join(f"{t['seconds']:.2f}" for t in trials),
            f"{median(t['acked_seconds'] for t in trials):.2f}",
            *server_cells(trials, n),
            *(f"{median(t[k] for t in trials):.2f}" for k in CPU_COLUMNS),
        ]
        for name, trials in res.items()
    ]
    headers = [
        "contestant",
        "seconds",
        f"{unit}s/s",
        "runs (s)",
        "POSTs answered (s)",
        "CPU s server (sys; main thread)",
        f"ctx switches/{unit}",
        "CPU s fakes",
        "CPU s loadgen",
        "CPU s others",
        "steal s",
    ]
    print(table(headers, rows))
    return med


def server_cells(trials: list[dict[str, float]], n: int) -> list[str]:
    """Table cells for a server process: median CPU seconds (system part; main thread),
    context switches per message; dashes when the contestant has no server."""
    if "cpu_server" not in trials[0]:
        return ["-", "-"]
    cpu = median(t["cpu_server"] for t in trials)
    system = median(t["cpu_server_sys"] for t in trials)
    main = median(t["cpu_server_main"] for t in trials)
    switches = median(t["cpu_server_switches"] for t in trials) / n
    return [f"{cpu:.2f} ({system:.2f}; {main:.2f})", f"{switches:.1f}"]


def print_latency(res: dict[str, Any], args: argparse.Namespace, unit: str) -> None:
    """The latency tables: per rate, the median of the runs per contestant, bridge - bare."""
    for rate, trials in res.items():
        n = len(trials["bridge"])
        print(
            f"\n## Latency at {rate} {unit}s/s for {args.latency_seconds:g} s over "
            f"{args.conversations} conversations (median of {n} run{'s' if n > 1 else ''})\n"
        )
        meds = {
            name: {k: median(t[k] for t in runs) for k in runs[0]} for name, runs in trials.items()
        }
        rows = [
            [
                name,
                f"{m['p50_ms']:.2f}",
                f"{m['p99_ms']:.2f}",
                f"{m['max_ms']:.2f}",
                f"{m['late_p99_ms']:.2f}",
            ]
            for name, m in meds.items()
        ]
        diff50 = meds["bridge"]["p50_ms"] - meds["bare"]["p50_ms"]
        diff99 = meds["bridge"]["p99_ms"] - meds["bare"]["p99_ms"]
        rows.append(["bridge - bare", f"{diff50:.2f}", f"{diff99:.2f}", "", ""])
        print(table(["contestant", "p50 ms", "p99 ms", "max ms", "send lag p99 ms"], rows))


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
