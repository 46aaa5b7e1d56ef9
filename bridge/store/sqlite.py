"""SQLite storage: one connection in WAL mode, and the one thread that uses it, the store's own.

A transaction is a plain function of a `Tx`, run whole on that thread, so it costs one
hand-off to the thread however many statements it runs (the hand-offs, not SQLite, were what
statements cost; see bench/RESULTS.md). Whatever is asked for while the thread is busy goes
over together in the next hand-off, writes in one transaction with one commit (group commit).
One connection and one thread for reads and writes alike: a second one cost more in thread
wake-ups than it saved.

Why a thread of its own and not aiosqlite's: aiosqlite's public methods each run one
statement on its thread (a hand-off each); what runs any function there (`_execute`) is
private. The one public way onto its thread is a SQL function called by a `SELECT`, the
whole transaction running inside that statement (the sqlite3 connection caught by a
`factory`): it works, but it is a contortion, and it was the slowest of the three
(`bench.sqlite_hop`, one transaction, µs, median of 5 interleaved rounds, 1 task / 32 tasks:
aiosqlite's `_execute` 65 / 12.5, its public API 97 / 11.3, this thread 61 / 9.7). The thread
here does what aiosqlite's did for the store: a queue of functions, run in turn.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from queue import SimpleQueue
from typing import Any, Generic, Protocol, TypeVar

from bridge.store import Batch, Observer, Store, Tx, default_observer
from bridge.store.migrations import MIGRATIONS
from bridge.store.sqlite_rows import SqliteTx
from bridge.store.writable import Unavailable, Writable

__all__ = ["SqliteStore", "SqliteTx"]

log = logging.getLogger(__name__)

T = TypeVar("T")


class SqliteStore(Store):
    """The database: one SQLite file, reached through one thread of its own."""

    def __init__(
        self,
        thread: _DatabaseThread[sqlite3.Connection],
        observer: Observer | None = None,
        checkpointer: _Checkpointer | None = None,
    ) -> None:
        """Use `open`."""
        self._thread = thread
        self._checkpointer = checkpointer
        self._writable = Writable()
        self._observer = observer
        self._lane = _Lane(thread, self._writable, observer)
        # Dropped unclosed, it lets go of the connection and its thread all the same.
        weakref.finalize(self, thread.abandon)
        if checkpointer is not None:
            weakref.finalize(self, checkpointer.stop)

    @classmethod
    async def open(
        cls, path: Path | str, observer: Observer | None = None, *, synchronous: str = "normal"
    ) -> SqliteStore:
        """Open (or create) the database and bring its schema up to date. `observer`, or
        else the one `bridge.store.observe` set, is told about each transaction and batch.
        `synchronous`: SQLite's, `normal` or `full` (see `_connect`)."""
        if synchronous not in ("normal", "full"):
            raise ValueError(f"synchronous must be normal or full, not {synchronous!r}")
        thread = _DatabaseThread(partial(_connect, str(path), synchronous))
        try:
            await thread.call(_migrate)  # raises, too, what opening it raised
        except BaseException:
            await thread.close()
            raise
        checkpointer = _Checkpointer(str(path))
        return cls(thread, observer if observer is not None else default_observer(), checkpointer)

    async def close(self) -> None:
        """Close the connection once what was asked before has run; end the threads."""
        await self._thread.close()
        if self._checkpointer is not None:
            self._checkpointer.stop()  # at most one checkpoint's wait

    async def write(self, body: Callable[[Tx], T]) -> T:
        """See `Store.write`; `body` runs on the database's thread."""
        if self._observer is None:
            return await self._lane.run(body, writes=True)
        return await _observed(self._lane, self._observer, body, writes=True)

    async def read(self, body: Callable[[Tx], T]) -> T:
        """See `Store.read`; `body` runs on the same thread, and its statements may run
        inside others' transaction."""
        if self._observer is None:
            return await self._lane.run(body, writes=False)
        return await _observed(self._lane, self._observer, body, writes=False)

    @property
    def cannot_write(self) -> str | None:
        """See `Store.cannot_write`: `write` and `read` raise `Unavailable` meanwhile, for
        what they cannot do."""
        return self._writable.reason

    async def takes_writes(self) -> bool:
        """See `Store.takes_writes`: the probe shows recovery with no other traffic."""
        if not self._writable.ok:
            with suppress(Unavailable):
                await self._lane.run(lambda tx: tx.probe(), writes=True)
        return self._writable.ok

    # One instance at a time has a SQLite database: nobody to tell, nobody to lead.
    shared = False
    leads = True

    async def follow(self, heard: Callable[[list[str] | None], None]) -> None:
        return

    async def constrain_for_tests(self, *, full: bool = False, read_only: bool = False) -> None:
        """Tests only: make this connection's writes fail as on a full disk (no page more
        than the file has now: a write that needs one fails with SQLITE_FULL, one that fits
        still succeeds) or a read-only mount (each fails with SQLITE_READONLY). With
        neither, writes work again."""

        def constrain(db: sqlite3.Connection) -> None:
            pages = int(db.execute("PRAGMA page_count").fetchone()[0]) if full else 0xFFFFFFFE
            db.execute(f"PRAGMA max_page_count = {pages}")  # 0xFFFFFFFE: SQLite's largest
            db.execute(f"PRAGMA query_only = {int(read_only)}")

        await self._thread.call(constrain)


# --- the thread ---------------------------------------------------------------------------

# A function for the thread, and the future for its outcome (None: nobody waits for it).
_Job = tuple[Callable[[Any], Any], "asyncio.Future[Any] | None"]


def _stop(db: _Closes | None) -> None:
    """The last job: close the connection (the thread ends after it)."""
    if db is not None:
        db.close()


class _Closes(Protocol):
    def close(self) -> None: ...


C = TypeVar("C", bound=_Closes)


class _DatabaseThread(Generic[C]):
    """The one thread that touches the connection: it opens it, then runs each function
    handed to it with it, one at a time, in order, and at last closes it."""

    def __init__(self, connect: Callable[[], C], name: str = "bridge-sqlite") -> None:
        self._jobs: SimpleQueue[_Job] = SimpleQueue()
        self._closing = False
        # A daemon: a store left open must not keep the process alive. What it had not
        # committed was acknowledged to nobody, and WAL makes an exit mid-commit a crash
        # like any other.
        self._thread = threading.Thread(target=self._serve, args=(connect,), name=name, daemon=True)
        self._thread.start()

    async def call(self, fn: Callable[[C], T]) -> T:
        """Run `fn(connection)` on the thread; what it returns or raises."""
        if self._closing:
            raise ValueError("the database is closed")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._jobs.put((fn, future))
        return await future

    async def close(self) -> None:
        """Run what was handed over before, then close the connection and end the thread."""
        if self._closing:
            return
        self._closing = True
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._jobs.put((_stop, future))
        try:
            await future
        finally:
            self._thread.join()  # quick: answering the stop was the thread's last act

    def abandon(self) -> None:
        """Close the connection and end the thread after what was handed over, telling
        nobody: for a store dropped without `close`."""
        if not self._closing:
            self._closing = True
            self._jobs.put((_stop, None))

    def _serve(self, connect: Callable[[], C]) -> None:
        db: C | None = None
        failure: BaseException | None = None
        try:
            db = connect()
        except BaseException as exc:  # told to whoever asks first (`SqliteStore.open`)
            failure = exc
        while True:
            fn, future = self._jobs.get()
            if fn is _stop:
                _answer(future, _outcome_of(_stop, db))
                return
            if db is None:
                _answer(future, (False, failure))
            else:
                _answer(future, _outcome_of(fn, db))


def _outcome_of(fn: Callable[[Any], Any], arg: Any) -> _Outcome:
    try:
        return True, fn(arg)
    except BaseException as exc:  # anything at all goes back to the caller, on its loop
        return False, exc


def _answer(future: asyncio.Future[Any] | None, outcome: _Outcome) -> None:
    """From the thread: settle `future` on its loop."""
    if future is None:
        return
    with suppress(RuntimeError):  # its loop is closed: nobody waits for it any more
        future.get_loop().call_soon_threadsafe(_settle, future, outcome)


def _settle(future: asyncio.Future[Any], outcome: _Outcome) -> None:
    if future.done():
        return  # its caller stopped waiting
    ok, value = outcome
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)


# --- checkpoints ------------------------------------------------------------------------

# Seconds between checkpoints; and the WAL's size, in pages, at which a commit checkpoints
# by itself all the same (a backstop: SQLite's default is 1,000).
CHECKPOINT_EVERY = 0.5
CHECKPOINT_BACKSTOP = 10_000


class _Checkpointer:
    """Copies what the WAL holds into the database file, from a connection and a thread of
    its own, every `CHECKPOINT_EVERY` seconds.

    SQLite's own checkpoint runs in the commit that fills the WAL to 1,000 pages, on the
    database's thread: while it copies, every transaction waits (a spike in latency), and
    the pages that every commit rewrites (the outbox's, a conversation's) are copied again
    at each. Here a checkpoint copies each page once however often it changed, and no
    transaction waits for it (a PASSIVE checkpoint never blocks a writer). What a commit
    made durable does not change: the WAL keeps it until it is copied."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._stopping = threading.Event()
        self._failing = False
        self._thread = threading.Thread(target=self._run, name="bridge-checkpoint", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not threading.current_thread():
            self._thread.join()

    def _run(self) -> None:
        db: sqlite3.Connection | None = None
        try:
            while not self._stopping.wait(CHECKPOINT_EVERY):
                try:
                    db = db or sqlite3.connect(self._path, isolation_level=None)
                    db.execute("PRAGMA wal_checkpoint(PASSIVE)")
                except sqlite3.Error as exc:
                    # The commits' own checkpoints (`CHECKPOINT_BACKSTOP`) go on meanwhile.
                    if not self._failing:
                        log.warning("checkpoint failed (%s); trying again", exc)
                    self._failing = True
                else:
                    self._failing = False
        finally:
            if db is not None:
                db.close()


# --- batches ----------------------------------------------------------------------------

# The most functions one hand-off takes: it bounds how long the first of them waits.
BATCH_MAX = 64


@dataclass(slots=True)
class _Asked:
    body: Callable[[SqliteTx], Any]
    future: asyncio.Future[Any]
    writes: bool


class _Lane:
    """The functions waiting for the database's thread. While a batch runs there, the next
    ones queue up, and go over together in one hand-off when it is done."""

    def __init__(
        self,
        thread: _DatabaseThread[sqlite3.Connection],
        writable: Writable,
        observer: Observer | None,
    ) -> None:
        self._thread = thread
        self._writable = writable
        self._observer = observer
        self._queue: list[_Asked] = []
        self._task: asyncio.Task[None] | None = None

    async def run(self, body: Callable[[SqliteTx], T], *, writes: bool) -> T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.append(_Asked(body, future, writes))
        if self._task is None:
            self._task = loop.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        batch: list[_Asked] = []
        try:
            while self._queue:
                batch, self._queue = self._queue[:BATCH_MAX], self._queue[BATCH_MAX:]
                bodies = [asked.body for asked in batch]
                writes = any(asked.writes for asked in batch)
                run: Callable[[sqlite3.Connection], _Result] = (
                    partial(_run_batch, bodies, writes)
                    if self._observer is None
                    else partial(_run_observed, self._observer, bodies, writes)
                )
                try:
                    outcomes, wrote = await self._thread.call(run)
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
                # Let whom that woke run first: what they ask next joins the next batch (one
                # commit for more of them; measured: 3% less CPU a message to Slack).
                await asyncio.sleep(0)
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


async def _observed(lane: _Lane, observer: Observer, body: Callable[[Tx], T], *, writes: bool) -> T:
    """`lane.run`, timed for the observer."""
    start = time.perf_counter()
    try:
        return await lane.run(body, writes=writes)
    finally:
        seconds = time.perf_counter() - start
        _tell(lambda: observer.transaction(body, writes, seconds))


def _tell(observer_call: Callable[[], None]) -> None:
    """Tell the observer: what it raises is logged, and never becomes the store's outcome."""
    try:
        observer_call()
    except Exception:
        log.exception("the store's observer failed")


def _run_observed(
    observer: Observer,
    bodies: list[Callable[[SqliteTx], Any]],
    writes: bool,
    db: sqlite3.Connection,
) -> _Result:
    """`_run_batch`, timed for the observer."""
    wall, cpu = time.perf_counter(), time.thread_time()
    try:
        return _run_batch(bodies, writes, db)
    finally:
        seconds, cpu = time.perf_counter() - wall, time.thread_time() - cpu
        _tell(lambda: observer.batch(Batch(len(bodies), writes, seconds, cpu)))


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


def _run_batch(
    bodies: list[Callable[[SqliteTx], Any]], writes: bool, db: sqlite3.Connection
) -> _Result:
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
    bodies: list[Callable[[SqliteTx], Any]], writes: bool, db: sqlite3.Connection, savepoints: bool
) -> list[_Outcome]:
    """One pass over `bodies` in one transaction. Without savepoints, a pass that writes
    and fails is undone whole (it ran only as a try)."""
    tx = SqliteTx(db)
    with _transaction(db, writes):
        outcomes = [_step(body, tx, db, savepoints) for body in bodies]
        if writes and not savepoints and not all(ok for ok, _ in outcomes):
            db.execute("ROLLBACK")  # the failure's half-done writes, and with them the others'
    return outcomes


def _step(
    body: Callable[[SqliteTx], Any], tx: SqliteTx, db: sqlite3.Connection, savepoint: bool
) -> _Outcome:
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


def _call(body: Callable[[SqliteTx], Any], tx: SqliteTx) -> _Outcome:
    try:
        return True, body(tx)
    except Exception as exc:
        return False, exc


# --- opening ------------------------------------------------------------------------------


def _connect(path: str, synchronous: str = "normal") -> sqlite3.Connection:
    """On the thread: the connection, its pragmas set, shown to take a write."""
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.row_factory = sqlite3.Row
        for pragma in (
            "PRAGMA journal_mode = WAL",
            # WAL + NORMAL survives a killed process; only power loss can cost the last
            # commits. FULL flushes every commit to the disk first, at a cost.
            f"PRAGMA synchronous = {synchronous.upper()}",
            "PRAGMA foreign_keys = ON",
            "PRAGMA busy_timeout = 5000",
            f"PRAGMA wal_autocheckpoint = {CHECKPOINT_BACKSTOP}",  # see `_Checkpointer`
        ):
            db.execute(pragma)
        _try_a_write(db)
    except BaseException:
        # A file that is no database, or a damaged one, opens and fails only here.
        db.close()
        raise
    return db


def _try_a_write(db: sqlite3.Connection) -> None:
    """Write the schema version back unchanged: a read-only file reads (and even turns to
    WAL) without complaint, and would fail only at the first real write."""
    version = int(db.execute("PRAGMA user_version").fetchone()[0])
    db.execute(f"PRAGMA user_version = {version}")


def _migrate(db: sqlite3.Connection) -> None:
    version = int(db.execute("PRAGMA user_version").fetchone()[0])
    if version > len(MIGRATIONS):
        raise RuntimeError(
            f"the database is at schema version {version}, newer than this bridge knows "
            f"({len(MIGRATIONS)}): upgrade the bridge"
        )
    for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
        # executescript commits on its own, so the version bump rides in the script.
        db.executescript(f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;")
        log.info("applied migration %d", number)
