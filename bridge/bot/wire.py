"""The bot API's request and response bodies, and turning validation errors into one line
that names the field."""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from bridge.events import Agent
from bridge.model import Content, HistoryItem, HttpUrl, content_adapter, unstorable

T = TypeVar("T", bound=BaseModel)


class WireError(Exception):
    """A body that does not fit; `field` is a dotted path such as `messageHistory[2].type`."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


def _no_controls(value: str) -> str:
    if re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", value):
        raise ValueError("must not contain control characters")
    return value


def _storable(value: dict[str, Any]) -> dict[str, Any]:
    """Free-form JSON is kept as it is, so it must be storable (else a 500 when written)."""
    why = unstorable(value)
    if why is not None:
        raise ValueError(why)
    return value


def _email(value: str) -> str:
    if not re.fullmatch(r"[^@\s]+@[^@\s]+", value):
        raise ValueError("must be an email address")
    return value


Name = Annotated[str, Field(min_length=1, max_length=255), AfterValidator(_no_controls)]
Id = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CreateUser(_Body):
    name: Name
    pictureUrl: HttpUrl | None = None
    email: Annotated[str, Field(max_length=254), AfterValidator(_email)] | None = None


class UserSource(_Body):
    type: Literal["user"]
    userId: str


class BotSource(_Body):
    type: Literal["bot"]


class HistoryEntry(_Body):
    source: Annotated[UserSource | BotSource, Field(discriminator="type")]
    type: str
    payload: Any = None


class StartHitl(_Body):
    userId: Id
    title: Annotated[str, Field(max_length=500), AfterValidator(_no_controls)] | None = None
    description: Annotated[str, Field(max_length=10000)] | None = None
    messageHistory: Annotated[list[HistoryEntry], Field(max_length=1000)]
    hitlSession: Annotated[dict[str, Any], AfterValidator(_storable)] | None = None


class SendMessage(_Body):
    type: str
    payload: Any = None
    userId: Id | None = None


class StopHitl(_Body):
    pass


class Draft(_Body):
    """What the bot is about to say: a message as `sendMessage` takes it."""

    type: str
    payload: Any = None


class RequestApproval(_Body):
    draft: Draft
    title: Annotated[str, Field(max_length=200), AfterValidator(_no_controls)] | None = None
    context: Annotated[str, Field(max_length=3000)] | None = None
    conversationId: Id | None = None
    userId: Id | None = None
    queue: Annotated[str, Field(max_length=255)] | None = None
    expiresIn: Annotated[float, Field(ge=10, le=604800, strict=True)] | None = None


class CancelApproval(_Body):
    pass


# --- answers ----------------------------------------------------------------------------


class UserOut(BaseModel):
    userId: str
    name: str
    pictureUrl: str | None
    email: str | None
    role: Literal["end-user", "agent"]


class SlackRef(BaseModel):
    channel: str
    threadTs: str | None
    permalink: str | None


class DeadLetterOut(BaseModel):
    """Something the bridge gave up delivering: an event to the bot (its webhook, or
    Botpress's), or something for Slack."""

    target: Literal["bot", "botpress", "slack"]
    kind: str
    id: str | None
    attempts: int
    error: str
    since: str


class ConversationOut(BaseModel):
    conversationId: str
    userId: str | None  # None until a Botpress hitl-api conversation names its end user
    status: Literal["waiting", "assigned", "stopped"]
    agentId: str | None
    title: str | None
    slack: SlackRef
    createdAt: str
    stoppedAt: str | None
    deadLetters: list[DeadLetterOut]


class ApprovalSlackRef(BaseModel):
    channel: str
    ts: str | None
    permalink: str | None


class ApprovalOut(BaseModel):
    approvalId: str
    status: Literal["pending", "approved", "edited", "rejected", "expired", "cancelled"]
    draft: Content
    message: Content | None
    comment: str | None
    agent: Agent | None
    conversationId: str | None
    userId: str | None
    title: str | None
    slack: ApprovalSlackRef
    createdAt: str
    expiresAt: str
    decidedAt: str | None


# --- parsing ------------------------------------------------------------------------------


def parse(model: type[T], body: Any) -> T:
    """Validate a JSON body; the first problem becomes a `WireError` naming its field."""
    if not isinstance(body, dict):
        raise WireError("body", "must be a JSON object")
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise _first(exc, body, "") from None


def content(type_: str, payload: Any, where: str = "") -> Content:
    """A message `{type, payload}`, with errors named from `where`."""
    data = {"type": type_, "payload": payload}
    try:
        return content_adapter.validate_python(data)
    except ValidationError as exc:
        raise _first(exc, data, where) from None


def history(entries: list[HistoryEntry]) -> list[HistoryItem]:
    return [
        HistoryItem(e.source.type, content(e.type, e.payload, f"messageHistory[{i}]"))
        for i, e in enumerate(entries)
    ]


def _first(exc: ValidationError, data: Any, prefix: str) -> WireError:
    err = exc.errors(include_url=False, include_input=False)[0]
    path = prefix
    node = data
    for part in err["loc"]:
        # Discriminated unions add their tag to the location; it names no field, so skip it.
        if isinstance(part, int) and isinstance(node, list) and part < len(node):
            path += f"[{part}]"
            node = node[part]
        elif isinstance(node, dict) and part not in node and node.get("type") == part:
            continue
        elif isinstance(part, str):
            path += _segment(part, first=not path)
            node = node.get(part) if isinstance(node, dict) else None
    message = str(err["msg"]).removeprefix("Value error, ")
    if err["type"] == "missing":
        message = "is required"
    elif err["type"] == "extra_forbidden":
        message = "is not a known field"
    elif err["type"] in ("union_tag_invalid", "union_tag_not_found"):
        path = f"{path}.type" if path else "type"
        tags = err.get("ctx", {}).get("expected_tags")
        message = f"must be one of {tags}" if tags else "is required"
    return WireError(path or "body", message)


def _segment(name: str, *, first: bool) -> str:
    """`.name`, or `["name"]` for a key that would not read as a name (empty, spaces, dots)."""
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", name):
        return name if first else f".{name}"
    return f"{'body' if first else ''}[{json.dumps(name)}]"
