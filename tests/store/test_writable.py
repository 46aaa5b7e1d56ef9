"""The store when the database cannot take writes: one exception, whole transactions undone,
a flag that goes down and up once per outage, and a connection that never wedges."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable

import pytest

from bridge.model import Role, User, content_from_json, utcnow
from bridge.store import Tx, Unavailable
from bridge.store import writable as writable_module
from bridge.store.sqlite import SqliteStore

BIG = "N" * 30_000  # more than the free room in the file's pages


def add(user_id: str, name: str = "A") -> Callable[[Tx], str]:
    def body(tx: Tx) -> str:
        tx.insert_user(User(user_id, Role.END_USER, name, None, None), utcnow())
        return user_id

    return body


async def users(store: SqliteStore, *ids: str) -> list[bool]:
    return await store.read(lambda tx: [tx.user(u) is not None for u in ids])


def lines(caplog: pytest.LogCaptureFixture, words: str) -> int:
    return sum(words in r.getMessage() for r in caplog.records)


async def test_a_full_disk_refuses_the_whole_commit_as_unavailable(
    store: SqliteStore, caplog: pytest.LogCaptureFixture
) -> None:
    """SQLite undoes the whole transaction on a full disk: the writes sharing its commit are
    refused too, and none runs on outside a transaction (committed, yet refused)."""
    caplog.set_level(logging.INFO)
    await store.constrain_for_tests(full=True)
    results = await asyncio.gather(
        store.write(add("u1")),
        store.write(add("u2", BIG)),
        store.write(add("u3")),
        return_exceptions=True,
    )
    assert all(isinstance(r, Unavailable) for r in results), results
    assert isinstance(results[1].__cause__, sqlite3.OperationalError)
    assert await users(store, "u1", "u2", "u3") == [False, False, False]
    assert store.cannot_write == "database or disk is full (SQLITE_FULL)"
    assert lines(caplog, "database cannot take writes: database or disk is full") == 1

    await store.constrain_for_tests()
    await asyncio.gather(*(store.write(add(u)) for u in ("u1", "u2", "u3")))
    assert await users(store, "u1", "u2", "u3") == [True, True, True]


async def test_the_flag_goes_down_and_up_once_per_outage(
    store: SqliteStore, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.INFO)
    assert await store.takes_writes()
    await store.constrain_for_tests(full=True)
    with pytest.raises(Unavailable):
        await store.write(add("big", BIG))
    await store.write(add("small"))  # it still fits: the outage is not over for that
    assert not await store.takes_writes()
    with pytest.raises(Unavailable):
        await store.write(add("big", BIG))

    await store.constrain_for_tests(read_only=True)
    monkeypatch.setattr(writable_module, "SETTLE", 0.0)
    assert not await store.takes_writes()  # its probe is refused
    assert await store.read(lambda tx: tx.user("small")) is not None  # reads go on
    assert lines(caplog, "database cannot take writes") == 1

    await store.constrain_for_tests()
    assert await store.takes_writes()  # its probe went through
    assert store.cannot_write is None
    assert lines(caplog, "database cannot take writes") == 1
    assert lines(caplog, "database takes writes again") == 1
    assert [r for r in caplog.records if r.exc_info] == []


async def test_a_failed_commit_leaves_the_connection_usable(store: SqliteStore) -> None:
    """A COMMIT that fails may leave its transaction open; it is rolled back, or no BEGIN
    would ever succeed again."""

    def orphan(tx: Tx) -> None:
        tx._db.execute("PRAGMA defer_foreign_keys = ON")  # the check waits for COMMIT
        hi = content_from_json({"type": "text", "payload": {"text": "hi"}})
        tx.insert_message("m1", "no-such-conversation", None, hi, utcnow())

    with pytest.raises(sqlite3.IntegrityError):
        await store.write(orphan)
    assert await store.write(add("u1")) == "u1"
    assert await store.read(lambda tx: tx.message("m1")) is None
    assert store.cannot_write is None  # a refused write is not an outage
