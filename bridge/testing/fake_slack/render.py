"""How Slack shows what it stores: messages, users, bot profiles and files, as JSON."""

from __future__ import annotations

import base64
import copy
import hashlib
import html
import re
import uuid

from bridge.testing.fake_slack.models import JSON, Message, User
from bridge.testing.fake_slack.workspace import Workspace

_NS = uuid.UUID("6f1c1a52-58a4-4d57-9a57-1b1d2f0c5e11")  # for stable client_msg_ids
_MENTION = re.compile(r"<(@[UW][A-Z0-9]+|#[CG][A-Z0-9]+(?:\|[^>]*)?|https?://[^>|]+(?:\|[^>]*)?)>")


def message_view(ws: Workspace, msg: Message, *, metadata: bool = True) -> JSON:
    """The message as Slack shows it in API answers, events and payloads."""
    view: JSON = {"type": "message"}
    if msg.subtype:
        view["subtype"] = msg.subtype
    view["text"] = msg.text
    if msg.user:
        view["user"] = msg.user
    if msg.bot_id:
        view["bot_id"] = msg.bot_id
        if msg.user:  # a modern bot; legacy bot_message has neither app_id nor profile
            profile = bot_profile(ws, msg.bot_id)
            view["app_id"] = profile["app_id"]
            view["bot_profile"] = profile
    if msg.username:
        view["username"] = msg.username
    if msg.icon_url:
        view["icons"] = {"image_48": msg.icon_url}
    view["ts"] = msg.ts
    if msg.user and not msg.bot_id and msg.subtype != "tombstone":
        view["client_msg_id"] = str(uuid.uuid5(_NS, f"{msg.channel}/{msg.ts}"))
    if msg.user and msg.subtype != "tombstone":
        view["team"] = ws.team_of(msg.user)
        if view["team"] != ws.team_id:  # a Slack Connect guest's message
            view["user_team"] = view["source_team"] = view["team"]
    blocks = msg.blocks
    if blocks is None and msg.text and msg.subtype not in ("tombstone", "bot_message"):
        blocks = [rich_text(msg.text)]  # Slack renders plain text as rich_text blocks
    if blocks:
        view["blocks"] = [
            block if "block_id" in block else {**block, "block_id": block_id(msg.ts, i)}
            for i, block in enumerate(blocks)
        ]
    if msg.files:
        view["files"] = [file_in_message(f) for f in msg.files]
        view["upload"] = False
        view["display_as_bot"] = False
    if msg.edited:
        view["edited"] = {"user": msg.user or "", "ts": msg.edited_ts or msg.ts}
    if msg.is_reply:
        view["thread_ts"] = msg.thread_ts
        parent = ws.find(msg.channel, str(msg.thread_ts))
        if parent is not None and parent.user:
            view["parent_user_id"] = parent.user
    else:
        replies = ws.thread(msg.channel, msg.ts)
        if replies:
            users = list(dict.fromkeys(r.user or r.bot_id or "" for r in replies))
            view.update(
                thread_ts=msg.ts,
                reply_count=len(replies),
                reply_users_count=len(users),
                latest_reply=replies[-1].ts,
                reply_users=users,
                is_locked=msg.locked,
                subscribed=False,
            )
    if msg.reactions:
        view["reactions"] = [
            {"name": name, "users": list(users), "count": len(users)}
            for name, users in msg.reactions.items()
        ]
    if metadata and msg.metadata:
        view["metadata"] = copy.deepcopy(msg.metadata)
    return view


def bot_profile(ws: Workspace, bot_id: str) -> JSON:
    """The ``bot_profile`` of a modern bot's messages."""
    user = ws.bot_user(bot_id)
    app_id = ws.app_id if bot_id == ws.bot_id else f"A{bot_id[1:]}"
    return {
        "id": bot_id,
        "deleted": False,
        "name": user.name if user else bot_id,
        "updated": 1_700_000_000,
        "app_id": app_id,
        "icons": {
            size: f"https://fake.slack-edge.com/bots/{bot_id}_{size[6:]}.png"
            for size in ("image_36", "image_48", "image_72")
        },
        "team_id": ws.team_id,
    }


def user_ref(ws: Workspace, user_id: str) -> JSON:
    """The short user object of interactivity payloads."""
    user = ws.users.get(user_id)
    name = user.name if user else user_id.lower()
    return {"id": user_id, "username": name, "name": name, "team_id": ws.team_id}


def user_object(ws: Workspace, user: User) -> JSON:
    """The user as ``users.info`` answers it."""
    real_name = user.real_name if user.real_name is not None else user.name
    profile: JSON = {
        "real_name": real_name,
        "real_name_normalized": real_name,
        "display_name": user.display_name,
        "display_name_normalized": user.display_name,
        "team": user.team or ws.team_id,
    }
    if user.email is not None:
        profile["email"] = user.email
    for size in (24, 32, 48, 72, 192, 512):
        profile[f"image_{size}"] = user.image or (
            f"https://fake.slack-edge.com/avatars/{user.id}_{size}.png"
        )
    if user.image:
        profile["image_original"] = user.image
        profile["is_custom_image"] = True
    if user.bot_id:
        profile["bot_id"] = user.bot_id
    return {
        "id": user.id,
        "team_id": user.team or ws.team_id,
        "name": user.name,
        "deleted": False,
        "real_name": real_name,
        "tz": "Europe/Paris",
        "tz_label": "Central European Time",
        "tz_offset": 3600,
        "profile": profile,
        "is_admin": False,
        "is_owner": False,
        "is_bot": user.is_bot,
        "is_app_user": False,
        "updated": 1_700_000_000,
    }


def file_in_message(obj: JSON) -> JSON:
    """A file as a message carries it: whole, or only a stub for a Slack Connect file."""
    if obj.get("file_access") != "check_file_info":
        return copy.deepcopy(obj)
    # What Slack sends for another organisation's file: no name, no URLs; ask files.info.
    return {
        "id": obj["id"],
        "mode": "file_access",
        "file_access": "check_file_info",
        "created": 0,
        "timestamp": 0,
        "user": "",
    }


def plain(text: str) -> JSON:
    """A ``plain_text`` text object."""
    return {"type": "plain_text", "text": text, "emoji": True}


def block_id(ts: str, index: int) -> str:
    """The block_id Slack gives a block sent without one (short and random there; derived
    from the message's ts here, to stay stable)."""
    digest = hashlib.sha1(f"{ts}/{index}".encode()).digest()
    return base64.b32encode(digest).decode()[:5]


def rich_text(text: str) -> JSON:
    """The rich_text block Slack renders a person's stored text as (mentions, links)."""
    elements: list[JSON] = []
    pos = 0
    for match in _MENTION.finditer(text):
        if match.start() > pos:
            elements.append({"type": "text", "text": html.unescape(text[pos : match.start()])})
        target, _, label = match.group(1).partition("|")
        if target.startswith("@"):
            elements.append({"type": "user", "user_id": target[1:]})
        elif target.startswith("#"):
            elements.append({"type": "channel", "channel_id": target[1:]})
        else:
            link: JSON = {"type": "link", "url": target}
            if label:
                link["text"] = label
            elements.append(link)
        pos = match.end()
    if pos < len(text):
        elements.append({"type": "text", "text": html.unescape(text[pos:])})
    return {
        "type": "rich_text",
        "elements": [{"type": "rich_text_section", "elements": elements}],
    }
