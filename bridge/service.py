"""The only code that changes state.

Each operation is one transaction that writes the new state together with the outbox rows
saying what must be told to Slack and to the bot. Nothing here talks to either party.

A transaction is a function run whole on the database's thread (`Store.write`): it must not
touch the event loop, so the pulses that wake the drainers fire after it returns.
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

from bridge.events import BotEvent, MessageEvent
from bridge.metrics import Metrics
from bridge.model import (
    MAX_TEXT,
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
from bridge.store import DeadLetter, Event, OutboxRow, Store, StoredMessage, Tx, View

log = logging.getLogger(__name__)

SLACK = "slack"
# Slack calls that need no place in a thread's order (reactions, ephemeral notices): their
# own line per conversation, so one waiting for its rate tier holds no post back.
SLACK_ASIDE = "slack-aside"
ASIDE_KINDS = frozenset({"react", "ephemeral"})
# What Slack sent about a conversation, kept before Slack gets its answer and handled after
# (handling may need to ask Slack who someone is, which must not delay the answer).
SLACK_IN = "slack-in"
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
        slack = Pulse()  # one wake-up for both of Slack's lines
        self.outbox_pulse = {
            SLACK: slack,
            SLACK_ASIDE: slack,
            SLACK_IN: Pulse(),
            BOT: Pulse(),
            BOTPRESS: Pulse(),
        }
        self.events_pulse = Pulse()

    # --- reads ------------------------------------------------------------------------

    async def user(self, user_id: str) -> User | None:
        return await self.store.read(lambda tx: tx.user(user_id))

    async def conversation(self, conversation_id: str) -> Conversation | None:
        return await self.store.read(lambda tx: tx.conversation(conversation_id))

    async def view(self, conversation_id: str, message_id: str | None = None) -> View | None:
        """A conversation with its end user and its assignee, and the message named (with
        where it is in Slack, if it is there already), read at once."""
        return await self.store.read(lambda tx: tx.view(conversation_id, message_id))

    async def history(self, conversation_id: str) -> list[HistoryItem]:
        return await self.store.read(lambda tx: tx.history(conversation_id))

    async def slack_ts(self, key: str) -> str | None:
        return await self.store.read(lambda tx: tx.slack_ts(key))

    async def secret(self, name: str) -> bytes:
        return await self.store.write(lambda tx: tx.secret(name))

    async def recall(self, scope: str, key: str) -> tuple[str, Any] | None:
        return await self.store.read(lambda tx: tx.recall_key(scope, key))

    async def events_after(self, seq: int, limit: int) -> tuple[list[Event], int]:
        """Events after `seq`, and the highest seq ever issued (to tell unknown cursors)."""
        return await self.store.read(lambda tx: (tx.events_after(seq, limit), tx.last_event_seq()))

    # --- the bot's calls ----------------------------------------------------------------

    async def create_user(
        self, name: str, picture_url: str | None, email: str | None, idem: Idem | None = None
    ) -> str:
        user = User(new_id("usr"), Role.END_USER, name, picture_url, email)

        def create(tx: Tx) -> None:
            tx.insert_user(user, self._clock())
            self._remember(tx, idem, user.id)

        await self.store.write(create)
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

        def start(tx: Tx) -> None:
            if user_id is not None:
                self._end_user(tx, user_id)
            tx.insert_conversation(conv, history, session)
            self._to_slack(tx, conv, "post_parent")
            if history or description:  # what the parent cannot hold goes in the thread
                self._to_slack(tx, conv, "transcript")
            self._remember(tx, idem, conv.id)

        await self.store.write(start)
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

        def send(tx: Tx) -> None:
            conv = self._conversation(tx, conversation_id)
            if user_id is not None and conv.user_id is None:
                self._end_user(tx, user_id)  # now we know who it is: show them
                conv = dataclasses.replace(conv, user_id=user_id)
                tx.update_conversation(conv)
                self._to_slack(tx, conv, "update_parent")
            if user_id is not None and user_id != conv.user_id:
                raise Invalid("userId", "is not this conversation's end user")
            if conv.status is Status.STOPPED:
                raise Stopped()
            tx.insert_message(message_id, conv.id, user_id, content, self._clock())
            self._to_slack(tx, conv, "message", messageId=message_id)
            self._remember(tx, idem, message_id)

        await self.store.write(send)
        self.outbox_pulse[SLACK].fire()
        return message_id

    async def stop(self, conversation_id: str, idem: Idem | None = None) -> None:
        """stopHitl: the bot ends the handoff. Not echoed back as `hitlStopped`."""

        def stop(tx: Tx) -> None:
            conv = self._conversation(tx, conversation_id)
            if conv.status is not Status.STOPPED:
                self._stop(tx, conv, StopReason.BOT, by=None)
            self._remember(tx, idem, None)

        await self.store.write(stop)
        self.outbox_pulse[SLACK].fire()

    # --- what agents do in Slack ----------------------------------------------------------

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

        def keep(tx: Tx) -> bool:
            if event_id is not None and not tx.first_seen(event_id, self._clock()):
                return False
            conv = (
                tx.conversation_by_thread(*thread)
                if thread is not None
                else tx.conversation(conversation_id or "")
            )
            if conv is None:
                return False
            tx.enqueue(SLACK_IN, conv.id, kind, payload, self._clock())
            return True

        kept = await self.store.write(keep)
        if kept:
            self.outbox_pulse[SLACK_IN].fire()
        return kept

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
        now = self._clock()

        def reply(tx: Tx) -> tuple[Outcome, float | None]:
            """What happened; and, on the handoff's first reply, the seconds to it."""
            if event_id is not None and not tx.first_seen(event_id, now):
                return Outcome(ignored="retry of an event already handled"), None
            conv = tx.conversation_by_thread(channel, thread_ts)
            if conv is None:
                return Outcome(ignored="not a handoff thread"), None
            if tx.slack_key(channel, ts) is not None:
                return Outcome(ignored="message already relayed"), None
            if is_internal(text):
                # The lock tells the agent it stayed inside.
                self._to_slack(tx, conv, "react", ts=ts, name="lock")
                return Outcome(ignored="internal note"), None
            if not allowed:
                self._ephemeral(tx, conv, agent.slack_user_id, "not_allowed")
                return Outcome(ignored="not an agent"), None
            if conv.status is Status.STOPPED:
                self._ephemeral(tx, conv, agent.slack_user_id, "stopped")
                return Outcome(ignored="conversation stopped"), None
            user = self._agent(tx, agent)
            claimed = conv.status is Status.WAITING
            if claimed:
                conv = self._claim(tx, conv, user)
            message_id = self._relay(tx, conv, user, content)
            first = tx.note_first_reply(conv.id, now)
            tx.restart_idle_clock(conv.id, now)
            tx.record_slack_ts(message_id, conv.id, channel, ts)
            waited = (now - conv.created_at).total_seconds()
            return Outcome(relayed=True, claimed=claimed), waited if first else None

        outcome, first_reply_after = await self.store.write(reply)
        self._fire(bot=outcome.relayed)
        if first_reply_after is not None:
            self.metrics.first_reply.observe(first_reply_after)
        return outcome

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

        def change(tx: Tx) -> Outcome:
            if event_id is not None and not tx.first_seen(event_id, self._clock()):
                return Outcome(ignored="retry of an event already handled")
            key = tx.slack_key(channel, ts)
            message = tx.message(key) if key else None
            author = tx.user(message.author_id) if message and message.author_id else None
            if message is None or author is None or author.slack_user_id != slack_user_id:
                return Outcome(ignored="not a relayed agent reply")
            conv = self._conversation(tx, message.conversation_id)
            if text is None:
                self._ephemeral(tx, conv, slack_user_id, "deleted")
            elif self._relay_corrections and conv.status is not Status.STOPPED and text:
                correction = TextMessage(
                    type="text", payload=TextPayload(text=f"Correction: {text}"[:MAX_TEXT])
                )
                self._relay(tx, conv, author, correction)
                self._ephemeral(tx, conv, slack_user_id, "corrected")
                return Outcome(relayed=True)
            else:
                self._ephemeral(tx, conv, slack_user_id, "edited")
            return Outcome()

        outcome = await self.store.write(change)
        self._fire(bot=outcome.relayed)
        return outcome

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

        def act(tx: Tx) -> Outcome:
            if event_id is not None and not tx.first_seen(event_id, self._clock()):
                return Outcome(ignored="retry of an action already handled")
            conv = tx.conversation(conversation_id)
            if conv is None:
                return Outcome(ignored="unknown conversation")
            if not allowed:
                self._ephemeral(tx, conv, agent.slack_user_id, "not_allowed")
                return Outcome(ignored="not an agent")
            user = self._agent(tx, agent)
            if (
                self._assignee_closes
                and action is not Action.CLAIM
                and conv.status is Status.ASSIGNED
                and conv.agent_id != user.id
            ):
                self._ephemeral(tx, conv, agent.slack_user_id, "assignee_only")
                return Outcome(ignored="only the assignee may release or resolve")
            if conv.status is not needs or (action is Action.CLAIM and conv.agent_id == user.id):
                self._ephemeral(tx, conv, agent.slack_user_id, "stale")
                return Outcome(
                    ignored=f"{action} does not fit a conversation that is {conv.status}"
                )
            if action is Action.CLAIM:
                self._claim(tx, conv, user)
            elif action is Action.RELEASE:
                released = dataclasses.replace(
                    conv,
                    status=Status.WAITING,
                    agent_id=None,
                    changed_by=agent.slack_user_id,
                    waiting_since=self._clock(),
                )
                tx.update_conversation(released)
                tx.reset_reminders(conv.id)
                self._to_slack(tx, conv, "update_parent")
            else:
                self._stop(tx, conv, StopReason.RESOLVED, by=agent.slack_user_id)
            return Outcome(claimed=action is Action.CLAIM)

        outcome = await self.store.write(act)
        self._fire(bot=outcome.ignored is None and action is not Action.RELEASE)
        return outcome

    async def expire_waiting(self, older_than: timedelta, limit: int = 100) -> int:
        """Stop conversations nobody claimed in time (`hitlStopped` reason `timeout`)."""
        cutoff = self._clock() - older_than

        def expire(tx: Tx) -> int:
            expired = tx.waiting_since_before(cutoff, limit)
            for conv in expired:
                self._stop(tx, conv, StopReason.TIMEOUT, by=None)
            return len(expired)

        count = await self.store.write(expire)
        if count:
            self._fire(bot=True)
        return count

    async def receipt(self, event: BotEvent, via: str, failure: str | None) -> None:
        """The bot took an agent's reply (a reaction on it), or it never will (a warning
        reaction, and the agent is told why). `via` is the target that delivered it: only
        the one speaking the conversation's protocol counts."""
        if not isinstance(event, MessageEvent) or (not self._receipt and failure is None):
            return
        payload = event.payload

        def receipt(tx: Tx) -> None:
            conv = self._conversation(tx, payload.conversationId)
            if (conv.origin is Origin.BOTPRESS) != (via == BOTPRESS):
                return
            ts = tx.slack_ts(payload.messageId)
            if ts is None:
                return
            if failure is None:
                self._to_slack(tx, conv, "react", ts=ts, name=self._receipt)
            else:
                self._to_slack(tx, conv, "react", ts=ts, name="warning")
                self._to_slack(
                    tx, conv, "ephemeral", user=payload.agent.slackUserId,
                    why="undelivered", state={"reason": failure[:300]},
                )  # fmt: skip

        await self.store.write(receipt)
        self.outbox_pulse[SLACK].fire()

    async def warn_agent(self, conversation_id: str, slack_user_id: str, reason: str) -> None:
        """What an agent did in Slack could not be handled: they are told (ephemeral)."""

        def warn(tx: Tx) -> None:
            conv = self._conversation(tx, conversation_id)
            self._to_slack(
                tx, conv, "ephemeral", user=slack_user_id, why="unhandled",
                state={"reason": reason[:300]},
            )  # fmt: skip

        await self.store.write(warn)
        self.outbox_pulse[SLACK].fire()

    async def delivery_failed(self, conversation_id: str, what: str, reason: str) -> None:
        """Something for the thread was given up on: the agents get a notice there."""

        def notice(tx: Tx) -> None:
            conv = self._conversation(tx, conversation_id)
            self._to_slack(tx, conv, "failure_notice", what=what, reason=reason)

        await self.store.write(notice)
        self.outbox_pulse[SLACK].fire()

    async def dead_letters(self, conversation_id: str) -> list[DeadLetter]:
        return await self.store.read(lambda tx: tx.dead_letters(conversation_id))

    async def refresh_metrics(self) -> None:
        """Bring the gauges read from the database up to date (before a scrape)."""
        m = self.metrics
        stats, counts = await self.store.read(
            lambda tx: (tx.outbox_stats(), tx.conversation_counts())
        )
        now = time.time()
        for target in (SLACK, SLACK_ASIDE, SLACK_IN, BOT, BOTPRESS):
            depth, oldest = stats.get((target, "pending"), (0, now))
            m.outbox_depth.labels(target).set(depth)
            m.outbox_oldest.labels(target).set(now - oldest)
            m.dead_letters.labels(target).set(stats.get((target, "failed"), (0, now))[0])
        for status in Status:
            m.conversations.labels(status.value).set(counts.get(status.value, 0))

    async def prune(self) -> None:
        """Forget old Slack event ids, idempotency keys and events (see `Tx.prune`)."""
        now = self._clock()
        await self.store.write(lambda tx: tx.prune(now))

    async def queue(
        self, status: Status = Status.WAITING, slack_user_id: str | None = None, limit: int = 20
    ) -> list[Queued]:
        """Open conversations, oldest first: the waiting ones, or one agent's."""

        def read(tx: Tx) -> list[Queued]:
            agent_id = None
            if slack_user_id is not None:
                agent = tx.agent_by_slack_id(slack_user_id)
                if agent is None:
                    return []
                agent_id = agent.id
            found = tx.open_conversations(status, limit, agent_id)
            return [Queued(conv, tx.user(conv.user_id) if conv.user_id else None) for conv in found]

        return await self.store.read(read)

    async def figures(self, since: datetime) -> Figures:
        handoffs, firsts, resolves = await self.store.read(lambda tx: tx.day_figures(since))
        return Figures(
            handoffs,
            statistics.median(firsts) if firsts else None,
            statistics.median(resolves) if resolves else None,
        )

    async def remind(self, every: float, most: int, limit: int = 100) -> int:
        """Post the reminders owed to conversations nobody has claimed."""
        now = self._clock()

        def remind(tx: Tx) -> int:
            due = tx.due_reminders(now, every, limit, most)
            for conv in due:
                tx.count_reminder(conv.id)
                waited = (now - (conv.waiting_since or conv.created_at)).total_seconds()
                self._to_slack(tx, conv, "reminder", waited=int(waited))
            return len(due)

        count = await self.store.write(remind)
        if count:
            self.outbox_pulse[SLACK].fire()
        return count

    async def nudge_idle(self, after: timedelta, limit: int = 100) -> int:
        """Nudge assignees who have said nothing for `after` since they claimed or replied."""
        before = self._clock() - after

        def nudge(tx: Tx) -> int:
            idle = tx.idle_assigned(before, limit)
            for conv in idle:
                assignee = tx.user(conv.agent_id) if conv.agent_id else None
                tx.mark_nudged(conv.id)
                if assignee is not None:
                    self._to_slack(
                        tx,
                        conv,
                        "nudge",
                        user=assignee.slack_user_id,
                        idle=int(after.total_seconds()),
                    )
            return len(idle)

        count = await self.store.write(nudge)
        if count:
            self.outbox_pulse[SLACK].fire()
        return count

    # --- what the Slack sender reports back ---------------------------------------------

    async def queued_messages(self, row: OutboxRow, limit: int) -> list[StoredMessage]:
        """The messages queued right behind `row` for the thread, up to the first row that
        is not a message."""

        def read(tx: Tx) -> list[StoredMessage]:
            found = []
            for later in tx.queued_after(row, limit):
                message = tx.message(later.payload.get("messageId", ""))
                if later.kind != "message" or message is None:
                    break
                found.append(message)
            return found

        return await self.store.read(read)

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

        def record(tx: Tx) -> None:
            for part, key in enumerate(keys):
                tx.record_slack_ts(key, conversation_id, channel, ts, part)
            if keys[0].startswith(parent_key(conversation_id)):
                conv = self._conversation(tx, conversation_id)
                tx.update_conversation(
                    dataclasses.replace(conv, channel=channel, thread_ts=ts, permalink=permalink)
                )

        await self.store.write(record)

    async def recap(self, conversation_id: str, limit: int = 20) -> list[HistoryItem]:
        """The conversation so far as a transcript: the history given at the start, then
        what the end user and the bot said since (the last `limit` of it)."""

        def read(tx: Tx) -> tuple[list[HistoryItem], Conversation, list[StoredMessage]]:
            history = tx.history(conversation_id)
            return (
                history,
                self._conversation(tx, conversation_id),
                tx.latest_messages(conversation_id, limit),
            )

        history, conv, said = await self.store.read(read)
        return history + [
            HistoryItem("user" if m.author_id == conv.user_id else "bot", m.content)
            for m in said
            if m.author_id is None or m.author_id == conv.user_id
        ]

    # --- helpers -----------------------------------------------------------------------

    def _fire(self, bot: bool) -> None:
        """Wake the drainers (and long polls) after a commit; on the event loop, never in a
        transaction."""
        self.outbox_pulse[SLACK].fire()
        if bot:
            self.outbox_pulse[BOT].fire()
            self.outbox_pulse[BOTPRESS].fire()
            self.events_pulse.fire()

    # The helpers below run inside transactions, on the database's thread.

    @staticmethod
    def _conversation(tx: Tx, conversation_id: str) -> Conversation:
        conv = tx.conversation(conversation_id)
        if conv is None:
            raise NotFound(conversation_id)
        return conv

    @staticmethod
    def _end_user(tx: Tx, user_id: str) -> User:
        user = tx.user(user_id)
        if user is None or user.role is not Role.END_USER:
            raise Invalid("userId", "names no known end user")
        return user

    def _agent(self, tx: Tx, profile: AgentProfile) -> User:
        """The agent's bridge user, created the first time they are seen, kept current."""
        user = tx.agent_by_slack_id(profile.slack_user_id)
        if user is None:
            user = User(
                new_id("usr"),
                Role.AGENT,
                profile.name,
                profile.picture_url,
                profile.email,
                profile.slack_user_id,
            )
            tx.insert_user(user, self._clock())
        elif (user.name, user.picture_url, user.email) != (
            profile.name,
            profile.picture_url,
            profile.email,
        ):
            tx.update_agent_profile(user.id, profile)
            user = dataclasses.replace(
                user, name=profile.name, picture_url=profile.picture_url, email=profile.email
            )
        return user

    def _relay(self, tx: Tx, conv: Conversation, agent: User, content: Content) -> str:
        """An agent's message for the bot: stored, and a `message` event."""
        message_id = new_id("msg")
        tx.insert_message(message_id, conv.id, agent.id, content, self._clock())
        self._event(
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

    def _claim(self, tx: Tx, conv: Conversation, agent: User) -> Conversation:
        claimed = dataclasses.replace(
            conv, status=Status.ASSIGNED, agent_id=agent.id, changed_by=agent.slack_user_id
        )
        tx.update_conversation(claimed)
        tx.restart_idle_clock(conv.id, self._clock())
        self._to_slack(tx, conv, "update_parent")
        self._event(
            tx,
            conv,
            "hitlAssigned",
            {"conversationId": conv.id, "userId": agent.id, "agent": self._agent_json(agent)},
        )
        return claimed

    def _stop(self, tx: Tx, conv: Conversation, reason: StopReason, by: str | None) -> None:
        now = self._clock()
        stopped = dataclasses.replace(
            conv, status=Status.STOPPED, stop_reason=reason, changed_by=by, stopped_at=now
        )
        tx.update_conversation(stopped)
        self._to_slack(tx, conv, "update_parent")
        if reason is not StopReason.BOT:
            self._event(
                tx, conv, "hitlStopped", {"conversationId": conv.id, "reason": reason.value}
            )
        log.info("handoff stopped (%s)", reason.value, extra={"conversation": conv.id})

    def _ephemeral(self, tx: Tx, conv: Conversation, slack_user_id: str, why: str) -> None:
        """Tell one agent why nothing happened, with the state as it is now (it may change
        before the notice goes out)."""
        assignee = tx.user(conv.agent_id) if conv.agent_id else None
        state = {
            "status": conv.status.value,
            "assignee": assignee.slack_user_id if assignee else None,
            "changedBy": conv.changed_by,
            "stopReason": conv.stop_reason.value if conv.stop_reason else None,
        }
        self._to_slack(tx, conv, "ephemeral", user=slack_user_id, why=why, state=state)

    def _to_slack(self, tx: Tx, conv: Conversation, kind: str, **payload: Any) -> None:
        """Queue something for the conversation's thread; the channel rides along for pacing."""
        target = SLACK_ASIDE if kind in ASIDE_KINDS else SLACK
        tx.enqueue(target, conv.id, kind, {"channel": conv.channel, **payload}, self._clock())

    def _event(self, tx: Tx, conv: Conversation, type_: str, payload: dict[str, Any]) -> None:
        """An event for the bot: kept for `GET /v1/events`, queued for the webhook if any,
        and for Botpress when the conversation came from there."""
        event_id, now = new_id("evt"), self._clock()
        body = {"id": event_id, "type": type_, "createdAt": iso(now), "payload": payload}
        tx.append_event(event_id, conv.id, body, now)
        if self._webhooks:
            tx.enqueue(BOT, conv.id, "event", body, now)
        if self._botpress and conv.origin is Origin.BOTPRESS:
            tx.enqueue(BOTPRESS, conv.id, "event", body, now)

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

    def _remember(self, tx: Tx, idem: Idem | None, result: Any) -> None:
        if idem is None:
            return
        if tx.recall_key(idem.scope, idem.key) is not None:
            raise KeyTaken()
        tx.remember_key(idem.scope, idem.key, idem.fingerprint, result, self._clock())


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
