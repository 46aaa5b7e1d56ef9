"""What Slack sends the app, shaped as Slack shapes it: message events, the
``event_callback`` envelope, ``block_actions``, ``view_submission`` and ``view_closed``
payloads, and slash commands."""

from __future__ import annotations

import base64
import json
import time
import uuid
from typing import Any

from bridge.testing.fake_slack.models import JSON, Message, Trigger
from bridge.testing.fake_slack.render import block_id, message_view, plain, user_ref
from bridge.testing.fake_slack.workspace import Workspace


def event_fields(channel: str, ts: str) -> JSON:
    """What a ``message`` event adds to the message it carries."""
    return {"channel": channel, "event_ts": ts, "channel_type": "channel"}


def message_event(ws: Workspace, msg: Message) -> JSON:
    """The ``message`` event Slack sends for the stored message ``msg``."""
    return {**message_view(ws, msg), **event_fields(msg.channel, msg.ts)}


def changed_event(channel: str, message: JSON, previous: JSON, ts: str) -> JSON:
    """The ``message_changed`` event of an edit made at ``ts``."""
    return {
        "type": "message",
        "subtype": "message_changed",
        "message": message,
        "previous_message": previous,
        "channel": channel,
        "hidden": True,
        "ts": ts,
        "event_ts": ts,
        "channel_type": "channel",
    }


def deleted_event(ws: Workspace, channel: str, deleted_ts: str, previous: JSON) -> JSON:
    """The ``message_deleted`` event of the message at ``deleted_ts``."""
    ts = ws.next_ts()
    return {
        "type": "message",
        "subtype": "message_deleted",
        "hidden": True,
        "deleted_ts": deleted_ts,
        "channel": channel,
        "previous_message": previous,
        "ts": ts,
        "event_ts": ts,
        "channel_type": "channel",
    }


def envelope(ws: Workspace, event: JSON, event_id: str | None = None) -> JSON:
    """The ``event_callback`` envelope ``event`` is delivered in (a new event id unless
    given one)."""
    event = dict(event)
    event.setdefault("event_ts", event.get("ts") or ws.next_ts())
    context = {"et": event.get("type"), "tid": ws.team_id, "aid": ws.app_id}
    if isinstance(event.get("channel"), str):
        context["cid"] = event["channel"]
    encoded = base64.urlsafe_b64encode(json.dumps(context).encode()).decode().rstrip("=")
    return {
        "token": "legacy-verification-token",
        "team_id": ws.team_id,
        "context_team_id": ws.team_id,
        "context_enterprise_id": None,
        "api_app_id": ws.app_id,
        "event": event,
        "type": "event_callback",
        "event_id": event_id or f"Ev{ws.new_id():08d}FAKE",
        "event_time": int(time.time()),
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": ws.team_id,
                "user_id": ws.bot_user_id,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
        "event_context": f"4-{encoded}",
    }


def block_actions_payload(
    ws: Workspace,
    user: str,
    msg: Message,
    action_id: str,
    value: str | None,
    response_url: str,
) -> JSON:
    """The payload of a click on the button ``action_id`` of ``msg``, as stored now.

    A button that is no longer there still gives a payload (with ``value``): stale clicks
    happen.
    """
    view = message_view(ws, msg, metadata=False)
    found = _find_element(view.get("blocks") or [], action_id)
    if found is not None:
        block, element = found
        clicked_block = str(block.get("block_id"))
        text = element.get("text", plain(action_id))
        kind = str(element.get("type", "button"))
        if value is None:
            value = element.get("value")
        extra = {k: element[k] for k in ("style",) if k in element}
    else:
        clicked_block, text, kind, extra = block_id(msg.ts, 99), plain(action_id), "button", {}
    action: JSON = {
        "action_id": action_id,
        "block_id": clicked_block,
        "text": text,
        "type": kind,
        "action_ts": f"{time.time():.6f}",
        **extra,
    }
    if value is not None:
        action["value"] = value
    container: JSON = {
        "type": "message",
        "message_ts": msg.ts,
        "channel_id": msg.channel,
        "is_ephemeral": False,
    }
    if msg.is_reply:
        container["thread_ts"] = msg.thread_ts
    return {
        "type": "block_actions",
        "user": user_ref(ws, user),
        "api_app_id": ws.app_id,
        "token": "legacy-verification-token",
        "container": container,
        "trigger_id": trigger_id(ws, user),
        "team": {"id": ws.team_id, "domain": ws.team_domain},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": msg.channel, "name": ws.channels[msg.channel].name},
        "message": view,
        "state": {"values": {}},
        "response_url": response_url,
        "actions": [action],
    }


def slash_command_form(
    ws: Workspace, user: str, channel: str, command: str, text: str, response_url: str
) -> dict[str, str]:
    """The form Slack posts when a person runs ``command`` in a channel."""
    return {
        "token": "legacy-verification-token",
        "team_id": ws.team_id,
        "team_domain": ws.team_domain,
        "channel_id": channel,
        "channel_name": ws.channels[channel].name if channel in ws.channels else "",
        "user_id": user,
        "user_name": user_ref(ws, user)["username"],
        "command": command,
        "text": text,
        "api_app_id": ws.app_id,
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": trigger_id(ws, user),
    }


def view_submission_payload(ws: Workspace, user: str, view: JSON) -> JSON:
    """The payload of ``user`` submitting ``view`` (its ``state.values`` filled in)."""
    return {
        "type": "view_submission",
        "team": {"id": ws.team_id, "domain": ws.team_domain},
        "user": user_ref(ws, user),
        "api_app_id": ws.app_id,
        "token": "legacy-verification-token",
        "trigger_id": trigger_id(ws, user),
        "view": view,
        "response_urls": [],  # only views with a conversation select set response_url_enabled
        "enterprise": None,
        "is_enterprise_install": False,
    }


def view_closed_payload(ws: Workspace, user: str, view: JSON, cleared: bool) -> JSON:
    """The payload of ``user`` closing ``view``; ``cleared``: the whole modal went with it."""
    return {
        "type": "view_closed",
        "team": {"id": ws.team_id, "domain": ws.team_domain},
        "user": user_ref(ws, user),
        "api_app_id": ws.app_id,
        "token": "legacy-verification-token",
        "view": view,
        "is_cleared": cleared,
        "enterprise": None,
        "is_enterprise_install": False,
    }


def trigger_id(ws: Workspace, user: str) -> str:
    """A new trigger_id of an interaction of ``user``: what the app may open a modal for them
    with, once, within ``TRIGGER_TTL`` (``modals``)."""
    issued = f"{ws.new_id()}.{int(time.time())}.{uuid.uuid4().hex}"
    ws.triggers[issued] = Trigger(user, ws.clock())
    return issued


def _find_element(blocks: list[JSON], action_id: str) -> tuple[JSON, JSON] | None:
    for block in blocks:
        candidates: list[Any] = []
        if block.get("type") == "actions":
            candidates = list(block.get("elements") or [])
        elif block.get("type") == "section":
            candidates = [block.get("accessory")]
        elif block.get("type") == "input":
            candidates = [block.get("element")]
        for element in candidates:
            if isinstance(element, dict) and element.get("action_id") == action_id:
                return block, element
    return None
