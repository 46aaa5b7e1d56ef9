"""Measuring CPU from /proc: per process, per thread, the whole machine (and the hypervisor's
steal), and waiting for a quiet machine before a trial."""

from __future__ import annotations

import asyncio
import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from bench.marks import now

QUIET_WAIT = [5.0]  # seconds; `--quiet-wait` sets it


def cpu_seconds(pid: int, thread: int | None = None) -> tuple[float, float]:
    """User and system CPU seconds a process (all its threads), or one of its threads, has
    used so far."""
    stat = Path(f"/proc/{pid}/stat" if thread is None else f"/proc/{pid}/task/{thread}/stat")
    fields = stat.read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / ticks, int(fields[12]) / ticks


def context_switches(pid: int) -> int:
    """Voluntary + involuntary context switches of all a process's threads so far."""
    total = 0
    for status in Path(f"/proc/{pid}/task").glob("*/status"):
        with contextlib.suppress(OSError):
            for line in status.read_text().splitlines():
                if "ctxt_switches:" in line:
                    total += int(line.split(":")[1])
    return total


def machine_busy() -> tuple[float, float]:
    """CPU seconds the whole machine has spent busy so far (all cores, /proc/stat), and
    how many of them were stolen by the hypervisor (a VM's cores are shared too)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    tick = os.sysconf("SC_CLK_TCK")
    return (user + nice + system + irq + softirq) / tick, steal / tick


async def quiet(limit: float = 0.25) -> None:
    """Before a trial: wait (at most `--quiet-wait` s, default 5) for half a second in which
    the machine used less than `limit` of a core, since other people's jobs may share it."""
    if QUIET_WAIT[0] <= 0:
        return
    deadline = now() + QUIET_WAIT[0]
    while True:
        before = sum(machine_busy())
        await asyncio.sleep(0.5)
        load = (sum(machine_busy()) - before) / 0.5
        if load < limit or now() >= deadline:
            return


@dataclass
class CpuMeter:
    """CPU seconds (user + system) used by some processes between `start()` and `stop()`;
    for `server`, also its system seconds, its main thread's seconds (the event loop; the
    rest are SQLite's threads) and context switches; `others`: what the rest
    of the machine used meanwhile (other people's jobs, interrupts); `steal`: CPU time the
    hypervisor took from this VM while it wanted to run."""

    pids: dict[str, int]
    _start: dict[str, tuple[float, float]] = field(default_factory=dict)
    _switches: int = 0
    _main: float = 0.0  # the server's main thread (its event loop)
    _machine: tuple[float, float] = (0.0, 0.0)

    def start(self) -> None:
        self._start = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        if "server" in self.pids:
            self._switches = context_switches(self.pids["server"])
            self._main = sum(cpu_seconds(self.pids["server"], self.pids["server"]))
        self._machine = machine_busy()

    def stop(self) -> dict[str, float]:
        busy, steal = machine_busy()
        machine = busy - self._machine[0]
        used: dict[str, float] = {"steal": steal - self._machine[1]}
        for name, pid in self.pids.items():
            user, system = cpu_seconds(pid)
            used[name] = user + system - sum(self._start[name])
            if name == "server":
                used["server_sys"] = system - self._start[name][1]
                used["server_switches"] = context_switches(pid) - self._switches
                used["server_main"] = sum(cpu_seconds(pid, pid)) - self._main
        used["others"] = max(0.0, machine - sum(used[name] for name in self.pids))
        return used
