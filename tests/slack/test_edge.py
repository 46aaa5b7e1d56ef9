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
