"""The store on PostgreSQL (`BRIDGE_DATABASE_URL=postgresql://...`), through psycopg 3, for
any number of instances sharing one database.

Transactions run on `CONNECTIONS` connections, each on a thread of its own as SQLite's
one is (`sqlite._DatabaseThread`); the row functions are `pg_rows.PgTx`. A connection lost (the
server restarted, a failover, a network cut) is opened again at the next transaction; the
transaction it cut off runs again on the new connection, unless it was cut off as it
committed (then whether it was kept is not known, and it raises `Unavailable`). A deadlock
with another instance undoes one of the two, which runs again; so does one that meets a row
another committed meanwhile.

One more connection, on the event loop, listens (`follow`): what another instance commits
wakes this one's drainers and long-polls at once. It also holds the advisory lock that makes
one instance the leader (`leads`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

import psycopg
from psycopg import errors

from bridge.store import Store, Tx
from bridge.store.pg_migrations import LOCK, migrate
from bridge.store.pg_rows import PgTx, row_factory
from bridge.store.sqlite import _DatabaseThread
from bridge.store.writable import Unavailable, Writable

log = logging.getLogger(__name__)

T = TypeVar("T")

CONNECT_TIMEOUT = 10
# The leader's advisory lock (a session's, unlike the migrations' transaction lock).
LEAD = LOCK + 1
# How often an instance that does not lead looks whether it may now, and the listener
# reconnects after losing its connection.
LOOK_AGAIN = 5.0
# Seconds of silence after which the server ends the listener's session (and a leader's
# lead goes to another instance).
SILENT = 30.0
# Connections for transactions, each on a thread of its own: while one waits for the
# server, the others' transactions go on.
CONNECTIONS = 4
# How often a transaction runs in all while it meets another instance's.
CONFLICT_TRIES = 3


class PgStore(Store):
    shared = True

    def __init__(self, url: str, sessions: list[_Session]) -> None:
        self._url = url
        self._sessions = sessions
        self._threads = [_DatabaseThread(partial(_same, s), "bridge-postgres") for s in sessions]
        self._busy = [0] * len(sessions)  # transactions handed to each, not yet done
        self._writable = Writable()
        self._leads = False

    @classmethod
    async def open(cls, url: str, connections: int = CONNECTIONS) -> PgStore:
        """Connect, and bring the schema up to date (once, whoever else starts now). The
        other connections open as they are first needed."""
        store = cls(url, [_Session(url) for _ in range(connections)])
        try:
            await store._threads[0].call(lambda s: s.migrate())
        except BaseException:
            await store.close()
            raise
        return store

    async def close(self) -> None:
        for thread in self._threads:
            await thread.close()

    async def write(self, body: Callable[[Tx], T]) -> T:
        return await self._run(body, writes=True)

    async def read(self, body: Callable[[Tx], T]) -> T:
        return await self._run(body, writes=False)

    async def _run(self, body: Callable[[PgTx], T], writes: bool) -> T:
        """`body` on the connection with the fewest transactions waiting."""
        which = min(range(len(self._busy)), key=self._busy.__getitem__)
        self._busy[which] += 1
        try:
            result = await self._threads[which].call(lambda s: s.run(body))
        except Unavailable as exc:
            self._writable.failed(str(exc).removeprefix(CANNOT_WRITE))
            raise
        finally:
            self._busy[which] -= 1
        if writes:
            self._writable.wrote()
        return result

    @property
    def cannot_write(self) -> str | None:
        return self._writable.reason

    async def takes_writes(self) -> bool:
        if not self._writable.ok:
            with contextlib.suppress(Unavailable):
                await self._run(lambda tx: tx.probe(), writes=True)
        return self._writable.ok

    @property
    def leads(self) -> bool:
        return self._leads

    async def follow(self, heard: Callable[[list[str] | None], None]) -> None:
        """Listen on `PgTx.CHANNEL`, and lead when the lock is free; after a lost connection,
        connect again (and tell `heard` that words may have been missed)."""
        own = PgTx.CHANNEL
        try:
            while True:
                try:
                    async with await psycopg.AsyncConnection.connect(
                        self._url, autocommit=True, connect_timeout=CONNECT_TIMEOUT
                    ) as conn:
                        # A session that falls silent (its machine gone, with no goodbye)
                        # is ended by the server, and with it the lead: this one speaks
                        # every `LOOK_AGAIN` seconds.
                        await conn.execute(f"SET idle_session_timeout = '{SILENT:.0f}s'")
                        await conn.execute(f"LISTEN {own}")
                        heard(None)
                        await self._listen(conn, heard)
                except (psycopg.OperationalError, psycopg.InterfaceError, OSError) as exc:
                    self._leads = False
                    log.warning(
                        "not hearing the other instances (%s); trying again in %.0f s",
                        _reason(exc),
                        LOOK_AGAIN,
                    )
                    await asyncio.sleep(LOOK_AGAIN)
        finally:
            self._leads = False

    async def _listen(
        self, conn: psycopg.AsyncConnection[Any], heard: Callable[[list[str] | None], None]
    ) -> None:
        while True:
            # Each round asks the server something: the lead is taken if free, and a
            # connection that no longer answers (this machine cut off) gives it up.
            try:
                async with asyncio.timeout(SILENT / 2):
                    if self._leads:
                        await conn.execute("SELECT 1")
                    else:
                        cursor = await conn.execute("SELECT pg_try_advisory_lock(%s)", (LEAD,))
                        row = await cursor.fetchone()
                        self._leads = bool(row and row[0])
            except TimeoutError:
                raise psycopg.OperationalError("the server did not answer in time") from None
            # Its own words were heard as they were said: only the others' are news. Whose
            # they are is asked at each: a session opens when first needed, maybe since the
            # round began (its words, taken for another's, made the App Home publish twice).
            async for notice in conn.notifies(timeout=LOOK_AGAIN):
                if notice.pid not in {session.pid for session in self._sessions}:
                    heard(notice.payload.split())


def _same(session: _Session) -> _Session:
    return session


class _Session:
    """The transactions' connection, on the database's thread: opened when needed."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._conn: psycopg.Connection[Any] | None = None
        self.pid = 0  # the server process behind the connection: whose notices are ours

    def _open(self) -> psycopg.Connection[Any]:
        self._conn = psycopg.connect(
            self._url, row_factory=row_factory, connect_timeout=CONNECT_TIMEOUT
        )
        self.pid = self._conn.info.backend_pid
        return self._conn

    def _connected(self) -> psycopg.Connection[Any]:
        if self._conn is not None and not self._conn.closed:
            return self._conn
        try:
            return self._open()
        except psycopg.OperationalError as exc:
            raise _unavailable(exc) from None

    def migrate(self) -> None:
        """At the start: the first connection's failure as it is (the start reports it)."""
        migrate(self._open())

    def run(self, body: Callable[[PgTx], T]) -> T:
        """`body` in a transaction of its own, on a connection that works."""
        tries = 0
        while True:
            tries += 1
            conn = self._connected()
            committing = False
            try:
                with conn.transaction():
                    result = body(PgTx(conn))
                    committing = True
                return result
            except (errors.DeadlockDetected, errors.UniqueViolation):
                # Another instance's transaction, at the same time: a deadlock undid this
                # one, or that one committed the row this one meant to add (an idempotency
                # key, say). Run again, this reads what the other committed.
                if tries >= CONFLICT_TRIES:
                    raise
            except psycopg.Error as exc:
                if not (conn.broken or conn.closed or _cannot_write(exc)):
                    raise
                # Lost, or on a server that takes no writes (a standby, after a failover):
                # the next connection may land where they are taken.
                self._drop()
                # Cut off before its COMMIT went out, nothing of it was kept: it may run
                # again on a new connection. After, whether it was kept is not known.
                if committing or tries > 1:
                    raise _unavailable(exc) from exc

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self._conn, self.pid = None, 0

    def close(self) -> None:
        self._drop()


# SQLSTATEs that say the database takes no writes now, though the connection works: a disk
# full, a server shutting down, a standby that is read-only (a failover under way).
_CANNOT_WRITE = frozenset({"53100", "57P01", "57P02", "57P03", "25006"})


def _cannot_write(exc: psycopg.Error) -> bool:
    return exc.sqlstate in _CANNOT_WRITE


CANNOT_WRITE = "the database cannot take writes: "


def _unavailable(exc: psycopg.Error) -> Unavailable:
    return Unavailable(CANNOT_WRITE + _reason(exc))


def _reason(exc: BaseException) -> str:
    """The first line of psycopg's message: enough to say what happened."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
