"""The service on PostgreSQL (work in progress for #16): the row functions SQLite's store
runs, in PostgreSQL's dialect, through a handoff, a reply, the outbox and an approval."""

from __future__ import annotations

import asyncio
import json
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from bridge.events import Target
from bridge.metrics import Metrics
from bridge.model import (
    Action,
    AgentProfile,
    ApprovalStatus,
    Decision,
    Role,
    TextMessage,
    TextPayload,
    User,
    utcnow,
)
from bridge.outbox import Drainer, Fail
from bridge.pulse import Pulse
from bridge.service import Policy, Service
from bridge.store import OutboxRow, Tx
from bridge.store.pg_migrations import migrate
from bridge.store.pg_rows import PgTx, row_factory
from bridge.store.postgres import PgStore
from bridge.store.writable import SETTLE, Unavailable
from bridge.testing.waiting import wait_until

ALICE = AgentProfile("U0ALICE", "Alice", None, "alice@example.com")


def text(words: str) -> TextMessage:
    return TextMessage(type="text", payload=TextPayload(text=words))


async def test_a_handoff_and_an_approval_on_postgresql(postgres_url: str) -> None:
    store = await PgStore.open(postgres_url)
    try:
        service = Service(store, Policy(channel_for=lambda q: "C0HOME", webhooks=True))
        user = await service.bot.create_user("Erin", None, "erin@example.com")
        conv = await service.bot.start_hitl(
            user, title="Refund", description=None, history=[], session=None
        )

        # The parent goes out: taken under a lease, not due again, then removed.
        now = time.time()
        taken = await store.write(lambda tx: tx.take_due("slack", now, 10, now + 60))
        assert [r.kind for r in taken] == ["post_parent"]
        assert await store.write(lambda tx: tx.take_due("slack", now, 10, now + 60)) == []
        view = await store.read(lambda tx: tx.view(conv))
        assert view is not None and view.user is not None and view.user.name == "Erin"
        await service.deliveries.posted([f"parent:{conv}"], conv, "C0HOME", "1.000001", parent=True)
        await store.write(lambda tx: tx.remove_delivered(taken[0].id))

        # An agent replies: claimed, relayed, and the retry of Slack's event is harmless.
        for _ in range(2):
            await service.agents.reply(
                event_id="Ev1", channel="C0HOME", thread_ts="1.000001", ts="2.000001",
                agent=ALICE, content=text("Hello Erin"),
            )  # fmt: skip
        events, last = await service.bot.events_after(0, 10)
        assert [e.body["type"] for e in events] == ["hitlAssigned", "message"]
        assert last == events[-1].seq

        # An approval in the conversation, decided once.
        approval_id = await service.approvals.request(text("Refund sent"), conversation_id=conv)
        verdict = await service.approvals.decide(approval_id, Decision.APPROVE, ALICE)
        assert verdict.status is ApprovalStatus.APPROVED
        late = await service.approvals.decide(approval_id, Decision.REJECT, ALICE)
        assert late.status is None
        seen = await service.approvals.get(approval_id)
        assert seen.agent is not None and seen.agent.name == "Alice"
        events, _ = await service.bot.events_after(0, 10)
        assert events[-1].body["type"] == "approvalDecided"

        # The rest of what the timers and App Home read.
        figures = await service.overview.figures(datetime(2026, 1, 1, tzinfo=UTC))
        assert figures.handoffs == 1
        assert await store.read(lambda tx: tx.has_queued(Target.BOT, conv))
        assert await service.secret("links") == await service.secret("links")
        await service.timers.prune()
    finally:
        await store.close()


async def test_two_instances_drain_one_outbox_each_row_once_in_order(postgres_url: str) -> None:
    """Two bridges' drainers on one database at once: a row is taken by one of them at a
    time (locked as it is taken, leased once taken), and each conversation's rows go out in
    order, whichever instance sends them."""
    stores = [await PgStore.open(postgres_url) for _ in range(2)]
    sent: list[tuple[int, str, int]] = []  # (instance, conversation, n)

    class Sender:
        def __init__(self, instance: int) -> None:
            self.instance = instance

        async def hold(self, row: OutboxRow) -> float:
            return 0.0

        async def send(self, row: OutboxRow) -> None:
            sent.append((self.instance, row.conversation_id, row.payload["n"]))
            await asyncio.sleep(0.001)

        async def delivered(self, row: OutboxRow) -> None:
            pass

        async def failed(self, row: OutboxRow, reason: Fail) -> None:
            raise AssertionError(reason)

    def queue(tx: Tx) -> None:
        for n in range(10):
            for c in range(20):
                tx.enqueue("bot", f"conv{c}", "event", json.dumps({"n": n}), utcnow())

    await stores[0].write(queue)
    drainers = [
        Drainer(store, "bot", Sender(i), Pulse(), retry_base=0.01, retry_max=0.01,
                metrics=Metrics(), concurrency=8)
        for i, store in enumerate(stores)
    ]  # fmt: skip
    tasks = [asyncio.create_task(d.run()) for d in drainers]
    try:
        await wait_until(lambda: len(sent) >= 200, 30)
        await asyncio.sleep(0.3)  # a row taken twice would be sent by now
    finally:
        for d in drainers:
            await d.stop(1)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for store in stores:
            await store.close()
    assert len(sent) == 200
    for c in range(20):
        assert [n for _, conv, n in sent if conv == f"conv{c}"] == list(range(10))
    assert {i for i, _, _ in sent} == {0, 1}  # both took part


async def test_two_instances_deciding_at_once_decide_once(postgres_url: str) -> None:
    """Two agents, each on another instance, claim the same handoff and decide the same
    approval request at the same moment: one claim and one decision win, once."""
    stores = [await PgStore.open(postgres_url) for _ in range(2)]
    try:
        services = [
            Service(store, Policy(channel_for=lambda q: "C0HOME", webhooks=True))
            for store in stores
        ]
        first = services[0]
        user = await first.bot.create_user("Erin", None, None)
        conv = await first.bot.start_hitl(
            user, title=None, description=None, history=[], session=None
        )
        agents = [ALICE, AgentProfile("U0BOB", "Bob", None, None)]
        for _ in range(5):
            await asyncio.gather(
                *(
                    s.agents.act(Action.CLAIM, conv, a)
                    for s, a in zip(services, agents, strict=True)
                )
            )
            await first.agents.act(Action.RELEASE, conv, ALICE)
            await first.agents.act(Action.RELEASE, conv, agents[1])
            approval = await first.approvals.request(text("Refund sent"))
            verdicts = await asyncio.gather(
                *(
                    s.approvals.decide(approval, Decision.APPROVE, a)
                    for s, a in zip(services, agents, strict=True)
                )
            )
            assert sorted(v.status is not None for v in verdicts) == [False, True]
        events, _ = await first.bot.events_after(0, 100)
        kinds = [e.body["type"] for e in events]
        assert kinds.count("hitlAssigned") == 5 and kinds.count("approvalDecided") == 5
    finally:
        for store in stores:
            await store.close()


async def test_timers_of_two_instances_fire_once(postgres_url: str) -> None:
    """Both instances run their timers at the same moment, over everything due: each
    conversation times out once, and each approval request expires once."""
    later = datetime(2030, 1, 1, tzinfo=UTC)
    stores = [await PgStore.open(postgres_url) for _ in range(2)]
    try:
        policy = Policy(channel_for=lambda q: "C0HOME", webhooks=True)
        first = Service(stores[0], policy)
        user = await first.bot.create_user("Erin", None, None)
        for _ in range(30):
            await first.bot.start_hitl(user, title=None, description=None, history=[], session=None)
            await first.approvals.request(text("Refund sent"), expires_in=10)
        services = [Service(store, policy, clock=lambda: later) for store in stores]
        stopped = await asyncio.gather(
            *(s.timers.expire_waiting(timedelta(seconds=1), limit=10) for s in services * 3)
        )
        expired = await asyncio.gather(*(s.approvals.expire(limit=10) for s in services * 3))
        assert (sum(stopped), sum(expired)) == (30, 30)
        events, _ = await first.bot.events_after(0, 100)
        kinds = [e.body["type"] for e in events]
        assert (kinds.count("hitlStopped"), kinds.count("approvalDecided")) == (30, 30)
    finally:
        for store in stores:
            await store.close()


async def test_a_lost_connection_is_opened_again(postgres_url: str) -> None:
    store = await PgStore.open(postgres_url)
    try:
        service = Service(store, Policy(channel_for=lambda q: "C0HOME", webhooks=True))
        await service.bot.create_user("Erin", None, None)

        # Cut off between transactions (a restart, a failover): the next one runs on a new
        # connection, and nobody notices.
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        await service.bot.create_user("Finn", None, None)

        # Cut off in the middle of one, before its COMMIT: nothing of it was kept, and it
        # runs again on a new connection.
        runs = []

        def cut_off_once(tx: Tx) -> None:
            runs.append(1)
            tx.insert_user(User("u_once", Role.END_USER, "Once", None, None), utcnow())
            if len(runs) == 1:
                assert isinstance(tx, PgTx)
                tx._run("SELECT pg_terminate_backend(pg_backend_pid())")

        await store.write(cut_off_once)
        assert len(runs) == 2 and await store.read(lambda tx: tx.user("u_once")) is not None

        # Cut off each time (PostgreSQL going away): it says so (503), and the database is
        # known not to take writes until one goes through again.
        def cut_off(tx: Tx) -> None:
            tx.insert_user(User("u_lost", Role.END_USER, "Lost", None, None), utcnow())
            assert isinstance(tx, PgTx)
            tx._run("SELECT pg_terminate_backend(pg_backend_pid())")

        with pytest.raises(Unavailable):
            await store.write(cut_off)
        assert store.cannot_write is not None
        assert await store.read(lambda tx: tx.user("u_lost")) is None
        await asyncio.sleep(SETTLE)
        assert await store.takes_writes()
        assert store.cannot_write is None
    finally:
        await store.close()


def test_a_row_queued_while_its_head_is_settled_elsewhere_becomes_the_head(
    postgres_url: str,
) -> None:
    """Two instances at once: one queues a second row in a conversation while the other
    removes the first, delivered. Neither sees the other's row as it works; the new row
    must still become the head, or it would never be taken."""
    with psycopg.connect(postgres_url, row_factory=row_factory) as setup:
        migrate(setup)
        PgTx(setup).enqueue("bot", "conv_1", "event", "{}", utcnow())
        setup.commit()
        (first,) = PgTx(setup).take_due("bot", time.time() + 1, 1, time.time() + 60)
        setup.commit()

    queuing = psycopg.connect(postgres_url, row_factory=row_factory)
    settling = psycopg.connect(postgres_url, row_factory=row_factory)
    try:
        PgTx(queuing).enqueue("bot", "conv_1", "event", '{"n": 2}', utcnow())  # not committed

        def settle() -> None:
            PgTx(settling).remove_delivered(first.id)
            settling.commit()

        with ThreadPoolExecutor(1) as pool:
            settled = pool.submit(settle)
            time.sleep(0.3)  # the removal is under way, waiting or not
            queuing.commit()
            settled.result(timeout=10)
        (head,) = PgTx(queuing).take_due("bot", time.time() + 1, 1, time.time() + 60)
        assert head.payload == {"n": 2}
    finally:
        queuing.close()
        settling.close()


async def test_a_server_that_takes_no_writes_is_unavailable_until_it_does(
    postgres_url: str,
) -> None:
    """As after a failover, when the connection lands on a standby: 503, not 500; and the
    bridge finds the writable server again by itself."""
    store = await PgStore.open(postgres_url)
    try:
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute(
                "ALTER DATABASE "
                + postgres_url.rsplit("/", 1)[1]
                + " SET default_transaction_read_only = on"
            )
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            with pytest.raises(Unavailable):
                await store.write(lambda tx: tx.probe())
            assert store.cannot_write is not None
            admin.execute(
                "ALTER DATABASE "
                + postgres_url.rsplit("/", 1)[1]
                + " RESET default_transaction_read_only"
            )
        await asyncio.sleep(SETTLE)
        assert await store.takes_writes()
    finally:
        await store.close()
