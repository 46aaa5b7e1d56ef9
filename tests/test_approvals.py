"""Approvals in the core, over a real store, on a clock the test moves: what a request, a
decision, a reminder, an expiry and a cancel decide, and what they queue for whom."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bridge.events import (
    ApprovalNotice,
    ApprovalReminder,
    PostApproval,
    Target,
    UpdateApproval,
    Why,
)
from bridge.model import AgentProfile, ApprovalStatus, Decision, TextMessage, TextPayload
from bridge.service import Decided, Policy, Service
from bridge.store.sqlite import SqliteStore
from tests.test_service import queued

START = datetime(2026, 12, 4, 9, 30, tzinfo=UTC)
ALICE = AgentProfile("U0ALICE", "Alice", None, "alice@example.com")
BOB = AgentProfile("U0BOB", "Bob", None, None)
DRAFT = TextMessage(type="text", payload=TextPayload(text="Your refund is on its way."))


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def service(store: SqliteStore, clock: Clock) -> Service:
    policy = Policy(channel_for=lambda queue: "C0HOME", webhooks=True, approval_timeout=600)
    return Service(store, policy, clock=clock)


async def test_one_reminder_at_three_quarters_then_expired(
    service: Service, clock: Clock, tmp_path: Path
) -> None:
    approval_id = await service.approvals.request(DRAFT, expires_in=100)
    assert queued(tmp_path / "b.db", Target.SLACK) == [PostApproval(approvalId=approval_id)]
    assert await service.approvals.next_due() == START + timedelta(seconds=75)

    clock.now = START + timedelta(seconds=74)
    assert (await service.approvals.remind(), await service.approvals.expire()) == (0, 0)
    clock.now = START + timedelta(seconds=75)
    assert await service.approvals.remind() == 1
    assert await service.approvals.remind() == 0  # one reminder only
    reminder = ApprovalReminder(approvalId=approval_id, left=25)
    assert queued(tmp_path / "b.db", Target.SLACK)[-1] == reminder
    assert await service.approvals.next_due() == START + timedelta(seconds=100)

    clock.now = START + timedelta(seconds=100)
    assert await service.approvals.expire() == 1
    seen = await service.approvals.get(approval_id)
    assert seen.approval.status is ApprovalStatus.EXPIRED and seen.agent is None
    assert queued(tmp_path / "b.db", Target.SLACK)[-1] == UpdateApproval(approvalId=approval_id)
    (event,) = queued(tmp_path / "b.db", Target.BOT)
    assert isinstance(event, dict)
    assert event["payload"] == {
        "approvalId": approval_id,
        "conversationId": None,
        "status": "expired",
    }  # no message, no decider
    assert await service.approvals.next_due() is None
    assert await service.approvals.decide(approval_id, Decision.APPROVE, ALICE) is not None
    assert (await service.approvals.get(approval_id)).approval.status is ApprovalStatus.EXPIRED


async def test_the_bridge_s_timeout_is_the_default(service: Service) -> None:
    approval_id = await service.approvals.request(DRAFT)
    seen = await service.approvals.get(approval_id)
    assert seen.approval.expires_at - seen.approval.created_at == timedelta(seconds=600)


async def test_an_edit_to_the_same_text_is_an_approval(service: Service) -> None:
    approval_id = await service.approvals.request(DRAFT)
    verdict = await service.approvals.decide(
        approval_id, Decision.EDIT, ALICE, text=DRAFT.payload.text
    )
    assert verdict.status is ApprovalStatus.APPROVED
    assert (await service.approvals.get(approval_id)).approval.message == DRAFT


async def test_the_first_decision_wins_and_the_others_are_told(
    service: Service, tmp_path: Path
) -> None:
    approval_id = await service.approvals.request(DRAFT)
    first = await service.approvals.decide(approval_id, Decision.REJECT, ALICE, comment="No")
    second = await service.approvals.decide(approval_id, Decision.APPROVE, BOB)
    assert first.status is ApprovalStatus.REJECTED and second.status is None
    told = ApprovalNotice(approvalId=approval_id, user="U0BOB", why=Why.STALE)
    assert queued(tmp_path / "b.db", Target.SLACK_ASIDE) == [told]
    seen = await service.approvals.get(approval_id)
    assert seen.approval.comment == "No" and seen.agent is not None
    assert seen.agent.slackUserId == "U0ALICE"


async def test_someone_not_an_agent_decides_nothing(service: Service, tmp_path: Path) -> None:
    approval_id = await service.approvals.request(DRAFT)
    verdict = await service.approvals.decide(approval_id, Decision.APPROVE, BOB, allowed=False)
    assert verdict.status is None
    told = ApprovalNotice(approvalId=approval_id, user="U0BOB", why=Why.NOT_ALLOWED)
    assert queued(tmp_path / "b.db", Target.SLACK_ASIDE) == [told]
    assert (await service.approvals.get(approval_id)).approval.status is ApprovalStatus.PENDING


async def test_a_cancelled_request_is_settled_quietly(service: Service, tmp_path: Path) -> None:
    approval_id = await service.approvals.request(DRAFT)
    await service.approvals.cancel(approval_id)
    await service.approvals.cancel(approval_id)  # again: nothing more
    assert queued(tmp_path / "b.db", Target.BOT) == []
    assert queued(tmp_path / "b.db", Target.SLACK) == [
        PostApproval(approvalId=approval_id),
        UpdateApproval(approvalId=approval_id),
    ]
    decided = await service.approvals.request(DRAFT)
    await service.approvals.decide(decided, Decision.APPROVE, ALICE)
    with pytest.raises(Decided):
        await service.approvals.cancel(decided)
