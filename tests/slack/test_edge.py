"""The door's checks as pure functions: the raw-JSON shortcut agrees with the full walk."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from bridge.slack import edge


def event(text: str, nesting: int = 0) -> dict[str, object]:
    deep: object = "leaf"
    for _ in range(nesting):
        deep = [deep]
    return {
        "type": "event_callback",
        "event": {"type": "message", "text": text, "ts": "1.2", "channel": "C1"},
        "extra": deep,
    }


@pytest.mark.parametrize(
    ("payload", "ascii_only", "refused"),
    [
        (event("plain words"), False, False),
        (event("caf\u00e9 \U0001f600"), False, False),  # raw UTF-8
        (event("caf\u00e9 \U0001f600"), True, False),  # escaped, surrogate pair and all
        (event("lone \ud800 surrogate"), True, True),
        (event("deep", nesting=70), False, True),
        (event("deep enough", nesting=60), False, False),
    ],
)
def test_raw_json_and_parsed_payload_agree(
    payload: dict[str, object], ascii_only: bool, refused: bool
) -> None:
    raw = json.dumps(payload, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
    parsed = json.loads(raw)
    with_raw, without = edge.problem(parsed, raw), edge.problem(parsed)
    assert with_raw == without
    assert (with_raw is not None) is refused, with_raw


@pytest.mark.parametrize(
    ("offset", "accepted"), [(0, True), (-300, True), (300, True), (-301, False), (301, False)]
)
def test_the_signature_window_is_five_minutes_either_way(offset: int, accepted: bool) -> None:
    secret, body, now = "s3cret", b'{"type":"event_callback"}', 1_800_000_000
    stamp = str(now + offset)
    base = b"v0:" + stamp.encode() + b":" + body
    signature = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    headers = {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": signature}
    assert edge.signed(secret, headers, body, now) is accepted


SUBMITTED: dict[str, object] = {
    "type": "view_submission",
    "user": {"id": "U0ALICE"},
    "view": {
        "id": "V0EDIT",
        "callback_id": "approval_edit",
        "private_metadata": "apv_1",
        "state": {"values": {"approval_text": {"text": {"type": "plain_text_input"}}}},
    },
}


def _with_view(**view: object) -> dict[str, object]:
    base = SUBMITTED["view"]
    assert isinstance(base, dict)
    return SUBMITTED | {"view": base | view}


@pytest.mark.parametrize(
    ("payload", "why"),
    [
        (SUBMITTED, None),
        (SUBMITTED | {"type": "view_closed"}, None),
        (_with_view(state=None) | {"type": "view_closed"}, None),  # closed: no values needed
        (SUBMITTED | {"user": "U0ALICE"}, "no user"),
        (SUBMITTED | {"view": "V0EDIT"}, "no view"),
        (_with_view(private_metadata=7), "a view field of the wrong type"),
        (_with_view(callback_id=None), "a view field of the wrong type"),
        (_with_view(state={"values": []}), "a view without its values"),
        (_with_view(state=None), "a view without its values"),
    ],
)
def test_modals_submitted_or_closed_are_let_through_checked(
    payload: dict[str, object], why: str | None
) -> None:
    assert edge.problem(payload) == why
