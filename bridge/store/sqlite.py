"""SQLite storage through aiosqlite: transactions as functions run on its thread, committed
in groups."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sqlite3
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar, cast

import aiosqlite

from bridge.model import (
    AgentProfile,
    Content,
    Conversation,
    HistoryItem,
    Origin,
    Priority,
    Role,
    Status,
    StopReason,
    User,
    content_from_json,
    iso,
)
from bridge.store.migrations import MIGRATIONS
from bridge.store.writable import Unavailable, Writable

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class OutboxRow:
    id: int
    target: str
    conversation_id: str
    kind: str
    payload: dict[str, Any]
    attempts: int
    maybe_sent: bool
    created_at: float


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """An outbox row given up on."""

    target: str
    kind: str
    payload: dict[str, Any]
    attempts: int
    error: str
    created_at: float


@dataclass(frozen=True, slots=True)
class StoredMessage:
    id: str
    conversation_id: str
    author_id: str | None
    content: Content


@dataclass(frozen=True, slots=True)
class View:
    """A conversation as the Slack sender renders it."""

    conv: Conversation
    user: User | None
    assignee: User | None
    message: StoredMessage | None = None
    message_ts: str | None = None  # the message's ts in Slack, once it is there


@dataclass(frozen=True, slots=True)
class Event:
    seq: int
    body: dict[str, Any]


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _conversation(row: sqlite3.Row, p: str = "") -> Conversation:
    """A conversation from its columns (named `p` + column, for a joined row)."""
    return Conversation(
        id=row[p + "id"],
        user_id=row[p + "user_id"],
        status=Status(row[p + "status"]),
        channel=row[p + "channel"],
        thread_ts=row[p + "thread_ts"],
        permalink=row[p + "permalink"],
        title=row[p + "title"],
        description=row[p + "description"],
        agent_id=row[p + "agent_id"],
        changed_by=row[p + "changed_by"],
        stop_reason=StopReason(row[p + "stop_reason"]) if row[p + "stop_reason"] else None,
        created_at=datetime.fromisoformat(row[p + "created_at"]),
        waiting_since=_dt(row[p + "waiting_since"]),
        stopped_at=_dt(row[p + "stopped_at"]),
        origin=Origin(row[p + "origin"]),
        priority=Priority(row[p + "priority"]) if row[p + "priority"] else None,
    )


def _user(row: sqlite3.Row, p: str = "") -> User:
    return User(
        id=row[p + "id"],
        role=Role(row[p + "role"]),
        name=row[p + "name"],
        picture_url=row[p + "picture_url"],
        email=row[p + "email"],
        slack_user_id=row[p + "slack_user_id"],
    )


def _stored(row: sqlite3.Row, p: str = "") -> StoredMessage:
    return StoredMessage(
        row[p + "id"],
        row[p + "conversation_id"],
        row[p + "author_id"],
        content_from_json(json.loads(row[p + "content"])),
    )


def _outbox_row(row: sqlite3.Row) -> OutboxRow:
    return OutboxRow(
        id=row["id"],
        target=row["target"],
        conversation_id=row["conversation_id"],
        kind=row["kind"],
        payload=json.loads(row["payload"]),
        attempts=row["attempts"],
        maybe_sent=bool(row["maybe_sent"]),
        created_at=row["created_at"],
    )


def _as(alias: str, columns: str) -> str:
    """`alias.column AS alias_column, ...`: a joined table's columns, told apart."""
    return ", ".join(f"{alias}.{c} AS {alias}_{c}" for c in columns.split())


_USER = "id role name picture_url email slack_user_id"

# A conversation with its end user, its assignee, and one of its messages with its ts in
# Slack: what the Slack sender reads for every post, in one statement.
_VIEW = (
    f"SELECT c.*, {_as('u', _USER)}, {_as('a', _USER)},"
    f" {_as('m', 'id conversation_id author_id content')}, s.ts AS s_ts"
    " FROM conversations c"
    " LEFT JOIN users u ON u.id = c.user_id"
    " LEFT JOIN users a ON a.id = c.agent_id"
    " LEFT JOIN messages m ON m.id = :message"
    " LEFT JOIN slack_messages s ON s.key = :message"
    " WHERE c.id = :conversation"
)


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class Tx:
    """The row functions, for a function run by `Store.write` or `Store.read`."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def _one(self, sql: str, *args: Any) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self._db.execute(sql, args).fetchone()
        return row

    def _all(self, sql: str, *args: Any) -> list[sqlite3.Row]:
        return self._db.execute(sql, args).fetchall()

    def _run(self, sql: str, *args: Any) -> int:
        """Run a write; how many rows it changed."""
        return self._db.execute(sql, args).rowcount

    # users

    def insert_user(self, user: User, created_at: datetime) -> None:
        self._run(
            "INSERT INTO users (id, role, name, picture_url, email, slack_user_id, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            user.id,
            user.role.value,
            user.name,
            user.picture_url,
            user.email,
            user.slack_user_id,
            iso(created_at),
        )

    def user(self, user_id: str) -> User | None:
        row = self._one("SELECT * FROM users WHERE id = ?", user_id)
        return _user(row) if row else None

    def agent(self, slack_user_id: str) -> User | None:
        row = self._one("SELECT * FROM users WHERE slack_user_id = ?", slack_user_id)
        return _user(row) if row else None

    def update_agent(self, user_id: str, profile: AgentProfile) -> None:
        self._run(
            "UPDATE users SET name = ?, picture_url = ?, email = ? WHERE id = ?",
            profile.name,
            profile.picture_url,
            profile.email,
            user_id,
        )

    # conversations

    def insert_conversation(
        self, conv: Conversation, history: Sequence[HistoryItem], session: Any
    ) -> None:
        self._run(
            "INSERT INTO conversations (id, user_id, origin, priority, status, channel,"
            " thread_ts, title, description, history, session, created_at, waiting_since)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            conv.id,
            conv.user_id,
            conv.origin.value,
            conv.priority.value if conv.priority else None,
            conv.status.value,
            conv.channel,
            conv.thread_ts,
            conv.title,
            conv.description,
            _json([{"source": h.source, **h.content.model_dump()} for h in history]),
            _json(session) if session is not None else None,
            iso(conv.created_at),
            iso(conv.waiting_since) if conv.waiting_since else None,
        )

    def conversation(self, conversation_id: str) -> Conversation | None:
        row = self._one("SELECT * FROM conversations WHERE id = ?", conversation_id)
        return _conversation(row) if row else None

    def view(self, conversation_id: str, message_id: str | None = None) -> View | None:
        row = self._db.execute(
            _VIEW, {"conversation": conversation_id, "message": message_id}
        ).fetchone()
        if row is None:
            return None
        return View(
            _conversation(row),
            _user(row, "u_") if row["u_id"] else None,
            _user(row, "a_") if row["a_id"] else None,
            _stored(row, "m_") if row["m_id"] else None,
            row["s_ts"],
        )

    def conversation_by_thread(self, channel: str, thread_ts: str) -> Conversation | None:
        row = self._one(
            "SELECT * FROM conversations WHERE channel = ? AND thread_ts = ?", channel, thread_ts
        )
        return _conversation(row) if row else None

    def history(self, conversation_id: str) -> list[HistoryItem]:
        row = self._one("SELECT history FROM conversations WHERE id = ?", conversation_id)
        items = json.loads(row["history"]) if row else []
        return [HistoryItem(item.pop("source"), content_from_json(item)) for item in items]

    def update_conversation(self, conv: Conversation) -> None:
        """Write the mutable part of a conversation (status and who/when)."""
        self._run(
            "UPDATE conversations SET user_id = ?, status = ?, agent_id = ?, changed_by = ?,"
            " stop_reason = ?, waiting_since = ?, stopped_at = ?, channel = ?, thread_ts = ?,"
            " permalink = ? WHERE id = ?",
            conv.user_id,
            conv.status.value,
            conv.agent_id,
            conv.changed_by,
            conv.stop_reason.value if conv.stop_reason else None,
            iso(conv.waiting_since) if conv.waiting_since else None,
            iso(conv.stopped_at) if conv.stopped_at else None,
            conv.channel,
            conv.thread_ts,
            conv.permalink,
            conv.id,
        )

    def waiting_since_before(self, moment: datetime, limit: int) -> list[Conversation]:
        rows = self._all(
            "SELECT * FROM conversations WHERE status = 'waiting' AND waiting_since <= ?"
            " ORDER BY waiting_since LIMIT ?",
            iso(moment),
            limit,
        )
        return [_conversation(r) for r in rows]

    def due_reminders(
        self, now: datetime, every: float, limit: int, most: int
    ) -> list[Conversation]:
        """Waiting conversations owed their next reminder (one each `every` seconds of
        waiting, `most` at most)."""
        rows = self._all(
            "SELECT * FROM conversations WHERE status = 'waiting' AND reminders < ?"
            " AND (julianday(?) - julianday(waiting_since)) * 86400 >= (reminders + 1) * ?"
            " ORDER BY waiting_since LIMIT ?",
            most,
            iso(now),
            every,
            limit,
        )
        return [_conversation(r) for r in rows]

    def reminded(self, conversation_id: str, reset: bool = False) -> None:
        """Count a reminder sent, or start counting again (the conversation waits anew)."""
        self._run(
            "UPDATE conversations SET reminders = CASE WHEN ? THEN 0 ELSE reminders + 1 END"
            " WHERE id = ?",
            reset,
            conversation_id,
        )

    def idle_assigned(self, before: datetime, limit: int) -> list[Conversation]:
        """Assigned conversations whose agent has said nothing since `before`, not nudged."""
        rows = self._all(
            "SELECT * FROM conversations WHERE status = 'assigned' AND nudged = 0"
            " AND last_agent_at <= ? ORDER BY last_agent_at LIMIT ?",
            iso(before),
            limit,
        )
        return [_conversation(r) for r in rows]

    def agent_active(self, conversation_id: str, at: datetime | None) -> None:
        """Restart the idle clock (an agent claimed or replied), or mark it nudged (None)."""
        if at is None:
            self._run("UPDATE conversations SET nudged = 1 WHERE id = ?", conversation_id)
        else:
            self._run(
                "UPDATE conversations SET last_agent_at = ?, nudged = 0 WHERE id = ?",
                iso(at),
                conversation_id,
            )

    def open_conversations(
        self, status: Status, limit: int, agent_id: str | None = None
    ) -> list[Conversation]:
        """Conversations in `status` (those of one agent, if given), oldest first."""
        rows = self._all(
            "SELECT * FROM conversations WHERE status = ? AND (? IS NULL OR agent_id = ?)"
            " ORDER BY COALESCE(waiting_since, created_at) LIMIT ?",
            status.value,
            agent_id,
            agent_id,
            limit,
        )
        return [_conversation(r) for r in rows]

    def day_figures(self, since: datetime) -> tuple[int, list[float], list[float]]:
        """Handoffs opened since `since`; seconds to their first reply; seconds to resolve."""
        rows = self._all(
            "SELECT (julianday(first_reply_at) - julianday(created_at)) * 86400 AS first,"
            " CASE WHEN stop_reason = 'resolved'"
            " THEN (julianday(stopped_at) - julianday(created_at)) * 86400 END AS done"
            " FROM conversations WHERE created_at >= ?",
            iso(since),
        )
        firsts = [r["first"] for r in rows if r["first"] is not None]
        return len(rows), firsts, [r["done"] for r in rows if r["done"] is not None]

    def first_reply(self, conversation_id: str, at: datetime) -> bool:
        """Note the first agent reply; False when there was one already."""
        changed = self._run(
            "UPDATE conversations SET first_reply_at = ? WHERE id = ? AND first_reply_at IS NULL",
            iso(at),
            conversation_id,
        )
        return changed == 1

    def conversation_counts(self) -> dict[str, int]:
        rows = self._all("SELECT status, COUNT(*) AS n FROM conversations GROUP BY status")
        return {r["status"]: r["n"] for r in rows}

    # messages and their Slack twins

    def insert_message(
        self,
        message_id: str,
        conversation_id: str,
        author_id: str | None,
        content: Content,
        created_at: datetime,
    ) -> None:
        self._run(
            "INSERT INTO messages (id, conversation_id, author_id, content, created_at)"
            " VALUES (?, ?, ?, ?, ?)",
            message_id,
            conversation_id,
            author_id,
            _json(content.model_dump()),
            iso(created_at),
        )

    def message(self, message_id: str) -> StoredMessage | None:
        row = self._one("SELECT * FROM messages WHERE id = ?", message_id)
        return _stored(row) if row else None

    def messages(self, conversation_id: str, limit: int) -> list[StoredMessage]:
        """The latest `limit` messages of a conversation, oldest first."""
        rows = self._all(
            "SELECT * FROM (SELECT rowid AS n, * FROM messages WHERE conversation_id = ?"
            " ORDER BY rowid DESC LIMIT ?) ORDER BY n",
            conversation_id,
            limit,
        )
        return [_stored(r) for r in rows]

    def slack_ts(self, key: str) -> str | None:
        row = self._one("SELECT ts FROM slack_messages WHERE key = ?", key)
        return str(row["ts"]) if row else None

    def slack_key(self, channel: str, ts: str) -> str | None:
        row = self._one("SELECT key FROM slack_messages WHERE channel = ? AND ts = ?", channel, ts)
        return str(row["key"]) if row else None

    def record_slack(
        self, key: str, conversation_id: str, channel: str, ts: str, part: int = 0
    ) -> None:
        self._run(
            "INSERT INTO slack_messages (key, conversation_id, channel, ts, part)"
            " VALUES (?, ?, ?, ?, ?)",
            key,
            conversation_id,
            channel,
            ts,
            part,
        )

    def first_seen(self, event_id: str) -> bool:
        """Record a Slack `event_id`; False when it was seen before (a retry)."""
        changed = self._run(
            "INSERT OR IGNORE INTO slack_events (event_id, received_at) VALUES (?, ?)",
            event_id,
            time.time(),
        )
        return changed == 1

    # idempotency keys

    def recall(self, scope: str, key: str) -> tuple[str, Any] | None:
        row = self._one(
            "SELECT fingerprint, result FROM idempotency WHERE scope = ? AND key = ?", scope, key
        )
        return (row["fingerprint"], json.loads(row["result"])) if row else None

    def remember(self, scope: str, key: str, fingerprint: str, result: Any) -> None:
        self._run(
            "INSERT INTO idempotency (scope, key, fingerprint, result, created_at)"
            " VALUES (?, ?, ?, ?, ?)",
            scope,
            key,
            fingerprint,
            _json(result),
            time.time(),
        )

    def secret(self, name: str) -> bytes:
        """A random key kept in the database, made the first time it is asked for."""
        self._run("INSERT OR IGNORE INTO secrets (name, value) VALUES (?, ?)", name, os.urandom(32))
        row = self._one("SELECT value FROM secrets WHERE name = ?", name)
        assert row is not None
        return bytes(row["value"])

    # events for the bot

    def append_event(self, event_id: str, conversation_id: str, body: dict[str, Any]) -> None:
        self._run(
            "INSERT INTO events (id, conversation_id, body, created_at) VALUES (?, ?, ?, ?)",
            event_id,
            conversation_id,
            _json(body),
            time.time(),
        )

    def events_after(self, seq: int, limit: int) -> list[Event]:
        rows = self._all(
            "SELECT seq, body FROM events WHERE seq > ? ORDER BY seq LIMIT ?", seq, limit
        )
        return [Event(r["seq"], json.loads(r["body"])) for r in rows]

    def last_event_seq(self) -> int:
        # sqlite_sequence remembers the highest seq ever issued, even after pruning.
        row = self._one("SELECT seq FROM sqlite_sequence WHERE name = 'events'")
        return int(row["seq"]) if row else 0

    # outbox

    def enqueue(
        self, target: str, conversation_id: str, kind: str, payload: dict[str, Any]
    ) -> None:
        """Queue a row; the first of an idle conversation becomes its head (a trigger)."""
        now = time.time()
        self._run(
            "INSERT INTO outbox (target, conversation_id, kind, payload, next_at, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            target,
            conversation_id,
            kind,
            _json(payload),
            now,
            now,
        )

    def take_due(self, target: str, now: float, limit: int, busy: Sequence[str]) -> list[OutboxRow]:
        """The head of each conversation, when due, soonest first, each counted as an
        attempt (and as maybe sent, until told otherwise) as it is taken.

        Only a conversation's head may go out: that is what keeps each conversation in order.
        `busy` conversations already have their head in flight. The rows come back as they
        were before this attempt.
        """
        marks = ",".join("?" * len(busy))
        rows = self._all(
            "SELECT o.* FROM outbox_heads h JOIN outbox o ON o.id = h.row_id"
            f" WHERE h.target = ? AND h.next_at <= ? AND h.conversation_id NOT IN ({marks})"
            " ORDER BY h.next_at LIMIT ?",
            target,
            now,
            *busy,
            limit,
        )
        self._db.executemany(
            "UPDATE outbox SET attempts = attempts + 1, maybe_sent = 1 WHERE id = ?",
            [(r["id"],) for r in rows],
        )
        return [_outbox_row(r) for r in rows]

    def outbox_stats(self) -> dict[tuple[str, str], tuple[int, float]]:
        """(target, state) -> (rows, oldest created_at), for those present."""
        rows = self._all(
            "SELECT target, state, COUNT(*) AS n, MIN(created_at) AS oldest FROM outbox"
            " GROUP BY target, state"
        )
        return {(r["target"], r["state"]): (r["n"], r["oldest"]) for r in rows}

    def queued_after(self, row: OutboxRow, limit: int) -> list[OutboxRow]:
        """The rows queued behind `row` in its conversation, oldest first."""
        rows = self._all(
            "SELECT * FROM outbox WHERE target = ? AND conversation_id = ? AND state = 'pending'"
            " AND id > ? ORDER BY id LIMIT ?",
            row.target,
            row.conversation_id,
            row.id,
            limit,
        )
        return [_outbox_row(r) for r in rows]

    def next_due_at(self, target: str, busy: Sequence[str]) -> float | None:
        """When the next head of a conversation not in `busy` falls due."""
        marks = ",".join("?" * len(busy))
        row = self._one(
            "SELECT MIN(next_at) AS t FROM outbox_heads"
            f" WHERE target = ? AND conversation_id NOT IN ({marks})",
            target,
            *busy,
        )
        return float(row["t"]) if row and row["t"] is not None else None

    def defer(self, row: OutboxRow, at: float) -> None:
        """Put `row` back until `at`, as if it had not been taken (no attempt made); its
        head waits as long (a trigger)."""
        self._run(
            "UPDATE outbox SET next_at = ?, attempts = ?, maybe_sent = ? WHERE id = ?",
            at,
            row.attempts,
            int(row.maybe_sent),
            row.id,
        )

    def retry_at(self, row_id: int, at: float, error: str, maybe_sent: bool) -> None:
        self._run(
            "UPDATE outbox SET next_at = ?, last_error = ?, maybe_sent = ? WHERE id = ?",
            at,
            error,
            int(maybe_sent),
            row_id,
        )

    def delivered(self, row_id: int) -> None:
        """The row is done with; the next of its conversation takes over (a trigger)."""
        self._run("DELETE FROM outbox WHERE id = ?", row_id)

    def failed(self, row_id: int, error: str) -> None:
        """The row is given up on and kept as a dead letter; the next takes over."""
        self._run("UPDATE outbox SET state = 'failed', last_error = ? WHERE id = ?", error, row_id)

    def dead_letters(self, conversation_id: str) -> list[DeadLetter]:
        rows = self._all(
            "SELECT * FROM outbox WHERE conversation_id = ? AND state = 'failed' ORDER BY id",
            conversation_id,
        )
        return [
            DeadLetter(
                r["target"],
                r["kind"],
                json.loads(r["payload"]),
                r["attempts"],
                r["last_error"] or "",
                r["created_at"],
            )
            for r in rows
        ]

    def probe(self) -> None:
        """Write a row and take it back: nothing changes, but the commit writes as any
        other would, so it fails while the database cannot take writes."""
        self._run("INSERT OR REPLACE INTO secrets (name, value) VALUES ('probe', x'')")
        self._run("DELETE FROM secrets WHERE name = 'probe'")

    def prune(self, now: float) -> None:
        """Forget what the contract lets go: event ids after a day, keys after 24 h, events
        after 7 days."""
        self._run("DELETE FROM slack_events WHERE received_at < ?", now - 86400)
        self._run("DELETE FROM idempotency WHERE created_at < ?", now - 86400)
        self._run("DELETE FROM events WHERE created_at < ?", now - 7 * 86400)


class Store:
    """The database: one SQLite connection in WAL mode, reached through aiosqlite.

    A transaction is a plain function of a `Tx`, run whole on aiosqlite's thread for the
    connection, so it costs one hand-off to that thread however many statements it runs
    (the hand-offs, not SQLite, were what statements cost; see bench/RESULTS.md). Whatever
    is asked for while the thread is busy goes over together in the next hand-off, writes
    in one transaction with one commit (group commit). One connection and one thread for
    reads and writes alike: a second one cost more in thread wake-ups than it saved.
    """

    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db
        self._writable = Writable()
        self._lane = _Lane(db, self._writable)

    @classmethod
    async def open(cls, path: Path | str) -> Store:
        db = await _connect(path)
        try:
            await _migrate(db)
        except BaseException:
            await db.close()
            raise
        return cls(db)

    async def close(self) -> None:
        await self._db.close()

    async def write(self, body: Callable[[Tx], T]) -> T:
        """Run `body` as a transaction: committed when this returns; an exception undoes
        all it did and is raised here. `body` runs on another thread, so it must not touch
        the event loop. It may share its commit with others, and when one of those fails it
        runs again: so it must change nothing but the database."""
        return await self._lane.run(body, writes=True)

    async def read(self, body: Callable[[Tx], T]) -> T:
        """Run `body`, which only reads, on the same thread; it sees what is committed, and
        its statements may run inside others' transaction (reads that must agree with each
        other across a commit belong in one `write`)."""
        return await self._lane.run(body, writes=False)

    @property
    def cannot_write(self) -> str | None:
        """Why the database takes no writes, as the latest writes showed; None if it does.
        `write` and `read` raise `Unavailable` meanwhile, for what they cannot do."""
        return self._writable.reason

    async def takes_writes(self) -> bool:
        """Whether the database takes writes. While it did not, a small write (a probe)
        finds out whether it does again, so that recovery shows with no other traffic."""
        if not self._writable.ok:
            with suppress(Unavailable):
                await self.write(lambda tx: tx.probe())
        return self._writable.ok

    async def constrain_for_tests(self, *, full: bool = False, read_only: bool = False) -> None:
        """Tests only: make this connection's writes fail as on a full disk (no page more
        than the file has now: a write that needs one fails with SQLITE_FULL, one that fits
        still succeeds) or a read-only mount (each fails with SQLITE_READONLY). With
        neither, writes work again."""
        rows = await self._db.execute_fetchall("PRAGMA page_count")
        pages = int(next(iter(rows))[0]) if full else 0xFFFFFFFE  # SQLite's largest
        await self._db.execute(f"PRAGMA max_page_count = {pages}")
        await self._db.execute(f"PRAGMA query_only = {int(read_only)}")


# The most functions one hand-off takes: it bounds how long the first of them waits.
BATCH_MAX = 64


@dataclass(slots=True)
class _Asked:
    body: Callable[[Tx], Any]
    future: asyncio.Future[Any]
    writes: bool


class _Lane:
    """The functions waiting for the connection's thread. While a batch runs there, the
    next ones queue up, and go over together in one hand-off when it is done."""

    def __init__(self, conn: aiosqlite.Connection, writable: Writable) -> None:
        self._conn = conn
        self._writable = writable
        self._queue: list[_Asked] = []
        self._task: asyncio.Task[None] | None = None

    async def run(self, body: Callable[[Tx], T], *, writes: bool) -> T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.append(_Asked(body, future, writes))
        if self._task is None:
            self._task = loop.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        # aiosqlite's methods are each one statement on its thread; the primitive they are
        # built on, which runs any function there, it keeps private.
        execute = cast(Callable[..., Awaitable[_Result]], self._conn._execute)
        batch: list[_Asked] = []
        try:
            while self._queue:
                batch, self._queue = self._queue[:BATCH_MAX], self._queue[BATCH_MAX:]
                bodies = [asked.body for asked in batch]
                writes = any(asked.writes for asked in batch)
                try:
                    outcomes, wrote = await execute(_run_batch, bodies, writes, self._conn._conn)
                except Exception as exc:  # the batch as a whole failed: none of it happened
                    outcomes, wrote = [(False, exc)] * len(batch), False
                if wrote:
                    self._writable.wrote()
                for asked, (ok, value) in zip(batch, map(self._checked, outcomes), strict=True):
                    if asked.future.done():
                        continue  # its caller stopped waiting
                    if ok:
                        asked.future.set_result(value)
                    else:
                        asked.future.set_exception(value)
        except asyncio.CancelledError:  # the loop is going away
            for asked in batch + self._queue:
                asked.future.cancel()
            self._queue = []
            raise
        finally:
            self._task = None

    def _checked(self, outcome: _Outcome) -> _Outcome:
        """The outcome, with a failure for want of a writable database as `Unavailable`
        (and noted: the flag goes down)."""
        ok, value = outcome
        reason = None if ok else _cannot_write(value)
        if reason is None:
            return outcome
        self._writable.failed(reason)
        unavailable = Unavailable(f"the database cannot take writes: {reason}")
        unavailable.__cause__ = value
        return False, unavailable


_Outcome = tuple[bool, Any]  # (True, what the function returned) or (False, what it raised)
_Result = tuple[list[_Outcome], bool]  # the outcomes, and whether the batch wrote whole

# SQLite's primary result codes (and their words, for an error raised without a code) that
# say the database cannot take a write: the disk is full, the file or its directory is
# read-only, the disk fails, or the file cannot be opened.
_CANNOT_WRITE_CODES = frozenset(
    {sqlite3.SQLITE_FULL, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN}
)
_CANNOT_WRITE_WORDS = (
    "database or disk is full",
    "readonly database",
    "disk I/O error",
    "unable to open database file",
)


def _cannot_write(exc: BaseException) -> str | None:
    """Why `exc` says the database cannot take a write, if it does (SQLite's words)."""
    if not isinstance(exc, sqlite3.Error):
        return None
    code = getattr(exc, "sqlite_errorcode", None)  # absent from errors not SQLite's own
    words = str(exc)
    if isinstance(code, int) and (code & 0xFF) in _CANNOT_WRITE_CODES:
        return f"{words} ({exc.sqlite_errorname})"
    return words if any(w in words for w in _CANNOT_WRITE_WORDS) else None


def _run_batch(bodies: list[Callable[[Tx], Any]], writes: bool, db: sqlite3.Connection) -> _Result:
    """On the connection's thread: run `bodies` in one transaction (taking the write lock
    only if one of them writes). If one of a batch that writes fails, the batch is undone
    and run again with each body in a savepoint, so that the failure undoes only what it did
    itself. Savepoints are not free (each is a statement, and every statement lets go of the
    GIL), so only a batch that needs them pays for them. Says too whether the batch wrote
    whole: committed, every body done, a row changed (what shows the database takes writes)."""
    before = db.total_changes
    outcomes = _run_all(bodies, writes, db, savepoints=False)
    if writes and len(bodies) > 1 and not all(ok for ok, _ in outcomes):
        outcomes = _run_all(bodies, writes, db, savepoints=True)
    whole = all(ok for ok, _ in outcomes)
    return outcomes, writes and whole and db.total_changes > before


def _run_all(
    bodies: list[Callable[[Tx], Any]], writes: bool, db: sqlite3.Connection, savepoints: bool
) -> list[_Outcome]:
    """One pass over `bodies` in one transaction. Without savepoints, a pass that writes
    and fails is undone whole (it ran only as a try)."""
    tx = Tx(db)
    with _transaction(db, writes):
        outcomes = [_step(body, tx, db, savepoints) for body in bodies]
        if writes and not savepoints and not all(ok for ok, _ in outcomes):
            db.execute("ROLLBACK")  # the failure's half-done writes, and with them the others'
    return outcomes


def _step(body: Callable[[Tx], Any], tx: Tx, db: sqlite3.Connection, savepoint: bool) -> _Outcome:
    """Run one body, in a savepoint of its own if asked."""
    if savepoint:
        db.execute("SAVEPOINT body")
    outcome = _call(body, tx)
    if not outcome[0] and not db.in_transaction:
        # SQLite undid the whole transaction itself (a full disk, an I/O error): what ran
        # before is gone too, and what follows must not run outside a transaction.
        raise outcome[1]
    if savepoint:
        if not outcome[0]:
            db.execute("ROLLBACK TO body")
        db.execute("RELEASE body")
    return outcome


@contextmanager
def _transaction(db: sqlite3.Connection, writes: bool) -> Iterator[None]:
    """BEGIN, then COMMIT; or ROLLBACK if what ran raised (or rolled back already), or if
    the COMMIT failed and left the transaction open (it would refuse every BEGIN after)."""
    db.execute("BEGIN IMMEDIATE" if writes else "BEGIN")
    try:
        yield
        if db.in_transaction:
            db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise


def _call(body: Callable[[Tx], Any], tx: Tx) -> _Outcome:
    try:
        return True, body(tx)
    except Exception as exc:
        return False, exc


async def _connect(path: Path | str) -> aiosqlite.Connection:
    db = await aiosqlite.connect(str(path), isolation_level=None)
    try:
        db.row_factory = sqlite3.Row
        for pragma in (
            "PRAGMA journal_mode = WAL",
            # WAL + NORMAL survives a killed process; only power loss can cost the last commits.
            "PRAGMA synchronous = NORMAL",
            "PRAGMA foreign_keys = ON",
            "PRAGMA busy_timeout = 5000",
        ):
            await db.execute(pragma)
        await _try_a_write(db)
    except BaseException:
        # A file that is no database, or a damaged one, opens and fails only here: close it,
        # or aiosqlite's thread keeps the process alive.
        await db.close()
        raise
    return db


async def _try_a_write(db: aiosqlite.Connection) -> None:
    """Write the schema version back unchanged: a read-only file reads (and even turns to
    WAL) without complaint, and would fail only at the first real write."""
    rows = await db.execute_fetchall("PRAGMA user_version")
    version = int(next(iter(rows))[0])
    await db.execute(f"PRAGMA user_version = {version}")


async def _migrate(db: aiosqlite.Connection) -> None:
    rows = await db.execute_fetchall("PRAGMA user_version")
    version = int(next(iter(rows))[0])
    if version > len(MIGRATIONS):
        raise RuntimeError(
            f"the database is at schema version {version}, newer than this bridge knows "
            f"({len(MIGRATIONS)}): upgrade the bridge"
        )
    for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
        # executescript commits on its own, so the version bump rides in the script.
        await db.executescript(
            f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;"
        )
        log.info("applied migration %d", number)
