"""The only code that changes state.

Each operation is one transaction that writes the new state together with the outbox rows
saying what must be told to Slack and to the bot. Nothing here talks to either party.
"""

from __future__ import annotations

import dataclasses
import logging
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bridge.metrics import Metrics
from bridge.model import (
    TRANSITIONS,
    Action,
    AgentProfile,
    Content,
    Conversation,
    HistoryItem,
    Origin,
    Priority,
    Role,
    Status,
    StopReason,
    TextMessage,
    TextPayload,
    User,
    is_internal,
    iso,
    new_id,
    utcnow,
)
from bridge.pulse import Pulse
from bridge.store import DeadLetter, Event, OutboxRow, Store, StoredMessage, Tx

log = logging.getLogger(__name__)

SLACK = "slack"
BOT = "bot"
BOTPRESS = "botpress"


class NotFound(Exception):
    """The thing named does not exist."""


class Invalid(Exception):
    """A request names something that does not fit; `field` says which part."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class Stopped(Exception):
    """The conversation is stopped and takes no more messages."""


class KeyTaken(Exception):
    """An idempotency key was remembered by a concurrent request meanwhile."""


@dataclass(frozen=True, slots=True)
class Idem:
    """An `Idempotency-Key` to remember with the effect, in the same transaction."""

    scope: str
    key: str
    fingerprint: str


@dataclass(frozen=True, slots=True)
class Outcome:
    """What an agent's action or reply did, for logs and tests."""

    relayed: bool = False
    claimed: bool = False
    ignored: str | None = None  # why nothing happened


@dataclass(frozen=True, slots=True)
class Queued:
    """A conversation as a queue shows it."""

    conversation: Conversation
    user: User | None


@dataclass(frozen=True, slots=True)
class Figures:
    """Today's handoffs, and the median seconds to a first reply and to resolve them."""

    handoffs: int
    first_reply: float | None
    resolve: float | None


class Service:
    def __init__(
        self,
        store: Store,
        *,
        channel_for: Callable[[str | None], str],
        webhooks: bool,
        botpress: bool = False,
        assignee_closes: bool = False,
        receipt: str = "white_check_mark",
        persona: tuple[str, str | None] | None = None,
        relay_corrections: bool = False,
        metrics: Metrics | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.store = store
        self.metrics = metrics or Metrics()
        self._channel_for = channel_for
        self._webhooks = webhooks
        self._botpress = botpress
        self._assignee_closes = assignee_closes  # else any agent may release or resolve
        self._receipt = receipt  # reaction on a reply the bot took ("" = none)
        self._persona = persona  # (name, picture) shown to the bot for every agent
        self._relay_corrections = relay_corrections
        self._clock = clock
        self.outbox_pulse = {SLACK: Pulse(), BOT: Pulse(), BOTPRESS: Pulse()}
        self.events_pulse = Pulse()

    # --- reads ------------------------------------------------------------------------

    async def user(self, user_id: str) -> User | None:
        async with self.store.reading() as tx:
            return await tx.user(user_id)

    async def conversation(self, conversation_id: str) -> Conversation | None:
        async with self.store.reading() as tx:
            return await tx.conversation(conversation_id)

    async def view(
        self, conversation_id: str
    ) -> tuple[Conversation, User | None, User | None] | None:
        """A conversation with its end user and its assignee, read at once."""
        async with self.store.reading() as tx:
            conv = await tx.conversation(conversation_id)
            if conv is None:
                return None
            user = await tx.user(conv.user_id) if conv.user_id else None
            return conv, user, await tx.user(conv.agent_id) if conv.agent_id else None

    async def history(self, conversation_id: str) -> list[HistoryItem]:
        async with self.store.reading() as tx:
            return await tx.history(conversation_id)

    async def message(self, message_id: str) -> StoredMessage | None:
        async with self.store.reading() as tx:
            return await tx.message(message_id)

    async def slack_ts(self, key: str) -> str | None:
        async with self.store.reading() as tx:
            return await tx.slack_ts(key)

    async def secret(self, name: str) -> bytes:
        async with self.store.transaction() as tx:
            return await tx.secret(name)

    async def recall(self, scope: str, key: str) -> tuple[str, Any] | None:
        async with self.store.reading() as tx:
            return await tx.recall(scope, key)

    async def events_after(self, seq: int, limit: int) -> tuple[list[Event], int]:
        """Events after `seq`, and the highest seq ever issued (to tell unknown cursors)."""
        async with self.store.reading() as tx:
            return await tx.events_after(seq, limit), await tx.last_event_seq()

    # --- the bot's calls ----------------------------------------------------------------

    async def create_user(
        self, name: str, picture_url: str | None, email: str | None, idem: Idem | None = None
    ) -> str:
        user = User(new_id("usr"), Role.END_USER, name, picture_url, email)
        async with self.store.transaction() as tx:
            await tx.insert_user(user, self._clock())
            await self._remember(tx, idem, user.id)
        return user.id

    async def start_hitl(
        self,
        user_id: str | None,
        *,
        title: str | None,
        description: str | None,
        history: Sequence[HistoryItem],
        session: dict[str, Any] | None,
        origin: Origin = Origin.NATIVE,
        idem: Idem | None = None,
    ) -> str:
        """Open a handoff. `user_id` is None only when the protocol does not say who the end
        user is yet (Botpress hitl-api): the first message from them names them."""
        now = self._clock()
        queue = session.get("queue") if session else None
        priority = _priority(session.get("priority") if session else None)
        conv = Conversation(
            id=new_id("conv"),
            user_id=user_id,
            status=Status.WAITING,
            channel=self._channel_for(queue if isinstance(queue, str) else None),
            thread_ts=None,
            permalink=None,
            title=title,
            description=description,
            agent_id=None,
            changed_by=None,
            stop_reason=None,
            created_at=now,
            waiting_since=now,
            stopped_at=None,
            origin=origin,
            priority=priority,
        )
        async with self.store.transaction() as tx:
            if user_id is not None:
                await self._end_user(tx, user_id)
            await tx.insert_conversation(conv, history, session)
            await self._to_slack(tx, conv, "post_parent")
            if history:
                await self._to_slack(tx, conv, "transcript")
            await self._remember(tx, idem, conv.id)
        self.outbox_pulse[SLACK].fire()
        log.info("handoff started", extra={"conversation": conv.id})
        return conv.id

    async def send_message(
        self,
        conversation_id: str,
        content: Content,
        user_id: str | None,
        idem: Idem | None = None,
    ) -> str:
        """The end user (with `user_id`) or the bot (without) says something in the thread."""
        message_id = new_id("msg")
        async with self.store.transaction() as tx:
            conv = await self._conversation(tx, conversation_id)
            if user_id is not None and conv.user_id is None:
                await self._end_user(tx, user_id)  # now we know who it is: show them
                conv = dataclasses.replace(conv, user_id=user_id)
                await tx.update_conversation(conv)
                await self._to_slack(tx, conv, "update_parent")
            if user_id is not None and user_id != conv.user_id:
                raise Invalid("userId", "is not this conversation's end user")
            if conv.status is Status.STOPPED:
                raise Stopped()
            await tx.insert_message(message_id, conv.id, user_id, content, self._clock())
            await self._to_slack(tx, conv, "message", messageId=message_id)
            await self._remember(tx, idem, message_id)
        self.outbox_pulse[SLACK].fire()
        return message_id

    async def stop(self, conversation_id: str, idem: Idem | None = None) -> None:
        """stopHitl: the bot ends the handoff. Not echoed back as `hitlStopped`."""
        async with self.store.transaction() as tx:
            conv = await self._conversation(tx, conversation_id)
            if conv.status is not Status.STOPPED:
                await self._stop(tx, conv, StopReason.BOT, by=None)
            await self._remember(tx, idem, None)
        self.outbox_pulse[SLACK].fire()

    # --- what agents do in Slack ----------------------------------------------------------

    async def agent_reply(
        self,
        *,
        event_id: str | None,
        channel: str,
        thread_ts: str,
        ts: str,
        agent: AgentProfile,
        content: Content,
        allowed: bool = True,
    ) -> Outcome:
        """A human replied in a handoff thread. `content` is already plain text for the bot;
        `allowed` is False when the human is not one of the agents."""
        text = content.payload.text if content.type == "text" else ""
        async with self.store.transaction() as tx:
            if event_id is not None and not await tx.first_seen(event_id):
                return Outcome(ignored="retry of an event already handled")
            conv = await tx.conversation_by_thread(channel, thread_ts)
            if conv is None:
                return Outcome(ignored="not a handoff thread")
            if await tx.slack_key(channel, ts) is not None:
                return Outcome(ignored="message already relayed")
            if is_internal(text):
                # The lock tells the agent it stayed inside.
                await self._to_slack(tx, conv, "react", ts=ts, name="lock")
                self.outbox_pulse[SLACK].fire()
                return Outcome(ignored="internal note")
            if not allowed:
                await self._ephemeral(tx, conv, agent.slack_user_id, "not_allowed")
                return Outcome(ignored="not an agent")
            if conv.status is Status.STOPPED:
                await self._ephemeral(tx, conv, agent.slack_user_id, "stopped")
                return Outcome(ignored="conversation stopped")
            user = await self._agent(tx, agent)
            claimed = conv.status is Status.WAITING
            if claimed:
                conv = await self._claim(tx, conv, user)
            now = self._clock()
            message_id = await self._relay(tx, conv, user, content)
            first = await tx.first_reply(conv.id, now)
            await tx.agent_active(conv.id, now)
            await tx.record_slack(message_id, conv.id, channel, ts)
        self._fire(bot=True)
        if first:
            self.metrics.first_reply.observe((now - conv.created_at).total_seconds())
        return Outcome(relayed=True, claimed=claimed)

    async def agent_changed(
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
        async with self.store.transaction() as tx:
            if event_id is not None and not await tx.first_seen(event_id):
                return Outcome(ignored="retry of an event already handled")
            key = await tx.slack_key(channel, ts)
            message = await tx.message(key) if key else None
            author = await tx.user(message.author_id) if message and message.author_id else None
            if message is None or author is None or author.slack_user_id != slack_user_id:
                return Outcome(ignored="not a relayed agent reply")
            conv = await self._conversation(tx, message.conversation_id)
            if text is None:
                await self._ephemeral(tx, conv, slack_user_id, "deleted")
            elif self._relay_corrections and conv.status is not Status.STOPPED and text:
                correction = TextMessage(
                    type="text", payload=TextPayload(text=f"Correction: {text}"[:40000])
                )
                await self._relay(tx, conv, author, correction)
                await self._ephemeral(tx, conv, slack_user_id, "corrected")
            else:
                await self._ephemeral(tx, conv, slack_user_id, "edited")
        self._fire(bot=True)
        return Outcome(relayed=text is not None and self._relay_corrections)

    async def act(
        self, action: Action, conversation_id: str, agent: AgentProfile, allowed: bool = True
    ) -> Outcome:
        """An agent pressed Claim, Release or Resolve."""
        needs, _ = TRANSITIONS[action]
        async with self.store.transaction() as tx:
            conv = await tx.conversation(conversation_id)
            if conv is None:
                return Outcome(ignored="unknown conversation")
            if not allowed:
                await self._ephemeral(tx, conv, agent.slack_user_id, "not_allowed")
                self.outbox_pulse[SLACK].fire()
                return Outcome(ignored="not an agent")
            user = await self._agent(tx, agent)
            if (
                self._assignee_closes
                and action is not Action.CLAIM
                and conv.status is Status.ASSIGNED
                and conv.agent_id != user.id
            ):
                await self._ephemeral(tx, conv, agent.slack_user_id, "assignee_only")
                self.outbox_pulse[SLACK].fire()
                return Outcome(ignored="only the assignee may release or resolve")
            if conv.status is not needs or (action is Action.CLAIM and conv.agent_id == user.id):
                await self._ephemeral(tx, conv, agent.slack_user_id, "stale")
                self.outbox_pulse[SLACK].fire()
                return Outcome(
                    ignored=f"{action} does not fit a conversation that is {conv.status}"
                )
            if action is Action.CLAIM:
                await self._claim(tx, conv, user)
            elif action is Action.RELEASE:
                released = dataclasses.replace(
                    conv,
                    status=Status.WAITING,
                    agent_id=None,
                    changed_by=agent.slack_user_id,
                    waiting_since=self._clock(),
                )
                await tx.update_conversation(released)
                await tx.reminded(conv.id, reset=True)
                await self._to_slack(tx, conv, "update_parent")
            else:
                await self._stop(tx, conv, StopReason.RESOLVED, by=agent.slack_user_id)
        self._fire(bot=action is not Action.RELEASE)
        return Outcome(claimed=action is Action.CLAIM)

    async def expire_waiting(self, older_than: timedelta, limit: int = 100) -> int:
        """Stop conversations nobody claimed in time (`hitlStopped` reason `timeout`)."""
        cutoff = self._clock() - older_than
        async with self.store.transaction() as tx:
            expired = await tx.waiting_since_before(cutoff, limit)
            for conv in expired:
                await self._stop(tx, conv, StopReason.TIMEOUT, by=None)
        if expired:
            self._fire(bot=True)
        return len(expired)

    async def receipt(self, event: dict[str, Any], via: str, failure: str | None) -> None:
        """The bot took an agent's reply (a reaction on it), or it never will (a warning
        reaction, and the agent is told why). `via` is the target that delivered it: only
        the one speaking the conversation's protocol counts."""
        if event.get("type") != "message" or (not self._receipt and failure is None):
            return
        payload = event["payload"]
        async with self.store.transaction() as tx:
            conv = await self._conversation(tx, payload["conversationId"])
            if (conv.origin is Origin.BOTPRESS) != (via == BOTPRESS):
                return
            ts = await tx.slack_ts(payload["messageId"])
            if ts is None:
                return
            if failure is None:
                await self._to_slack(tx, conv, "react", ts=ts, name=self._receipt)
            else:
                await self._to_slack(tx, conv, "react", ts=ts, name="warning")
                await self._to_slack(
                    tx, conv, "ephemeral", user=payload["agent"]["slackUserId"],
                    why="undelivered", state={"reason": failure[:300]},
                )  # fmt: skip
        self.outbox_pulse[SLACK].fire()

    async def delivery_failed(self, conversation_id: str, what: str, reason: str) -> None:
        """Something for the thread was given up on: the agents get a notice there."""
        async with self.store.transaction() as tx:
            conv = await self._conversation(tx, conversation_id)
            await self._to_slack(tx, conv, "failure_notice", what=what, reason=reason)
        self.outbox_pulse[SLACK].fire()

    async def dead_letters(self, conversation_id: str) -> list[DeadLetter]:
        async with self.store.reading() as tx:
            return await tx.dead_letters(conversation_id)

    async def refresh_metrics(self) -> None:
        """Bring the gauges read from the database up to date (before a scrape)."""
        m = self.metrics
        async with self.store.reading() as tx:
            stats = await tx.outbox_stats()
            counts = await tx.conversation_counts()
        now = time.time()
        for target in (SLACK, BOT):
            depth, oldest = stats.get((target, "pending"), (0, now))
            m.outbox_depth.labels(target).set(depth)
            m.outbox_oldest.labels(target).set(now - oldest)
            m.dead_letters.labels(target).set(stats.get((target, "failed"), (0, now))[0])
        for status in Status:
            m.conversations.labels(status.value).set(counts.get(status.value, 0))

    async def prune(self) -> None:
        """Forget old Slack event ids, idempotency keys and events (see `Tx.prune`)."""
        async with self.store.transaction() as tx:
            await tx.prune(time.time())

    async def queue(
        self, status: Status = Status.WAITING, slack_user_id: str | None = None, limit: int = 20
    ) -> list[Queued]:
        """Open conversations, oldest first: the waiting ones, or one agent's."""
        async with self.store.reading() as tx:
            agent_id = None
            if slack_user_id is not None:
                agent = await tx.agent(slack_user_id)
                if agent is None:
                    return []
                agent_id = agent.id
            found = await tx.open_conversations(status, limit, agent_id)
            return [
                Queued(conv, await tx.user(conv.user_id) if conv.user_id else None)
                for conv in found
            ]

    async def figures(self, since: datetime) -> Figures:
        async with self.store.reading() as tx:
            handoffs, firsts, resolves = await tx.day_figures(since)
        return Figures(
            handoffs,
            statistics.median(firsts) if firsts else None,
            statistics.median(resolves) if resolves else None,
        )

    async def remind(self, every: float, most: int, limit: int = 100) -> int:
        """Post the reminders owed to conversations nobody has claimed."""
        async with self.store.transaction() as tx:
            due = await tx.due_reminders(self._clock(), every, limit, most)
            for conv in due:
                await tx.reminded(conv.id)
                waited = (self._clock() - (conv.waiting_since or conv.created_at)).total_seconds()
                await self._to_slack(tx, conv, "reminder", waited=int(waited))
        if due:
            self.outbox_pulse[SLACK].fire()
        return len(due)

    async def nudge_idle(self, after: timedelta, limit: int = 100) -> int:
        """Nudge assignees who have said nothing for `after` since they claimed or replied."""
        async with self.store.transaction() as tx:
            idle = await tx.idle_assigned(self._clock() - after, limit)
            for conv in idle:
                assignee = await tx.user(conv.agent_id) if conv.agent_id else None
                await tx.agent_active(conv.id, None)
                if assignee is not None:
                    await self._to_slack(
                        tx,
                        conv,
                        "nudge",
                        user=assignee.slack_user_id,
                        idle=int(after.total_seconds()),
                    )
        if idle:
            self.outbox_pulse[SLACK].fire()
        return len(idle)

    # --- what the Slack sender reports back ---------------------------------------------

    async def queued_messages(self, row: OutboxRow, limit: int) -> list[StoredMessage]:
        """The messages queued right behind `row` for the thread, up to the first row that
        is not a message."""
        async with self.store.reading() as tx:
            found = []
            for later in await tx.queued_after(row, limit):
                message = await tx.message(later.payload.get("messageId", ""))
                if later.kind != "message" or message is None:
                    break
                found.append(message)
            return found

    async def posted(
        self,
        keys: Sequence[str],
        conversation_id: str,
        channel: str,
        ts: str,
        permalink: str | None = None,
    ) -> None:
        """A post carrying `keys` reached Slack as `ts`. A parent (the first, or a new one
        after the thread was lost) becomes the conversation's thread, wherever it is."""
        async with self.store.transaction() as tx:
            for part, key in enumerate(keys):
                await tx.record_slack(key, conversation_id, channel, ts, part)
            if keys[0].startswith(parent_key(conversation_id)):
                conv = await self._conversation(tx, conversation_id)
                await tx.update_conversation(
                    dataclasses.replace(conv, channel=channel, thread_ts=ts, permalink=permalink)
                )

    async def recap(self, conversation_id: str, limit: int = 20) -> list[HistoryItem]:
        """The conversation so far as a transcript: the history given at the start, then
        what the end user and the bot said since (the last `limit` of it)."""
        async with self.store.reading() as tx:
            history = await tx.history(conversation_id)
            conv = await self._conversation(tx, conversation_id)
            said = await tx.messages(conversation_id, limit)
        return history + [
            HistoryItem("user" if m.author_id == conv.user_id else "bot", m.content)
            for m in said
            if m.author_id is None or m.author_id == conv.user_id
        ]

    # --- helpers ------------------------------------------------------------------------

    def _fire(self, bot: bool) -> None:
        self.outbox_pulse[SLACK].fire()
        if bot:
            self.outbox_pulse[BOT].fire()
            self.outbox_pulse[BOTPRESS].fire()
            self.events_pulse.fire()

    async def _conversation(self, tx: Tx, conversation_id: str) -> Conversation:
        conv = await tx.conversation(conversation_id)
        if conv is None:
            raise NotFound(conversation_id)
        return conv

    async def _end_user(self, tx: Tx, user_id: str) -> User:
        user = await tx.user(user_id)
        if user is None or user.role is not Role.END_USER:
            raise Invalid("userId", "names no known end user")
        return user

    async def _agent(self, tx: Tx, profile: AgentProfile) -> User:
        """The agent's bridge user, created the first time they are seen, kept current."""
        user = await tx.agent(profile.slack_user_id)
        if user is None:
            user = User(
                new_id("usr"),
                Role.AGENT,
                profile.name,
                profile.picture_url,
                profile.email,
                profile.slack_user_id,
            )
            await tx.insert_user(user, self._clock())
        elif (user.name, user.picture_url, user.email) != (
            profile.name,
            profile.picture_url,
            profile.email,
        ):
            await tx.update_agent(user.id, profile)
            user = dataclasses.replace(
                user, name=profile.name, picture_url=profile.picture_url, email=profile.email
            )
        return user

    async def _relay(self, tx: Tx, conv: Conversation, agent: User, content: Content) -> str:
        """An agent's message for the bot: stored, and a `message` event."""
        message_id = new_id("msg")
        await tx.insert_message(message_id, conv.id, agent.id, content, self._clock())
        await self._event(
            tx,
            conv,
            "message",
            {
                "conversationId": conv.id,
                "userId": agent.id,
                "messageId": message_id,
                "type": content.type,
                "payload": content.payload.model_dump(exclude_none=True),
                "agent": self._agent_json(agent),
            },
        )
        return message_id

    async def _claim(self, tx: Tx, conv: Conversation, agent: User) -> Conversation:
        claimed = dataclasses.replace(
            conv, status=Status.ASSIGNED, agent_id=agent.id, changed_by=agent.slack_user_id
        )
        await tx.update_conversation(claimed)
        await tx.agent_active(conv.id, self._clock())
        await self._to_slack(tx, conv, "update_parent")
        await self._event(
            tx,
            conv,
            "hitlAssigned",
            {"conversationId": conv.id, "userId": agent.id, "agent": self._agent_json(agent)},
        )
        return claimed

    async def _stop(self, tx: Tx, conv: Conversation, reason: StopReason, by: str | None) -> None:
        now = self._clock()
        stopped = dataclasses.replace(
            conv, status=Status.STOPPED, stop_reason=reason, changed_by=by, stopped_at=now
        )
        await tx.update_conversation(stopped)
        await self._to_slack(tx, conv, "update_parent")
        if reason is not StopReason.BOT:
            await self._event(
                tx, conv, "hitlStopped", {"conversationId": conv.id, "reason": reason.value}
            )
        log.info("handoff stopped (%s)", reason.value, extra={"conversation": conv.id})

    async def _ephemeral(self, tx: Tx, conv: Conversation, slack_user_id: str, why: str) -> None:
        """Tell one agent why nothing happened, with the state as it is now (it may change
        before the notice goes out)."""
        assignee = await tx.user(conv.agent_id) if conv.agent_id else None
        state = {
            "status": conv.status.value,
            "assignee": assignee.slack_user_id if assignee else None,
            "changedBy": conv.changed_by,
            "stopReason": conv.stop_reason.value if conv.stop_reason else None,
        }
        await self._to_slack(tx, conv, "ephemeral", user=slack_user_id, why=why, state=state)

    @staticmethod
    async def _to_slack(tx: Tx, conv: Conversation, kind: str, **payload: Any) -> None:
        """Queue something for the conversation's thread; the channel rides along for pacing."""
        await tx.enqueue(SLACK, conv.id, kind, {"channel": conv.channel, **payload})

    async def _event(self, tx: Tx, conv: Conversation, type_: str, payload: dict[str, Any]) -> None:
        """An event for the bot: kept for `GET /v1/events`, queued for the webhook if any,
        and for Botpress when the conversation came from there."""
        event_id = new_id("evt")
        body = {"id": event_id, "type": type_, "createdAt": iso(self._clock()), "payload": payload}
        await tx.append_event(event_id, conv.id, body)
        if self._webhooks:
            await tx.enqueue(BOT, conv.id, "event", body)
        if self._botpress and conv.origin is Origin.BOTPRESS:
            await tx.enqueue(BOTPRESS, conv.id, "event", body)

    def _agent_json(self, agent: User) -> dict[str, Any]:
        """How the bot sees an agent: as themselves, or as the team persona when set."""
        if self._persona is not None:
            name, picture = self._persona
            return {"name": name, "pictureUrl": picture, "email": None,
                    "slackUserId": agent.slack_user_id}  # fmt: skip
        return {
            "name": agent.name,
            "pictureUrl": agent.picture_url,
            "email": agent.email,
            "slackUserId": agent.slack_user_id,
        }

    @staticmethod
    async def _remember(tx: Tx, idem: Idem | None, result: Any) -> None:
        if idem is None:
            return
        if await tx.recall(idem.scope, idem.key) is not None:
            raise KeyTaken()
        await tx.remember(idem.scope, idem.key, idem.fingerprint, result)


def parent_key(conversation_id: str) -> str:
    """How the parent message is named in the Slack message map."""
    return f"parent:{conversation_id}"


def _priority(value: Any) -> Priority | None:
    if value is None:
        return None
    try:
        return Priority(str(value).lower())
    except ValueError:
        raise Invalid("hitlSession.priority", "must be low, normal, high or urgent") from None
