"""The service on PostgreSQL (work in progress for #16): the row functions SQLite's store
runs, in PostgreSQL's dialect, through a handoff, a reply, the outbox and an approval."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from bridge.events import Target
from bridge.model import AgentProfile, ApprovalStatus, Decision, TextMessage, TextPayload
from bridge.service import Policy, Service
from bridge.store.postgres import PgStore

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
