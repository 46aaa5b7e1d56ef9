"""Response URLs: where an app answers a click or a slash command, and what Slack does
with the answer (replace or delete the message, post in the channel, or tell one person)."""

from __future__ import annotations

import uuid

from aiohttp import web

from bridge.testing.fake_slack.events import changed_event, deleted_event, message_event
from bridge.testing.fake_slack.models import Ephemeral, Message, ResponseUrl
from bridge.testing.fake_slack.params import opt_str, truthy
from bridge.testing.fake_slack.render import message_view
from bridge.testing.fake_slack.workspace import Workspace


def new_response_url(
    ws: Workspace, channel: str, user: str, message_ts: str | None, thread_ts: str | None
) -> str:
    """A new response URL for ``user``'s action in ``channel`` (on ``message_ts`` if any)."""
    rid = f"{ws.team_id}-{ws.new_id()}-{uuid.uuid4().hex[:24]}"
    ws.response_urls[rid] = ResponseUrl(channel, user, message_ts, thread_ts)
    return f"{ws.base_url}/response_url/{rid}"


async def handle_response_url(ws: Workspace, request: web.Request) -> web.Response:
    """``POST /response_url/{rid}``: the app's answer."""
    target = ws.response_urls.get(request.match_info["rid"])
    if target is None:
        return web.json_response({"ok": False, "error": "expired_url"}, status=404)
    try:
        body = await request.json()
    except ValueError:
        return web.json_response({"ok": False, "error": "invalid_payload"}, status=400)
    if not isinstance(body, dict):
        return web.json_response({"ok": False, "error": "invalid_payload"}, status=400)
    ws.calls.append(("response_url", body))
    text = opt_str(body.get("text")) or ""
    blocks = body.get("blocks") if isinstance(body.get("blocks"), list) else None
    original = ws.find(target.channel, target.message_ts) if target.message_ts else None
    if truthy(body.get("delete_original")) and original is not None:
        previous = message_view(ws, original)
        ws.remove(original)
        ws.echo(deleted_event(ws, target.channel, original.ts, previous))
    elif truthy(body.get("replace_original")) and original is not None:
        previous = message_view(ws, original)
        original.text, original.blocks = text, blocks
        original.edited, original.edited_ts = True, ws.next_ts()
        view = message_view(ws, original)
        ws.echo(changed_event(target.channel, view, previous, original.edited_ts))
    elif body.get("response_type") == "in_channel":
        msg = Message(
            ts=ws.next_ts(),
            channel=target.channel,
            user=ws.bot_user_id,
            bot_id=ws.bot_id,
            text=text,
            blocks=blocks,
            thread_ts=opt_str(body.get("thread_ts")) or target.thread_ts,
        )
        ws.store(msg)
        ws.echo(message_event(ws, msg))
    else:
        thread_ts = opt_str(body.get("thread_ts")) or target.thread_ts
        ws.ephemerals.append(
            Ephemeral(target.channel, target.user, text, blocks, thread_ts, ws.next_ts())
        )
    return web.json_response({"ok": True})
