"""The domain: statuses and their transitions, users, conversations, message contents.

Pure: nothing here does I/O. Message contents are pydantic models because they are the
same shapes on the wire (Botpress's HITL message types) and in storage.
"""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter


class Status(StrEnum):
    WAITING = "waiting"
    ASSIGNED = "assigned"
    STOPPED = "stopped"


class StopReason(StrEnum):
    RESOLVED = "resolved"  # an agent pressed Resolve
    TIMEOUT = "timeout"  # nobody claimed it in time
    BOT = "bot"  # the bot called stopHitl (never echoed to the bot)


class Action(StrEnum):
    CLAIM = "claim"
    RELEASE = "release"
    RESOLVE = "resolve"


class Role(StrEnum):
    END_USER = "end-user"
    AGENT = "agent"


# Which status each agent action needs, and the status it leads to.
TRANSITIONS: dict[Action, tuple[Status, Status]] = {
    Action.CLAIM: (Status.WAITING, Status.ASSIGNED),
    Action.RELEASE: (Status.ASSIGNED, Status.WAITING),
    Action.RESOLVE: (Status.ASSIGNED, Status.STOPPED),
}


def new_id(prefix: str) -> str:
    """An opaque, unguessable id such as ``msg_19ae...``: the time in milliseconds, then 64
    random bits. Ids made one after another sort together, so the rows they key are added
    at the end of their indexes: a commit writes a page or two of each, not one per row."""
    return f"{prefix}_{time.time_ns() // 1_000_000:011x}{secrets.token_hex(8)}"


def utcnow() -> datetime:
    return datetime.now(UTC)


# The last second `iso` wrote, and how: a transaction asks for the same second several
# times, and strftime was a twentieth of an agent reply's transaction (measured).
_written: tuple[int, str] = (0, "1970-01-01T00:00:00Z")
_EPOCH, _SECOND = datetime(1970, 1, 1, tzinfo=UTC), timedelta(seconds=1)


def iso(moment: datetime) -> str:
    """ISO 8601 in UTC with a ``Z`` and whole seconds, as the API promises."""
    global _written
    utc = moment.astimezone(UTC)
    # Counted in whole seconds exactly (a float timestamp no longer holds µs by year 2500);
    # the tuple is read once and swapped whole: safe from any thread.
    second, written = (utc - _EPOCH) // _SECOND, _written
    if written[0] != second:
        written = _written = (second, utc.strftime("%Y-%m-%dT%H:%M:%SZ"))
    return written[1]


_INTERNAL = re.compile(r"\s*(note|private):", re.IGNORECASE)


def is_internal(text: str) -> bool:
    """Agent replies starting with ``note:`` or ``private:`` stay in Slack."""
    return _INTERNAL.match(text) is not None


MAX_DEPTH = 32


def unstorable(value: Any, max_depth: int = MAX_DEPTH) -> str | None:
    """Why free-form JSON cannot be kept as it is (None: it can): text UTF-8 cannot store
    (lone surrogates), or nesting deeper than `max_depth`."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > max_depth:
            return f"must not be nested more than {max_depth} levels deep"
        if isinstance(node, dict):
            stack.extend((key, depth) for key in node)
            stack.extend((item, depth + 1) for item in node.values())
        elif isinstance(node, list):
            stack.extend((item, depth + 1) for item in node)
        elif isinstance(node, str):
            try:
                node.encode()
            except UnicodeEncodeError:
                return "must not contain unpaired surrogates (\\ud800-\\udfff)"
    return None


# --- message contents (Botpress HITL channel message types) ---------------------------------


def _http_url(value: str) -> str:
    if not re.match(r"https?://[^\s]+$", value, re.IGNORECASE):
        raise ValueError("must be an http(s) URL")
    return value


HttpUrl = Annotated[str, Field(min_length=1, max_length=3000), AfterValidator(_http_url)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


MAX_TEXT = 40_000  # the longest text message, as Botpress's HITL channel takes it


class TextPayload(_Strict):
    text: Annotated[str, Field(min_length=1, max_length=MAX_TEXT)]


class ImagePayload(_Strict):
    imageUrl: HttpUrl
    title: str | None = None


class AudioPayload(_Strict):
    audioUrl: HttpUrl
    title: str | None = None


class VideoPayload(_Strict):
    videoUrl: HttpUrl
    title: str | None = None


class FilePayload(_Strict):
    fileUrl: HttpUrl
    title: str | None = None


class TextMessage(_Strict):
    type: Literal["text"]
    payload: TextPayload


class ImageMessage(_Strict):
    type: Literal["image"]
    payload: ImagePayload


class AudioMessage(_Strict):
    type: Literal["audio"]
    payload: AudioPayload


class VideoMessage(_Strict):
    type: Literal["video"]
    payload: VideoPayload


class FileMessage(_Strict):
    type: Literal["file"]
    payload: FilePayload


SimpleMessage = Annotated[
    TextMessage | ImageMessage | AudioMessage | VideoMessage | FileMessage,
    Field(discriminator="type"),
]


class BlocPayload(_Strict):
    items: Annotated[list[SimpleMessage], Field(min_length=1, max_length=50)]


class BlocMessage(_Strict):
    type: Literal["bloc"]
    payload: BlocPayload


Content = Annotated[
    TextMessage | ImageMessage | AudioMessage | VideoMessage | FileMessage | BlocMessage,
    Field(discriminator="type"),
]
"""One message as Botpress's HITL channel knows it: ``{type, payload}``."""

content_adapter: TypeAdapter[Content] = TypeAdapter(Content)


def content_from_json(data: Any) -> Content:
    return content_adapter.validate_python(data)


# --- rows -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class User:
    id: str
    role: Role
    name: str
    picture_url: str | None
    email: str | None
    slack_user_id: str | None = None


class Priority(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


class Origin(StrEnum):
    """Which bot-side protocol opened a conversation, and so hears its events."""

    NATIVE = "native"  # the /v1 API (events on the webhook and GET /v1/events)
    BOTPRESS = "botpress"  # Botpress's hitl-api integration (events to its webhook too)


@dataclass(frozen=True, slots=True)
class Conversation:
    id: str
    user_id: str | None  # None until a Botpress hitl-api conversation names its end user
    status: Status
    channel: str
    thread_ts: str | None  # the parent message's ts once posted
    permalink: str | None
    title: str | None
    description: str | None
    agent_id: str | None  # bridge user id of the assignee
    changed_by: str | None  # Slack user id of whoever made the last status change
    stop_reason: StopReason | None
    created_at: datetime
    waiting_since: datetime | None
    stopped_at: datetime | None
    origin: Origin = Origin.NATIVE
    priority: Priority | None = None


class ApprovalStatus(StrEnum):
    """Where an approval request stands: `pending`, then one of the others, for good."""

    PENDING = "pending"
    APPROVED = "approved"
    EDITED = "edited"
    REJECTED = "rejected"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


class Decision(StrEnum):
    """What an agent does with an approval request."""

    APPROVE = "approve"
    EDIT = "edit"
    REJECT = "reject"


@dataclass(frozen=True, slots=True)
class Approval:
    """A draft the bot asks a human to approve, edit or reject before it is said."""

    id: str
    status: ApprovalStatus
    draft: Content
    message: Content | None  # as approved, or edited; None until then, and if rejected
    comment: str | None  # the reason given on Reject
    decider_id: str | None  # bridge user id of the agent who decided
    conversation_id: str | None  # the handoff it was asked in, if any
    user_id: str | None  # the end user concerned, if any
    title: str | None
    context: str | None
    channel: str
    thread_ts: str | None  # the conversation's thread it is posted in, if any
    ts: str | None  # the request's own message, once posted
    permalink: str | None
    created_at: datetime
    expires_at: datetime
    decided_at: datetime | None

    @property
    def line(self) -> str:
        """Its line in the outbox and among the events: its conversation's, or its own."""
        return self.conversation_id or self.id


@dataclass(frozen=True, slots=True)
class HistoryItem:
    """One line of the transcript given at startHitl."""

    source: Literal["user", "bot"]
    content: Content


@dataclass(frozen=True, slots=True)
class AgentProfile:
    """What Slack tells about an agent; the bridge gives them a user id of its own."""

    slack_user_id: str
    name: str
    picture_url: str | None
    email: str | None
