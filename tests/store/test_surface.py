"""The store's public surface: the observer it reports to, the times it keeps (the caller's,
never its own), and the thread it owns."""

from __future__ import annotations

import asyncio
import gc
import sqlite3
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bridge import store as store_module
from bridge.model import Role, User, utcnow
from bridge.service import Policy, Service
from bridge.store import Batch, Tx
from bridge.store.sqlite import SqliteStore

LONG_AGO = datetime(2001, 2, 3, 4, 5, 6, tzinfo=UTC)


class Seen:
    """An observer that keeps what it is told."""

    def __init__(self, broken: bool = False) -> None:
        self.broken = broken
        self.transactions: list[tuple[Callable[..., Any], bool, float]] = []
        self.batches: list[Batch] = []

    def transaction(self, body: Callable[..., Any], writes: bool, seconds: float) -> None:
        self.transactions.append((body, writes, seconds))
        if self.broken:
            raise RuntimeError("the observer broke")

    def batch(self, batch: Batch) -> None:
        self.batches.append(batch)
        if self.broken:
            raise RuntimeError("the observer broke")


def add(user_id: str) -> Callable[[Tx], str]:
    def body(tx: Tx) -> str:
        tx.insert_user(User(user_id, Role.END_USER, "A", None, None), utcnow())
        return user_id

    return body


def store_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "bridge-sqlite"]


async def test_the_observer_hears_of_each_transaction_and_batch(tmp_path: Path) -> None:
    seen = Seen()
    store = await SqliteStore.open(tmp_path / "b.db", observer=seen)

    def reading(tx: Tx) -> User | None:
        return tx.user("u1")

    try:
        await asyncio.gather(store.write(add("u1")), store.write(add("u2")), store.read(reading))
        await store.read(reading)
    finally:
        await store.close()
    told = [(writes, body is reading) for body, writes, _ in seen.transactions]
    assert told == [(True, False), (True, False), (False, True), (False, True)]
    assert all(seconds >= 0 for _, _, seconds in seen.transactions)
    # Asked for together: one batch, one commit; then a read alone, no commit.
    assert [(b.size, b.writes) for b in seen.batches] == [(3, True), (1, False)]
    assert all(b.seconds >= 0 and b.cpu >= 0 for b in seen.batches)


async def test_an_observer_that_breaks_changes_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = await SqliteStore.open(tmp_path / "b.db", observer=Seen(broken=True))
    try:
        assert await store.write(add("u1")) == "u1"
        assert await store.read(lambda tx: tx.user("u1")) is not None
    finally:
        await store.close()
    assert "the store's observer failed" in caplog.text


async def test_observe_reaches_stores_opened_after(tmp_path: Path) -> None:
    seen = Seen()
    store_module.observe(seen)
    try:
        store = await SqliteStore.open(tmp_path / "b.db")
    finally:
        store_module.observe(None)
    try:
        await store.write(add("u1"))
    finally:
        await store.close()
    assert len(seen.transactions) == 1 and len(seen.batches) == 1
    untold = await SqliteStore.open(tmp_path / "b.db")
    await untold.write(add("u2"))
    await untold.close()
    assert len(seen.transactions) == 1


async def test_the_times_kept_are_the_callers(store: SqliteStore, tmp_path: Path) -> None:
    """Seconds since the epoch in the REAL columns, as before: from the time given."""

    def keep(tx: Tx) -> None:
        tx.first_seen("Ev1", LONG_AGO)
        tx.remember_key("POST /v1/users", "k", "f", "usr_1", LONG_AGO)
        tx.append_event("evt_1", "conv_1", '{"id": "evt_1"}', LONG_AGO)
        tx.enqueue("slack", "conv_1", "message", '{"n": 0}', LONG_AGO)

    await store.write(keep)
    with sqlite3.connect(tmp_path / "b.db") as db:
        stamps = db.execute(
            "SELECT (SELECT received_at FROM slack_events), (SELECT created_at FROM idempotency),"
            " (SELECT created_at FROM events), (SELECT next_at FROM outbox),"
            " (SELECT created_at FROM outbox)"
        ).fetchone()
    assert stamps == (LONG_AGO.timestamp(),) * 5


async def test_the_service_stamps_with_its_own_clock(store: SqliteStore, tmp_path: Path) -> None:
    policy = Policy(channel_for=lambda _: "C1", webhooks=True)
    service = Service(store, policy, clock=lambda: LONG_AGO)
    user = await service.bot.create_user("Ann", None, None)
    await service.bot.start_hitl(user, title=None, description=None, history=[], session=None)
    await service.timers.prune()  # by that clock, nothing is old yet
    with sqlite3.connect(tmp_path / "b.db") as db:
        outbox = db.execute("SELECT DISTINCT created_at FROM outbox").fetchall()
        users = db.execute("SELECT created_at FROM users").fetchall()
    assert outbox == [(LONG_AGO.timestamp(),)]
    assert users == [("2001-02-03T04:05:06Z",)]


async def test_the_thread_ends_with_the_store(tmp_path: Path) -> None:
    before = len(store_threads())
    store = await SqliteStore.open(tmp_path / "b.db")
    assert len(store_threads()) == before + 1
    await store.close()
    assert len(store_threads()) == before
    with pytest.raises(ValueError, match="closed"):
        await store.write(add("u1"))


async def test_a_store_dropped_unclosed_lets_its_thread_go(tmp_path: Path) -> None:
    before = len(store_threads())
    store = await SqliteStore.open(tmp_path / "b.db")
    await store.write(add("u1"))
    del store
    gc.collect()
    for _ in range(100):
        if len(store_threads()) == before:
            break
        await asyncio.sleep(0.01)
    assert len(store_threads()) == before
