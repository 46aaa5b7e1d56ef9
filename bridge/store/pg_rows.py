"""The row functions on PostgreSQL: SQLite's (`sqlite_rows.SqliteTx`), with the statements
that differ between the two dialects written again.

Most of the SQL is the same in both. What is not: placeholders (`?` becomes `%s`, named
`:name` becomes `%(name)s`), `INSERT OR IGNORE` (`ON CONFLICT DO NOTHING`), SQLite's
`julianday` (epoch arithmetic on the ISO text), `json_extract` (`::jsonb ->>`) and the
sequence a pruned `events` table still remembers.
"""

from __future__ import annotations

import functools
import os
import re
import sqlite3
from collections.abc import Collection
from datetime import datetime
from typing import Any, cast

import psycopg

from bridge.model import Conversation, iso
from bridge.store import StoredMessage, View
from bridge.store import sqlite_rows as base
from bridge.store.sqlite_rows import SqliteTx

_PLACEHOLDER = re.compile(r"\?")
_NAMED = re.compile(r":([a-z_]+)\b")


@functools.lru_cache(maxsize=4096)
def dialect(sql: str) -> str:
    """SQLite's statement in PostgreSQL's dialect, as far as placeholders go."""
    return _PLACEHOLDER.sub("%s", sql.replace("%", "%%"))


class Row(tuple[Any, ...]):
    """A row read by position (as the row functions mostly do) or by column name."""

    names: dict[str, int]

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return super().__getitem__(self.names[key])
        return super().__getitem__(key)


def row_factory(cursor: Any) -> Any:
    """psycopg's hook: rows as `Row`s, named by the cursor's columns."""
    names = {column.name: i for i, column in enumerate(cursor.description or [])}
    kind = type("Row", (Row,), {"names": names})
    return lambda values: kind(values)


# Seconds between two ISO timestamps kept as text (SQLite: `julianday` difference * 86400).
def _seconds(later: str, earlier: str) -> str:
    return f"extract(epoch from ({later})::timestamptz - ({earlier})::timestamptz)"


class PgTx(SqliteTx):
    """`SqliteTx` on a psycopg connection (`row_factory` set to `row_factory`)."""

    # Several instances share the database: see `SqliteTx`. A second decider waits, and
    # then reads what the first decided; a timer or a taker skips the rows another holds,
    # and finds them settled once it commits (PostgreSQL checks a locked row again).
    _FOR_UPDATE = " FOR UPDATE"
    _SKIP_LOCKED = " FOR UPDATE SKIP LOCKED"
    _TAKE_LOCK = " FOR UPDATE OF o SKIP LOCKED"
    _GREATEST = "GREATEST"

    # Announced on the channel every instance listens on (`postgres.PgStore.follow`).
    CHANNEL = "hitl_bridge"

    def __init__(self, db: psycopg.Connection[Any]) -> None:
        super().__init__(cast(sqlite3.Connection, db))  # the same calls, another driver

    def _one(self, sql: str, *args: Any) -> Any:
        return self._db.execute(dialect(sql), args).fetchone()

    def _all(self, sql: str, *args: Any) -> list[Any]:
        return self._db.execute(dialect(sql), args).fetchall()

    def _run(self, sql: str, *args: Any) -> int:
        return int(self._db.execute(dialect(sql), args).rowcount)

    def _run_many(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        cursor: Any = self._db.cursor()  # psycopg's, whatever `SqliteTx` says
        with cursor:
            cursor.executemany(dialect(sql), rows)

    def _room(self, full: Collection[str]) -> str:
        """`SqliteTx._room` in PostgreSQL's JSON operators."""
        if not full:
            return ""
        marks = ",".join("?" * len(full))
        return f"AND coalesce((o.payload::jsonb ->> 'channel') NOT IN ({marks}), true)"

    def view(self, conversation_id: str, message_id: str | None = None) -> View | None:
        sql = _NAMED.sub(r"%(\1)s", base._VIEW.replace("%", "%%"))
        row = self._db.execute(sql, {"conversation": conversation_id, "message": message_id})
        found = row.fetchone()
        return None if found is None else base._view(found)

    def due_reminders(
        self, now: datetime, every: float, limit: int, most: int
    ) -> list[Conversation]:
        rows = self._all(
            f"{base._CONVERSATIONS} WHERE status = 'waiting' AND reminders < ?"
            f" AND {_seconds('?', 'waiting_since')} >= (reminders + 1) * ?"
            f" ORDER BY waiting_since LIMIT ?{self._SKIP_LOCKED}",
            most,
            iso(now),
            every,
            limit,
        )
        return [base._conversation(r) for r in rows]

    def day_figures(self, since: datetime) -> tuple[int, list[float], list[float]]:
        rows = self._all(
            f"SELECT {_seconds('first_reply_at', 'created_at')} AS first,"
            " CASE WHEN stop_reason = 'resolved'"
            f" THEN {_seconds('stopped_at', 'created_at')} END AS done"
            " FROM conversations WHERE created_at >= ?",
            iso(since),
        )
        firsts = [float(r["first"]) for r in rows if r["first"] is not None]
        return len(rows), firsts, [float(r["done"]) for r in rows if r["done"] is not None]

    def latest_messages(self, conversation_id: str, limit: int) -> list[StoredMessage]:
        # No rowid: the time, then the id (which starts with the time in milliseconds).
        rows = self._all(
            f"SELECT * FROM (SELECT {base._columns(base._MESSAGE)}, created_at FROM messages"
            " WHERE conversation_id = ?"
            " ORDER BY created_at DESC, id DESC LIMIT ?) AS m ORDER BY created_at, id",
            conversation_id,
            limit,
        )
        return [base._stored(r) for r in rows]

    def first_seen(self, event_id: str, at: datetime) -> bool:
        return (
            self._run(
                "INSERT INTO slack_events (event_id, received_at) VALUES (?, ?)"
                " ON CONFLICT DO NOTHING",
                event_id,
                at.timestamp(),
            )
            == 1
        )

    def secret(self, name: str) -> bytes:
        self._run(
            "INSERT INTO secrets (name, value) VALUES (?, ?) ON CONFLICT DO NOTHING",
            name,
            os.urandom(32),
        )
        row = self._one("SELECT value FROM secrets WHERE name = ?", name)
        assert row is not None
        return bytes(row["value"])

    def last_event_seq(self) -> int:
        # The identity's sequence remembers the highest seq ever issued, even after pruning.
        row = self._one("SELECT pg_sequence_last_value(pg_get_serial_sequence('events', 'seq'))")
        return int(row[0]) if row and row[0] is not None else 0

    def announce(self, words: Collection[str]) -> None:
        """NOTIFY, delivered when this commits (PostgreSQL folds repeats in one
        transaction)."""
        if words:
            self._run("SELECT pg_notify(?, ?)", self.CHANNEL, " ".join(sorted(words)))

    def release_leases(self, target: str, now: float, holder: str) -> int:
        """Only `holder`'s: other instances may hold leases on this database. An instance
        started again at the same address lets go of what its predecessor held at once;
        a lease whose holder is gone for good runs out instead (`outbox.LEASE`), and
        another instance takes the row."""
        return self._run(
            "UPDATE outbox SET next_at = ?, leased = 0 WHERE target = ? AND leased = 1"
            " AND leased_by = ?",
            now,
            target,
            holder,
        )

    def probe(self) -> None:
        self._run(
            "INSERT INTO secrets (name, value) VALUES ('probe', '')"
            " ON CONFLICT (name) DO UPDATE SET value = excluded.value"
        )
        self._run("DELETE FROM secrets WHERE name = 'probe'")
