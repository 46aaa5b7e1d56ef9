"""Reading a Web API method's arguments, and refusing them in Slack's words."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bridge.testing.fake_slack.errors import SlackError
from bridge.testing.fake_slack.models import JSON, Channel, Message

if TYPE_CHECKING:
    from bridge.testing.fake_slack.workspace import Workspace


def opt_str(value: object) -> str | None:
    """An argument as a string, None if absent."""
    return None if value is None else str(value)


def truthy(value: object) -> bool:
    """A boolean argument, sent as JSON ``true`` or as a form's ``"true"`` / ``"1"``."""
    return value is True or str(value).lower() in ("true", "1")


def channel_param(ws: Workspace, p: JSON) -> Channel:
    """The channel ``p["channel"]`` names (id or name): ``channel_not_found`` if none."""
    channel_id = ws.resolve_channel_id(opt_str(p.get("channel")))
    if channel_id is None:
        raise SlackError("channel_not_found")
    return ws.channels[channel_id]


def writable_channel(ws: Workspace, p: JSON) -> Channel:
    """The channel, if the bot may post in it."""
    channel = channel_param(ws, p)
    if channel.archived:
        raise SlackError("is_archived")
    if not channel.member:
        raise SlackError("not_in_channel")
    return channel


def readable_channel(ws: Workspace, p: JSON) -> Channel:
    """The channel, if the bot may read it."""
    channel = channel_param(ws, p)
    if not channel.member:
        raise SlackError("not_in_channel")
    return channel


def message_param(ws: Workspace, channel: str, ts: object) -> Message:
    """The message at ``ts`` in the channel: ``message_not_found`` if none."""
    msg = ws.find(channel, ts) if isinstance(ts, str) else None
    if msg is None:
        raise SlackError("message_not_found")
    return msg
