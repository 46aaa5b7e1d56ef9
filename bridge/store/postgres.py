"""The store on PostgreSQL (`BRIDGE_DATABASE_URL=postgresql://...`), through psycopg 3.

One connection on a thread of its own, as SQLite's (`sqlite._DatabaseThread`), each
transaction committed on its own; the row functions are `pg_rows.PgTx`. Still to come (#16):
several transactions to a commit (SQLite's lane), pipeline mode, and wake-ups across
instances (`LISTEN`/`NOTIFY`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import psycopg

from bridge.store import Store, Tx
from bridge.store.pg_migrations import migrate
from bridge.store.pg_rows import PgTx, row_factory
from bridge.store.sqlite import _DatabaseThread

T = TypeVar("T")


class PgStore(Store):
    def __init__(self, thread: _DatabaseThread) -> None:
        self._thread = thread

    @classmethod
    async def open(cls, url: str) -> PgStore:
        """Connect, and bring the schema up to date (once, whoever else starts now)."""

        def connect() -> Any:
            conn = psycopg.connect(url, row_factory=row_factory, connect_timeout=10)
            migrate(conn)
            return conn

        store = cls(_DatabaseThread(connect))
        await store._thread.call(lambda conn: None)  # the connection's failure, if any
        return store

    async def close(self) -> None:
        await self._thread.close()

    async def write(self, body: Callable[[Tx], T]) -> T:
        return await self._thread.call(lambda conn: _transaction(conn, body))

    async def read(self, body: Callable[[Tx], T]) -> T:
        return await self._thread.call(lambda conn: _transaction(conn, body))

    @property
    def cannot_write(self) -> str | None:
        return None

    async def takes_writes(self) -> bool:
        return True


def _transaction(conn: Any, body: Callable[[Tx], T]) -> T:
    with conn.transaction():
        return body(PgTx(conn))
