"""The contract between the core and the wings: payloads stored and read back, bot events
read as the bot gets them."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from bridge.events import (
    SLACK_PAYLOADS,
    ApprovalNotice,
    ApprovalReminder,
    Ephemeral,
    Failure,
    FailureNotice,
    HitlStopped,
    MessageEvent,
    Nudge,
    PostApproval,
    PostMessage,
    PostParent,
    React,
    Receipt,
    Reminder,
    SlackKind,
    SlackPayload,
    Standing,
    Target,
    Transcript,
    UpdateApproval,
    UpdateParent,
    Why,
    from_json,
    parse_event,
    target_of,
    to_json,
)

EVERY_KIND: list[SlackPayload] = [
    PostParent(),
    Transcript(),
    PostMessage(messageId="msg_1"),
    UpdateParent(),
    React(ts="1.000001", receipt=Receipt.INTERNAL),
    Ephemeral(user="U0A", why=Why.STALE, state=Standing(status="assigned", assignee="U0B")),
    Ephemeral(user="U0A", why=Why.UNDELIVERED, state=Failure(reason="HTTP 500")),
    Reminder(waited=600),
    Nudge(user="U0A", idle=120),
    FailureNotice(what="transcript", reason="msg_too_long"),
    PostApproval(approvalId="apv_1"),
    UpdateApproval(approvalId="apv_1"),
    ApprovalReminder(approvalId="apv_1", left=900),
    ApprovalNotice(approvalId="apv_1", user="U0A", why=Why.STALE),
]


def test_every_kind_has_its_class() -> None:
    assert set(SLACK_PAYLOADS) == set(SlackKind)
    assert {type(p).kind for p in EVERY_KIND} == set(SlackKind)


@pytest.mark.parametrize("payload", EVERY_KIND, ids=lambda p: type(p).__name__)
def test_a_payload_reads_back_as_it_was_stored(payload: SlackPayload) -> None:
    stored = json.loads(json.dumps(to_json(payload, "C0HANDOFF")))  # as the outbox keeps it
    assert stored["channel"] == "C0HANDOFF"
    assert from_json(payload.kind, stored) == payload


def test_the_stored_form_is_plain_json_with_today_s_keys() -> None:
    told = Ephemeral(user="U0A", why=Why.STALE, state=Standing(status="waiting"))
    assert json.loads(json.dumps(to_json(told, "C1"))) == {
        "channel": "C1",
        "user": "U0A",
        "why": "stale",
        "state": {"status": "waiting", "assignee": None, "changedBy": None, "stopReason": None},
    }
    assert to_json(PostMessage(messageId="msg_1"), "C1") == {"channel": "C1", "messageId": "msg_1"}


def test_a_payload_that_does_not_fit_is_refused() -> None:
    with pytest.raises(ValueError, match="react"):
        from_json("react", {"channel": "C1", "ts": "1.0"})
    with pytest.raises(ValueError):
        from_json("react", {"channel": "C1", "ts": "1.0", "receipt": "balloons"})
    with pytest.raises(ValueError):
        from_json("juggle", {"channel": "C1"})


def test_reactions_and_ephemerals_go_aside() -> None:
    aside = {p.kind for p in EVERY_KIND if target_of(p) is Target.SLACK_ASIDE}
    assert aside == {SlackKind.REACT, SlackKind.EPHEMERAL, SlackKind.APPROVAL_NOTICE}


def test_bot_events_are_read_by_their_type() -> None:
    agent = {"name": "Alice", "pictureUrl": None, "email": None, "slackUserId": "U0A"}
    message = {
        "id": "evt_1",
        "type": "message",
        "createdAt": "2026-12-04T10:00:00Z",
        "payload": {
            "conversationId": "conv_1",
            "userId": "usr_1",
            "messageId": "msg_1",
            "type": "text",
            "payload": {"text": "hello"},
            "agent": agent,
        },
    }
    read = parse_event(json.dumps(message))
    assert isinstance(read, MessageEvent) and read.payload.agent.name == "Alice"
    assert read.model_dump() == message  # what is sent is what was read
    stopped = {"id": "e", "type": "hitlStopped", "createdAt": "t", "payload": {
        "conversationId": "conv_1", "reason": "timeout"}}  # fmt: skip
    assert isinstance(parse_event(stopped), HitlStopped)
    with pytest.raises(ValidationError):
        parse_event(stopped | {"type": "approvalDecided"})
    with pytest.raises(ValidationError):
        parse_event({**stopped, "payload": {"conversationId": "c", "reason": "bot"}})
