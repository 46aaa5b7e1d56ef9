"""The store: migrations, the uniqueness that keeps mappings single, pruning, outbox order."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from bridge.model import Role, User, utcnow
from bridge.store import Store
from bridge.store.migrations import MIGRATIONS


async def test_migrations_are_applied_once_and_recorded(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "b.db")
    await store.close()
    store = await Store.open(tmp_path / "b.db")  # again: nothing to do, nothing broken
    await store.close()
    with sqlite3.connect(tmp_path / "b.db") as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_a_newer_database_is_refused(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "b.db") as db:
        db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    with pytest.raises(RuntimeError, match="newer"):
        await Store.open(tmp_path / "b.db")


async def test_mappings_cannot_double(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "b.db")
    try:
        async with store.transaction() as tx:
            await tx.insert_user(User("u1", Role.AGENT, "A", None, None, "U1"), utcnow())
        with pytest.raises(sqlite3.IntegrityError):
            async with store.transaction() as tx:  # a second bridge user for one Slack user
                await tx.insert_user(User("u2", Role.AGENT, "A", None, None, "U1"), utcnow())
        with pytest.raises(sqlite3.IntegrityError):
            async with store.transaction() as tx:  # an agent without a Slack id
                await tx.insert_user(User("u3", Role.AGENT, "A", None, None, None), utcnow())
        async with store.transaction() as tx:
            assert await tx.first_seen("Ev1") is True
            assert await tx.first_seen("Ev1") is False
    finally:
        await store.close()


async def test_prune_forgets_only_what_is_old(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "b.db")
    try:
        async with store.transaction() as tx:
            await tx.first_seen("EvOld")
            await tx.first_seen("EvNew")
            await tx.remember("POST /v1/users", "old", "f", "usr_1")
            await tx.remember("POST /v1/users", "new", "f", "usr_2")
            await tx.append_event("evt_old", "conv_1", {"id": "evt_old"})
            await tx.append_event("evt_new", "conv_1", {"id": "evt_new"})
        now = time.time()
        with sqlite3.connect(tmp_path / "b.db") as db:
            db.execute("UPDATE slack_events SET received_at = ? WHERE event_id = 'EvOld'",
                       (now - 2 * 86400,))  # fmt: skip
            db.execute("UPDATE idempotency SET created_at = ? WHERE key = 'old'", (now - 90000,))
            db.execute("UPDATE events SET created_at = ? WHERE id = 'evt_old'",
                       (now - 8 * 86400,))  # fmt: skip
        async with store.transaction() as tx:
            await tx.prune(now)
            assert await tx.first_seen("EvOld") is True  # forgotten, so new again
            assert await tx.first_seen("EvNew") is False
            assert await tx.recall("POST /v1/users", "old") is None
            assert await tx.recall("POST /v1/users", "new") is not None
            assert [e.body["id"] for e in await tx.events_after(0, 10)] == ["evt_new"]
            assert await tx.last_event_seq() == 2  # cursors stay valid after pruning
    finally:
        await store.close()


async def test_only_the_head_of_each_conversation_is_due(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "b.db")
    try:
        async with store.transaction() as tx:
            for conv in ("a", "b"):
                for n in range(3):
                    await tx.enqueue("slack", conv, "message", {"n": n})
            heads = await tx.due("slack", time.time(), 10, [])
            assert [(r.conversation_id, r.payload["n"]) for r in heads] == [("a", 0), ("b", 0)]
            assert [r.conversation_id for r in await tx.due("slack", time.time(), 10, ["a"])] == [
                "b"
            ]
            await tx.defer(heads[0].id, time.time() + 60)  # a head held back holds its line
            later = await tx.due("slack", time.time(), 10, [])
            assert [(r.conversation_id, r.payload["n"]) for r in later] == [("b", 0)]
            await tx.delivered(heads[1].id)
            assert [r.payload["n"] for r in await tx.due("slack", time.time(), 10, ["a"])] == [1]
    finally:
        await store.close()
