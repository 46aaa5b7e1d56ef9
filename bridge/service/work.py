"""The steps a transaction is made of, shared by every part of the service.

A `Work` lives for one transaction, on the database's thread: it reads and writes through
the store's `Tx`, and every outbox row goes through `enqueue` (or `event`), so it knows whom
to wake once the transaction is committed (`Core.write` does that).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

from bridge.events import (
    Agent,
    AssignedPayload,
    BotEvent,
    Ephemeral,
    HitlAssigned,
    HitlStopped,
    MessageEvent,
    MessagePayload,
    SlackPayload,
    Standing,
    StoppedPayload,
    Target,
    UpdateParent,
    Why,
    target_of,
    to_json,
)
from bridge.model import (
    AgentProfile,
    Content,
    Conversation,
    Origin,
    Role,
    Status,
    StopReason,
    User,
    iso,
    new_id,
)
from bridge.service.errors import Invalid, KeyTaken, NotFound
from bridge.store import Tx

log = logging.getLogger("bridge.service")


@dataclasses.dataclass(frozen=True, slots=True)
class Policy:
    """How this bridge is set up, as far as the core cares."""

    channel_for: Callable[[str | None], str]  # a queue's Slack channel
    webhooks: bool  # events go to the bot's webhook too (else only to GET /v1/events)
    botpress: bool = False  # ... and to Botpress, for its conversations
    assignee_closes: bool = False  # else any agent may release or resolve
    receipts: bool = True  # mark an agent's reply once the bot has it
    persona: tuple[str, str | None] | None = None  # (name, picture) the bot sees for agents
    relay_corrections: bool = False  # an agent's edit goes out as a correction
    approval_timeout: float = 3600.0  # seconds an approval request waits, unless it says


@dataclasses.dataclass(frozen=True, slots=True)
class Idem:
    """An `Idempotency-Key` to remember with the effect, in the same transaction."""

    scope: str
    key: str
    fingerprint: str


class Work:
    def __init__(self, tx: Tx, policy: Policy, clock: Callable[[], datetime]) -> None:
        self.tx = tx
        self.policy = policy
        self.now = clock
        self.queued: set[Target] = set()
        self.evented = False
        self.logs: list[Callable[[], None]] = []  # written once the transaction is committed

    # --- finding things ---------------------------------------------------------------

    def conversation(self, conversation_id: str) -> Conversation:
        conv = self.tx.conversation(conversation_id)
        if conv is None:
            raise NotFound(conversation_id)
        return conv

    def end_user(self, user_id: str) -> User:
        user = self.tx.user(user_id)
        if user is None or user.role is not Role.END_USER:
            raise Invalid("userId", "names no known end user")
        return user

    def agent(self, profile: AgentProfile) -> User:
        """The agent's bridge user, created the first time they are seen, kept current."""
        user = self.tx.agent_by_slack_id(profile.slack_user_id)
        if user is None:
            user = User(
                new_id("usr"),
                Role.AGENT,
                profile.name,
                profile.picture_url,
                profile.email,
                profile.slack_user_id,
            )
            self.tx.insert_user(user, self.now())
        elif (user.name, user.picture_url, user.email) != (
            profile.name,
            profile.picture_url,
            profile.email,
        ):
            self.tx.update_agent_profile(user.id, profile)
            user = dataclasses.replace(
                user, name=profile.name, picture_url=profile.picture_url, email=profile.email
            )
        return user

    # --- what changes -----------------------------------------------------------------

    def relay(self, conv: Conversation, agent: User, content: Content) -> str:
        """An agent's message for the bot: stored, and a `message` event."""
        message_id = new_id("msg")
        self.tx.insert_message(message_id, conv.id, agent.id, content, self.now())
        payload = MessagePayload(
            conversationId=conv.id,
            userId=agent.id,
            messageId=message_id,
            type=content.type,
            payload=content.payload.model_dump(exclude_none=True),
            agent=self.as_seen(agent),
        )
        self.event(conv, MessageEvent(id=new_id("evt"), createdAt=iso(self.now()), payload=payload))
        return message_id

    def claim(self, conv: Conversation, agent: User) -> Conversation:
        claimed = dataclasses.replace(
            conv, status=Status.ASSIGNED, agent_id=agent.id, changed_by=agent.slack_user_id
        )
        self.tx.update_conversation(claimed)
        self.tx.restart_idle_clock(conv.id, self.now())
        self.to_slack(conv, UpdateParent())
        payload = AssignedPayload(
            conversationId=conv.id, userId=agent.id, agent=self.as_seen(agent)
        )
        self.event(conv, HitlAssigned(id=new_id("evt"), createdAt=iso(self.now()), payload=payload))
        return claimed

    def stop(self, conv: Conversation, reason: StopReason, by: str | None) -> None:
        stopped = dataclasses.replace(
            conv, status=Status.STOPPED, stop_reason=reason, changed_by=by, stopped_at=self.now()
        )
        self.tx.update_conversation(stopped)
        self.to_slack(conv, UpdateParent())
        if reason is not StopReason.BOT:  # the bot asked: not echoed back
            told: Literal["resolved", "timeout"] = (
                "resolved" if reason is StopReason.RESOLVED else "timeout"
            )
            payload = StoppedPayload(conversationId=conv.id, reason=told)
            self.event(
                conv, HitlStopped(id=new_id("evt"), createdAt=iso(self.now()), payload=payload)
            )
        self.logs.append(
            functools.partial(
                log.info, "handoff stopped (%s)", reason.value, extra={"conversation": conv.id}
            )
        )

    def tell(self, conv: Conversation, slack_user_id: str, why: Why) -> None:
        """Tell one agent why nothing happened, with the state as it is now (it may change
        before the notice goes out)."""
        assignee = self.tx.user(conv.agent_id) if conv.agent_id else None
        standing = Standing(
            status=conv.status.value,
            assignee=assignee.slack_user_id if assignee else None,
            changedBy=conv.changed_by,
            stopReason=conv.stop_reason.value if conv.stop_reason else None,
        )
        self.to_slack(conv, Ephemeral(user=slack_user_id, why=why, state=standing))

    def remember(self, idem: Idem | None, result: Any) -> None:
        """Keep the answer to an `Idempotency-Key` with the effect it answers for."""
        if idem is None:
            return
        if self.tx.recall_key(idem.scope, idem.key) is not None:
            raise KeyTaken()
        self.tx.remember_key(idem.scope, idem.key, idem.fingerprint, result, self.now())

    # --- what must be said --------------------------------------------------------------

    def to_slack(self, conv: Conversation, payload: SlackPayload) -> None:
        """Ask something of the conversation's thread."""
        self.to_slack_in(conv.id, conv.channel, payload)

    def to_slack_in(self, line: str, channel: str, payload: SlackPayload) -> None:
        """Ask something of Slack in `channel`, in order with the rest of `line` (a
        conversation, or an approval request outside one)."""
        self.enqueue(target_of(payload), line, payload.kind, to_json(payload, channel))

    def event(self, conv: Conversation, event: BotEvent) -> None:
        """An event about a conversation: see `event_in`. Botpress hears it when the
        conversation came from there."""
        self.event_in(conv.id, event, botpress=conv.origin is Origin.BOTPRESS)

    def event_in(self, line: str, event: BotEvent, *, botpress: bool = False) -> None:
        """An event for the bot, in order with the others of `line` (a conversation, or an
        approval request outside one): kept for `GET /v1/events`, queued for the webhook
        if any, and for Botpress if asked and set up."""
        body = event.model_dump_json()
        self.tx.append_event(event.id, line, body, self.now())
        self.evented = True
        if self.policy.webhooks:
            self._queue(Target.BOT, line, "event", body)
        if botpress and self.policy.botpress:
            self._queue(Target.BOTPRESS, line, "event", body)

    def enqueue(self, target: Target, conversation_id: str, kind: str, payload: Any) -> None:
        """The way into the outbox (with `event`'s): the drainer of `target` is woken after
        the commit."""
        text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
        self._queue(target, conversation_id, kind, text)

    def _queue(self, target: Target, conversation_id: str, kind: str, payload: str) -> None:
        self.tx.enqueue(target, conversation_id, kind, payload, self.now())
        self.queued.add(target)

    def as_seen(self, agent: User) -> Agent:
        return seen_as(self.policy, agent)


def seen_as(policy: Policy, agent: User) -> Agent:
    """How the bot sees an agent: as themselves, or as the team persona when set."""
    if policy.persona is not None:
        name, picture = policy.persona
        return Agent(
            name=name, pictureUrl=picture, email=None, slackUserId=agent.slack_user_id or ""
        )
    return Agent(
        name=agent.name,
        pictureUrl=agent.picture_url,
        email=agent.email,
        slackUserId=agent.slack_user_id or "",
    )
