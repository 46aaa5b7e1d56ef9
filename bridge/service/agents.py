"""What agents do in Slack: replies, edits, Claim, Release and Resolve.

Slack's requests are kept first (`intake`, before Slack gets its answer) and handled after,
by the Slack wing's intake sender, which calls the rest of these.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from bridge.events import Ephemeral, Failure, React, Receipt, Target, UpdateParent, Why
from bridge.model import (
    MAX_TEXT,
    TRANSITIONS,
    Action,
    AgentProfile,
    Content,
    Status,
    StopReason,
    TextMessage,
    TextPayload,
    is_internal,
)
from bridge.service.core import Core
from bridge.service.work import Work


@dataclass(frozen=True, slots=True)
class Outcome:
    """What an agent's action or reply did, for logs and tests."""

    relayed: bool = False
    claimed: bool = False
    ignored: str | None = None  # why nothing happened


class AgentCommands:
    def __init__(self, core: Core) -> None:
        self._core = core

    async def intake(
        self,
        kind: str,
        payload: dict[str, Any],
        *,
        event_id: str | None = None,
        thread: tuple[str, str] | None = None,
        conversation_id: str | None = None,
    ) -> bool:
        """Keep what Slack sent about a conversation (named by its `thread`, a channel and a
        ts, or by its id), in order, to be handled once Slack has had its answer. False when
        there is nothing to keep: a repeat of an event, or no handoff conversation."""

        def keep(w: Work) -> bool:
            if event_id is not None and not w.tx.first_seen(event_id, w.now()):
                return False
            conv = (
                w.tx.conversation_by_thread(*thread)
                if thread is not None
                else w.tx.conversation(conversation_id or "")
            )
            if conv is None:
                return False
            w.enqueue(Target.SLACK_IN, conv.id, kind, payload)
            return True

        return await self._core.write(keep)

    async def reply(
        self,
        *,
        event_id: str | None,
        channel: str,
        thread_ts: str,
        ts: str,
        agent: AgentProfile,
        content: Content,
        allowed: bool = True,
        keep: tuple[str, dict[str, Any]] | None = None,
    ) -> Outcome:
        """A human replied in a handoff thread. `content` is already plain text for the bot;
        `allowed` is False when the human is not one of the agents. `keep`: handled as it
        arrives, the reply's intake row (kind, payload), kept instead if earlier ones of the
        conversation wait in the intake, so that it does not overtake them."""
        internal = content.type == "text" and is_internal(content.payload.text)
        now = self._core.clock()

        def reply(w: Work) -> tuple[Outcome, float | None]:
            """What happened; and, on the handoff's first reply, the seconds to it."""
            conv = w.tx.conversation_by_thread(channel, thread_ts)
            if conv is None:
                return Outcome(ignored="not a handoff thread"), None
            if w.tx.slack_key(channel, ts) is not None:
                return Outcome(ignored="message already relayed"), None
            kept = keep if keep is not None and w.tx.has_queued(Target.SLACK_IN, conv.id) else None
            relays = allowed and not internal and conv.status is not Status.STOPPED
            # A relayed reply's place in Slack, kept below, is what makes a retry of its
            # event harmless; any other outcome keeps the event's id instead.
            placed = kept is None and relays
            if event_id is not None and not placed and not w.tx.first_seen(event_id, w.now()):
                return Outcome(ignored="retry of an event already handled"), None
            if kept is not None:
                w.enqueue(Target.SLACK_IN, conv.id, *kept)
                return Outcome(ignored="kept behind earlier ones"), None
            if internal:
                w.to_slack(conv, React(ts=ts, receipt=Receipt.INTERNAL))
                return Outcome(ignored="internal note"), None
            if not allowed:
                w.tell(conv, agent.slack_user_id, Why.NOT_ALLOWED)
                return Outcome(ignored="not an agent"), None
            if conv.status is Status.STOPPED:
                w.tell(conv, agent.slack_user_id, Why.STOPPED)
                return Outcome(ignored="conversation stopped"), None
            user = w.agent(agent)
            claimed = conv.status is Status.WAITING
            if claimed:
                conv = w.claim(conv, user)
            message_id = w.relay(conv, user, content)
            first = w.tx.agent_replied(conv.id, now)
            w.tx.record_slack_ts(message_id, conv.id, channel, ts)
            waited = (now - conv.created_at).total_seconds()
            return Outcome(relayed=True, claimed=claimed), waited if first else None

        outcome, first_reply_after = await self._core.write(reply)
        if first_reply_after is not None:
            self._core.metrics.first_reply.observe(first_reply_after)
        return outcome

    async def changed(
        self,
        *,
        event_id: str | None,
        channel: str,
        ts: str,
        slack_user_id: str,
        text: str | None,
    ) -> Outcome:
        """An agent edited (`text`) or deleted (None) a reply the end user already has. They
        are told so; with corrections on, the edited text goes out as a correction."""

        def change(w: Work) -> Outcome:
            if event_id is not None and not w.tx.first_seen(event_id, w.now()):
                return Outcome(ignored="retry of an event already handled")
            key = w.tx.slack_key(channel, ts)
            message = w.tx.message(key) if key else None
            author = w.tx.user(message.author_id) if message and message.author_id else None
            if message is None or author is None or author.slack_user_id != slack_user_id:
                return Outcome(ignored="not a relayed agent reply")
            conv = w.conversation(message.conversation_id)
            if text is None:
                w.tell(conv, slack_user_id, Why.DELETED)
            elif w.policy.relay_corrections and conv.status is not Status.STOPPED and text:
                correction = TextMessage(
                    type="text", payload=TextPayload(text=f"Correction: {text}"[:MAX_TEXT])
                )
                w.relay(conv, author, correction)
                w.tell(conv, slack_user_id, Why.CORRECTED)
                return Outcome(relayed=True)
            else:
                w.tell(conv, slack_user_id, Why.EDITED)
            return Outcome()

        return await self._core.write(change)

    async def act(
        self,
        action: Action,
        conversation_id: str,
        agent: AgentProfile,
        allowed: bool = True,
        event_id: str | None = None,
    ) -> Outcome:
        """An agent pressed Claim, Release or Resolve. `event_id`: handled once only."""
        needs, _ = TRANSITIONS[action]

        def act(w: Work) -> Outcome:
            if event_id is not None and not w.tx.first_seen(event_id, w.now()):
                return Outcome(ignored="retry of an action already handled")
            conv = w.tx.conversation(conversation_id)
            if conv is None:
                return Outcome(ignored="unknown conversation")
            if not allowed:
                w.tell(conv, agent.slack_user_id, Why.NOT_ALLOWED)
                return Outcome(ignored="not an agent")
            user = w.agent(agent)
            if (
                w.policy.assignee_closes
                and action is not Action.CLAIM
                and conv.status is Status.ASSIGNED
                and conv.agent_id != user.id
            ):
                w.tell(conv, agent.slack_user_id, Why.ASSIGNEE_ONLY)
                return Outcome(ignored="only the assignee may release or resolve")
            if conv.status is not needs or (action is Action.CLAIM and conv.agent_id == user.id):
                w.tell(conv, agent.slack_user_id, Why.STALE)
                return Outcome(
                    ignored=f"{action} does not fit a conversation that is {conv.status}"
                )
            if action is Action.CLAIM:
                w.claim(conv, user)
            elif action is Action.RELEASE:
                released = dataclasses.replace(
                    conv,
                    status=Status.WAITING,
                    agent_id=None,
                    changed_by=agent.slack_user_id,
                    waiting_since=w.now(),
                )
                w.tx.update_conversation(released)
                w.tx.reset_reminders(conv.id)
                w.to_slack(conv, UpdateParent())
            else:
                w.stop(conv, StopReason.RESOLVED, by=agent.slack_user_id)
            return Outcome(claimed=action is Action.CLAIM)

        return await self._core.write(act)

    async def warn(self, conversation_id: str, slack_user_id: str, reason: str) -> None:
        """What an agent did in Slack could not be handled: they are told (ephemeral)."""

        def warn(w: Work) -> None:
            conv = w.conversation(conversation_id)
            notice = Ephemeral(
                user=slack_user_id, why=Why.UNHANDLED, state=Failure(reason=reason[:300])
            )
            w.to_slack(conv, notice)

        await self._core.write(warn)
