"""Drains the outbox: take a row, send it through a wing's sender, record what happened.

Generic: it knows no party. Each target (Slack, the bot) gets one `Drainer` with that wing's
`Sender`. Rows of one conversation go out one at a time, oldest first; different
conversations go out concurrently. A row is taken under a lease: not due again until it is
settled, so no two workers hold it, and released when the bridge starts again. Failures are
retried with capped exponential backoff and jitter, within bounds of attempts and age; a
`Fail`, or running out of retries, ends a row for good (a dead letter: kept as `failed`,
logged, and handed back to the sender).
While the database cannot take writes, rows wait there, and what happened to a row in
flight is recorded once it can: quietly (the store logs the outage, once).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Collection
from dataclasses import replace
from functools import partial
from typing import Any, Protocol, TypeVar

from bridge.metrics import Metrics
from bridge.pulse import Pulse
from bridge.store import OutboxRow, Store, Tx, Unavailable

log = logging.getLogger(__name__)
T = TypeVar("T")

# Seconds between tries while the database cannot take writes.
PAUSE = 1.0
# Seconds a row taken is leased for, renewed every third of it while its delivery lasts
# (`Drainer._renew`): a lease runs out only when its holder is gone. SQLite's next start
# releases its leases at once; on a database several instances share, an instance started
# again at the same address releases its own, and another instance takes over the leases of
# one that does not come back when they run out.
LEASE = 60.0


class Retry(Exception):
    """Try this row again later: after `after` seconds if the party said so, else backoff.

    `maybe_sent` is False when the party certainly did not take it (a 429, an error answer),
    which spares the reconciliation check next time.
    """

    def __init__(self, reason: str, *, after: float | None = None, maybe_sent: bool = True):
        super().__init__(reason)
        self.after = after
        self.maybe_sent = maybe_sent


class Defer(Exception):
    """Not now: the party's budget for this call is spent (a rate limit). The row is put off
    for `after` seconds, as if it had not been taken: no attempt counted, nothing logged."""

    def __init__(self, reason: str, *, after: float) -> None:
        super().__init__(reason)
        self.after = after


class Fail(Exception):
    """The party refuses this row for good; retrying would not help."""


class Booked(float):
    """What `Sender.hold` answers when it booked the row a slot that many seconds away: the
    row is put off until then, and goes when taken again (`OutboxRow.booked`), by this
    instance or another."""


Load = Callable[[OutboxRow], Callable[[Tx], Any]]
"""What a sender needs read for a row, asked as the row is taken: run in the same
transaction, its answer handed over as `OutboxRow.loaded` (one trip to the database fewer)."""

Full = Callable[[], Collection[str]]
"""The channels a sender has no room for now: rows whose payload names one are left in the
outbox, not taken only to be put off (see `Tx.take_due`)."""

Settle = Callable[[Tx], None]
"""What a sender records of a delivery, run in the transaction that removes its row: one
commit for both, and a crash keeps neither or both."""


class Sender(Protocol):
    async def hold(self, row: OutboxRow) -> float:
        """Seconds this row must wait before it may go (0 = now; `Booked` when a slot was
        booked for it). A row held back is deferred without counting as an attempt, and
        its worker moves on."""
        ...

    async def send(self, row: OutboxRow) -> Settle | None:
        """Deliver one row, or raise `Retry`, `Defer` or `Fail`. `row.maybe_sent` is True when an
        earlier attempt may have reached the party (a crash, a timeout). What it returns, if
        anything, is recorded as the row is removed."""
        ...

    async def delivered(self, row: OutboxRow) -> None:
        """The row went out: tell whom it concerns. This runs before the row leaves the
        outbox, so what it queues is there first (a crash in between sends the row again).
        Raising `Unavailable` (its one transaction undone) makes it run again later."""
        ...

    async def failed(self, row: OutboxRow, reason: Fail) -> None:
        """The row was given up on (refused, or out of retries): tell whom it concerns.
        This too runs before the row is marked failed."""
        ...


def backoff(attempts: int, base: float, cap: float) -> float:
    """Capped exponential backoff with jitter: in [d/2, d], d = min(cap, base * 2^(n-1))."""
    delay = min(cap, base * 2 ** max(attempts - 1, 0))
    return random.uniform(delay / 2, delay)


class Drainer:
    def __init__(
        self,
        store: Store,
        target: str,
        sender: Sender,
        pulse: Pulse,
        *,
        retry_base: float,
        retry_max: float,
        metrics: Metrics,
        max_attempts: int = 0,
        max_age: float = 0,
        concurrency: int = 32,
        load: Load | None = None,
        full: Full | None = None,
        holder: str = "",
    ) -> None:
        """`max_attempts` and `max_age` (seconds since the row was written) bound the
        retries, 0 meaning no bound; past them the row is dead-lettered. `load`: what the
        sender wants read with each row it is given; `full`: the channels it has no room
        for now; `holder`: who this instance is to the others sharing the database (its
        host and address: the same after a restart)."""
        self._store = store
        self._holder = holder
        self._target = target
        self._sender = sender
        self._pulse = pulse
        self._retry_base = retry_base
        self._retry_max = retry_max
        self._max_attempts = max_attempts
        self._max_age = max_age
        self._concurrency = concurrency
        self._load = load
        self._full = full
        self._outcomes = {
            outcome: metrics.deliveries.labels(target, outcome)
            for outcome in ("delivered", "deferred", "retried", "failed")
        }
        self._latency = metrics.latency.labels(target)
        self._inflight: dict[str, asyncio.Task[None]] = {}
        self._holding: set[int] = set()  # the ids of the rows being delivered: leased
        self._stopping = False
        # The last take filled every free worker (or found none): other conversations may be
        # waiting, so a worker that is done goes back to the pool rather than on with its
        # conversation, and wakes the drainer.
        self._saturated = False
        # The last take left rows of channels with no room: a worker that is done (and so
        # may have made room) wakes the drainer.
        self._held = False

    async def run(self) -> None:
        now = time.time()
        await _when_stored(
            lambda: self._store.write(lambda tx: tx.release_leases(self._target, now, self._holder))
        )
        renewing = asyncio.create_task(self._renew())
        try:
            await self._drain()
        finally:
            renewing.cancel()
            await asyncio.gather(renewing, return_exceptions=True)

    async def _drain(self) -> None:
        while not self._stopping:
            seen = self._pulse.count
            try:
                wait = await self._start_due()
            except Unavailable:  # the rows wait in the database; the store logged why
                wait = PAUSE
            if wait > 0:
                await self._pulse.wait(seen, wait)

    async def _renew(self) -> None:
        """Keep the leases of the rows being delivered from running out."""
        while not self._stopping:
            await asyncio.sleep(LEASE / 3)
            if held := list(self._holding):
                renew = partial(_renew_leases, held, time.time() + LEASE)
                with contextlib.suppress(Unavailable):  # again in a third of a lease
                    await self._store.write(renew)

    async def _start_due(self) -> float:
        """Start delivering the rows due, as many as there is room for. How long to wait
        before looking again: 0 when some were started."""
        free = self._concurrency - len(self._inflight)
        if free <= 0:
            self._saturated = True
            return 1.0
        now = time.time()
        full = self._full() if self._full is not None else ()
        rows, later = await self._store.write(partial(self._take, now, free, full))
        self._saturated, self._held = len(rows) == free, bool(full)
        for row in rows:
            self._inflight[row.conversation_id] = asyncio.create_task(self._deliver(row))
        if rows:
            return 0.0
        return 1.0 if later is None else min(1.0, max(later - now, 0.001))

    def _take(
        self, now: float, free: int, full: Collection[str], tx: Tx
    ) -> tuple[list[OutboxRow], float | None]:
        """Up to `free` due rows; or, when there are none, when the next falls due."""
        taken = tx.take_due(self._target, now, free, now + LEASE, full, self._holder)
        rows = [self._loaded(tx, row) for row in taken]
        return rows, None if rows else tx.next_due_at(self._target, full)

    def _loaded(self, tx: Tx, row: OutboxRow) -> OutboxRow:
        """The row with what its sender wants read, in the transaction that took it."""
        return row if self._load is None else replace(row, loaded=self._load(row)(tx))

    async def stop(self, timeout: float) -> None:
        """Stop taking rows; let those in flight finish for up to `timeout` seconds. Rows cut
        off stay pending in the database for the next start."""
        self._stopping = True
        self._pulse.fire()
        tasks = list(self._inflight.values())
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=timeout)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    async def _deliver(self, row: OutboxRow) -> None:
        """Deliver `row`, then the rows queued behind it in its conversation while they
        are due and no other conversation waits for a worker."""
        next_row: OutboxRow | None = row
        try:
            while next_row is not None and not self._stopping:
                next_row = await self._deliver_one(next_row)
            if next_row is not None:  # taken, then told to stop before it was tried: put
                # back at once, or another instance could not take it until its lease ran out
                await self._defer(next_row, 0.0, booked=next_row.booked)
        finally:
            self._inflight.pop(row.conversation_id, None)
            if self._saturated or self._held:
                self._pulse.fire()

    async def _deliver_one(self, row: OutboxRow) -> OutboxRow | None:
        """Deliver one row; the next of its conversation when that was taken with it."""
        self._holding.add(row.id)
        try:
            return await self._attempt(row)
        finally:
            self._holding.discard(row.id)

    async def _attempt(self, row: OutboxRow) -> OutboxRow | None:
        try:
            wait = await self._sender.hold(row)
            if wait > 0:
                await self._defer(row, wait, booked=isinstance(wait, Booked))
                return None
            settle = await self._sender.send(row)
        except Defer as exc:
            await self._defer(row, exc.after)
        except Retry as exc:
            after = exc.after if exc.after is not None else self._backoff(row)
            await self._retry(row, str(exc), after, exc.maybe_sent)
        except Fail as exc:
            await self._fail(row, exc)
        except asyncio.CancelledError:
            raise
        except Unavailable:  # the sender could not store what it did
            await self._set_aside(row)
        except Exception as exc:
            await self._crashed(row, "crashed", exc)
        else:
            await self._follow_up(lambda: self._sender.delivered(row), row)
            try:
                next_row = await self._remove(row, settle)
            except Exception as exc:  # what the sender asked to record would not go in
                await self._crashed(row, "could not be recorded", exc)
                return None
            self._count("delivered")
            self._latency.observe(time.time() - row.created_at)
            return next_row
        return None

    async def _crashed(self, row: OutboxRow, what: str, exc: Exception) -> None:
        """Something unforeseen: logged with its traceback, and the row retried as maybe
        sent."""
        log.exception(
            "%s delivery of %s %s",
            self._target,
            row.kind,
            what,
            extra={"conversation": row.conversation_id},
        )
        await self._retry(row, f"{type(exc).__name__}: {exc}", self._backoff(row), True)

    async def _remove(self, row: OutboxRow, settle: Settle | None) -> OutboxRow | None:
        """Record what the sender asked (`settle`) and remove a delivered row; in the same
        transaction, take the next of its conversation if it is due and the workers are not
        all wanted."""
        chain = not self._saturated and not self._stopping

        def remove(tx: Tx) -> OutboxRow | None:
            if settle is not None:
                settle(tx)
            tx.remove_delivered(row.id)
            now = time.time()
            taken = (
                tx.take_next(self._target, row.conversation_id, now, now + LEASE, self._holder)
                if chain
                else None
            )
            return None if taken is None else self._loaded(tx, taken)

        return await _when_stored(lambda: self._store.write(remove))

    async def _defer(self, row: OutboxRow, wait: float, booked: bool = False) -> None:
        at = time.time() + wait
        await self._record(lambda tx: tx.defer(row, at, booked))
        self._count("deferred")

    async def _set_aside(self, row: OutboxRow) -> None:
        """Put the row back for a try after a pause, maybe sent, no attempt counted: an
        outage of the database is no fault of the party's."""
        at = time.time() + PAUSE
        await self._record(lambda tx: tx.defer(replace(row, maybe_sent=True), at))

    async def _record(self, write: Callable[[Tx], None]) -> None:
        """Record what happened to a row (put off, or given up on), once the database takes
        it; then look again at what is due."""
        await _when_stored(lambda: self._store.write(write))
        self._pulse.fire()

    def _backoff(self, row: OutboxRow) -> float:
        return backoff(row.attempts + 1, self._retry_base, self._retry_max)

    async def _fail(self, row: OutboxRow, exc: Fail) -> None:
        """Dead-letter the row: kept as `failed`, logged, and the sender may tell someone."""
        log.error(
            "%s delivery of %s failed for good: %s",
            self._target,
            row.kind,
            exc,
            extra={"conversation": row.conversation_id},
        )
        await self._follow_up(lambda: self._sender.failed(row, exc), row)
        await self._record(lambda tx: tx.mark_failed(row.id, str(exc)))
        self._count("failed")

    async def _follow_up(self, telling: Callable[[], Awaitable[None]], row: OutboxRow) -> None:
        """Run a sender's follow-up (again, while the database cannot take what it
        writes); its failure is logged, and does not hold the row back."""
        try:
            await _when_stored(telling)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception(
                "%s follow-up of %s failed",
                self._target,
                row.kind,
                extra={"conversation": row.conversation_id},
            )

    async def _retry(self, row: OutboxRow, reason: str, after: float, maybe_sent: bool) -> None:
        attempts, age = row.attempts + 1, time.time() - row.created_at
        if (self._max_attempts and attempts >= self._max_attempts) or (
            self._max_age and age + after > self._max_age
        ):
            await self._fail(
                row, Fail(f"gave up after {attempts} attempts in {age:.0f}s; last: {reason}")
            )
            return
        log.warning(
            "%s delivery of %s will be retried in %.1fs: %s",
            self._target,
            row.kind,
            after,
            reason,
            extra={"conversation": row.conversation_id},
        )
        at = time.time() + after
        await self._record(lambda tx: tx.schedule_retry(row.id, at, reason, maybe_sent))
        self._count("retried")

    def _count(self, outcome: str) -> None:
        self._outcomes[outcome].inc()


def _renew_leases(row_ids: list[int], until: float, tx: Tx) -> None:
    tx.renew_leases(row_ids, until)


async def _when_stored(run: Callable[[], Awaitable[T]]) -> T:
    """`run()`, run again each `PAUSE` while it raises `Unavailable`: that undid all it did,
    so another run repeats nothing. (Rarely, PostgreSQL cut off as it commits keeps it all
    the same: a row it took behind the one it settled then waits for its lease to run
    out.) The row's conversation waits meanwhile. Cancelled at stop, the row stays taken
    and maybe sent, for the next start to settle."""
    while True:
        try:
            return await run()
        except Unavailable:
            await asyncio.sleep(PAUSE)
