"""What the senders read for a delivery, and what they report back once it is made or given
up on."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bridge.events import (
    BotEvent,
    Ephemeral,
    Failure,
    FailureNotice,
    MessageEvent,
    React,
    Receipt,
    SlackKind,
    Target,
    Why,
)
from bridge.model import Approval, Conversation, HistoryItem, Origin, User
from bridge.service.core import Core
from bridge.service.errors import NotFound
from bridge.service.work import Work
from bridge.store import OutboxRow, StoredMessage, Tx, View


@dataclass(frozen=True, slots=True)
class ApprovalView:
    """An approval request with what drawing it needs: the end user, who decided, and the
    thread it goes in (its conversation's, once that is posted; None outside one)."""

    approval: Approval
    user: User | None
    decider: User | None
    thread_ts: str | None


class Deliveries:
    def __init__(self, core: Core) -> None:
        self._core = core

    # --- what a delivery needs -----------------------------------------------------------

    async def view(self, conversation_id: str, message_id: str | None = None) -> View | None:
        """A conversation with its end user and its assignee, and the message named (with
        where it is in Slack, if it is there already), read at once."""
        return await self._core.read(self.viewing(conversation_id, message_id))

    @staticmethod
    def viewing(conversation_id: str, message_id: str | None) -> Callable[[Tx], View | None]:
        """`view` as a function of a transaction: for the outbox to read as it takes a
        row."""
        return lambda tx: tx.view(conversation_id, message_id)

    @staticmethod
    def approval_viewing(approval_id: str) -> Callable[[Tx], ApprovalView | None]:
        """An approval request as its Slack rows draw it, as a function of a transaction
        (for the outbox to read as it takes a row); None when there is no such request."""

        def read(tx: Tx) -> ApprovalView | None:
            # Shown, not decided on: not locked (see `Tx.approval`).
            approval = tx.approval(approval_id, lock=False)
            if approval is None:
                return None
            line = approval.conversation_id
            conv = tx.conversation(line, lock=False) if line else None
            return ApprovalView(
                approval,
                tx.user(approval.user_id) if approval.user_id else None,
                tx.user(approval.decider_id) if approval.decider_id else None,
                conv.thread_ts if conv else None,
            )

        return read

    @staticmethod
    def approval_recording(
        approval_id: str, ts: str, thread_ts: str | None, permalink: str | None
    ) -> Callable[[Tx], None]:
        """What to record of a request posted as `ts`, as a function of a transaction: for
        the outbox to run as it removes the row."""
        return lambda tx: tx.record_approval_post(approval_id, ts, thread_ts, permalink)

    async def history(self, conversation_id: str) -> list[HistoryItem]:
        """The history the bot gave when it handed the conversation over."""
        return await self._core.read(lambda tx: tx.history(conversation_id))

    async def slack_ts(self, key: str) -> str | None:
        """Where in Slack the post named `key` went, if it did."""
        return await self._core.read(lambda tx: tx.slack_ts(key))

    async def queued_messages(self, row: OutboxRow, limit: int) -> list[StoredMessage]:
        """The messages queued right behind `row` for the thread, up to the first row that
        is not a message."""

        def read(tx: Tx) -> list[StoredMessage]:
            found = []
            for later in tx.queued_after(row, limit):
                message = tx.message(later.payload.get("messageId", ""))
                if later.kind != SlackKind.MESSAGE or message is None:
                    break
                found.append(message)
            return found

        return await self._core.read(read)

    async def recap(self, conversation_id: str, limit: int = 20) -> list[HistoryItem]:
        """The conversation so far as a transcript: the history given at the start, then
        what the end user and the bot said since (the last `limit` of it)."""

        def read(tx: Tx) -> tuple[list[HistoryItem], Conversation, list[StoredMessage]]:
            conv = tx.conversation(conversation_id)
            if conv is None:
                raise NotFound(conversation_id)
            return tx.history(conversation_id), conv, tx.latest_messages(conversation_id, limit)

        history, conv, said = await self._core.read(read)
        return history + [
            HistoryItem("user" if m.author_id == conv.user_id else "bot", m.content)
            for m in said
            if m.author_id is None or m.author_id == conv.user_id
        ]

    # --- what came of it -------------------------------------------------------------------

    async def posted(
        self,
        keys: Sequence[str],
        conversation_id: str,
        channel: str,
        ts: str,
        *,
        parent: bool = False,
        permalink: str | None = None,
    ) -> None:
        """A post carrying `keys` reached Slack as `ts`. A `parent` (the first, or a new one
        after the thread was lost) becomes the conversation's thread, wherever it is."""

        recorded = self.recording(keys, conversation_id, channel, ts)

        def record(w: Work) -> None:
            recorded(w.tx)
            if parent:
                conv = w.conversation(conversation_id)
                moved = dataclasses.replace(
                    conv, channel=channel, thread_ts=ts, permalink=permalink
                )
                w.tx.update_conversation(moved)

        await self._core.write(record)

    @staticmethod
    def recording(
        keys: Sequence[str], conversation_id: str, channel: str, ts: str
    ) -> Callable[[Tx], None]:
        """What `posted` records of a post that is not a parent, as a function of a
        transaction: for the outbox to run as it removes the row (one commit for both)."""

        def record(tx: Tx) -> None:
            for part, key in enumerate(keys):
                tx.record_slack_ts(key, conversation_id, channel, ts, part)

        return record

    @property
    def receipts(self) -> bool:
        """Whether an agent's reply is marked once the bot has it (a failure always is)."""
        return self._core.policy.receipts

    async def receipt(self, event: BotEvent, via: Target, failure: str | None) -> None:
        """The bot took an agent's reply (a reaction on it), or it never will (a warning
        reaction, and the agent is told why). `via` is the target that delivered it: only
        the one speaking the conversation's protocol counts."""
        if not isinstance(event, MessageEvent):
            return
        if failure is None and not self._core.policy.receipts:
            return
        payload = event.payload

        def receipt(w: Work) -> None:
            conv = w.conversation(payload.conversationId)
            if (conv.origin is Origin.BOTPRESS) != (via is Target.BOTPRESS):
                return
            ts = w.tx.slack_ts(payload.messageId)
            if ts is None:
                return
            if failure is None:
                w.to_slack(conv, React(ts=ts, receipt=Receipt.TAKEN))
                return
            w.to_slack(conv, React(ts=ts, receipt=Receipt.UNDELIVERED))
            reason = Failure(reason=failure[:300])
            w.to_slack(
                conv, Ephemeral(user=payload.agent.slackUserId, why=Why.UNDELIVERED, state=reason)
            )

        await self._core.write(receipt)

    async def failed(self, conversation_id: str, what: str, reason: str) -> None:
        """Something for the thread was given up on: the agents get a notice there."""

        def notice(w: Work) -> None:
            conv = w.conversation(conversation_id)
            w.to_slack(conv, FailureNotice(what=what, reason=reason))

        await self._core.write(notice)
