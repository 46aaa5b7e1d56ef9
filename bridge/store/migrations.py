"""Numbered schema migrations; `PRAGMA user_version` records how far a database has come.

Append new steps; never edit a released one.
"""

from __future__ import annotations

MIGRATIONS: list[str] = [
    # 1: the handoff loop
    """
    CREATE TABLE users (
        id            TEXT PRIMARY KEY,
        role          TEXT NOT NULL CHECK (role IN ('end-user', 'agent')),
        name          TEXT NOT NULL,
        picture_url   TEXT,
        email         TEXT,
        slack_user_id TEXT UNIQUE,
        created_at    TEXT NOT NULL,
        CHECK ((role = 'agent') = (slack_user_id IS NOT NULL))
    );

    CREATE TABLE conversations (
        id            TEXT PRIMARY KEY,
        user_id       TEXT REFERENCES users (id),  -- unknown at first over Botpress hitl-api
        origin        TEXT NOT NULL DEFAULT 'native' CHECK (origin IN ('native', 'botpress')),
        status        TEXT NOT NULL CHECK (status IN ('waiting', 'assigned', 'stopped')),
        channel       TEXT NOT NULL,
        thread_ts     TEXT,
        permalink     TEXT,
        title         TEXT,
        description   TEXT,
        history       TEXT NOT NULL,
        session       TEXT,
        agent_id      TEXT REFERENCES users (id),
        changed_by    TEXT,
        stop_reason   TEXT CHECK (stop_reason IN ('resolved', 'timeout', 'bot')),
        created_at    TEXT NOT NULL,
        waiting_since TEXT,
        stopped_at    TEXT,
        first_reply_at TEXT,
        priority      TEXT CHECK (priority IN ('low', 'normal', 'high', 'urgent')),
        reminders     INTEGER NOT NULL DEFAULT 0,  -- reminders sent since it last waited
        last_agent_at TEXT,  -- claim or latest agent reply: the idle clock
        nudged        INTEGER NOT NULL DEFAULT 0,  -- the assignee was nudged since then
        UNIQUE (channel, thread_ts)
    );
    CREATE INDEX conversations_waiting ON conversations (status, waiting_since);

    -- Messages the bridge relayed, in either direction.
    CREATE TABLE messages (
        id              TEXT PRIMARY KEY,
        conversation_id TEXT NOT NULL REFERENCES conversations (id),
        author_id       TEXT REFERENCES users (id),
        content         TEXT NOT NULL,
        created_at      TEXT NOT NULL
    );
    CREATE INDEX messages_conversation ON messages (conversation_id);

    -- Slack message ts <-> what the bridge calls it (a message id, or 'parent:<conv>', ...).
    -- One post may carry several end-user messages (combined behind a rate limit): `part`
    -- numbers them, so the map stays one-to-one.
    CREATE TABLE slack_messages (
        key             TEXT PRIMARY KEY,
        conversation_id TEXT NOT NULL REFERENCES conversations (id),
        channel         TEXT NOT NULL,
        ts              TEXT NOT NULL,
        part            INTEGER NOT NULL DEFAULT 0,
        UNIQUE (channel, ts, part)
    );

    CREATE TABLE slack_events (
        event_id    TEXT PRIMARY KEY,
        received_at REAL NOT NULL
    );
    CREATE INDEX slack_events_age ON slack_events (received_at);

    CREATE TABLE idempotency (
        scope       TEXT NOT NULL,
        key         TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        result      TEXT NOT NULL,
        created_at  REAL NOT NULL,
        PRIMARY KEY (scope, key)
    );
    CREATE INDEX idempotency_age ON idempotency (created_at);

    -- Keys the bridge makes for itself (the one signing file links).
    CREATE TABLE secrets (
        name  TEXT PRIMARY KEY,
        value BLOB NOT NULL
    );

    -- Every event for the bot, in order; served by GET /v1/events, kept 7 days.
    CREATE TABLE events (
        seq             INTEGER PRIMARY KEY AUTOINCREMENT,
        id              TEXT NOT NULL UNIQUE,
        conversation_id TEXT NOT NULL,
        body            TEXT NOT NULL,
        created_at      REAL NOT NULL
    );

    -- What must still be said to a party, written in the same transaction as the change.
    CREATE TABLE outbox (
        id              INTEGER PRIMARY KEY AUTOINCREMENT,
        target          TEXT NOT NULL,
        conversation_id TEXT NOT NULL,
        kind            TEXT NOT NULL,
        payload         TEXT NOT NULL,
        state           TEXT NOT NULL DEFAULT 'pending'
                        CHECK (state IN ('pending', 'failed')),
        attempts        INTEGER NOT NULL DEFAULT 0,
        maybe_sent      INTEGER NOT NULL DEFAULT 0,
        next_at         REAL NOT NULL,
        last_error      TEXT,
        created_at      REAL NOT NULL
    );
    CREATE INDEX outbox_pending ON outbox (target, state, conversation_id, id);

    -- The oldest pending row of each conversation, per target: the only row of it that may
    -- go out now. Kept up to date with the outbox, so finding work never scans a backlog.
    CREATE TABLE outbox_heads (
        target          TEXT NOT NULL,
        conversation_id TEXT NOT NULL,
        row_id          INTEGER NOT NULL UNIQUE REFERENCES outbox (id),
        next_at         REAL NOT NULL,
        PRIMARY KEY (target, conversation_id)
    );
    CREATE INDEX outbox_heads_due ON outbox_heads (target, next_at);
    """,
    # 2: outbox_heads kept in step by SQLite itself, sparing a statement per enqueue, retry
    # or deferral and three per delivery (each one a trip through Python and the GIL).
    """
    -- A new row heads its conversation's line when the line is empty.
    CREATE TRIGGER outbox_head_on_insert AFTER INSERT ON outbox
    BEGIN
        INSERT OR IGNORE INTO outbox_heads (target, conversation_id, row_id, next_at)
        VALUES (NEW.target, NEW.conversation_id, NEW.id, NEW.next_at);
    END;

    -- A head put off (deferred, or to be retried) waits as long as its row.
    CREATE TRIGGER outbox_head_on_reschedule AFTER UPDATE OF next_at ON outbox
    BEGIN
        UPDATE outbox_heads SET next_at = NEW.next_at WHERE row_id = NEW.id;
    END;

    -- A head leaves when its row is delivered (deleted) or given up on (failed)...
    CREATE TRIGGER outbox_head_on_delete BEFORE DELETE ON outbox
    BEGIN
        DELETE FROM outbox_heads WHERE row_id = OLD.id;
    END;

    CREATE TRIGGER outbox_head_on_fail AFTER UPDATE OF state ON outbox
    WHEN NEW.state = 'failed'
    BEGIN
        DELETE FROM outbox_heads WHERE row_id = OLD.id;
    END;

    -- ...and hands over to the next pending row of its conversation, if there is one.
    CREATE TRIGGER outbox_head_next AFTER DELETE ON outbox_heads
    BEGIN
        INSERT INTO outbox_heads (target, conversation_id, row_id, next_at)
        SELECT target, conversation_id, id, next_at FROM outbox
        WHERE target = OLD.target AND conversation_id = OLD.conversation_id
            AND state = 'pending' AND id > OLD.row_id
        ORDER BY id LIMIT 1;
    END;
    """,
    # 3: a reaction's payload says what it means (`receipt`), not which emoji (`name`):
    # the Slack wing picks the emoji. Rows queued before the upgrade are rewritten.
    """
    UPDATE outbox SET payload = json_set(json_remove(payload, '$.name'), '$.receipt',
        CASE json_extract(payload, '$.name')
            WHEN 'lock' THEN 'internal'
            WHEN 'warning' THEN 'undelivered'
            ELSE 'taken'
        END)
    WHERE kind = 'react' AND json_extract(payload, '$.name') IS NOT NULL;
    """,
    # 4: a row taken is leased: out of every taker's reach (not due) until it is settled,
    # or until the bridge starts again. A transaction may then take the rows it queues
    # itself, with no `busy` list to keep them from the drainer.
    """
    ALTER TABLE outbox ADD COLUMN leased INTEGER NOT NULL DEFAULT 0;
    """,
    # 5: approvals: a draft the bot asks a human to approve, edit or reject.
    """
    CREATE TABLE approvals (
        id              TEXT PRIMARY KEY,
        status          TEXT NOT NULL CHECK (status IN
                        ('pending', 'approved', 'edited', 'rejected', 'expired', 'cancelled')),
        draft           TEXT NOT NULL,
        message         TEXT,
        comment         TEXT,
        decider_id      TEXT REFERENCES users (id),
        conversation_id TEXT REFERENCES conversations (id),
        user_id         TEXT REFERENCES users (id),
        title           TEXT,
        context         TEXT,
        channel         TEXT NOT NULL,
        thread_ts       TEXT,
        ts              TEXT,
        permalink       TEXT,
        created_at      TEXT NOT NULL,
        expires_at      REAL NOT NULL,  -- seconds since the epoch, as the timers read them
        remind_at       REAL,  -- when its reminder is due; NULL once sent, or when none is
        decided_at      TEXT
    );
    CREATE INDEX approvals_expiring ON approvals (status, expires_at);
    CREATE INDEX approvals_reminding ON approvals (remind_at) WHERE remind_at IS NOT NULL;
    """,
    # 6: what instances sharing a database need: who holds each lease (host and address, so
    # an instance started again lets go of its predecessor's at once), whether a row put
    # off waits for a slot booked for it (whichever instance takes it then), and Slack's
    # budgets where every instance sees them, a channel's posts and a method's rate tier
    # (GCRA, as `slack.pacing.Pacer` keeps them in memory when one instance has the database).
    """
    ALTER TABLE outbox ADD COLUMN leased_by TEXT;
    ALTER TABLE outbox ADD COLUMN booked INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE pacing (
        key          TEXT PRIMARY KEY,  -- `chat.postMessage C0123`, or a method's name
        tat          REAL NOT NULL,  -- when the budget is full again, seconds since the epoch
        paused_until REAL NOT NULL DEFAULT 0  -- Slack's `Retry-After`, the same
    );
    """,
]
