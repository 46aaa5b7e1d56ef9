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
  transaction as one function on aiosqlite's thread, from 1 task and from 32 (whose
  transactions share commits).
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import tempfile
import time
from functools import partial
from pathlib import Path

import aiosqlite

from bridge.model import Role, User, utcnow
from bridge.store import Store, Tx

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
    store = await Store.open(path)

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


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.sqlite_hop", description=__doc__)
    parser.add_argument("--statements", type=int, default=5000)
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


if __name__ == "__main__":
    main()
