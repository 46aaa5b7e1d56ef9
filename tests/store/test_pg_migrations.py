"""PostgreSQL's migrations: the same numbered steps as SQLite's, applied once, under a lock."""

from __future__ import annotations

import threading

import psycopg
import pytest

from bridge.store import migrations, pg_migrations

TABLES = {
    "users", "conversations", "messages", "slack_messages", "slack_events", "idempotency",
    "secrets", "events", "outbox", "outbox_heads", "approvals", "pacing", "schema_version",
}  # fmt: skip


def test_the_same_steps_as_sqlite() -> None:
    assert len(pg_migrations.MIGRATIONS) == len(migrations.MIGRATIONS)


def test_a_fresh_database_is_brought_up_to_date_once(postgres_url: str) -> None:
    with psycopg.connect(postgres_url) as conn:
        assert pg_migrations.migrate(conn) == len(pg_migrations.MIGRATIONS)
        assert pg_migrations.migrate(conn) == len(pg_migrations.MIGRATIONS)  # nothing to do
        rows = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchall()
        assert {r[0] for r in rows} == TABLES
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [
            (len(pg_migrations.MIGRATIONS),)
        ]


def test_instances_starting_at_once_migrate_once(postgres_url: str) -> None:
    """Three starts at the same moment: the advisory lock lets one apply the steps; the
    others find them applied."""
    errors: list[BaseException] = []

    def start() -> None:
        try:
            with psycopg.connect(postgres_url) as conn:
                pg_migrations.migrate(conn)
        except BaseException as exc:  # collected: asserted below
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []


def test_the_heads_follow_the_outbox_as_in_sqlite(postgres_url: str) -> None:
    """The triggers keep each conversation's head: the oldest pending row, handed on when
    it is delivered or given up on."""
    with psycopg.connect(postgres_url) as conn:
        pg_migrations.migrate(conn)
        for n in range(3):
            conn.execute(
                "INSERT INTO outbox (target, conversation_id, kind, payload, next_at, created_at)"
                " VALUES ('slack', 'a', 'message', %s, 0, 0)",
                (f'{{"n": {n}}}',),
            )

        def head() -> list[tuple[int, float]]:
            return conn.execute("SELECT row_id, next_at FROM outbox_heads").fetchall()

        first, second, third = (r[0] for r in conn.execute("SELECT id FROM outbox ORDER BY id"))
        assert head() == [(first, 0)]
        conn.execute("UPDATE outbox SET next_at = 5 WHERE id = %s", (first,))
        assert head() == [(first, 5)]  # put off: its head waits as long
        conn.execute("DELETE FROM outbox WHERE id = %s", (first,))
        assert head() == [(second, 0)]
        conn.execute("UPDATE outbox SET state = 'failed' WHERE id = %s", (second,))
        assert head() == [(third, 0)]
        conn.execute("DELETE FROM outbox WHERE id = %s", (third,))
        assert head() == []


def test_a_newer_database_is_refused(postgres_url: str) -> None:
    with psycopg.connect(postgres_url) as conn:
        pg_migrations.migrate(conn)
        conn.execute("UPDATE schema_version SET version = 99")
        conn.commit()
        with pytest.raises(RuntimeError, match="version 99, newer than this bridge's"):
            pg_migrations.migrate(conn)
