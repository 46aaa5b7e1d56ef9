"""The store: migrations, the uniqueness that keeps mappings single, pruning, outbox order."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from bridge.model import Role, User, utcnow
from bridge.store import OutboxRow, Tx
from bridge.store.migrations import MIGRATIONS
from bridge.store.sqlite import SqliteStore
from bridge.testing.waiting import wait_until


async def take(store: SqliteStore) -> list[OutboxRow]:
    """Up to 10 due Slack rows, leased for a minute."""
    return await store.write(lambda tx: tx.take_due("slack", time.time(), 10, time.time() + 60))


async def release(store: SqliteStore) -> int:
    return await store.write(lambda tx: tx.release_leases("slack", time.time(), ""))


async def test_migrations_are_applied_once_and_recorded(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "b.db")
    await store.close()
    store = await SqliteStore.open(tmp_path / "b.db")  # again: nothing to do, nothing broken
    await store.close()
    with sqlite3.connect(tmp_path / "b.db") as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_a_queue_left_by_the_first_schema_drains_after_the_upgrade(tmp_path: Path) -> None:
    """Version 1 kept outbox heads in Python; version 2 has triggers do it. A backlog left
    behind by the first goes out in order under the second."""
    with sqlite3.connect(tmp_path / "b.db") as db:
        db.executescript(f"{MIGRATIONS[0]}\nPRAGMA user_version = 1;")
        for n in range(3):
            db.execute(
                "INSERT INTO outbox (target, conversation_id, kind, payload, next_at, created_at)"
                " VALUES ('slack', 'a', 'message', ?, 0, 0)",
                (f'{{"n": {n}}}',),
            )
        db.execute("INSERT INTO outbox_heads VALUES ('slack', 'a', 1, 0)")  # as version 1 did
    store = await SqliteStore.open(tmp_path / "b.db")

    async def deliver(row_id: int) -> None:
        await store.write(lambda tx: tx.remove_delivered(row_id))

    try:
        sent = []
        while rows := await take(store):
            (row,) = rows  # one conversation: one head at a time
            sent.append(row.payload["n"])
            await deliver(row.id)
        assert sent == [0, 1, 2]
    finally:
        await store.close()


async def test_a_newer_database_is_refused(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "b.db") as db:
        db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    with pytest.raises(RuntimeError, match="newer"):
        await SqliteStore.open(tmp_path / "b.db")


async def test_mappings_cannot_double(store: SqliteStore) -> None:
    await store.write(
        lambda tx: tx.insert_user(User("u1", Role.AGENT, "A", None, None, "U1"), utcnow())
    )
    with pytest.raises(sqlite3.IntegrityError):  # a second bridge user for one Slack user
        await store.write(
            lambda tx: tx.insert_user(User("u2", Role.AGENT, "A", None, None, "U1"), utcnow())
        )
    with pytest.raises(sqlite3.IntegrityError):  # an agent without a Slack id
        await store.write(
            lambda tx: tx.insert_user(User("u3", Role.AGENT, "A", None, None, None), utcnow())
        )
    now = utcnow()
    seen = await store.write(lambda tx: (tx.first_seen("Ev1", now), tx.first_seen("Ev1", now)))
    assert seen == (True, False)


async def test_a_failed_transaction_leaves_nothing_behind(store: SqliteStore) -> None:
    def half_done(tx: Tx) -> None:
        tx.insert_user(User("u1", Role.END_USER, "A", None, None), utcnow())
        raise ValueError("changed my mind")

    with pytest.raises(ValueError, match="changed my mind"):
        await store.write(half_done)
    assert await store.read(lambda tx: tx.user("u1")) is None
    await store.write(
        lambda tx: tx.insert_user(User("u1", Role.END_USER, "A", None, None), utcnow())
    )
    assert await store.read(lambda tx: tx.user("u1")) is not None


async def test_transactions_sharing_a_commit_stay_apart(store: SqliteStore) -> None:
    """Writes (and reads) asked for at once go over together (one commit); one that fails
    undoes only what it did itself (the others run again, each in a savepoint)."""
    runs: Counter[str] = Counter()

    def add(user_id: str, fail: bool = False) -> Callable[[Tx], str]:
        def body(tx: Tx) -> str:
            runs[user_id] += 1
            tx.insert_user(User(user_id, Role.END_USER, "A", None, None), utcnow())
            if fail:
                raise ValueError(f"not {user_id}")
            return user_id

        return body

    results = await asyncio.gather(
        store.write(add("u1")),
        store.write(add("u2", fail=True)),
        store.write(add("u1")),  # a duplicate: IntegrityError, for itself alone
        store.read(lambda tx: tx.user("u1")),  # reads ride along, in order
        store.read(lambda tx: tx.user("u2")),
        store.write(add("u3")),
        return_exceptions=True,
    )
    assert results[0] == "u1" and results[5] == "u3"
    assert isinstance(results[1], ValueError) and isinstance(results[2], sqlite3.IntegrityError)
    assert isinstance(results[3], User) and results[4] is None
    found = await store.read(lambda tx: [tx.user(u) is not None for u in ("u1", "u2", "u3")])
    assert found == [True, False, True]
    assert runs["u3"] == 2  # its batch was run again

    runs.clear()
    await asyncio.gather(store.write(add("u4")), store.write(add("u5")))
    assert runs == {"u4": 1, "u5": 1}  # nothing failed: each ran once


async def test_prune_forgets_only_what_is_old(store: SqliteStore, tmp_path: Path) -> None:
    at = utcnow()

    def seed(tx: Tx) -> None:
        tx.first_seen("EvOld", at)
        tx.first_seen("EvNew", at)
        tx.remember_key("POST /v1/users", "old", "f", "usr_1", at)
        tx.remember_key("POST /v1/users", "new", "f", "usr_2", at)
        tx.append_event("evt_old", "conv_1", '{"id": "evt_old"}', at)
        tx.append_event("evt_new", "conv_1", '{"id": "evt_new"}', at)

    await store.write(seed)
    now = time.time()
    with sqlite3.connect(tmp_path / "b.db") as db:
        db.execute("UPDATE slack_events SET received_at = ? WHERE event_id = 'EvOld'",
                   (now - 2 * 86400,))  # fmt: skip
        db.execute("UPDATE idempotency SET created_at = ? WHERE key = 'old'", (now - 90000,))
        db.execute("UPDATE events SET created_at = ? WHERE id = 'evt_old'",
                   (now - 8 * 86400,))  # fmt: skip
    await store.write(lambda tx: tx.prune(utcnow()))
    assert await store.write(lambda tx: tx.first_seen("EvOld", at)) is True  # forgotten: new again
    assert await store.write(lambda tx: tx.first_seen("EvNew", at)) is False
    assert await store.read(lambda tx: tx.recall_key("POST /v1/users", "old")) is None
    assert await store.read(lambda tx: tx.recall_key("POST /v1/users", "new")) is not None
    events = await store.read(lambda tx: tx.events_after(0, 10))
    assert [e.body["id"] for e in events] == ["evt_new"]
    assert await store.read(lambda tx: tx.last_event_seq()) == 2  # cursors survive pruning


def three_each(tx: Tx) -> None:
    """Three rows for each of two conversations."""
    for conv in ("a", "b"):
        for n in range(3):
            tx.enqueue("slack", conv, "message", json.dumps({"n": n}), utcnow())


async def test_only_the_head_of_each_conversation_is_due(store: SqliteStore) -> None:

    def seen(rows: list[OutboxRow]) -> list[tuple[str, int, int]]:
        """(conversation, n, attempts made before) of each row."""
        return [(r.conversation_id, r.payload["n"], r.attempts) for r in rows]

    await store.write(three_each)
    assert seen(await take(store)) == [("a", 0, 0), ("b", 0, 0)]
    assert await take(store) == []  # taken: leased, so not due again
    assert await release(store) == 2  # as a new run does at start
    a, b = await take(store)
    assert (a.attempts, b.attempts) == (1, 1)  # taking a row counts an attempt
    # A head held back holds its conversation's line, and the take did not count.
    await store.write(lambda tx: tx.defer(a, time.time() + 60))
    assert await release(store) == 1  # b's; a is not leased, but put off
    assert seen(await take(store)) == [("b", 0, 2)]
    await store.write(lambda tx: tx.remove_delivered(b.id))
    assert seen(await take(store)) == [("b", 1, 0)]
    await store.write(lambda tx: tx.defer(a, time.time()))
    assert seen(await take(store)) == [("a", 0, 1)]


async def test_rows_for_a_channel_with_no_room_are_left_where_they_are(
    store: SqliteStore,
) -> None:
    def queue(tx: Tx) -> None:
        for conv, channel in (("a", "C0FULL"), ("b", "C0ROOM"), ("c", None)):
            payload = {"channel": channel} if channel else {"other": 1}
            tx.enqueue("slack", conv, "message", json.dumps(payload), utcnow())

    await store.write(queue)
    now, lease = time.time() + 1, time.time() + 60
    rows = await store.write(lambda tx: tx.take_due("slack", now, 10, lease, ["C0FULL"]))
    assert sorted(r.conversation_id for r in rows) == ["b", "c"]  # no channel: never full
    # Left: the leased rows, due when their lease runs out, and a's, due now but not taken.
    assert await store.read(lambda tx: tx.next_due_at("slack", ["C0FULL"])) == lease
    assert await store.read(lambda tx: tx.next_due_at("slack")) < now  # type: ignore[operator]
    (left,) = await store.write(lambda tx: tx.take_due("slack", now, 10, lease))
    assert (left.conversation_id, left.attempts) == ("a", 0)  # left untouched before


@pytest.mark.parametrize(("asked", "pragma"), [("normal", 1), ("full", 2)])
def test_durability_is_as_asked(tmp_path: Path, asked: str, pragma: int) -> None:
    """`synchronous` is SQLite's: NORMAL survives a killed process, FULL a power cut too."""
    from bridge.store.sqlite import _connect

    db = _connect(str(tmp_path / "d.db"), asked)
    try:
        assert db.execute("PRAGMA synchronous").fetchone()[0] == pragma
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        db.close()


async def test_an_unknown_durability_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="normal or full"):
        await SqliteStore.open(tmp_path / "d.db", synchronous="off")


async def test_the_wal_is_copied_into_the_database_in_the_background(tmp_path: Path) -> None:
    """Commits do not checkpoint (below the backstop): the checkpointer's thread does, soon."""
    path = tmp_path / "c.db"
    store = await SqliteStore.open(path)
    try:
        before = path.stat().st_size

        def fill(tx: Tx) -> None:
            for n in range(200):
                tx.enqueue(
                    "slack", f"conv{n}", "message", json.dumps({"text": "x" * 500}), utcnow()
                )

        await store.write(fill)
        await wait_until(lambda: path.stat().st_size > before, timeout=5)
    finally:
        await store.close()
    assert "bridge-checkpoint" not in {t.name for t in threading.enumerate()}  # closed too
