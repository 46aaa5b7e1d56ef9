"""The ``reactions.*`` methods: the bot's emoji reactions on messages."""

from __future__ import annotations

import re

from bridge.testing.fake_slack.errors import SlackError
from bridge.testing.fake_slack.models import JSON, Message
from bridge.testing.fake_slack.params import channel_param, message_param, opt_str
from bridge.testing.fake_slack.workspace import Handler, Workspace

# Distinct emoji on one message (too_many_emoji). Not in the API docs: the number users report.
MAX_EMOJI = 23

_TS = re.compile(r"\d+\.\d+")
_EMOJI_NAME = re.compile(r"[a-z0-9_+-]+(?:::skin-tone-[2-6])?")


def add(ws: Workspace, p: JSON) -> JSON:
    """``reactions.add``."""
    msg, name = _target(ws, p)
    if ws.channels[msg.channel].archived:
        raise SlackError("is_archived")  # on reactions.add's list, not reactions.remove's
    if msg.subtype == "tombstone":
        raise SlackError("not_reactable")  # a deleted parent kept for its replies
    users = msg.reactions.get(name, [])
    if ws.bot_user_id in users:
        raise SlackError("already_reacted")
    if name not in msg.reactions and len(msg.reactions) >= MAX_EMOJI:
        raise SlackError("too_many_emoji")
    msg.reactions.setdefault(name, []).append(ws.bot_user_id)
    return {}


def remove(ws: Workspace, p: JSON) -> JSON:
    """``reactions.remove``."""
    msg, name = _target(ws, p)
    users = msg.reactions.get(name, [])
    if ws.bot_user_id not in users:
        raise SlackError("no_reaction")
    users.remove(ws.bot_user_id)
    if not users:
        del msg.reactions[name]
    return {}


def _target(ws: Workspace, p: JSON) -> tuple[Message, str]:
    """The message and emoji name a call is about, refused as both methods refuse them."""
    channel = channel_param(ws, p)
    ts = p.get("timestamp")
    if ts is None or ts == "":
        raise SlackError("no_item_specified")
    if not isinstance(ts, str) or not _TS.fullmatch(ts):
        raise SlackError("bad_timestamp")
    msg = message_param(ws, channel.id, ts)
    name = (opt_str(p.get("name")) or "").strip(":")
    if not _EMOJI_NAME.fullmatch(name):
        raise SlackError("invalid_name")
    root = ws.find(channel.id, msg.thread_ts or msg.ts)
    if root is not None and root.locked:
        raise SlackError("thread_locked")
    return msg, name


METHODS: dict[str, Handler] = {"reactions.add": add, "reactions.remove": remove}
