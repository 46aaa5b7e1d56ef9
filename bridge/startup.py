"""A start that cannot succeed says why, one line per cause, and exits; and `hitl-bridge
check`, which makes the same checks without serving.

Exit codes: 2 when the settings or credentials are wrong (a setting, a token Slack refuses,
a channel the app is not in): starting again cannot help until they change. 1 for anything
else that stops a start (the port in use, a database that cannot be opened), and for a
Slack that `check` cannot reach.
"""

from __future__ import annotations

import asyncio
import errno
import os
import socket
import sqlite3
import sys
from contextlib import closing
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit

import aiohttp
from slack_sdk.web.async_client import AsyncWebClient

from bridge.config import Settings
from bridge.slack import preflight
from bridge.store import Store
from bridge.store.migrations import MIGRATIONS
from bridge.store.sqlite import SqliteStore

SETTINGS = 2
ENVIRONMENT = 1
# `check` gives Slack this long to answer it all (`serve` waits for as long as it takes).
CHECK_TIMEOUT = 10.0

# What SQLite's error means for the file, by the start of its name.
_SQLITE_FAULTS = {
    "SQLITE_NOTADB": "is not a SQLite database",
    "SQLITE_CORRUPT": "is damaged (truncated or corrupt): restore it from a backup",
    "SQLITE_READONLY": "is read-only: the bridge must be able to write it and its directory",
    "SQLITE_BUSY": "is locked by another process",
    "SQLITE_FULL": "cannot grow: the disk is full",
    "SQLITE_IOERR": "cannot be read or written (an I/O error)",
    "SQLITE_PERM": "may not be opened (permission denied)",
}


class StartupError(Exception):
    """The start cannot succeed: `lines` say why (one per cause), `code` is the exit code."""

    def __init__(self, lines: list[str], code: int = ENVIRONMENT) -> None:
        super().__init__("; ".join(lines))
        self.lines = lines
        self.code = code


async def open_store(path: Path, synchronous: str = "normal") -> Store:
    """The database, or a `StartupError` naming the file and what is wrong with it."""
    try:
        return await SqliteStore.open(path, synchronous=synchronous)
    except (sqlite3.Error, OSError, RuntimeError) as exc:  # RuntimeError: a newer schema
        raise StartupError([database_problem(path, exc)]) from None


async def open_postgres(url: str) -> Store:
    """The PostgreSQL database, or a `StartupError` naming where it is (never the password)
    and what is wrong."""
    from bridge.store.postgres import PgStore  # psycopg is loaded only for PostgreSQL

    try:
        # Connecting gives up within its own timeout; the migrations then take what they
        # take (another instance's, under their lock, included).
        return await PgStore.open(url)
    except Exception as exc:  # psycopg's errors (its time-out too), a newer schema
        where = _where(url)
        raise StartupError(
            [f"BRIDGE_DATABASE_URL: PostgreSQL at {where}: {_first_line(exc)}"]
        ) from None


def _where(url: str) -> str:
    """host:port/database of a PostgreSQL URL: what a log line may say of it."""
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port or 5432}{parts.path}"


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def database_problem(path: Path, exc: BaseException) -> str:
    """One line: the database file and what is wrong with it."""
    where = path.absolute()
    what = str(exc)
    if isinstance(exc, sqlite3.Error):
        name = exc.sqlite_errorname or ""
        if name.startswith("SQLITE_CANTOPEN"):
            what = _cannot_open(where)
        else:
            what = next((v for k, v in _SQLITE_FAULTS.items() if name.startswith(k)), what)
    return f"BRIDGE_DATABASE_URL: {where} {what}"


def probe_database(path: Path) -> str | None:
    """Why `serve` could not open the database, found without changing anything; None if
    it could."""
    where = path.absolute()
    if not where.exists():
        if not where.parent.is_dir() or not os.access(where.parent, os.W_OK | os.X_OK):
            return f"BRIDGE_DATABASE_URL: {where} {_cannot_open(where)}"
        return None  # `serve` creates it
    if where.is_dir() or not os.access(where, os.R_OK | os.W_OK):
        kind = "is a directory" if where.is_dir() else _SQLITE_FAULTS["SQLITE_READONLY"]
        return f"BRIDGE_DATABASE_URL: {where} {kind}"
    try:
        with closing(sqlite3.connect(f"{where.as_uri()}?mode=ro", uri=True)) as db:
            version = int(db.execute("PRAGMA user_version").fetchone()[0])
            db.execute("SELECT count(*) FROM sqlite_master").fetchone()  # reads the schema
    except sqlite3.Error as exc:
        return database_problem(path, exc)
    if version > len(MIGRATIONS):
        return (
            f"BRIDGE_DATABASE_URL: {where} is at schema version {version}, newer than this "
            f"bridge knows ({len(MIGRATIONS)}): upgrade the bridge"
        )
    return None


def _cannot_open(where: Path) -> str:
    if not where.parent.is_dir():
        return f"cannot be created: the directory {where.parent} does not exist"
    if where.is_dir():
        return "is a directory"
    if not where.exists():
        return f"cannot be created: the directory {where.parent} is not writable"
    return "cannot be opened (check its permissions and its directory's)"


def listen_problem(host: str, port: int, exc: OSError) -> str:
    """One line: why the bridge cannot listen where its settings say."""
    where = f"{host}:{port}"
    if exc.errno == errno.EADDRINUSE:
        return f"BRIDGE_PORT: {where} is in use already (another bridge, or another program)"
    if exc.errno == errno.EACCES:
        return f"BRIDGE_PORT: not allowed to listen on {where} (ports below 1024 need privileges)"
    if exc.errno == errno.EADDRNOTAVAIL or isinstance(exc, socket.gaierror):
        return f"BRIDGE_HOST: {host} is not an address of this machine"
    return f"BRIDGE_HOST/BRIDGE_PORT: cannot listen on {where}: {exc.strerror or exc}"


async def check(settings: Settings, out: IO[str] | None = None) -> int:
    """`hitl-bridge check`, once the settings have passed: what `serve` checks before it
    listens (the database, Slack), reported line by line; the exit code. It does not bind
    the port, so it can run beside a bridge that is serving."""
    out = out or sys.stdout
    database = (
        _report_postgres(settings.postgres_url, out)
        if settings.postgres_url
        else _report_database(settings.database_path, out)
    )
    codes = [database, await _report_slack(settings, out)]
    code = max(codes)
    if code == 0:
        print("all checks passed", file=out)
    return code


def _report_database(path: Path, out: IO[str]) -> int:
    problem = probe_database(path)
    if problem is not None:
        return _say([problem], ENVIRONMENT)
    print(f"database: {path.absolute()} can be opened", file=out)
    return 0


def _report_postgres(url: str, out: IO[str]) -> int:
    """Whether PostgreSQL answers at `url`, changing nothing (the schema is brought up to
    date by `serve`)."""
    import psycopg

    from bridge.store.postgres import CONNECT_TIMEOUT

    try:
        with psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:  # psycopg's errors: refused, unknown database, password
        return _say([f"BRIDGE_DATABASE_URL: PostgreSQL at {_where(url)}: {_first_line(exc)}"],
                    ENVIRONMENT)  # fmt: skip
    print(f"database: PostgreSQL at {_where(url)} answers", file=out)
    return 0


async def _report_slack(settings: Settings, out: IO[str]) -> int:
    posts_in = preflight.channels(settings.channel, settings.queues)
    app_token = settings.slack_app_token.get_secret_value() if settings.slack_app_token else None
    try:
        async with aiohttp.ClientSession() as session, asyncio.timeout(CHECK_TIMEOUT):
            client = AsyncWebClient(
                token=settings.slack_bot_token.get_secret_value(),
                base_url=settings.slack_api_url,
                session=session,
            )
            me = await preflight.verify(
                client, posts_in, app_token=app_token, timeout=CHECK_TIMEOUT
            )
    except preflight.Refused as exc:
        return _say(exc.problems, SETTINGS)
    except (preflight.Unreachable, TimeoutError) as exc:  # TimeoutError: all took too long
        why = str(exc) or f"no answer within {CHECK_TIMEOUT:g} s"
        return _say([f"Slack unreachable at {settings.slack_api_url} ({why})"], ENVIRONMENT)
    _say([f"warning: {note}" for note in me.notes], 0)
    names = ", ".join(c.id for c in posts_in)
    print(f"slack: the token is @{me.name}'s (team {me.team_id}), a member of {names}", file=out)
    return 0


def _say(problems: list[str], code: int) -> int:
    for problem in problems:
        print(f"hitl-bridge: {problem}", file=sys.stderr)
    return code
