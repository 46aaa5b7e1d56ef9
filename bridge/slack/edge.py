"""The door of `/slack/events`: what gets to Bolt, and what is answered before it.

Bolt parses a body before it checks the signature, and trusts the shape of what it parsed, so
a forged or malformed request could make it fail with a 500. Here every request is checked
first, on its raw bytes: the signature (5-minute window, constant time), then the shape of
the few kinds the bridge handles. A signed request that is malformed or of a kind the bridge
does not use is acknowledged (200, so Slack does not retry it) and goes no further.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs

from bridge.model import unstorable

WINDOW = 300  # seconds a signed request stays valid
DEPTH = 64  # the deepest nesting let through
_ESCAPED_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]")
STRINGS = ("type", "subtype", "user", "channel", "ts", "thread_ts", "text", "bot_id", "tab")
HANDLED_EVENTS = ("message", "app_home_opened")


def signed(secret: str, headers: Mapping[str, str], body: bytes, now: float) -> bool:
    """Slack's v0 signature over the raw body, with a timestamp within five minutes."""
    stamp = headers.get("X-Slack-Request-Timestamp", "")
    if not stamp.isdigit() or abs(now - int(stamp)) > WINDOW:
        return False
    base = b"v0:" + stamp.encode() + b":" + body
    expected = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return hmac.compare_digest(headers.get("X-Slack-Signature", "").encode(), expected.encode())


def ssl_check(body: bytes, content_type: str) -> bool:
    """Slack's `ssl_check=1` probe of a slash command's URL. It comes unsigned and asks for
    nothing: answered 200 before any check, as Bolt does."""
    if not content_type.startswith("application/x-www-form-urlencoded") or len(body) > 4096:
        return False
    form = parse_qs(body.decode(errors="replace"))
    return form.get("ssl_check", [""])[-1] == "1"


def parse(body: bytes, content_type: str) -> dict[str, Any] | None:
    """The request as one JSON object (interactivity's `payload=`, or a slash command's
    fields), or None when it is not one."""
    try:
        text = body.decode()
        if content_type.startswith("application/x-www-form-urlencoded"):
            form = {k: v[-1] for k, v in parse_qs(text, keep_blank_values=True).items()}
            parsed: Any = json.loads(form["payload"]) if "payload" in form else form
        else:
            parsed = json.loads(text)
    except (ValueError, KeyError, RecursionError):
        return None
    return parsed if isinstance(parsed, dict) else None


def problem(payload: dict[str, Any], raw_json: bytes | None = None) -> str | None:
    """Why Bolt should not see this payload (None: it may). `raw_json`: the body it was
    parsed from, when that was JSON (not a form), which can spare a walk through it."""
    if raw_json is None or not _plainly_storable(raw_json):
        why = unstorable(payload, max_depth=DEPTH)
        if why is not None:
            return f"it {why.removeprefix('must ')}"
    kind = payload.get("type")
    if kind in ("url_verification", "ssl_check"):
        return None
    if kind == "event_callback":
        event = payload.get("event")
        if not isinstance(event, dict) or event.get("type") not in HANDLED_EVENTS:
            return "an event the bridge does not use"
        if any(not isinstance(event.get(k), str | None) for k in STRINGS):
            return "an event field of the wrong type"
        return None
    if kind == "block_actions":
        actions, user = payload.get("actions"), payload.get("user")
        if not isinstance(user, dict) or not isinstance(user.get("id"), str):
            return "no user"
        if not isinstance(actions, list) or not actions:
            return "no actions"
        if not all(isinstance(a, dict) and isinstance(a.get("action_id"), str) for a in actions):
            return "an action without an action_id"
        return None
    if kind in ("view_submission", "view_closed"):
        return _view_problem(payload)
    if "command" in payload:  # a slash command's fields, all strings already
        return None
    return "a kind the bridge does not use"


def _view_problem(payload: dict[str, Any]) -> str | None:
    """A modal submitted or closed: who, and the view with what the listeners read of it."""
    user, view = payload.get("user"), payload.get("view")
    if not isinstance(user, dict) or not isinstance(user.get("id"), str):
        return "no user"
    if not isinstance(view, dict):
        return "no view"
    if any(not isinstance(view.get(k), str) for k in ("id", "callback_id", "private_metadata")):
        return "a view field of the wrong type"
    state = view.get("state")
    if payload["type"] == "view_submission" and (
        not isinstance(state, dict) or not isinstance(state.get("values"), dict)
    ):
        return "a view without its values"
    return None


def _plainly_storable(raw_json: bytes) -> bool:
    """True when JSON this raw cannot hold what `unstorable` looks for: it has too few
    brackets to nest `DEPTH` deep, and no escaped surrogate (UTF-8 cannot carry one raw)."""
    brackets = raw_json.count(b"{") + raw_json.count(b"[")
    return brackets <= DEPTH and _ESCAPED_SURROGATE.search(raw_json) is None
