"""`python -m bench.traced serve`: the real bridge, with counters bolted on from outside.

Nothing in `bridge/` changes. The store reports to an observer (`bridge.store.observe`):

- each transaction (`Store.write`) and read (`Store.read`), named by the function that asked
  for it (where its body was written), and how long it was awaited (queueing for the
  database's thread included);
- each batch: one hand-off to the database's thread, how long the thread was busy with it,
  and whether it committed writes (transactions asked for together share one commit).

And when it starts, this wraps:

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
from collections.abc import Callable
from functools import partial
from pathlib import Path
from types import FrameType
from typing import Any

import aiohttp
from slack_sdk.web.async_base_client import AsyncBaseClient

from bridge import store

_Stats = dict[str, list[float]]  # name -> [count, seconds]


class Trace:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.tx: _Stats = defaultdict(lambda: [0, 0.0])  # caller -> [count, awaited seconds]
        self.db_busy = 0.0
        self.commits = 0
        self.batches = 0
        self.batched = 0  # transactions and reads in them
        self.slack: _Stats = defaultdict(lambda: [0, 0.0])
        self.calls: _Stats = defaultdict(lambda: [0, 0.0])
        self.sessions = 0

    def dump(self) -> dict[str, Any]:
        return {
            "transactions": dict(self.tx),
            "db_busy": self.db_busy,
            "commits": self.commits,
            "batches": self.batches,
            "batched": self.batched,
            "slack": dict(self.slack),
            "calls": dict(self.calls),
            "sessions": self.sessions,
        }


TRACE = Trace()


class StoreCounts:
    """The store's observer: counts into `TRACE`."""

    def transaction(self, body: Callable[..., Any], writes: bool, seconds: float) -> None:
        entry = TRACE.tx[_asker(body) if writes else f"{_asker(body)} (read)"]
        entry[0] += 1
        entry[1] += seconds

    def batch(self, batch: store.Batch) -> None:  # on the database's thread
        TRACE.db_busy += batch.seconds
        TRACE.commits += batch.writes
        TRACE.batches += 1
        TRACE.batched += batch.size


def _asker(body: Callable[..., Any]) -> str:
    """Who asked for a transaction: the function its body was written in (or the body, a
    method given with its arguments bound)."""
    while isinstance(body, partial):
        body = body.func
    name: str = getattr(body, "__qualname__", type(body).__qualname__)
    return name.split(".<locals>", 1)[0]


def _install() -> None:
    store.observe(StoreCounts())

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
        f"hand-offs to the database's thread (batches): {trace['batches'] / messages:.2f} per "
        f"{unit}, {trace['batched'] / max(trace['batches'], 1):.1f} transactions each",
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
