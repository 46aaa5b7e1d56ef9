"""Storage: what the core asks of a database, whichever it is.

`Store` runs transactions; `Tx` is the row functions a transaction is made of, one protocol
per table (or per pair of tables that only make sense together). A backend implements both:
`bridge.store.sqlite.SqliteStore` is the one there is. The core types against these
protocols only, so that a second backend (PostgreSQL) can take its place.

A transaction is a plain, synchronous function of a `Tx`, run whole where the database is
(for SQLite, on its thread): it may share its commit with others. Every time a row keeps is
given by the caller, from the caller's clock; a backend never reads one itself.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar

from bridge.model import (
    AgentProfile,
    Approval,
    Content,
    Conversation,
    HistoryItem,
    Status,
    User,
)
from bridge.store.writable import Unavailable

__all__ = [
    "Batch",
    "DeadLetter",
    "Event",
    "Observer",
    "OutboxRow",
    "Store",
    "StoredMessage",
    "Tx",
    "Unavailable",
    "View",
    "default_observer",
    "observe",
]

T = TypeVar("T")


# --- rows -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OutboxRow:
    id: int
    target: str
    conversation_id: str
    kind: str
    payload: dict[str, Any]
    text: str  # the payload as stored, its JSON: for a sender that forwards it as it is
    attempts: int
    maybe_sent: bool
    created_at: float  # seconds since the epoch
    # What the outbox read for the sender in the transaction that took the row (see
    # `outbox.Load`); None when nothing was.
    loaded: Any = None
    # Put off until a slot its sender booked for it (`outbox.Booked`): it goes when taken.
    booked: bool = False


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """An outbox row given up on."""

    target: str
    kind: str
    payload: dict[str, Any]
    attempts: int
    error: str
    created_at: float


@dataclass(frozen=True, slots=True)
class StoredMessage:
    id: str
    conversation_id: str
    author_id: str | None
    content: Content


@dataclass(frozen=True, slots=True)
class View:
    """A conversation as the Slack sender renders it."""

    conv: Conversation
    user: User | None
    assignee: User | None
    message: StoredMessage | None = None
    message_ts: str | None = None  # the message's ts in Slack, once it is there


@dataclass(frozen=True, slots=True)
class Event:
    seq: int
    body: dict[str, Any]


# --- the row functions, by table ------------------------------------------------------------


class UserRows(Protocol):
    """`users`: end users and agents."""

    def insert_user(self, user: User, at: datetime) -> None: ...

    def user(self, user_id: str) -> User | None: ...

    def agent_by_slack_id(self, slack_user_id: str) -> User | None: ...

    def update_agent_profile(self, user_id: str, profile: AgentProfile) -> None:
        """The agent's name, picture and email, as Slack has them now."""
        ...


class ConversationRows(Protocol):
    """`conversations`: the handoffs, their state, and the clocks their timers read."""

    def insert_conversation(
        self, conv: Conversation, history: Sequence[HistoryItem], session: Any
    ) -> None: ...

    def conversation(self, conversation_id: str, *, lock: bool = True) -> Conversation | None:
        """Read to decide on, so locked until the commit (where a database locks rows:
        PostgreSQL); `lock=False` to show it only (see `approval`)."""
        ...

    def conversation_by_thread(self, channel: str, thread_ts: str) -> Conversation | None: ...

    def view(self, conversation_id: str, message_id: str | None = None) -> View | None:
        """The conversation with its end user, its assignee, and the message named with its
        ts in Slack: what the Slack sender reads for a post, at once."""
        ...

    def history(self, conversation_id: str) -> list[HistoryItem]:
        """The transcript the bot gave when it opened the handoff."""
        ...

    def update_conversation(self, conv: Conversation) -> None:
        """Write the mutable part of a conversation (status and who/when, its thread)."""
        ...

    def open_conversations(
        self, status: Status, limit: int, agent_id: str | None = None
    ) -> list[Conversation]:
        """Conversations in `status` (those of one agent, if given), oldest first."""
        ...

    def count_conversations(self, status: Status, agent_id: str | None = None) -> int:
        """How many conversations are in `status` (those of one agent, if given)."""
        ...

    def conversation_counts(self) -> dict[str, int]:
        """Conversations by status."""
        ...

    def day_figures(self, since: datetime) -> tuple[int, list[float], list[float]]:
        """Handoffs opened since `since`; seconds to their first reply; seconds to resolve."""
        ...

    # the timers: time-outs, reminders, nudges

    def waiting_since_before(self, cutoff: datetime, limit: int) -> list[Conversation]: ...

    def due_reminders(
        self, now: datetime, every: float, limit: int, most: int
    ) -> list[Conversation]:
        """Waiting conversations owed their next reminder (one each `every` seconds of
        waiting, `most` at most)."""
        ...

    def count_reminder(self, conversation_id: str) -> None:
        """One more reminder was sent."""
        ...

    def reset_reminders(self, conversation_id: str) -> None:
        """The conversation waits anew: its reminders start again from none."""
        ...

    def idle_assigned(self, before: datetime, limit: int) -> list[Conversation]:
        """Assigned conversations whose agent has said nothing since `before`, not nudged."""
        ...

    def restart_idle_clock(self, conversation_id: str, at: datetime) -> None:
        """The agent claimed or replied at `at`: idle from then, and not nudged."""
        ...

    def agent_replied(self, conversation_id: str, at: datetime) -> bool:
        """An agent replied at `at`: the idle clock restarts, and the conversation's first
        reply is noted. True when this was it."""
        ...

    def mark_nudged(self, conversation_id: str) -> None:
        """The assignee was nudged: not again until the idle clock restarts."""
        ...


class MessageRows(Protocol):
    """`messages`: what the bridge relayed, either way."""

    def insert_message(
        self,
        message_id: str,
        conversation_id: str,
        author_id: str | None,
        content: Content,
        at: datetime,
    ) -> None: ...

    def message(self, message_id: str) -> StoredMessage | None: ...

    def latest_messages(self, conversation_id: str, limit: int) -> list[StoredMessage]:
        """The latest `limit` messages of a conversation, oldest first."""
        ...


class SlackMessageRows(Protocol):
    """`slack_messages`: where the bridge's messages (and parents) are in Slack, one-to-one."""

    def record_slack_ts(
        self, key: str, conversation_id: str, channel: str, ts: str, part: int = 0
    ) -> None:
        """`key` (a message id, a parent's key) is post `ts` in `channel` (its `part`th, when
        one post carries several)."""
        ...

    def slack_ts(self, key: str) -> str | None: ...

    def slack_key(self, channel: str, ts: str) -> str | None: ...


class OnceRows(Protocol):
    """`slack_events` and `idempotency`: what makes a retry harmless."""

    def first_seen(self, event_id: str, at: datetime) -> bool:
        """Record a Slack `event_id`; False when it was seen before (a retry)."""
        ...

    def recall_key(self, scope: str, key: str) -> tuple[str, Any] | None:
        """An idempotency key's request fingerprint and result, if it is known."""
        ...

    def remember_key(
        self, scope: str, key: str, fingerprint: str, result: Any, at: datetime
    ) -> None: ...


class SecretRows(Protocol):
    """`secrets`: keys the bridge makes for itself."""

    def secret(self, name: str) -> bytes:
        """A random key kept in the database, made the first time it is asked for."""
        ...


class EventRows(Protocol):
    """`events`: every event for the bot, in order."""

    def append_event(self, event_id: str, conversation_id: str, body: str, at: datetime) -> None:
        """Keep an event (`body` is its JSON) for `GET /v1/events`."""
        ...

    def events_after(self, seq: int, limit: int) -> list[Event]: ...

    def last_event_seq(self) -> int:
        """The highest seq ever issued, even if its event was pruned since."""
        ...


class OutboxRows(Protocol):
    """`outbox`: what must still be said to a party, one line per conversation and target.

    Its times are seconds since the epoch, as the outbox keeps them."""

    def enqueue(
        self, target: str, conversation_id: str, kind: str, payload: str, at: datetime
    ) -> None:
        """Queue a row (`payload` is its JSON), due from `at` (when it was queued); the first
        of an idle conversation heads its line."""
        ...

    def has_queued(self, target: str, conversation_id: str) -> bool:
        """Whether the conversation has rows waiting for `target` (taken or not)."""
        ...

    def take_due(
        self,
        target: str,
        now: float,
        limit: int,
        lease: float,
        full: Collection[str] = (),
        holder: str = "",
    ) -> list[OutboxRow]:
        """The head of each conversation, when due, soonest first, each counted as an
        attempt (and as maybe sent, until told otherwise) as it is taken, and leased to
        `holder` until `lease`: not due again until it is settled (deferred, retried,
        removed) or the lease is released (`release_leases`).

        Only a conversation's head may go out: that is what keeps each conversation in order.
        Rows whose payload names a `channel` in `full` are left where they are (it has no
        room for them now). The rows come back as they were before this attempt.
        """
        ...

    def take_next(
        self, target: str, conversation_id: str, now: float, lease: float, holder: str = ""
    ) -> OutboxRow | None:
        """The conversation's head, if it is due, taken as `take_due` takes it (its
        delivery goes on from the row before it, in the same worker)."""
        ...

    def next_due_at(self, target: str, full: Collection[str] = ()) -> float | None:
        """When the next head `take_due` would take (`full` as there) falls due."""
        ...

    def renew_leases(self, row_ids: Sequence[int], until: float) -> None:
        """Lease the rows (still leased: not settled meanwhile) until `until`."""
        ...

    def release_leases(self, target: str, now: float, holder: str) -> int:
        """Make the rows of `target` leased to `holder` (on a database of its own, every
        leased row) due at `now`: the run that took them is over. How many there were."""
        ...

    def queued_after(self, row: OutboxRow, limit: int) -> list[OutboxRow]:
        """The rows queued behind `row` in its conversation, oldest first."""
        ...

    def defer(self, row: OutboxRow, until: float, booked: bool = False) -> None:
        """Put `row` back until `until`, as if it had not been taken (no attempt made); its
        conversation's line waits as long. `booked`: a slot is booked for it then."""
        ...

    def schedule_retry(self, row_id: int, at: float, error: str, maybe_sent: bool) -> None:
        """Try the row again at `at` (its attempt counted)."""
        ...

    def remove_delivered(self, row_id: int) -> None:
        """The row went out: it goes, and the next of its conversation takes over."""
        ...

    def mark_failed(self, row_id: int, error: str) -> None:
        """The row is given up on and kept as a dead letter; the next takes over."""
        ...

    def dead_letters(self, conversation_id: str) -> list[DeadLetter]: ...

    def outbox_stats(self) -> dict[tuple[str, str], tuple[int, float]]:
        """(target, state) -> (rows, oldest created_at), for those present."""
        ...


class ApprovalRows(Protocol):
    """`approvals`: drafts waiting for a human's decision, and the decisions."""

    def insert_approval(self, approval: Approval, remind_at: datetime | None) -> None:
        """Keep a new request; its reminder falls due at `remind_at` (None: never)."""
        ...

    def approval(self, approval_id: str, *, lock: bool = True) -> Approval | None:
        """Read to decide on, so locked until the commit, as `conversation`. `lock=False`
        to show it only: a sender reading it as it takes a row holds the outbox's locks
        already, and locking it too would deadlock with a decision, which locks it first
        and then queues."""
        ...

    def settle_approval(self, settled: Approval) -> bool:
        """Record that a pending request was decided, expired or cancelled (`settled` as it
        now stands). False, and nothing changed, when it was not pending any more: the
        first to settle it wins."""
        ...

    def record_approval_post(
        self, approval_id: str, ts: str, thread_ts: str | None, permalink: str | None
    ) -> None:
        """The request was posted in Slack as `ts` (in the thread `thread_ts`, if any)."""
        ...

    def due_approval_reminders(self, now: datetime, limit: int) -> list[Approval]:
        """Pending requests whose reminder is due, each then marked as reminded."""
        ...

    def expired_approvals(self, now: datetime, limit: int) -> list[Approval]:
        """Pending requests whose time is up, soonest first."""
        ...

    def pending_approvals(self, limit: int) -> list[Approval]:
        """Pending requests, oldest first."""
        ...

    def count_pending_approvals(self) -> int: ...

    def next_approval_due(self) -> datetime | None:
        """When the next reminder or expiry of a pending request falls due."""
        ...


class SharedRows(Protocol):
    """What the instances sharing one database tell each other, and the budgets they share
    (`slack.pacing.SharedPacer`). Times are seconds since the epoch; waits are seconds."""

    def announce(self, words: Collection[str]) -> None:
        """Tell the instances that follow the database (`Store.follow`) once this commits:
        nothing, on a database no other instance can share."""
        ...

    def pace_reserve(self, key: str, now: float, interval: float, tolerance: float) -> float:
        """Book the next slot of `key`'s budget (one call each `interval`, `tolerance` of it
        at once): seconds until it comes."""
        ...

    def pace_take(self, key: str, now: float, interval: float, tolerance: float) -> float:
        """Book a slot of `key`'s budget if one is free now (0); else the seconds until one
        is, booking nothing."""
        ...

    def pace_paused(self, key: str, now: float) -> float:
        """Seconds left of `key`'s pause."""
        ...

    def pace_pause(self, key: str, now: float, seconds: float, tolerance: float) -> None:
        """Pause `key` for `seconds`, with no burst after it."""
        ...


class Tx(
    UserRows,
    ConversationRows,
    MessageRows,
    SlackMessageRows,
    OnceRows,
    SecretRows,
    EventRows,
    OutboxRows,
    ApprovalRows,
    SharedRows,
    Protocol,
):
    """The row functions a transaction (a function given to `Store.write` or `Store.read`)
    is made of."""

    def prune(self, now: datetime) -> None:
        """Forget what the contract lets go: Slack event ids after a day, idempotency keys
        after 24 h, events after 7 days."""
        ...


# --- the store ------------------------------------------------------------------------------


class Store(Protocol):
    """The database, and the transactions run on it."""

    async def write(self, body: Callable[[Tx], T]) -> T:
        """Run `body` as a transaction: committed when this returns; an exception undoes
        all it did and is raised here (`Unavailable` when the database cannot take writes).
        `body` may run away from the event loop, so it must not touch it. It may share its
        commit with others, and run again when one of those fails: so it must change nothing
        but the database."""
        ...

    async def read(self, body: Callable[[Tx], T]) -> T:
        """Run `body`, which only reads. It sees what is committed; reads that must agree
        with each other across a commit belong in one `write`."""
        ...

    @property
    def cannot_write(self) -> str | None:
        """Why the database takes no writes, as the latest writes showed; None if it does."""
        ...

    async def takes_writes(self) -> bool:
        """Whether the database takes writes, found out with a write that changes nothing
        while the latest writes said it did not."""
        ...

    @property
    def shared(self) -> bool:
        """Whether other instances may work on this database too."""
        ...

    @property
    def leads(self) -> bool:
        """Whether this instance is, of those sharing the database, the one that does what
        only one should (publishing App Home tabs). On a database of its own, it is."""
        ...

    async def follow(self, heard: Callable[[list[str] | None], None]) -> None:
        """Until cancelled, hand `heard` the words the other instances announce
        (`Tx.announce`), and None when some may have been missed (as the database was
        out of reach); and lead while no other instance does. Returns at once on a
        database of its own."""
        ...

    async def close(self) -> None: ...


# --- watching it work (benchmarks, diagnostics) --------------------------------------------


@dataclass(frozen=True, slots=True)
class Batch:
    """One hand-off to the database: transactions asked for together, run in one
    transaction of the database's (one commit, when `writes`)."""

    size: int  # the transactions (`write`s and `read`s) in it
    writes: bool  # one of them writes: the batch took the write lock and committed
    seconds: float  # wall time it took, where the database runs it
    cpu: float  # CPU time of the thread that ran it, meanwhile


class Observer(Protocol):
    """Told about each transaction and each batch. It must be quick and must not raise;
    nothing it does changes what the store does."""

    def transaction(self, body: Callable[..., Any], writes: bool, seconds: float) -> None:
        """On the event loop, as `Store.write` (`writes`) or `Store.read` ends: `body` was
        awaited `seconds`, waiting for its turn included."""
        ...

    def batch(self, batch: Batch) -> None:
        """Where the database runs (for SQLite, its thread), as a batch ends."""
        ...


_observer: Observer | None = None


def observe(observer: Observer | None) -> None:
    """Have every store opened from now on report to `observer` (None: to nobody). For a
    benchmark that runs the bridge whole, which opens its store itself."""
    global _observer
    _observer = observer


def default_observer() -> Observer | None:
    """What `observe` set: the observer of a store opened without one."""
    return _observer
