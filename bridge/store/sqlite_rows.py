"""SQLite's row functions: `SqliteTx`, the `Tx` of a transaction run on the database's thread.

Times in TEXT columns (users, conversations, messages) are ISO 8601 in UTC, whole seconds;
those in REAL columns (slack_events, idempotency, events, outbox) are seconds since the
epoch: as they always were, so that existing databases read the same.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Collection, Sequence
from datetime import UTC, datetime
from typing import Any

from bridge.model import (
    AgentProfile,
    Approval,
    ApprovalStatus,
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
from bridge.store import DeadLetter, Event, OutboxRow, StoredMessage, Tx, View


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


# Each row class's columns, in the order of its fields: the functions below read a row by
# position (by name, sqlite3.Row searches its columns for each one), and a query asks for
# these alone (not a conversation's history, say, which can be long).
_CONVERSATION = [
    "id",
    "user_id",
    "status",
    "channel",
    "thread_ts",
    "permalink",
    "title",
    "description",
    "agent_id",
    "changed_by",
    "stop_reason",
    "created_at",
    "waiting_since",
    "stopped_at",
    "origin",
    "priority",
]
_USER = ["id", "role", "name", "picture_url", "email", "slack_user_id"]
_MESSAGE = ["id", "conversation_id", "author_id", "content"]
_OUTBOX = [
    "id",
    "target",
    "conversation_id",
    "kind",
    "payload",
    "attempts",
    "maybe_sent",
    "created_at",
    "booked",
]


def _columns(columns: Sequence[str], alias: str = "") -> str:
    """`a, b, c`, or `x.a, x.b, x.c` for a joined table's alias."""
    return ", ".join(f"{alias}.{c}" if alias else c for c in columns)


def _conversation(row: Sequence[Any], at: int = 0) -> Conversation:
    """A conversation from its `_CONVERSATION` columns, from position `at` on."""
    (
        id_,
        user_id,
        status,
        channel,
        thread_ts,
        permalink,
        title,
        description,
        agent_id,
        changed_by,
        stop_reason,
        created_at,
        waiting_since,
        stopped_at,
        origin,
        priority,
    ) = row[at : at + len(_CONVERSATION)]
    return Conversation(
        id_,
        user_id,
        Status(status),
        channel,
        thread_ts,
        permalink,
        title,
        description,
        agent_id,
        changed_by,
        StopReason(stop_reason) if stop_reason else None,
        datetime.fromisoformat(created_at),
        _dt(waiting_since),
        _dt(stopped_at),
        Origin(origin),
        Priority(priority) if priority else None,
    )


_APPROVAL = [
    "id",
    "status",
    "draft",
    "message",
    "comment",
    "decider_id",
    "conversation_id",
    "user_id",
    "title",
    "context",
    "channel",
    "thread_ts",
    "ts",
    "permalink",
    "created_at",
    "expires_at",
    "decided_at",
]


def _approval(row: Sequence[Any]) -> Approval:
    id_, status, draft, message, comment, decider_id, conversation_id, user_id = row[:8]
    title, context, channel, thread_ts, ts, permalink, created_at, expires_at, decided_at = row[8:]
    return Approval(
        id_,
        ApprovalStatus(status),
        content_from_json(json.loads(draft)),
        content_from_json(json.loads(message)) if message else None,
        comment,
        decider_id,
        conversation_id,
        user_id,
        title,
        context,
        channel,
        thread_ts,
        ts,
        permalink,
        datetime.fromisoformat(created_at),
        datetime.fromtimestamp(expires_at, UTC),
        _dt(decided_at),
    )


def _view(row: Sequence[Any]) -> View:
    """A conversation's view from the columns `_VIEW` reads."""
    return View(
        _conversation(row),
        _user(row, _AT_USER) if row[_AT_USER] else None,
        _user(row, _AT_ASSIGNEE) if row[_AT_ASSIGNEE] else None,
        _stored(row, _AT_MESSAGE) if row[_AT_MESSAGE] else None,
        row[_AT_TS],
    )


def _user(row: Sequence[Any], at: int = 0) -> User:
    id_, role, name, picture_url, email, slack_user_id = row[at : at + len(_USER)]
    return User(id_, Role(role), name, picture_url, email, slack_user_id)


def _stored(row: Sequence[Any], at: int = 0) -> StoredMessage:
    id_, conversation_id, author_id, content = row[at : at + len(_MESSAGE)]
    return StoredMessage(id_, conversation_id, author_id, content_from_json(json.loads(content)))


def _outbox_row(row: Sequence[Any]) -> OutboxRow:
    id_, target, conversation_id, kind, payload, attempts, maybe_sent, created_at, booked = row
    return OutboxRow(
        id_,
        target,
        conversation_id,
        kind,
        json.loads(payload),
        payload,
        attempts,
        bool(maybe_sent),
        created_at,
        booked=bool(booked),
    )


_CONVERSATIONS = f"SELECT {_columns(_CONVERSATION)} FROM conversations"
_APPROVALS = f"SELECT {_columns(_APPROVAL)} FROM approvals"
_USERS = f"SELECT {_columns(_USER)} FROM users"
_MESSAGES = f"SELECT {_columns(_MESSAGE)} FROM messages"
_HEADS = f"SELECT {_columns(_OUTBOX, 'o')} FROM outbox_heads h JOIN outbox o ON o.id = h.row_id"

# A conversation with its end user, its assignee, and one of its messages with its ts in
# Slack: what the Slack sender reads for every post, in one statement.
_VIEW = (
    f"SELECT {_columns(_CONVERSATION, 'c')}, {_columns(_USER, 'u')}, {_columns(_USER, 'a')},"
    f" {_columns(_MESSAGE, 'm')}, s.ts"
    " FROM conversations c"
    " LEFT JOIN users u ON u.id = c.user_id"
    " LEFT JOIN users a ON a.id = c.agent_id"
    " LEFT JOIN messages m ON m.id = :message"
    " LEFT JOIN slack_messages s ON s.key = :message"
    " WHERE c.id = :conversation"
)
# Taking a row counts an attempt, it may have reached the party until told otherwise, and it
# is leased: not due (its head neither, by a trigger) until it is settled.
_TAKE = (
    "UPDATE outbox SET attempts = attempts + 1, maybe_sent = 1, leased = 1, next_at = ?,"
    " leased_by = ? WHERE id = ?"
)
# A row may be taken unless the channel its payload names has no room (`take_due`).
_ROOM = "AND coalesce(json_extract(o.payload, '$.channel') NOT IN ({}), 1)"


def _marks(values: Collection[Any]) -> str:
    """`?, ?, ?`: one parameter for each value."""
    return ",".join("?" * len(values))


_AT_USER = len(_CONVERSATION)
_AT_ASSIGNEE = _AT_USER + len(_USER)
_AT_MESSAGE = _AT_ASSIGNEE + len(_USER)
_AT_TS = _AT_MESSAGE + len(_MESSAGE)


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _of_agent(agent_id: str | None) -> tuple[str, tuple[str, ...]]:
    """The condition (and its argument) that keeps one agent's conversations; none for
    everyone's. (PostgreSQL cannot type a parameter tested only with `? IS NULL`.)"""
    return (" AND agent_id = ?", (agent_id,)) if agent_id is not None else ("", ())


class SqliteTx(Tx):
    """The row functions on one connection, for the functions of one batch; in sections by
    table, as the protocols in `bridge.store` are."""

    # What a transaction on a database several instances share adds to what it reads
    # (`pg_rows.PgTx`): SQLite's one writer at a time needs none of it.
    _FOR_UPDATE = ""  # a row read to decide on: locked, so a second decider waits
    _SKIP_LOCKED = ""  # rows a timer works through: another instance's are skipped
    _TAKE_LOCK = ""  # outbox rows taken (read with their heads): the same
    _GREATEST = "MAX"  # the largest of its arguments (SQLite's scalar MAX)

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

    def _run_many(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        self._db.executemany(sql, rows)

    def _locked(self, lock: bool) -> str:
        return self._FOR_UPDATE if lock else ""

    def _room(self, full: Collection[str]) -> str:
        """The condition `take_due` puts on a row: the channel its payload names has room
        (none when every channel has: no payload is read then)."""
        return _ROOM.format(_marks(full)) if full else ""

    # users

    def insert_user(self, user: User, at: datetime) -> None:
        self._run(
            "INSERT INTO users (id, role, name, picture_url, email, slack_user_id, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            user.id,
            user.role.value,
            user.name,
            user.picture_url,
            user.email,
            user.slack_user_id,
            iso(at),
        )

    def user(self, user_id: str) -> User | None:
        row = self._one(f"{_USERS} WHERE id = ?", user_id)
        return _user(row) if row else None

    def agent_by_slack_id(self, slack_user_id: str) -> User | None:
        row = self._one(f"{_USERS} WHERE slack_user_id = ?", slack_user_id)
        return _user(row) if row else None

    def update_agent_profile(self, user_id: str, profile: AgentProfile) -> None:
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

    def conversation(self, conversation_id: str, *, lock: bool = True) -> Conversation | None:
        row = self._one(f"{_CONVERSATIONS} WHERE id = ?{self._locked(lock)}", conversation_id)
        return _conversation(row) if row else None

    def view(self, conversation_id: str, message_id: str | None = None) -> View | None:
        row = self._db.execute(
            _VIEW, {"conversation": conversation_id, "message": message_id}
        ).fetchone()
        return None if row is None else _view(row)

    def conversation_by_thread(self, channel: str, thread_ts: str) -> Conversation | None:
        row = self._one(
            f"{_CONVERSATIONS} WHERE channel = ? AND thread_ts = ?{self._FOR_UPDATE}",
            channel,
            thread_ts,
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

    def waiting_since_before(self, cutoff: datetime, limit: int) -> list[Conversation]:
        rows = self._all(
            f"{_CONVERSATIONS} WHERE status = 'waiting' AND waiting_since <= ?"
            f" ORDER BY waiting_since LIMIT ?{self._SKIP_LOCKED}",
            iso(cutoff),
            limit,
        )
        return [_conversation(r) for r in rows]

    def due_reminders(
        self, now: datetime, every: float, limit: int, most: int
    ) -> list[Conversation]:
        """Waiting conversations owed their next reminder (one each `every` seconds of
        waiting, `most` at most)."""
        rows = self._all(
            f"{_CONVERSATIONS} WHERE status = 'waiting' AND reminders < ?"
            " AND (julianday(?) - julianday(waiting_since)) * 86400 >= (reminders + 1) * ?"
            " ORDER BY waiting_since LIMIT ?",
            most,
            iso(now),
            every,
            limit,
        )
        return [_conversation(r) for r in rows]

    def count_reminder(self, conversation_id: str) -> None:
        self._run(
            "UPDATE conversations SET reminders = reminders + 1 WHERE id = ?", conversation_id
        )

    def reset_reminders(self, conversation_id: str) -> None:
        self._run("UPDATE conversations SET reminders = 0 WHERE id = ?", conversation_id)

    def idle_assigned(self, before: datetime, limit: int) -> list[Conversation]:
        """Assigned conversations whose agent has said nothing since `before`, not nudged."""
        rows = self._all(
            f"{_CONVERSATIONS} WHERE status = 'assigned' AND nudged = 0"
            f" AND last_agent_at <= ? ORDER BY last_agent_at LIMIT ?{self._SKIP_LOCKED}",
            iso(before),
            limit,
        )
        return [_conversation(r) for r in rows]

    def restart_idle_clock(self, conversation_id: str, at: datetime) -> None:
        self._run(
            "UPDATE conversations SET last_agent_at = ?, nudged = 0 WHERE id = ?",
            iso(at),
            conversation_id,
        )

    def agent_replied(self, conversation_id: str, at: datetime) -> bool:
        # One statement for every reply but a conversation's first.
        first = self._one(
            "UPDATE conversations SET last_agent_at = ?, nudged = 0 WHERE id = ?"
            " RETURNING first_reply_at IS NULL",
            iso(at),
            conversation_id,
        )
        if first is None or not first[0]:
            return False
        self._run(
            "UPDATE conversations SET first_reply_at = ? WHERE id = ?", iso(at), conversation_id
        )
        return True

    def mark_nudged(self, conversation_id: str) -> None:
        self._run("UPDATE conversations SET nudged = 1 WHERE id = ?", conversation_id)

    def open_conversations(
        self, status: Status, limit: int, agent_id: str | None = None
    ) -> list[Conversation]:
        """Conversations in `status` (those of one agent, if given), oldest first."""
        mine, args = _of_agent(agent_id)
        # The times are whole seconds: within one, the ids (made in time order) say which
        # came first, where PostgreSQL would give ties in any order.
        rows = self._all(
            f"{_CONVERSATIONS} WHERE status = ?{mine}"
            " ORDER BY COALESCE(waiting_since, created_at), id LIMIT ?",
            status.value,
            *args,
            limit,
        )
        return [_conversation(r) for r in rows]

    def count_conversations(self, status: Status, agent_id: str | None = None) -> int:
        mine, args = _of_agent(agent_id)
        row = self._one(
            f"SELECT COUNT(*) AS n FROM conversations WHERE status = ?{mine}", status.value, *args
        )
        return int(row["n"]) if row else 0

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

    def conversation_counts(self) -> dict[str, int]:
        rows = self._all("SELECT status, COUNT(*) AS n FROM conversations GROUP BY status")
        return {r["status"]: r["n"] for r in rows}

    # messages, and slack_messages: where they are in Slack

    def insert_message(
        self,
        message_id: str,
        conversation_id: str,
        author_id: str | None,
        content: Content,
        at: datetime,
    ) -> None:
        self._run(
            "INSERT INTO messages (id, conversation_id, author_id, content, created_at)"
            " VALUES (?, ?, ?, ?, ?)",
            message_id,
            conversation_id,
            author_id,
            content.model_dump_json(),
            iso(at),
        )

    def message(self, message_id: str) -> StoredMessage | None:
        row = self._one(f"{_MESSAGES} WHERE id = ?", message_id)
        return _stored(row) if row else None

    def latest_messages(self, conversation_id: str, limit: int) -> list[StoredMessage]:
        rows = self._all(
            f"SELECT * FROM ({_MESSAGES} WHERE conversation_id = ?"
            " ORDER BY rowid DESC LIMIT ?) ORDER BY rowid",
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

    def record_slack_ts(
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

    # slack_events and idempotency: retries made harmless

    def first_seen(self, event_id: str, at: datetime) -> bool:
        changed = self._run(
            "INSERT OR IGNORE INTO slack_events (event_id, received_at) VALUES (?, ?)",
            event_id,
            at.timestamp(),
        )
        return changed == 1

    def recall_key(self, scope: str, key: str) -> tuple[str, Any] | None:
        row = self._one(
            "SELECT fingerprint, result FROM idempotency WHERE scope = ? AND key = ?", scope, key
        )
        return (row["fingerprint"], json.loads(row["result"])) if row else None

    def remember_key(
        self, scope: str, key: str, fingerprint: str, result: Any, at: datetime
    ) -> None:
        self._run(
            "INSERT INTO idempotency (scope, key, fingerprint, result, created_at)"
            " VALUES (?, ?, ?, ?, ?)",
            scope,
            key,
            fingerprint,
            _json(result),
            at.timestamp(),
        )

    # secrets

    def secret(self, name: str) -> bytes:
        self._run("INSERT OR IGNORE INTO secrets (name, value) VALUES (?, ?)", name, os.urandom(32))
        row = self._one("SELECT value FROM secrets WHERE name = ?", name)
        assert row is not None
        return bytes(row["value"])

    # events for the bot

    def append_event(self, event_id: str, conversation_id: str, body: str, at: datetime) -> None:
        self._run(
            "INSERT INTO events (id, conversation_id, body, created_at) VALUES (?, ?, ?, ?)",
            event_id,
            conversation_id,
            body,
            at.timestamp(),
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
        self, target: str, conversation_id: str, kind: str, payload: str, at: datetime
    ) -> None:
        """The first row of an idle conversation becomes its head (a trigger)."""
        now = at.timestamp()
        self._run(
            "INSERT INTO outbox (target, conversation_id, kind, payload, next_at, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            target,
            conversation_id,
            kind,
            payload,
            now,
            now,
        )

    def has_queued(self, target: str, conversation_id: str) -> bool:
        row = self._one(
            "SELECT 1 FROM outbox_heads WHERE target = ? AND conversation_id = ?",
            target,
            conversation_id,
        )
        return row is not None

    def take_due(
        self,
        target: str,
        now: float,
        limit: int,
        lease: float,
        full: Collection[str] = (),
        holder: str = "",
    ) -> list[OutboxRow]:
        rows = self._all(
            # The row's own next_at too: where a row taken by another is locked, it is read
            # again as it is now, but its head (joined) as it was.
            f"{_HEADS} WHERE h.target = ? AND h.next_at <= ? AND o.next_at <= ?"
            f" {self._room(full)} ORDER BY h.next_at LIMIT ?{self._TAKE_LOCK}",
            target,
            now,
            now,
            *full,
            limit,
        )
        # No holder (one instance alone): nothing written, which keeps the row as small.
        self._run_many(_TAKE, [(lease, holder or None, r[0]) for r in rows])
        return [_outbox_row(r) for r in rows]

    def take_next(
        self, target: str, conversation_id: str, now: float, lease: float, holder: str = ""
    ) -> OutboxRow | None:
        row = self._one(
            f"{_HEADS} WHERE h.target = ? AND h.conversation_id = ? AND h.next_at <= ?"
            f" AND o.next_at <= ?{self._TAKE_LOCK}",
            target,
            conversation_id,
            now,
            now,
        )
        if row is None:
            return None
        self._run(_TAKE, lease, holder or None, row[0])
        return _outbox_row(row)

    def outbox_stats(self) -> dict[tuple[str, str], tuple[int, float]]:
        rows = self._all(
            "SELECT target, state, COUNT(*) AS n, MIN(created_at) AS oldest FROM outbox"
            " GROUP BY target, state"
        )
        return {(r["target"], r["state"]): (r["n"], r["oldest"]) for r in rows}

    def queued_after(self, row: OutboxRow, limit: int) -> list[OutboxRow]:
        rows = self._all(
            f"SELECT {_columns(_OUTBOX)} FROM outbox"
            " WHERE target = ? AND conversation_id = ? AND state = 'pending'"
            " AND id > ? ORDER BY id LIMIT ?",
            row.target,
            row.conversation_id,
            row.id,
            limit,
        )
        return [_outbox_row(r) for r in rows]

    def next_due_at(self, target: str, full: Collection[str] = ()) -> float | None:
        row = self._one(
            "SELECT MIN(h.next_at) AS t FROM outbox_heads h JOIN outbox o ON o.id = h.row_id"
            f" WHERE h.target = ? {self._room(full)}",
            target,
            *full,
        )
        return float(row["t"]) if row and row["t"] is not None else None

    def renew_leases(self, row_ids: Sequence[int], until: float) -> None:
        """Their heads wait as long (a trigger)."""
        self._run(
            f"UPDATE outbox SET next_at = ? WHERE leased = 1 AND id IN ({_marks(row_ids)})",
            until,
            *row_ids,
        )

    def release_leases(self, target: str, now: float, holder: str) -> int:
        """Every leased row: one instance at a time has a SQLite database. Their heads fall
        due as well (a trigger)."""
        return self._run(
            "UPDATE outbox SET next_at = ?, leased = 0 WHERE target = ? AND leased = 1", now, target
        )

    def defer(self, row: OutboxRow, until: float, booked: bool = False) -> None:
        """Its head waits as long (a trigger)."""
        self._run(
            "UPDATE outbox SET next_at = ?, attempts = ?, maybe_sent = ?, leased = 0, booked = ?"
            " WHERE id = ?",
            until,
            row.attempts,
            int(row.maybe_sent),
            int(booked),
            row.id,
        )

    def schedule_retry(self, row_id: int, at: float, error: str, maybe_sent: bool) -> None:
        self._run(
            "UPDATE outbox SET next_at = ?, last_error = ?, maybe_sent = ?, leased = 0,"
            " booked = 0 WHERE id = ?",
            at,
            error,
            int(maybe_sent),
            row_id,
        )

    def remove_delivered(self, row_id: int) -> None:
        """The next of its conversation takes over (a trigger)."""
        self._run("DELETE FROM outbox WHERE id = ?", row_id)

    def mark_failed(self, row_id: int, error: str) -> None:
        """The next takes over (a trigger)."""
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

    # across tables

    def probe(self) -> None:
        """Write a row and take it back: nothing changes, but the commit writes as any
        other would, so it fails while the database cannot take writes."""
        self._run("INSERT OR REPLACE INTO secrets (name, value) VALUES ('probe', x'')")
        self._run("DELETE FROM secrets WHERE name = 'probe'")

    # shared among instances (none, on SQLite: see `pg_rows.PgTx`)

    def announce(self, words: Collection[str]) -> None:
        """Nothing: no other instance can share a SQLite database."""

    def pace_reserve(self, key: str, now: float, interval: float, tolerance: float) -> float:
        # The slot is the later of the schedule (less the burst) and the pause, or now.
        row = self._one(
            "INSERT INTO pacing (key, tat) VALUES (?, ?) ON CONFLICT (key) DO UPDATE"
            f" SET tat = {self._GREATEST}(pacing.tat, ?, pacing.paused_until) + ?"
            " RETURNING tat, paused_until",
            key,
            now + interval,
            now,
            interval,
        )
        assert row is not None
        return max(float(row[0]) - interval - tolerance - now, float(row[1]) - now, 0.0)

    def pace_take(self, key: str, now: float, interval: float, tolerance: float) -> float:
        booked = self._one(
            "INSERT INTO pacing (key, tat) VALUES (?, ?) ON CONFLICT (key) DO UPDATE"
            f" SET tat = {self._GREATEST}(pacing.tat, ?) + ?"
            " WHERE pacing.tat - ? <= ? AND pacing.paused_until <= ? RETURNING tat",
            key,
            now + interval,
            now,
            interval,
            tolerance,
            now,
            now,
        )
        if booked is not None:
            return 0.0
        row = self._one("SELECT tat, paused_until FROM pacing WHERE key = ?", key)
        assert row is not None
        return max(float(row[0]) - tolerance - now, float(row[1]) - now, 0.0)

    def pace_paused(self, key: str, now: float) -> float:
        row = self._one("SELECT paused_until FROM pacing WHERE key = ?", key)
        return max(float(row[0]) - now, 0.0) if row else 0.0

    def pace_pause(self, key: str, now: float, seconds: float, tolerance: float) -> None:
        # Each SET reads the row as it was: the pause is the later of both, and the budget
        # is empty when it ends.
        self._run(
            "INSERT INTO pacing (key, tat, paused_until) VALUES (?, ?, ?)"
            " ON CONFLICT (key) DO UPDATE SET"
            f" paused_until = {self._GREATEST}(pacing.paused_until, excluded.paused_until),"
            f" tat = {self._GREATEST}(pacing.tat,"
            f" {self._GREATEST}(pacing.paused_until, excluded.paused_until) + ?)",
            key,
            now + seconds + tolerance,
            now + seconds,
            tolerance,
        )

    # approvals

    def insert_approval(self, approval: Approval, remind_at: datetime | None) -> None:
        self._run(
            f"INSERT INTO approvals ({_columns(_APPROVAL)}, remind_at)"
            f" VALUES ({_marks(_APPROVAL)}, ?)",
            approval.id,
            approval.status.value,
            _json(approval.draft.model_dump()),
            None,
            None,
            None,
            approval.conversation_id,
            approval.user_id,
            approval.title,
            approval.context,
            approval.channel,
            approval.thread_ts,
            None,
            None,
            iso(approval.created_at),
            approval.expires_at.timestamp(),
            None,
            remind_at.timestamp() if remind_at else None,
        )

    def approval(self, approval_id: str, *, lock: bool = True) -> Approval | None:
        row = self._one(f"{_APPROVALS} WHERE id = ?{self._locked(lock)}", approval_id)
        return _approval(row) if row else None

    def settle_approval(self, settled: Approval) -> bool:
        changed = self._run(
            "UPDATE approvals SET status = ?, message = ?, comment = ?, decider_id = ?,"
            " decided_at = ?, remind_at = NULL WHERE id = ? AND status = 'pending'",
            settled.status.value,
            _json(settled.message.model_dump()) if settled.message else None,
            settled.comment,
            settled.decider_id,
            iso(settled.decided_at) if settled.decided_at else None,
            settled.id,
        )
        return changed == 1

    def record_approval_post(
        self, approval_id: str, ts: str, thread_ts: str | None, permalink: str | None
    ) -> None:
        self._run(
            "UPDATE approvals SET ts = ?, thread_ts = ?, permalink = ? WHERE id = ?",
            ts,
            thread_ts,
            permalink,
            approval_id,
        )

    def due_approval_reminders(self, now: datetime, limit: int) -> list[Approval]:
        rows = self._all(
            f"UPDATE approvals SET remind_at = NULL WHERE id IN (SELECT id FROM approvals"
            " WHERE remind_at <= ? AND status = 'pending' ORDER BY remind_at"
            f" LIMIT ?{self._SKIP_LOCKED})"
            f" RETURNING {_columns(_APPROVAL)}",
            now.timestamp(),
            limit,
        )
        return [_approval(r) for r in rows]

    def expired_approvals(self, now: datetime, limit: int) -> list[Approval]:
        rows = self._all(
            f"{_APPROVALS} WHERE status = 'pending' AND expires_at <= ?"
            f" ORDER BY expires_at LIMIT ?{self._SKIP_LOCKED}",
            now.timestamp(),
            limit,
        )
        return [_approval(r) for r in rows]

    def pending_approvals(self, limit: int) -> list[Approval]:
        rows = self._all(
            f"{_APPROVALS} WHERE status = 'pending' ORDER BY created_at, id LIMIT ?", limit
        )
        return [_approval(r) for r in rows]

    def next_approval_due(self) -> datetime | None:
        row = self._one(
            # A reminder is due before its expiry: the earliest of either, in both dialects.
            "SELECT MIN(coalesce(remind_at, expires_at)) FROM approvals WHERE status = 'pending'"
        )
        return datetime.fromtimestamp(row[0], UTC) if row and row[0] is not None else None

    def count_pending_approvals(self) -> int:
        row = self._one("SELECT COUNT(*) FROM approvals WHERE status = 'pending'")
        return int(row[0]) if row else 0

    def prune(self, now: datetime) -> None:
        seconds = now.timestamp()
        self._run("DELETE FROM slack_events WHERE received_at < ?", seconds - 86400)
        self._run("DELETE FROM idempotency WHERE created_at < ?", seconds - 86400)
        self._run("DELETE FROM events WHERE created_at < ?", seconds - 7 * 86400)
