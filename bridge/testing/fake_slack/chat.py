"""The ``chat.*`` methods: posting, updating and deleting the bot's messages, ephemerals
and permalinks, each with the refusals its page documents."""

from __future__ import annotations

import copy
import time

from bridge.testing.fake_slack.blocks import check_blocks, check_blocks_text
from bridge.testing.fake_slack.errors import SlackError
from bridge.testing.fake_slack.events import changed_event, deleted_event, event_fields
from bridge.testing.fake_slack.models import JSON, Ephemeral, Message
from bridge.testing.fake_slack.params import (
    channel_param,
    message_param,
    opt_str,
    truthy,
    writable_channel,
)
from bridge.testing.fake_slack.render import message_view
from bridge.testing.fake_slack.workspace import Handler, Workspace

MAX_TEXT = 40_000  # a message's text (msg_too_long)


def post_message(ws: Workspace, p: JSON) -> JSON:
    """``chat.postMessage``."""
    channel = writable_channel(ws, p)
    if channel.read_only:
        raise SlackError("restricted_action_read_only_channel")
    text, blocks = check_content(p)
    thread_ts = opt_str(p.get("thread_ts")) or None
    if thread_ts is not None:
        target = ws.find(channel.id, thread_ts)
        if target is None:
            raise SlackError("thread_not_found")
        thread_ts = target.thread_ts or target.ts  # a reply to a reply joins its thread
        root = ws.find(channel.id, thread_ts)
        if root is not None and root.locked:
            raise SlackError("restricted_action_thread_locked")
    broadcast = thread_ts is not None and truthy(p.get("reply_broadcast"))
    msg = Message(
        ts=ws.next_ts(),
        channel=channel.id,
        user=ws.bot_user_id,
        bot_id=ws.bot_id,
        text=text,
        blocks=blocks,
        thread_ts=thread_ts,
        username=opt_str(p.get("username")),
        icon_url=opt_str(p.get("icon_url")),
        metadata=check_metadata(p.get("metadata")),
        subtype="thread_broadcast" if broadcast else None,
    )
    ws.store(msg)
    view = message_view(ws, msg)
    ws.echo({**view, **event_fields(msg.channel, msg.ts)})
    return {"channel": channel.id, "ts": msg.ts, "message": view}


def update(ws: Workspace, p: JSON) -> JSON:
    """``chat.update``: Slack keeps what an update leaves out; ``blocks=[]`` removes them."""
    channel = channel_param(ws, p)
    if channel.archived:
        # chat.update's page: "cannot be edited within a frozen, archived or deleted
        # channel" is is_inactive (is_archived is not among its errors).
        raise SlackError("is_inactive")
    msg = message_param(ws, channel.id, p.get("ts"))
    if msg.user != ws.bot_user_id or msg.bot_id != ws.bot_id:
        raise SlackError("cant_update_message")
    if ws.edit_window is not None and time.time() - float(msg.ts) > ws.edit_window:
        raise SlackError("edit_window_closed")
    if not any(key in p for key in ("text", "blocks", "attachments", "metadata")):
        raise SlackError("no_text")
    blocks = check_blocks(p.get("blocks")) if "blocks" in p else msg.blocks
    check_blocks_text(blocks)
    text = opt_str(p.get("text")) if "text" in p else msg.text
    if len(text or "") > MAX_TEXT:
        raise SlackError("msg_too_long")
    metadata = check_metadata(p.get("metadata")) if p.get("metadata") else msg.metadata
    previous = message_view(ws, msg)
    msg.text = text or ""
    msg.blocks = blocks or None
    msg.metadata = metadata
    msg.edited = True
    msg.edited_ts = ws.next_ts()
    view = message_view(ws, msg)
    ws.echo(changed_event(channel.id, view, previous, msg.edited_ts))
    return {"channel": channel.id, "ts": msg.ts, "text": msg.text, "message": view}


def delete(ws: Workspace, p: JSON) -> JSON:
    """``chat.delete``: only the bot's own messages."""
    channel = channel_param(ws, p)
    msg = message_param(ws, channel.id, p.get("ts"))
    if msg.user != ws.bot_user_id or msg.bot_id != ws.bot_id:
        raise SlackError("cant_delete_message")
    previous = message_view(ws, msg)
    ws.remove(msg)
    ws.echo(deleted_event(ws, channel.id, msg.ts, previous))
    return {"channel": channel.id, "ts": msg.ts}


def post_ephemeral(ws: Workspace, p: JSON) -> JSON:
    """``chat.postEphemeral``: to someone in the channel."""
    channel = writable_channel(ws, p)
    user = opt_str(p.get("user"))
    if (
        user is None
        or user not in ws.users
        or (channel.people is not None and user not in channel.people)
    ):
        raise SlackError("user_not_in_channel")
    text, blocks = check_content(p)
    ts = ws.next_ts()
    thread_ts = opt_str(p.get("thread_ts")) or None
    ws.ephemerals.append(Ephemeral(channel.id, user, text, blocks, thread_ts, ts))
    return {"message_ts": ts}


def get_permalink(ws: Workspace, p: JSON) -> JSON:
    """``chat.getPermalink``."""
    channel = channel_param(ws, p)
    msg = message_param(ws, channel.id, p.get("message_ts"))
    link = f"https://{ws.team_domain}.slack.com/archives/{channel.id}/p{msg.ts.replace('.', '')}"
    if msg.is_reply:
        link += f"?thread_ts={msg.thread_ts}&cid={channel.id}"
    return {"channel": channel.id, "permalink": link}


def check_content(p: JSON) -> tuple[str, list[JSON] | None]:
    """A new message's ``text`` and ``blocks``, refused as chat.postMessage refuses them."""
    text = opt_str(p.get("text")) or ""
    blocks = check_blocks(p.get("blocks"))
    if not text and not blocks and not p.get("attachments"):
        raise SlackError("no_text")
    check_blocks_text(blocks)
    if len(text) > MAX_TEXT:
        raise SlackError("msg_too_long")
    return text, blocks


def check_metadata(raw: object) -> JSON | None:
    """A message's ``metadata``: ``invalid_metadata_format`` unless type and payload."""
    if raw is None or raw == "":
        return None
    if (
        not isinstance(raw, dict)
        or not isinstance(raw.get("event_type"), str)
        or not isinstance(raw.get("event_payload"), dict)
    ):
        raise SlackError("invalid_metadata_format")
    return {"event_type": raw["event_type"], "event_payload": copy.deepcopy(raw["event_payload"])}


METHODS: dict[str, Handler] = {
    "chat.postMessage": post_message,
    "chat.update": update,
    "chat.delete": delete,
    "chat.postEphemeral": post_ephemeral,
    "chat.getPermalink": get_permalink,
}
