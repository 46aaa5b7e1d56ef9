"""The contract between the core and its wings, in types.

What the core queues for a party (`Target`), what it asks of Slack (a `SlackKind` and the
frozen payload class for it), why an agent is told something (`Why`), what a reaction on an
agent's reply means (`Receipt`: the Slack wing picks the emoji), and the events the bot
receives (pydantic models, also the OpenAPI document's and the Botpress sender's). Pure: no
I/O, no wing.

A payload is stored in the outbox as JSON: its field names are the stored keys, so rename a
field only with a migration that rewrites the queued rows.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    Field,
    SerializerFunctionWrapHandler,
    TypeAdapter,
    model_serializer,
)

from bridge.model import Content


class Target(StrEnum):
    """Who an outbox row is for; each target has its own drainer."""

    SLACK = "slack"  # the conversation's thread, in order
    # Slack calls that need no place in a thread's order (reactions, ephemeral notices):
    # their own line per conversation, so one waiting for its rate tier holds no post back.
    SLACK_ASIDE = "slack-aside"
    # What Slack sent about a conversation, kept before Slack gets its answer and handled
    # after (handling may ask Slack who someone is, which must not delay the answer).
    SLACK_IN = "slack-in"
    BOT = "bot"  # the webhook
    BOTPRESS = "botpress"  # Botpress's hitl-api webhook


class SlackKind(StrEnum):
    """What the core asks of the conversation's Slack thread."""

    POST_PARENT = "post_parent"
    TRANSCRIPT = "transcript"
    MESSAGE = "message"
    UPDATE_PARENT = "update_parent"
    REACT = "react"
    EPHEMERAL = "ephemeral"
    REMINDER = "reminder"
    NUDGE = "nudge"
    FAILURE_NOTICE = "failure_notice"
    POST_APPROVAL = "post_approval"
    UPDATE_APPROVAL = "update_approval"
    APPROVAL_REMINDER = "approval_reminder"
    APPROVAL_NOTICE = "approval_notice"


class Why(StrEnum):
    """Why an agent is told, in a notice only they see, that what they did changed nothing
    (or not what they might think)."""

    NOT_ALLOWED = "not_allowed"  # not one of the agents
    STOPPED = "stopped"  # a reply in a stopped conversation
    STALE = "stale"  # a button that no longer fits the conversation's state
    ASSIGNEE_ONLY = "assignee_only"  # only the assignee may release or resolve
    EDITED = "edited"  # an edit of a reply the end user already has
    CORRECTED = "corrected"  # ... sent on as a correction
    DELETED = "deleted"  # a deleted reply the end user already has
    UNDELIVERED = "undelivered"  # the bot will never take their reply
    UNHANDLED = "unhandled"  # what they did could not be handled


class Receipt(StrEnum):
    """What a reaction on an agent's reply says."""

    TAKEN = "taken"  # the bot took it
    UNDELIVERED = "undelivered"  # the bot never will
    INTERNAL = "internal"  # an internal note: it stayed inside


# --- what the core asks of Slack ---------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class SlackPayload:
    """A request for the conversation's thread (stored with its channel, for pacing)."""

    kind: ClassVar[SlackKind]


@dataclass(frozen=True, slots=True, kw_only=True)
class PostParent(SlackPayload):
    kind = SlackKind.POST_PARENT


@dataclass(frozen=True, slots=True, kw_only=True)
class Transcript(SlackPayload):
    """What the parent cannot hold: the history and the rest of a long description."""

    kind = SlackKind.TRANSCRIPT


@dataclass(frozen=True, slots=True, kw_only=True)
class PostMessage(SlackPayload):
    """A message of the end user or the bot, stored under `messageId`."""

    kind = SlackKind.MESSAGE
    messageId: str


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdateParent(SlackPayload):
    """The conversation changed: redraw its parent."""

    kind = SlackKind.UPDATE_PARENT


@dataclass(frozen=True, slots=True, kw_only=True)
class React(SlackPayload):
    kind = SlackKind.REACT
    ts: str
    receipt: Receipt


@dataclass(frozen=True, slots=True, kw_only=True)
class Standing:
    """Where a conversation stood when an agent was told something about it."""

    status: str
    assignee: str | None = None  # the assignee's Slack user id
    changedBy: str | None = None
    stopReason: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Failure:
    """Why something failed, in a line for people."""

    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Ephemeral(SlackPayload):
    """A notice only `user` (a Slack user id) sees."""

    kind = SlackKind.EPHEMERAL
    user: str
    why: Why
    state: Standing | Failure


@dataclass(frozen=True, slots=True, kw_only=True)
class Reminder(SlackPayload):
    """Nobody has claimed the conversation for `waited` seconds."""

    kind = SlackKind.REMINDER
    waited: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Nudge(SlackPayload):
    """The assignee `user` has said nothing for `idle` seconds."""

    kind = SlackKind.NUDGE
    user: str
    idle: int


@dataclass(frozen=True, slots=True, kw_only=True)
class FailureNotice(SlackPayload):
    """Something for the thread (`what`, an outbox kind) was given up on."""

    kind = SlackKind.FAILURE_NOTICE
    what: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PostApproval(SlackPayload):
    """Ask for a decision on approval request `approvalId`: in its conversation's thread,
    or as a new message in its channel."""

    kind = SlackKind.POST_APPROVAL
    approvalId: str


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdateApproval(SlackPayload):
    """The request was decided, expired or cancelled: rewrite it as it now stands."""

    kind = SlackKind.UPDATE_APPROVAL
    approvalId: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ApprovalReminder(SlackPayload):
    """Three quarters of the request's time have passed undecided: `left` seconds remain."""

    kind = SlackKind.APPROVAL_REMINDER
    approvalId: str
    left: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ApprovalNotice(SlackPayload):
    """Tell `user` (a Slack user id), in a notice only they see, why their decision on the
    request changed nothing: they are not one of the agents, or it was settled already
    (the notice says as what, and by whom, as it stands when sent: for good)."""

    kind = SlackKind.APPROVAL_NOTICE
    approvalId: str
    user: str
    why: Why


SLACK_PAYLOADS: dict[SlackKind, type[SlackPayload]] = {
    cls.kind: cls
    for cls in (
        PostParent,
        Transcript,
        PostMessage,
        UpdateParent,
        React,
        Ephemeral,
        Reminder,
        Nudge,
        FailureNotice,
        PostApproval,
        UpdateApproval,
        ApprovalReminder,
        ApprovalNotice,
    )
}
# The kinds that go in the aside line (see `Target.SLACK_ASIDE`).
ASIDE_KINDS = frozenset({SlackKind.REACT, SlackKind.EPHEMERAL, SlackKind.APPROVAL_NOTICE})


def target_of(payload: SlackPayload) -> Target:
    return Target.SLACK_ASIDE if payload.kind in ASIDE_KINDS else Target.SLACK


def to_json(payload: SlackPayload, channel: str) -> dict[str, Any]:
    """The payload as the outbox stores it, with the channel it is for."""
    return {"channel": channel, **dataclasses.asdict(payload)}


def from_json(kind: str, stored: dict[str, Any]) -> SlackPayload:
    """The payload of an outbox row of `kind`; `ValueError` when it does not fit."""
    fields = {k: v for k, v in stored.items() if k != "channel"}
    try:
        cls = SLACK_PAYLOADS[SlackKind(kind)]
        if cls is Ephemeral:
            state = fields["state"]
            fields |= {
                "why": Why(fields["why"]),
                "state": Failure(**state) if "reason" in state else Standing(**state),
            }
        elif cls is React:
            fields["receipt"] = Receipt(fields["receipt"])
        elif cls is ApprovalNotice:
            fields["why"] = Why(fields["why"])
        return cls(**fields)
    except (KeyError, TypeError) as exc:
        raise ValueError(f"a {kind} payload that does not fit: {exc}") from None


# --- events to the bot -------------------------------------------------------------------


class Agent(BaseModel):
    """How the bot sees an agent: as themselves, or as the team persona when one is set."""

    name: str
    pictureUrl: str | None
    email: str | None
    slackUserId: str


class AssignedPayload(BaseModel):
    conversationId: str
    userId: str  # the agent's bridge user
    agent: Agent


class MessagePayload(BaseModel):
    """An agent's reply: `type` and `payload` as in a message the bot sends."""

    conversationId: str
    userId: str
    messageId: str
    type: str
    payload: dict[str, Any]
    agent: Agent


class StoppedPayload(BaseModel):
    conversationId: str
    reason: Literal["resolved", "timeout"]


class _Event(BaseModel):
    id: str
    type: str
    createdAt: str  # ISO 8601, UTC, whole seconds


class HitlAssigned(_Event):
    """An agent claimed the conversation (or replied first in a waiting one)."""

    type: Literal["hitlAssigned"] = "hitlAssigned"
    payload: AssignedPayload


class MessageEvent(_Event):
    """An agent replied."""

    type: Literal["message"] = "message"
    payload: MessagePayload


class HitlStopped(_Event):
    """The handoff is over: an agent resolved it, or nobody claimed it in time."""

    type: Literal["hitlStopped"] = "hitlStopped"
    payload: StoppedPayload


DecidedStatus = Literal["approved", "edited", "rejected", "expired"]


class DecidedPayload(BaseModel):
    """A decision on an approval request, or its running out of time. `message`: the draft
    as approved, or the edited text; `comment`: the reason given on Reject; `userId` and
    `agent`: who decided. Each is left out when it has nothing to say; `conversationId` is
    null for a request outside a conversation."""

    approvalId: str
    conversationId: str | None
    status: DecidedStatus
    message: Content | None = None
    comment: str | None = None
    userId: str | None = None
    agent: Agent | None = None

    @model_serializer(mode="wrap")
    def _absent_when_none(self, dump: SerializerFunctionWrapHandler) -> dict[str, Any]:
        fields: dict[str, Any] = dump(self)
        if self.message is not None:  # as the bot would send it: no nulls inside either
            fields["message"] = self.message.model_dump(exclude_none=True)
        return {k: v for k, v in fields.items() if v is not None or k == "conversationId"}


class ApprovalDecided(_Event):
    """An approval request was decided, or ran out of time."""

    type: Literal["approvalDecided"] = "approvalDecided"
    payload: DecidedPayload


BotEvent = HitlAssigned | MessageEvent | HitlStopped | ApprovalDecided
_bot_event: TypeAdapter[BotEvent] = TypeAdapter(Annotated[BotEvent, Field(discriminator="type")])


def parse_event(body: Any) -> BotEvent:
    """An event as the webhook or `GET /v1/events` gives it (a dict, or JSON text or bytes);
    pydantic's `ValidationError` when it is not one."""
    if isinstance(body, str | bytes):
        return _bot_event.validate_json(body)
    return _bot_event.validate_python(body)
