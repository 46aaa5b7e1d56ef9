"""What only PostgreSQL has: a URL the bridge cannot reach, and `check` asking the server.

The stories themselves run on PostgreSQL as on SQLite where their module is marked
`both_databases` (`tests/conftest.py`), as `test_...[postgresql]`."""

from __future__ import annotations

import io

import psycopg
import pytest

from bridge import startup
from tests.conftest import StageFactory


async def test_a_bad_postgresql_url_stops_the_start_with_one_line(
    make_stage: StageFactory,
) -> None:
    unreachable = "postgresql://someone:secret-pw@127.0.0.1:1/nothing"
    try:
        await make_stage(BRIDGE_DATABASE_URL=unreachable)
    except Exception as exc:
        message = str(exc)
    else:
        raise AssertionError("the bridge started on an unreachable database")
    assert "BRIDGE_DATABASE_URL: PostgreSQL at 127.0.0.1:1/nothing" in message
    assert "secret-pw" not in message


def test_check_asks_postgresql_and_changes_nothing(
    postgres_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    out = io.StringIO()
    assert startup._report_postgres(postgres_url, out) == 0
    assert "database: PostgreSQL at 127.0.0.1:" in out.getvalue()
    with psycopg.connect(postgres_url) as conn:  # nothing was created
        assert conn.execute("SELECT to_regclass('schema_version')").fetchone() == (None,)
    unreachable = "postgresql://someone:secret-pw@127.0.0.1:1/nothing"
    assert startup._report_postgres(unreachable, out) == startup.ENVIRONMENT
    said = capsys.readouterr().err
    assert "BRIDGE_DATABASE_URL: PostgreSQL at 127.0.0.1:1/nothing" in said
    assert "secret-pw" not in said
