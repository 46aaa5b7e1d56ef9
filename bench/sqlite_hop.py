"""`python -m bench.sqlite_hop`: what one SQLite statement costs, done the bridge's way.

A micro-benchmark behind the explanation in RESULTS.md. The same primary-key lookup in a
transaction, in a WAL database with the bridge's pragmas, five ways:

- ``sqlite3``: the standard library, synchronously, in the calling thread;
- ``aiosqlite``: ``async with db.execute(...) as cur: await cur.fetchone()``, the way the
  bridge's store first did it: three round trips to aiosqlite's worker thread per statement
  (execute, fetchone, close), BEGIN and COMMIT one each;
- ``aiosqlite, 32 tasks + lock``: the same from 32 concurrent tasks that take one
  ``asyncio.Lock`` around ``BEGIN IMMEDIATE ... COMMIT``, as its ``Store.transaction()`` did;
- ``Store.write``: the bridge's store as it is (a user looked up by id): the whole
  transaction as one function on the store's thread, from 1 task and from 32 (whose
  transactions share commits).

Then what one Slack-bound message costs the store, with nothing else running: the row
functions the bridge calls for it (`BotCommands.send_message`'s check and inserts, the outbox's
take, the Slack sender's view, `Deliveries.posted`, the delivery), timed on the store's thread
by its observer (`bridge.store.Observer`): the batches alone, no event loop or hand-off.
Once with a commit for each transaction, once with `--share` messages' transactions to a
commit (asked for together, so that they go over in one batch): 6 by default, which makes
the bridge's measured 0.33 commits per message. The CPU time this takes is a floor for the
bridge's database thread.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import aiosqlite

from bridge.model import Role, TextMessage, TextPayload, User, utcnow
from bridge.service import Policy, Service
from bridge.store import Batch, Store, Tx
from bridge.store.sqlite import SqliteStore

PRAGMAS = ("PRAGMA journal_mode = WAL", "PRAGMA synchronous = NORMAL")
SCHEMA = "CREATE TABLE t (id TEXT PRIMARY KEY, body TEXT NOT NULL)"
QUERY = "SELECT * FROM t WHERE id = ?"


def _setup(path: Path, rows: int) -> None:
    db = sqlite3.connect(path)
    for pragma in PRAGMAS:
        db.execute(pragma)
    db.execute(SCHEMA)
    db.executemany("INSERT INTO t VALUES (?, ?)", ((f"k{i}", "x" * 200) for i in range(rows)))
    db.commit()
    db.close()


def plain(path: Path, n: int) -> float:
    db = sqlite3.connect(path, isolation_level=None)
    start = time.perf_counter()
    for i in range(n):
        db.execute("BEGIN IMMEDIATE")
        db.execute(QUERY, (f"k{i % 1000}",)).fetchone()
        db.execute("COMMIT")
    spent = time.perf_counter() - start
    db.close()
    return spent / n


async def hopping(path: Path, n: int, tasks: int) -> float:
    db = await aiosqlite.connect(str(path), isolation_level=None)
    lock = asyncio.Lock()

    async def worker(count: int) -> None:
        for i in range(count):
            async with lock:
                await db.execute("BEGIN IMMEDIATE")
                async with db.execute(QUERY, (f"k{i % 1000}",)) as cur:
                    await cur.fetchone()
                await db.execute("COMMIT")

    start = time.perf_counter()
    await asyncio.gather(*(worker(n // tasks) for _ in range(tasks)))
    spent = time.perf_counter() - start
    await db.close()
    return spent / (n // tasks * tasks)


def _lookup(user_id: str, tx: Tx) -> User | None:
    return tx.user(user_id)


async def store_writes(path: Path, n: int, tasks: int) -> float:
    store = await SqliteStore.open(path)

    def seed(tx: Tx) -> None:
        for i in range(1000):
            tx.insert_user(User(f"k{i}", Role.END_USER, "x" * 200, None, None), utcnow())

    await store.write(seed)

    async def worker(count: int) -> None:
        for i in range(count):
            await store.write(partial(_lookup, f"k{i % 1000}"))

    start = time.perf_counter()
    await asyncio.gather(*(worker(n // tasks) for _ in range(tasks)))
    spent = time.perf_counter() - start
    await store.close()
    return spent / (n // tasks * tasks)


def _message(conv: str, user: str, i: int) -> tuple[Callable[[Tx], None], Callable[[Tx], None]]:
    """Message `i`'s two transactions: stored with its outbox row; taken and delivered."""
    message_id = f"m{i}"
    content = TextMessage(type="text", payload=TextPayload(text=f"message {i}, hello there"))

    def send(tx: Tx) -> None:
        now = utcnow()
        tx.conversation(conv)
        tx.insert_message(message_id, conv, user, content, now)
        tx.enqueue("slack", conv, "message", f'{{"messageId":"{message_id}","channel":"C1"}}', now)

    def deliver(tx: Tx) -> None:
        (row,) = tx.take_due("slack", time.time(), 32, time.time() + 60)
        tx.view(conv, message_id)
        tx.record_slack_ts(message_id, conv, "C1", f"{i}.000100")
        tx.remove_delivered(row.id)

    return send, deliver


async def _handoff(store: Store) -> tuple[str, str]:
    """An end user and their handoff, opened by the service, its thread posted in Slack."""
    service = Service(store, Policy(channel_for=lambda _: "C1", webhooks=False))
    user = await service.bot.create_user("Ann", None, None)
    conv = await service.bot.start_hitl(
        user, title=None, description=None, history=[], session=None
    )
    (parent,) = await store.write(lambda tx: tx.take_due("slack", time.time(), 1, time.time() + 60))
    await service.deliveries.posted([f"parent:{conv}"], conv, "C1", "0.000000", parent=True)
    await store.write(lambda tx: tx.remove_delivered(parent.id))
    return conv, user


class BatchTimes:
    """The store's observer: the batches' time on its thread, once `on`."""

    def __init__(self) -> None:
        self.on = False
        self.cpu = self.wall = 0.0
        self.sizes: list[int] = []

    def transaction(self, body: Callable[..., Any], writes: bool, seconds: float) -> None:
        pass

    def batch(self, batch: Batch) -> None:
        if self.on:
            self.cpu += batch.cpu
            self.wall += batch.seconds
            self.sizes.append(batch.size)


async def message_work(path: Path, n: int, share: int) -> tuple[float, float]:
    """CPU and wall seconds per message on the store's thread, the stores of `share`
    messages in one commit and their deliveries in another (1: each its own)."""
    times = BatchTimes()
    store = await SqliteStore.open(path, observer=times)
    try:
        conv, user = await _handoff(store)
        messages = [_message(conv, user, i) for i in range(n)]
        times.on = True
        for k in range(0, n, share):
            group = messages[k : k + share]
            for bodies in ([send for send, _ in group], [deliver for _, deliver in group]):
                await asyncio.gather(*(store.write(body) for body in bodies))
    finally:
        await store.close()
    groups = [min(share, n - k) for k in range(0, n, share)]
    if times.sizes != [size for size in groups for _ in ("stores", "deliveries")]:
        raise RuntimeError("a group's transactions did not go over in one batch")
    return times.cpu / n, times.wall / n


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.sqlite_hop", description=__doc__)
    parser.add_argument("--statements", type=int, default=5000)
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--share", type=int, default=6, help="messages to a commit")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "hop.db"
        _setup(path, 1000)
        n = args.statements
        rows = [
            ("sqlite3, one thread", plain(path, n)),
            ("aiosqlite, 1 task", asyncio.run(hopping(path, n, 1))),
            ("aiosqlite, 32 tasks + lock", asyncio.run(hopping(path, n, 32))),
            ("Store.write, 1 task", asyncio.run(store_writes(Path(tmp) / "s1.db", n, 1))),
            ("Store.write, 32 tasks", asyncio.run(store_writes(Path(tmp) / "s32.db", n, 32))),
        ]
    print(f"one transaction (BEGIN IMMEDIATE; a primary-key SELECT; COMMIT), {n} times:")
    for name, seconds in rows:
        print(f"  {name:28s} {seconds * 1e6:8.1f} us  -> {1 / seconds:8.0f} per second")
    print(f"\none Slack-bound message's store work, {args.messages} messages, on its thread alone:")
    for share in (1, args.share):
        with tempfile.TemporaryDirectory() as tmp:
            cpu, wall = asyncio.run(message_work(Path(tmp) / "m.db", args.messages, share))
        commits = f"{2 / share:.2f} commits per message"
        print(f"  {commits:26s} CPU {cpu * 1e6:6.0f} us, wall {wall * 1e6:6.0f} us")


if __name__ == "__main__":
    main()
