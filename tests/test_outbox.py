"""The drainer, over a real store, with a sender that only records: what happens around a
delivery, and in which order."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bridge import outbox
from bridge.metrics import Metrics
from bridge.model import utcnow
from bridge.outbox import Drainer, Fail, Load, backoff
from bridge.pulse import Pulse
from bridge.store import Batch, OutboxRow, Store, Tx
from bridge.store.sqlite import SqliteStore


class Recorder:
    """Takes every row but those numbered in `refuse`; each follow-up notes how many rows
    were still pending at that moment, and may break."""

    def __init__(self, store: Store, refuse: set[int], broken: bool = False) -> None:
        self.store = store
        self.refuse = refuse
        self.broken = broken
        self.seen: list[tuple[str, int, int]] = []  # (follow-up, row number, rows pending)

    async def hold(self, row: OutboxRow) -> float:
        return 0.0

    async def send(self, row: OutboxRow) -> None:
        if row.payload["n"] in self.refuse:
            raise Fail("refused")

    async def delivered(self, row: OutboxRow) -> None:
        await self._note("delivered", row)

    async def failed(self, row: OutboxRow, reason: Fail) -> None:
        await self._note("failed", row)

    async def _note(self, what: str, row: OutboxRow) -> None:
        stats = await self.store.read(lambda tx: tx.outbox_stats())
        self.seen.append((what, row.payload["n"], stats.get(("t", "pending"), (0, 0))[0]))
        if self.broken:
            raise RuntimeError("the follow-up broke")


async def run(
    sender: Recorder, rows: int = 3, load: Load | None = None, limit: int = 200
) -> dict[tuple[str, str], tuple[int, float]]:
    """Queue rows 0 to `rows - 1` of one conversation, drain them, and say what is left."""

    def queue(tx: Tx) -> None:
        for n in range(rows):
            tx.enqueue("t", "conv", "message", json.dumps({"n": n}), utcnow())

    await sender.store.write(queue)
    pulse = Pulse()
    drainer = Drainer(
        sender.store, "t", sender, pulse, retry_base=0.01, retry_max=0.01, metrics=Metrics(),
        load=load,
    )  # fmt: skip
    task = asyncio.create_task(drainer.run())
    try:
        for _ in range(limit):
            stats = await sender.store.read(lambda tx: tx.outbox_stats())
            if ("t", "pending") not in stats:
                return stats
            await asyncio.sleep(0.01)
        raise AssertionError(f"the outbox did not drain: {stats}")
    finally:
        await drainer.stop(1)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_follow_ups_run_while_the_row_is_still_queued(store: Store) -> None:
    """What a delivery sets off (a receipt, a notice) is queued before the row leaves the
    outbox: the outbox is never empty while a follow-up is on its way."""
    sender = Recorder(store, refuse={1})
    left = await run(sender)
    assert sender.seen == [("delivered", 0, 3), ("failed", 1, 2), ("delivered", 2, 1)]
    assert left[("t", "failed")][0] == 1


async def test_a_broken_follow_up_does_not_hold_the_row_back(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, "bridge.outbox")
    sender = Recorder(store, refuse=set(), broken=True)
    assert await run(sender) == {}
    assert [n for _, n, _ in sender.seen] == [0, 1, 2]
    assert sum("follow-up of message failed" in r.getMessage() for r in caplog.records) == 3


def test_backoff_is_capped_and_jittered() -> None:
    for attempts in range(1, 12):
        delay = min(8.0, 0.5 * 2 ** (attempts - 1))
        waits = {backoff(attempts, 0.5, 8.0) for _ in range(50)}
        assert all(delay / 2 <= w <= delay for w in waits)
        assert len(waits) > 1  # jitter: retries of many rows do not line up


class Takes:
    """The store's observer: how many times the drainer went to the pool for rows."""

    def __init__(self) -> None:
        self.count = 0

    def transaction(self, body: Callable[..., Any], writes: bool, seconds: float) -> None:
        if getattr(body, "func", body).__qualname__ == "Drainer._take":
            self.count += 1

    def batch(self, batch: Batch) -> None:
        pass


async def test_a_conversation_s_queue_goes_on_in_one_worker(tmp_path: Path) -> None:
    """Removing a delivered row takes the next of its conversation in the same
    transaction: a backlog goes out in order without a trip back to the pool for each."""
    takes = Takes()
    store = await SqliteStore.open(tmp_path / "c.db", observer=takes)
    sent: list[int] = []

    class InOrder(Recorder):
        async def send(self, row: OutboxRow) -> None:
            sent.append(row.payload["n"])

    try:
        assert await run(InOrder(store, set()), rows=10) == {}
        assert sent == list(range(10))
        assert takes.count <= 3  # the first take, and looks that found nothing more
    finally:
        await store.close()


async def test_what_a_sender_records_goes_in_with_the_row_s_removal(store: Store) -> None:
    """A sender's record of a delivery is written in the transaction that removes the row;
    when it cannot be, the row is not lost but retried."""
    broken = [True]

    class Settling(Recorder):
        async def send(self, row: OutboxRow) -> Callable[[Tx], None]:
            def record(tx: Tx) -> None:
                if row.payload["n"] == 1 and broken:
                    broken.pop()
                    raise RuntimeError("the record would not go in")
                tx.remember_key("sent", str(row.payload["n"]), "f", row.id, utcnow())

            return record

    left = await run(Settling(store, set()))
    assert left == {}
    recorded = await store.read(lambda tx: [tx.recall_key("sent", str(n)) for n in range(3)])
    assert all(r is not None for r in recorded) and broken == []


async def test_what_a_sender_wants_read_comes_with_the_row(store: Store) -> None:
    """`load` is read in the transaction that takes each row, the first of a conversation
    and those taken after it alike, and handed over as `row.loaded`."""
    loaded: list[Any] = []

    class Reading(Recorder):
        async def send(self, row: OutboxRow) -> None:
            loaded.append(row.loaded)

    def load(row: OutboxRow) -> Callable[[Tx], Any]:
        return lambda tx: (row.payload["n"], tx.outbox_stats()[("t", "pending")][0])

    assert await run(Reading(store, set()), load=load) == {}
    # Each read as its row was taken: the rows before it already gone.
    assert loaded == [(0, 3), (1, 2), (2, 1)]


async def test_rows_a_run_left_taken_go_out_as_soon_as_the_next_starts(store: Store) -> None:
    """A row taken by a run that ended before settling it (a crash) is leased for long;
    the next run releases the lease at start, so it goes out at once, as maybe sent."""
    maybe_sent: list[bool] = []

    class Noting(Recorder):
        async def send(self, row: OutboxRow) -> None:
            maybe_sent.append(row.maybe_sent)

    await store.write(lambda tx: tx.enqueue("t", "conv", "message", '{"n": 0}', utcnow()))
    await store.write(lambda tx: tx.take_due("t", time.time(), 1, time.time() + 3600))
    assert await run(Noting(store, set()), rows=0) == {}
    assert maybe_sent == [True]


async def test_a_row_taken_as_the_drainer_stops_is_put_back_untried(store: Store) -> None:
    """The next row of a conversation, taken in the transaction that removes the one before,
    is put back if the drainer was told to stop meanwhile: due at once for whoever drains
    next (another instance, say), not held until its lease runs out."""
    tried: list[int] = []
    stopping: list[asyncio.Task[None]] = []
    loop = asyncio.get_running_loop()

    class StoppedMidway(Recorder):
        async def send(self, row: OutboxRow) -> Callable[[Tx], None] | None:
            tried.append(row.payload["n"])
            if row.payload["n"] != 0:
                return None

            def record(tx: Tx) -> None:  # in the removal's transaction: the stop comes now
                loop.call_soon_threadsafe(lambda: stopping.append(loop.create_task(stop())))

            return record

    def queue(tx: Tx) -> None:
        for n in range(2):
            tx.enqueue("t", "conv", "message", json.dumps({"n": n}), utcnow())

    await store.write(queue)
    drainer = Drainer(
        store, "t", StoppedMidway(store, set()), Pulse(), retry_base=1, retry_max=1,
        metrics=Metrics(),
    )  # fmt: skip

    async def stop() -> None:
        await drainer.stop(5)

    task = asyncio.create_task(drainer.run())
    for _ in range(500):
        if stopping:
            break
        await asyncio.sleep(0.01)
    await stopping[0]
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert tried == [0]
    now = time.time()
    again = await store.write(lambda tx: tx.take_due("t", now, 10, now + 60))
    assert [(row.payload["n"], row.attempts, row.maybe_sent) for row in again] == [(1, 0, False)]


async def test_a_lease_lasts_as_long_as_its_delivery(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A delivery longer than a lease renews it: the row is not taken again meanwhile."""
    monkeypatch.setattr(outbox, "LEASE", 0.3)
    sends: list[int] = []

    class Slow(Recorder):
        async def send(self, row: OutboxRow) -> None:
            sends.append(row.payload["n"])
            await asyncio.sleep(1.2)  # four leases' time

    assert await run(Slow(store, set()), rows=1, limit=300) == {}
    assert sends == [0]
