"""Files: the ``files.*`` methods of the two-step upload, ``files.info``, and the two HTTP
doors a file goes through (the upload URL, and ``url_private`` for the bot's token)."""

from __future__ import annotations

import copy
import json
import mimetypes
import time

from aiohttp import web

from bridge.testing.fake_slack.errors import SlackError
from bridge.testing.fake_slack.events import message_event
from bridge.testing.fake_slack.models import JSON, Message, StoredFile, Upload
from bridge.testing.fake_slack.params import opt_str, writable_channel
from bridge.testing.fake_slack.workspace import Handler, Workspace


def get_upload_url(ws: Workspace, p: JSON) -> JSON:
    """``files.getUploadURLExternal``: where to POST the bytes of a new file."""
    if ws.uploads_disabled:
        raise SlackError("file_uploads_disabled")
    name = opt_str(p.get("filename"))
    length = opt_str(p.get("length"))
    if not name or not length or not length.isdigit():
        raise SlackError("invalid_arguments")
    if int(length) == 0:
        raise SlackError("missing_argument")  # the page: "when the length provided is 0"
    file_id = f"F{ws.new_id():08d}"
    ws.uploads[file_id] = Upload(name)
    return {"upload_url": f"{ws.base_url}/upload/v1/{file_id}", "file_id": file_id}


def complete_upload(ws: Workspace, p: JSON) -> JSON:
    """``files.completeUploadExternal``: the uploaded files become files of the workspace,
    shared in a message of the bot if a channel is given."""
    raw = p.get("files")
    try:
        items = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        raise SlackError("invalid_arguments") from None
    if not isinstance(items, list) or not items:
        raise SlackError("invalid_arguments")
    channel_id = opt_str(p.get("channel_id"))
    channel = writable_channel(ws, {"channel": channel_id}) if channel_id else None
    if channel is not None and channel.read_only:
        raise SlackError("posting_to_channel_denied")
    thread_ts = opt_str(p.get("thread_ts")) or None
    if channel is not None and thread_ts is not None:
        if ws.find(channel.id, thread_ts) is None:
            raise SlackError("thread_not_found")
        thread_ts = ws.thread_root(channel.id, thread_ts)
    objs: list[JSON] = []
    for item in items:
        file_id = str(item.get("id")) if isinstance(item, dict) else ""
        upload = ws.uploads.get(file_id)
        if upload is None or upload.data is None:
            raise SlackError("file_not_found")
        spec: JSON = {"name": upload.name, "content": upload.data, "id": file_id}
        if item.get("title"):
            spec["title"] = item["title"]
        objs.append(store_file(ws, spec, ws.bot_user_id))
        del ws.uploads[file_id]
    if channel is not None:
        msg = Message(
            ts=ws.next_ts(),
            channel=channel.id,
            user=ws.bot_user_id,
            bot_id=ws.bot_id,
            text=opt_str(p.get("initial_comment")) or "",
            thread_ts=thread_ts,
            subtype="file_share",
            files=objs,
        )
        ws.store(msg)
        share(ws, msg)
        ws.echo(message_event(ws, msg))
    return {"files": [{"id": o["id"], "title": o["title"]} for o in objs]}


def info(ws: Workspace, p: JSON) -> JSON:
    """``files.info``: the whole file object."""
    stored = ws.files.get(opt_str(p.get("file")) or "")
    if stored is None:
        raise SlackError("file_not_found")
    # The whole object, also for a Slack Connect file whose message carried only a stub:
    # files.info is how an app gets its url_private (served by the fake, bot token only).
    obj = {**copy.deepcopy(stored.obj), "file_access": "visible"}
    return {"file": obj, "comments": [], "response_metadata": {"next_cursor": ""}}


METHODS: dict[str, Handler] = {
    "files.getUploadURLExternal": get_upload_url,
    "files.completeUploadExternal": complete_upload,
    "files.info": info,
}


def store_file(ws: Workspace, spec: JSON, user: str) -> JSON:
    """Keep a file ``user`` shares; returns its object.

    ``spec`` is a partial file object: ``name``, and optionally ``id``, ``title``,
    ``mimetype``, ``filetype``, ``content`` (bytes or text) and any field to override.
    """
    spec = dict(spec)
    content = spec.pop("content", b"")
    data = content.encode() if isinstance(content, str) else bytes(content)
    file_id = str(spec.pop("id", None) or f"F{ws.new_id():08d}")
    name = str(spec.get("name") or "file")
    mimetype = spec.get("mimetype") or mimetypes.guess_type(name)[0] or "application/octet-stream"
    filetype = spec.get("filetype") or (
        name.rpartition(".")[2].lower() if "." in name else "binary"
    )
    key = f"{ws.team_id}-{file_id}"
    team = ws.team_of(user)
    now = int(time.time())
    obj: JSON = {
        "id": file_id,
        "created": now,
        "timestamp": now,
        "name": name,
        "title": spec.get("title") or name,
        "mimetype": mimetype,
        "filetype": filetype,
        "pretty_type": filetype.upper(),
        "user": user,
        "user_team": team,
        "editable": False,
        "size": len(data),
        "mode": "hosted",
        "is_external": False,
        "external_type": "",
        "is_public": True,
        "public_url_shared": False,
        "display_as_bot": False,
        "username": "",
        "url_private": f"{ws.base_url}/files-pri/{key}/{name}",
        "url_private_download": f"{ws.base_url}/files-pri/{key}/download/{name}",
        "permalink": f"https://{ws.team_domain}.slack.com/files/{user}/{file_id}/{name}",
        "permalink_public": f"https://slack-files.com/{key}-fake",
        "has_rich_preview": False,
        # Another organisation's file reaches the app as a stub to look up (files.info).
        "file_access": "visible" if team == ws.team_id else "check_file_info",
    }
    obj.update(spec)
    ws.files[file_id] = StoredFile(obj, data)
    return obj


def share(ws: Workspace, msg: Message) -> None:
    """Record where the message's files are shared, as ``files.info`` tells it (``channels``
    and ``shares``: how an app learns that an upload it lost the answer to went through)."""
    for file in msg.files or []:
        stored = ws.files[str(file["id"])]
        entry = {"ts": msg.ts, "channel_name": ws.channels[msg.channel].name}
        if msg.thread_ts:
            entry["thread_ts"] = msg.thread_ts
        stored.obj.setdefault("channels", []).append(msg.channel)
        public = stored.obj.setdefault("shares", {}).setdefault("public", {})
        public.setdefault(msg.channel, []).append(entry)


async def handle_upload(ws: Workspace, request: web.Request) -> web.Response:
    """``POST /upload/v1/{file_id}``: the bytes of an announced upload."""
    upload = ws.uploads.get(request.match_info["file_id"])
    if upload is None:
        return web.Response(status=404, text="not found", content_type="text/plain")
    data = await request.read()
    upload.data = data
    return web.Response(text=f"OK - {len(data)}", content_type="text/plain")


async def handle_download(ws: Workspace, request: web.Request) -> web.Response:
    """``GET /files-pri/...``: a file's bytes, for the bot's token only."""
    file_id = request.match_info["key"].rpartition("-")[2]
    stored = ws.files.get(file_id)
    if stored is None:
        return web.Response(status=404, text="not found", content_type="text/plain")
    if request.headers.get("Authorization") != f"Bearer {ws.bot_token}":
        # Slack answers a login page, not an error, to a request without the token.
        page = "<!DOCTYPE html><html><head><title>Slack</title></head><body>Sign in</body></html>"
        return web.Response(text=page, content_type="text/html")
    mimetype = str(stored.obj.get("mimetype") or "application/octet-stream")
    return web.Response(body=stored.content, content_type=mimetype)
