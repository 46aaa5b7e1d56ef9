"""`python -m bench.traced serve`: the real bridge, with counters bolted on from outside.

Nothing in `bridge/` changes; when it starts, this wraps:

- `Store.write` and `Store.read`: how many transactions (and reads) each caller runs, and
  how long each is awaited (queueing for the database's thread included);
- the batch runner: how long the database's thread is busy, and how many commits of
  writes it makes (transactions asked for together share one);
- `aiosqlite.Connection._execute`: every round trip to SQLite's worker thread;
- `AsyncWebClient.api_call`: Slack Web API calls per method, and their time;
- `aiohttp.ClientSession.__init__`: sessions created (slack_sdk makes one per call when
  it is given none).

SIGUSR1 resets the counters; SIGUSR2 writes them as JSON to `$BENCH_TRACE_FILE`.
For an explanation of the figures, not for timing: the wrappers cost a little.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from collections import defaultdict
from pathlib import Path
from types import FrameType
from typing import Any

import aiohttp
import aiosqlite
from slack_sdk.web.async_base_client import AsyncBaseClient

from bridge.store import sqlite as store_sqlite

_Stats = dict[str, list[float]]  # name -> [count, seconds]


class Trace:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.tx: _Stats = defaultdict(lambda: [0, 0.0])  # caller -> [count, awaited seconds]
        self.db_busy = 0.0
        self.commits = 0
        self.sqlite_calls = 0
        self.sqlite_seconds = 0.0
        self.slack: _Stats = defaultdict(lambda: [0, 0.0])
        self.calls: _Stats = defaultdict(lambda: [0, 0.0])
        self.sessions = 0

    def dump(self) -> dict[str, Any]:
        return {
            "transactions": dict(self.tx),
            "db_busy": self.db_busy,
            "commits": self.commits,
            "sqlite_calls": self.sqlite_calls,
            "sqlite_seconds": self.sqlite_seconds,
            "slack": dict(self.slack),
            "calls": dict(self.calls),
            "sessions": self.sessions,
        }


TRACE = Trace()


def _install() -> None:
    for name in ("write", "read"):
        original: Any = getattr(store_sqlite.Store, name)

        async def traced(
            self: Any, body: Any, *, _original: Any = original, _name: str = name
        ) -> Any:
            frame: FrameType | None = sys._getframe(1)
            caller = frame.f_code.co_qualname if frame else "?"
            start = time.monotonic()
            try:
                return await _original(self, body)
            finally:
                entry = TRACE.tx[caller if _name == "write" else f"{caller} (read)"]
                entry[0] += 1
                entry[1] += time.monotonic() - start

        setattr(store_sqlite.Store, name, traced)

    original_batch = store_sqlite._run_batch

    def run_batch(bodies: Any, writes: bool, db: Any) -> Any:  # on the database's thread
        start = time.monotonic()
        try:
            return original_batch(bodies, writes, db)
        finally:
            TRACE.db_busy += time.monotonic() - start
            TRACE.commits += writes

    store_sqlite._run_batch = run_batch

    original_execute: Any = aiosqlite.Connection._execute  # untyped in aiosqlite

    async def execute(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        start = time.monotonic()
        try:
            return await original_execute(self, fn, *args, **kwargs)
        finally:
            TRACE.sqlite_calls += 1
            TRACE.sqlite_seconds += time.monotonic() - start

    aiosqlite.Connection._execute = execute  # type: ignore[method-assign]

    original_call = AsyncBaseClient.api_call

    async def api_call(self: AsyncBaseClient, api_method: str, **kwargs: Any) -> Any:
        start = time.monotonic()
        try:
            return await original_call(self, api_method, **kwargs)
        finally:
            entry = TRACE.slack[api_method]
            entry[0] += 1
            entry[1] += time.monotonic() - start

    AsyncBaseClient.api_call = api_call  # type: ignore[method-assign]

    from slack_bolt.async_app import AsyncApp

    from bridge.bot.api import BotApi
    from bridge.bot.webhooks import WebhookSender
    from bridge.slack.sender import SlackSender

    for cls, name in (
        (BotApi, "send_message"),
        (AsyncApp, "async_dispatch"),
        (SlackSender, "send"),
        (WebhookSender, "send"),
    ):
        _time_method(cls, name)

    original_init = aiohttp.ClientSession.__init__

    def init(self: aiohttp.ClientSession, *args: Any, **kwargs: Any) -> None:
        TRACE.sessions += 1
        original_init(self, *args, **kwargs)

    aiohttp.ClientSession.__init__ = init  # type: ignore[method-assign]


def _time_method(cls: type, name: str) -> None:
    """Count the calls of an async method and the time they take."""
    original = getattr(cls, name)
    label = f"{cls.__name__}.{name}"

    async def timed(*args: Any, **kwargs: Any) -> Any:
        start = time.monotonic()
        try:
            return await original(*args, **kwargs)
        finally:
            entry = TRACE.calls[label]
            entry[0] += 1
            entry[1] += time.monotonic() - start

    setattr(cls, name, timed)


def _on_signal(signum: int, frame: FrameType | None) -> None:
    if signum == signal.SIGUSR1:
        TRACE.reset()
    else:
        path = Path(os.environ["BENCH_TRACE_FILE"])
        partial = path.with_suffix(".partial")
        partial.write_text(json.dumps(TRACE.dump()))
        partial.replace(path)  # whole or not at all


def main() -> int:
    _install()
    signal.signal(signal.SIGUSR1, _on_signal)
    signal.signal(signal.SIGUSR2, _on_signal)
    from bridge.cli import main as bridge_main

    return bridge_main(sys.argv[1:])


async def snapshot(pid: int, path: Path, timeout: float = 5.0) -> dict[str, Any]:
    """Ask a traced bridge for its counters (SIGUSR2) and read them back."""
    _read(path, remove=True)
    os.kill(pid, signal.SIGUSR2)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = _read(path)
        if found is not None:
            return found
        await asyncio.sleep(0.02)
    raise RuntimeError("the traced bridge wrote no counters")


def _read(path: Path, *, remove: bool = False) -> dict[str, Any] | None:
    if remove:
        path.unlink(missing_ok=True)
        return None
    return dict(json.loads(path.read_text())) if path.exists() else None


def report(trace: dict[str, Any], messages: int, wall: float, unit: str = "message") -> str:
    """The counters of a pass of `messages` that took `wall` seconds, per message (or `unit`)."""
    lines = [
        f"{messages} {unit}s in {wall:.2f} s (traced, so a little slower than untraced)",
        f"database thread busy {trace['db_busy']:.2f} s = "
        f"{trace['db_busy'] / wall:.0%} of the wall time; "
        f"{trace['commits'] / messages:.2f} commits per {unit}",
        f"SQLite worker round trips: {trace['sqlite_calls'] / messages:.1f} per {unit} "
        f"({trace['sqlite_calls']} in all, {trace['sqlite_seconds']:.2f} s awaited)",
        f"aiohttp ClientSessions created: {trace['sessions'] / messages:.2f} per {unit}",
        f"transactions and reads per {unit}, by caller (count per {unit}, mean awaited ms):",
    ]
    rows = sorted(trace["transactions"].items(), key=lambda kv: -kv[1][0])
    total = sum(c for c, _ in trace["transactions"].values())
    lines += [
        f"  {count / messages:5.2f}  {held / count * 1000:6.2f} ms  {caller}"
        for caller, (count, held) in rows
    ]
    lines.append(f"  {total / messages:5.2f}  total")
    lines.append(f"Slack Web API calls per {unit} (count per {unit}, mean ms):")
    lines += [
        f"  {count / messages:5.2f}  {spent / count * 1000:6.2f} ms  {method}"
        for method, (count, spent) in sorted(trace["slack"].items())
    ]
    lines.append(f"Whole steps per {unit} (count per {unit}, mean ms):")
    lines += [
        f"  {count / messages:5.2f}  {spent / count * 1000:6.2f} ms  {label}"
        for label, (count, spent) in sorted(trace["calls"].items())
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
