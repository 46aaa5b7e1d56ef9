"""Approvals: the bot asks a human to approve, edit or reject a draft before it says it.

A request is posted in Slack (its conversation's thread, or its channel); an agent's decision
comes back through the Slack wing's intake, like a button on a handoff; the bot hears
`approvalDecided` in order with its conversation's other events. Time runs out at
`expires_at`, with one reminder at three quarters of it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from bridge.events import (
    Agent,
    ApprovalDecided,
    ApprovalNotice,
    ApprovalReminder,
    DecidedPayload,
    DecidedStatus,
    PostApproval,
    Target,
    UpdateApproval,
    Why,
)
from bridge.model import (
    AgentProfile,
    Approval,
    ApprovalStatus,
    Content,
    Decision,
    Status,
    TextMessage,
    TextPayload,
    User,
    iso,
    new_id,
)
from bridge.pulse import Pulse
from bridge.service.core import Core
from bridge.service.errors import Decided, NotFound, Stopped
from bridge.service.work import Idem, Work, seen_as
from bridge.store import Tx

# When the one reminder falls due: this much of the request's time gone.
REMIND_AT = 0.75


@dataclass(frozen=True, slots=True)
class Seen:
    """An approval request as the bot reads it: with who decided it, as the bot sees them."""

    approval: Approval
    agent: Agent | None


@dataclass(frozen=True, slots=True)
class Verdict:
    """What an agent's decision did, for logs and tests."""

    status: ApprovalStatus | None = None  # what it was decided as
    ignored: str | None = None  # why nothing happened


class ApprovalCommands:
    def __init__(self, core: Core) -> None:
        self._core = core
        self.requested = Pulse()  # a new request: its clocks may fall due before the others

    async def request(
        self,
        draft: Content,
        *,
        expires_in: float | None = None,
        title: str | None = None,
        context: str | None = None,
        conversation_id: str | None = None,
        user_id: str | None = None,
        queue: str | None = None,
        idem: Idem | None = None,
    ) -> str:
        """Ask for a decision on `draft`: in the conversation's thread, or as a new message
        in the queue's channel. `NotFound` / `Stopped` for a conversation it cannot go in,
        `Invalid` for a `user_id` that names no end user."""
        approval_id = new_id("apv")
        now = self._core.clock()
        lasts = timedelta(seconds=expires_in or self._core.policy.approval_timeout)

        def request(w: Work) -> str:
            conv = w.conversation(conversation_id) if conversation_id else None
            if conv is not None and conv.status is Status.STOPPED:
                raise Stopped()
            if user_id is not None:
                w.end_user(user_id)
            approval = Approval(
                id=approval_id,
                status=ApprovalStatus.PENDING,
                draft=draft,
                message=None,
                comment=None,
                decider_id=None,
                conversation_id=conversation_id,
                user_id=user_id,
                title=title,
                context=context,
                channel=conv.channel if conv else self._core.policy.channel_for(queue),
                thread_ts=None,
                ts=None,
                permalink=None,
                created_at=now,
                expires_at=now + lasts,
                decided_at=None,
            )
            w.tx.insert_approval(approval, now + lasts * REMIND_AT)
            w.to_slack_in(approval.line, approval.channel, PostApproval(approvalId=approval_id))
            w.remember(idem, approval_id)
            return approval_id

        await self._core.write(request)
        self.requested.fire()
        return approval_id

    async def get(self, approval_id: str) -> Seen:
        def read(tx: Tx) -> Seen:
            approval = tx.approval(approval_id)
            if approval is None:
                raise NotFound(approval_id)
            decider = tx.user(approval.decider_id) if approval.decider_id else None
            seen = seen_as(self._core.policy, decider) if decider else None
            return Seen(approval, seen)

        return await self._core.read(read)

    async def cancel(self, approval_id: str, idem: Idem | None = None) -> None:
        """Withdraw a pending request: its message says so, and the bot hears nothing (it
        asked). Cancelling a cancelled one does nothing; a decided or expired one:
        `Decided`."""

        def cancel(w: Work) -> None:
            approval = _approval(w, approval_id)
            if approval.status is ApprovalStatus.PENDING:
                _settle(w, approval, ApprovalStatus.CANCELLED)
            elif approval.status is not ApprovalStatus.CANCELLED:
                raise Decided()
            w.remember(idem, {})

        await self._core.write(cancel)

    async def intake(self, approval_id: str, payload: dict[str, Any]) -> bool:
        """Keep an agent's decision (`payload`: what the Slack wing needs to handle it), in
        order with the rest of the request's line, to be handled once Slack has its answer.
        False when no such request exists."""

        def keep(w: Work) -> bool:
            approval = w.tx.approval(approval_id)
            if approval is None:
                return False
            w.enqueue(Target.SLACK_IN, approval.line, "decision", payload)
            return True

        return await self._core.write(keep)

    async def tell(self, approval_id: str, user: str, why: Why) -> None:
        """Tell `user` (a Slack user id), in a notice only they see, that what they did on
        the request could not be done (a form Slack would not open)."""

        def tell(w: Work) -> None:
            approval = w.tx.approval(approval_id)
            if approval is not None:
                notice = ApprovalNotice(approvalId=approval.id, user=user, why=why)
                w.to_slack_in(approval.line, approval.channel, notice)

        await self._core.write(tell)

    async def decide(
        self,
        approval_id: str,
        decision: Decision,
        agent: AgentProfile,
        *,
        allowed: bool = True,
        text: str | None = None,
        comment: str | None = None,
    ) -> Verdict:
        """An agent decides: Approve; Edit with `text` (the same text as the draft's is an
        approval); Reject, with `comment` if they gave a reason. The first decision wins;
        anyone after it, or not `allowed` (not one of the agents), is told why nothing
        happened."""

        def decide(w: Work) -> tuple[Verdict, float | None]:
            approval = w.tx.approval(approval_id)
            if approval is None:
                return Verdict(ignored="no such approval request"), None
            if not allowed or approval.status is not ApprovalStatus.PENDING:
                why = Why.NOT_ALLOWED if not allowed else Why.STALE
                notice = ApprovalNotice(approvalId=approval.id, user=agent.slack_user_id, why=why)
                w.to_slack_in(approval.line, approval.channel, notice)
                return Verdict(ignored=f"{why.value}: {approval.status.value}"), None
            status, message = _outcome(approval.draft, decision, text)
            decider = w.agent(agent)
            settled = _settle(w, approval, status, message, comment or None, decider)
            waited = (settled.decided_at or w.now()) - approval.created_at
            return Verdict(status=status), waited.total_seconds()

        verdict, waited = await self._core.write(decide)
        if verdict.status is not None and waited is not None:
            self._core.metrics.approvals.labels(verdict.status.value).inc()
            self._core.metrics.approval_time.observe(waited)
        return verdict

    async def remind(self, limit: int = 100) -> int:
        """Post the reminders due: three quarters of a request's time gone undecided."""
        now = self._core.clock()

        def remind(w: Work) -> int:
            due = w.tx.due_approval_reminders(now, limit)
            for approval in due:
                left = int((approval.expires_at - now).total_seconds())
                reminder = ApprovalReminder(approvalId=approval.id, left=max(left, 0))
                w.to_slack_in(approval.line, approval.channel, reminder)
            return len(due)

        return await self._core.write(remind)

    async def next_due(self) -> datetime | None:
        """When the next reminder or expiry falls due (None: nothing pending)."""
        return await self._core.read(lambda tx: tx.next_approval_due())

    async def expire(self, limit: int = 100) -> int:
        """End the requests whose time is up: `expired`, and the bot hears it."""
        now = self._core.clock()

        def expire(w: Work) -> int:
            expired = w.tx.expired_approvals(now, limit)
            for approval in expired:
                _settle(w, approval, ApprovalStatus.EXPIRED)
            return len(expired)

        count = await self._core.write(expire)
        if count:
            self._core.metrics.approvals.labels(ApprovalStatus.EXPIRED.value).inc(count)
        return count


def _approval(w: Work, approval_id: str) -> Approval:
    approval = w.tx.approval(approval_id)
    if approval is None:
        raise NotFound(approval_id)
    return approval


def _outcome(
    draft: Content, decision: Decision, text: str | None
) -> tuple[ApprovalStatus, Content | None]:
    """What a decision makes of the draft: its status, and the message to send, if any."""
    if decision is Decision.REJECT:
        return ApprovalStatus.REJECTED, None
    if decision is Decision.EDIT and text is not None:
        unchanged = draft.type == "text" and draft.payload.text == text
        if not unchanged:
            return ApprovalStatus.EDITED, TextMessage(type="text", payload=TextPayload(text=text))
    return ApprovalStatus.APPROVED, draft


def _settle(
    w: Work,
    approval: Approval,
    status: ApprovalStatus,
    message: Content | None = None,
    comment: str | None = None,
    decider: User | None = None,
) -> Approval:
    """Settle a pending request for good: its Slack message rewritten, and, unless it was
    cancelled (the bot asked), `approvalDecided` for the bot."""
    settled = dataclasses.replace(
        approval,
        status=status,
        message=message,
        comment=comment,
        decider_id=decider.id if decider else None,
        decided_at=w.now(),
    )
    w.tx.settle_approval(settled)
    w.to_slack_in(approval.line, approval.channel, UpdateApproval(approvalId=approval.id))
    if status is not ApprovalStatus.CANCELLED:
        payload = DecidedPayload(
            approvalId=approval.id,
            conversationId=approval.conversation_id,
            status=cast(DecidedStatus, status.value),
            message=message,
            comment=comment,
            userId=decider.id if decider else None,
            agent=w.as_seen(decider) if decider else None,
        )
        event = ApprovalDecided(id=new_id("evt"), createdAt=iso(w.now()), payload=payload)
        w.event_in(approval.line, event)
    return settled
