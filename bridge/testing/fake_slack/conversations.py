"""The ``conversations.*`` methods: a channel's details, a thread, a channel's history, in
pages cut by Slack's cursors."""

from __future__ import annotations

import base64

from bridge.testing.fake_slack.errors import SlackError
from bridge.testing.fake_slack.models import JSON, Message, ts_key
from bridge.testing.fake_slack.params import channel_param, opt_str, readable_channel, truthy
from bridge.testing.fake_slack.render import message_view
from bridge.testing.fake_slack.workspace import Handler, Workspace

MAX_PAGE = 1000
DEFAULT_PAGE = 100  # Slack's default is smaller; a large one keeps tests short


def info(ws: Workspace, p: JSON) -> JSON:
    """``conversations.info``."""
    channel = channel_param(ws, p)
    return {
        "channel": {
            "id": channel.id,
            "name": channel.name,
            "is_channel": True,
            "is_group": False,
            "is_im": False,
            "is_private": False,
            "is_archived": channel.archived,
            "is_member": channel.member,
            "is_general": False,
            "created": 1_700_000_000,
            "creator": "USLACKBOT",
            "name_normalized": channel.name,
            "is_shared": False,
            "is_ext_shared": False,
            "is_org_shared": False,
        }
    }


def replies(ws: Workspace, p: JSON) -> JSON:
    """``conversations.replies``: the parent, then its replies, of the thread ``ts`` is in."""
    channel = readable_channel(ws, p)
    ts = opt_str(p.get("ts"))
    if not ts:
        raise SlackError("invalid_arguments")
    found = ws.find(channel.id, ts)
    if found is None:
        raise SlackError("thread_not_found")
    root = found.thread_ts or found.ts
    parent = ws.find(channel.id, root)
    with_meta = truthy(p.get("include_all_metadata"))
    thread = ([parent] if parent else []) + ws.thread(channel.id, root)
    views = [message_view(ws, m, metadata=with_meta) for m in thread]
    page, has_more, cursor = paginate(views, p)
    return {
        "messages": page,
        "has_more": has_more,
        "response_metadata": {"next_cursor": cursor},
    }


def history(ws: Workspace, p: JSON) -> JSON:
    """``conversations.history``: top-level messages (and broadcasts), newest first."""
    channel = readable_channel(ws, p)
    with_meta = truthy(p.get("include_all_metadata"))
    inclusive = truthy(p.get("inclusive"))
    oldest = ts_key(opt_str(p.get("oldest")) or "0")
    latest_raw = opt_str(p.get("latest"))
    latest = ts_key(latest_raw) if latest_raw else None

    def in_range(m: Message) -> bool:
        key = ts_key(m.ts)
        above = key >= oldest if inclusive else key > oldest
        below = latest is None or (key <= latest if inclusive else key < latest)
        return above and below

    top = [
        m
        for m in reversed(ws.messages(channel.id))
        if (not m.is_reply or m.subtype == "thread_broadcast") and in_range(m)
    ]
    views = [message_view(ws, m, metadata=with_meta) for m in top]
    page, has_more, cursor = paginate(views, p)
    return {
        "messages": page,
        "has_more": has_more,
        "pin_count": 0,
        "channel_actions_ts": None,
        "channel_actions_count": 0,
        "response_metadata": {"next_cursor": cursor},
    }


def paginate(items: list[JSON], p: JSON) -> tuple[list[JSON], bool, str]:
    """Cut one page out of ``items`` following Slack's cursor convention."""
    try:
        limit = int(p.get("limit") or DEFAULT_PAGE)
    except (TypeError, ValueError):
        raise SlackError("invalid_limit") from None
    limit = max(1, min(limit, MAX_PAGE))
    start = 0
    cursor = opt_str(p.get("cursor"))
    if cursor:
        try:
            decoded = base64.b64decode(cursor + "==").decode()
        except ValueError:
            raise SlackError("invalid_cursor") from None
        ts = decoded.removeprefix("next_ts:")
        start = next((i for i, item in enumerate(items) if item["ts"] == ts), -1)
        if not decoded.startswith("next_ts:") or start < 0:
            raise SlackError("invalid_cursor")
    page = items[start : start + limit]
    has_more = start + limit < len(items)
    next_cursor = ""
    if has_more:
        next_ts = items[start + limit]["ts"]
        next_cursor = base64.b64encode(f"next_ts:{next_ts}".encode()).decode()
    return page, has_more, next_cursor


METHODS: dict[str, Handler] = {
    "conversations.info": info,
    "conversations.replies": replies,
    "conversations.history": history,
}
