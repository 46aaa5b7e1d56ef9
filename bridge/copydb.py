"""`hitl-bridge copy-db FROM_URL TO_URL`: a SQLite bridge database into an empty PostgreSQL one.

Every row of every table is copied as it is, in one PostgreSQL transaction, so a failure
leaves the target as empty as it was. Ids keep their values, and the sequences go on from
where SQLite's stood (also past rows pruned since: a bot's `GET /v1/events` cursor stays
good). Which rows head the outbox's lines is copied too, not worked out again. The source is
only read; stop the bridge while it is copied, and start it on the target after.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from bridge.config import POSTGRES_SCHEMES
from bridge.store import migrations, pg_migrations

# In an order the foreign keys accept.
TABLES = [
    "users",
    "conversations",
    "messages",
    "slack_messages",
    "slack_events",
    "idempotency",
    "secrets",
    "events",
    "outbox",
    "outbox_heads",
    "approvals",
    "pacing",
]
# The tables with an identity column, and the column.
SEQUENCES = {"events": "seq", "outbox": "id"}


class CopyError(Exception):
    """Why the copy cannot be made, in a line for people."""


def copy_db(source_url: str, target_url: str) -> dict[str, int]:
    """Copy; how many rows of each table went over."""
    if not source_url.startswith("sqlite:///"):
        raise CopyError(f"FROM_URL must be a SQLite URL (sqlite:///...), not {_scheme(source_url)}")
    if not target_url.startswith(POSTGRES_SCHEMES):
        raise CopyError(
            f"TO_URL must be a PostgreSQL URL (postgresql://...), not {_scheme(target_url)}"
        )
    path = Path(source_url.removeprefix("sqlite:///"))
    if not path.is_file():
        raise CopyError(f"{path} is not a file")
    with sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True) as source:
        version = int(source.execute("PRAGMA user_version").fetchone()[0])
        if version != len(migrations.MIGRATIONS):
            raise CopyError(
                f"{path} is at schema version {version}, this bridge at "
                f"{len(migrations.MIGRATIONS)}: start this bridge on it once, then copy"
            )
        return _copy(source, target_url)


def _copy(source: sqlite3.Connection, target_url: str) -> dict[str, int]:
    import psycopg

    copied: dict[str, int] = {}
    with psycopg.connect(target_url, connect_timeout=10) as target:
        pg_migrations.migrate(target)
        with target.transaction():
            for table in TABLES:
                if target.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone() is not None:
                    raise CopyError(f"the target database is not empty ({table} has rows)")
            # The heads are copied as they stand: the triggers would work them out anew.
            target.execute("ALTER TABLE outbox DISABLE TRIGGER USER")
            target.execute("ALTER TABLE outbox_heads DISABLE TRIGGER USER")
            for table in TABLES:
                copied[table] = _copy_table(source, target, table)
            target.execute("ALTER TABLE outbox ENABLE TRIGGER USER")
            target.execute("ALTER TABLE outbox_heads ENABLE TRIGGER USER")
            for table, column in SEQUENCES.items():
                row = source.execute("SELECT seq FROM sqlite_sequence WHERE name = ?", (table,))
                last = max(int((row.fetchone() or (0,))[0]), 0)
                if last:
                    target.execute(
                        "SELECT setval(pg_get_serial_sequence(%s, %s), %s)", (table, column, last)
                    )
    return copied


def _copy_table(source: sqlite3.Connection, target: Any, table: str) -> int:
    cursor = source.execute(f"SELECT * FROM {table}")
    columns = [d[0] for d in cursor.description]
    insert = (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})"
    )
    count = 0
    with target.cursor() as out:
        while rows := cursor.fetchmany(1000):
            out.executemany(insert, rows)
            count += len(rows)
    return count


def _scheme(url: str) -> str:
    return url.partition("://")[0] + "://..." if "://" in url else "a path"
