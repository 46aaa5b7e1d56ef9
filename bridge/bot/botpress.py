"""Botpress's "Human in the Loop API" (hitl-api) integration, spoken under `/botpress`.

Botpress POSTs `/ping`, `/createRemoteUser`, `/createRemoteConversation`, `/botSendsMessage`
and `/closeRemoteTicket`; the bridge answers as that integration expects and tells Botpress
what agents do by POSTing `{BOTPRESS_WEBHOOK_URL}/agent-assigned`, `/message-from-agent` and
`/stop-hitl` (through the outbox, like the native webhook).

Known limit: `closeRemoteTicket` carries Botpress's own conversation id, which the
integration never sends the bridge otherwise, so it can only be honoured when that id is a
bridge conversation id; otherwise it is acknowledged and logged (see docs).
"""

from __future__ import annotations

import json
import logging
from typing import Any

import aiohttp
from aiohttp import web
from pydantic import ValidationError

from bridge.model import Content, HistoryItem, Origin, content_from_json, unstorable
from bridge.outbox import Fail, Retry
from bridge.service import BOTPRESS, Invalid, NotFound, Service, Stopped
from bridge.store import OutboxRow

log = logging.getLogger(__name__)

BOT_USER = "BOT"  # remoteUserId of messages the bot itself sends
# The fields the bridge keeps of each Botpress message type it shares.
FIELDS = {
    "text": ("text",),
    "image": ("imageUrl", "title"),
    "audio": ("audioUrl", "title"),
    "video": ("videoUrl", "title"),
    "file": ("fileUrl", "title"),
}
MAX_BODY = 1_048_576


def _answer(status: int, body: dict[str, Any]) -> web.Response:
    return web.json_response(body, status=status)


def _refuse(status: int, message: str) -> web.Response:
    return _answer(status, {"error": message})


class BotpressApi:
    """The routes Botpress's hitl-api integration calls."""

    def __init__(self, service: Service, prefix: str) -> None:
        self._service = service
        self._prefix = prefix

    def routes(self) -> list[web.RouteDef]:
        p = self._prefix
        return [
            web.post(f"{p}/ping", self.ping),
            web.post(f"{p}/createRemoteUser", self.create_user),
            web.post(f"{p}/createRemoteConversation", self.create_conversation),
            web.post(f"{p}/botSendsMessage", self.bot_sends_message),
            web.post(f"{p}/closeRemoteTicket", self.close_ticket),
        ]

    async def ping(self, request: web.Request) -> web.Response:
        return _answer(200, {"status": "ok"})

    async def create_user(self, request: web.Request) -> web.Response:
        payload = await _payload(request)
        if isinstance(payload, web.Response):
            return payload
        name = _text(payload.get("name")) or "Botpress user"
        picture = _text(payload.get("pictureUrl"))
        email = _text(payload.get("email"))
        user_id = await self._service.create_user(
            name[:255],
            picture if picture and picture.startswith(("http://", "https://")) else None,
            email[:254] if email and "@" in email else None,
        )
        return _answer(200, {"id": user_id})

    async def create_conversation(self, request: web.Request) -> web.Response:
        payload = await _payload(request)
        if isinstance(payload, web.Response):
            return payload
        # Botpress drops the history before this call; keep whatever does arrive.
        history = [
            HistoryItem("bot" if str(m.get("author", "")).lower() == "bot" else "user",
                        to_content({"text": m["text"]}, "text"))
            for m in payload.get("messages") or []
            if isinstance(m, dict) and _text(m.get("text"))
        ]  # fmt: skip
        title, description = _text(payload.get("title")), _text(payload.get("description"))
        conversation_id = await self._service.start_hitl(
            None,
            title=title[:500] if title else None,
            description=description[:10000] if description else None,
            history=history,
            session=None,
            origin=Origin.BOTPRESS,
        )
        # Botpress validates the answer: absent fields are fine, nulls are not.
        answer = {"id": conversation_id, "title": title, "description": description}
        return _answer(200, {k: v for k, v in answer.items() if v is not None})

    async def bot_sends_message(self, request: web.Request) -> web.Response:
        body = await _json(request)
        if isinstance(body, web.Response):
            return body
        # The integration nests the fields under "payload"; older callers put them on top.
        nested = body.get("payload")
        outer: dict[str, Any] = nested if isinstance(nested, dict) else body
        conversation_id = _text(outer.get("remoteConversationId"))
        user_id = _text(outer.get("remoteUserId"))
        message = outer.get("payload")
        if not conversation_id or not isinstance(message, dict):
            return _refuse(400, "remoteConversationId and payload are required")
        content = to_content(message, _text(message.get("type")))
        try:
            await self._service.send_message(
                conversation_id, content, None if user_id in (None, BOT_USER) else user_id
            )
        except NotFound:
            return _refuse(404, "no such remoteConversationId")
        except Invalid as exc:
            return _refuse(422, str(exc))
        except Stopped:
            return _refuse(409, "the conversation is stopped")
        return _answer(200, {"status": "ok"})

    async def close_ticket(self, request: web.Request) -> web.Response:
        payload = await _payload(request)
        if isinstance(payload, web.Response):
            return payload
        named = _text(payload.get("botpressConversationId")) or ""
        if await self._service.conversation(named) is not None:
            await self._service.stop(named)
            return _answer(200, {"status": "closed"})
        log.warning(
            "closeRemoteTicket names Botpress conversation %r, which Botpress never tells the "
            "bridge about: the handoff stays open until an agent resolves it",
            named[:100],
        )
        return _answer(200, {"status": "unknown"})


class BotpressSender:
    """The outbox sender for target `botpress`: events, as Botpress's webhook wants them."""

    def __init__(self, service: Service, url: str, session: aiohttp.ClientSession) -> None:
        self._service = service
        self._url = url.rstrip("/")
        self._session = session

    def hold(self, row: OutboxRow) -> float:
        return 0.0

    async def delivered(self, row: OutboxRow) -> None:
        await self._service.receipt(row.payload, BOTPRESS, None)

    async def failed(self, row: OutboxRow, reason: Fail) -> None:
        await self._service.receipt(row.payload, BOTPRESS, str(reason))

    async def send(self, row: OutboxRow) -> None:
        event = row.payload
        payload = event["payload"]
        conversation = payload["conversationId"]
        if event["type"] == "hitlAssigned":
            path = "/agent-assigned"
            body = {
                "remoteConversationId": conversation,
                "remoteUserId": payload["userId"],
                "agentDisplayName": payload["agent"]["name"],
            }
        elif event["type"] == "message":
            path = "/message-from-agent"
            body = {
                "remoteConversationId": conversation,
                "remoteUserId": payload["userId"],
                "messageType": payload["type"],
                "payload": payload["payload"],
            }
        elif event["type"] == "hitlStopped":
            path, body = "/stop-hitl", {"remoteConversationId": conversation}
        else:
            return
        try:
            async with self._session.post(
                self._url + path, json=body, timeout=aiohttp.ClientTimeout(total=15)
            ) as resp:
                if not 200 <= resp.status < 300:
                    raise Retry(f"Botpress answered HTTP {resp.status} to {path}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise Retry(f"Botpress is unreachable ({type(exc).__name__})") from None


def to_content(payload: dict[str, Any], type_: str | None) -> Content:
    """Any Botpress message payload as one of the bridge's message types, readable in Slack."""
    kind = type_ or ("text" if "text" in payload else "")
    if kind == "markdown":
        return _plain(_text(payload.get("markdown")) or "")
    if kind in FIELDS:
        fields = {k: payload[k] for k in FIELDS[kind] if payload.get(k) is not None}
        try:
            return content_from_json({"type": kind, "payload": fields})
        except ValidationError:
            if kind == "text":
                return _plain(_text(payload.get("text")) or "")
            url = _text(payload.get(f"{kind}Url")) or ""
            return _plain(f"[{kind}] {_text(payload.get('title')) or ''} {url}")
    if kind == "location":
        lat, lon = payload.get("latitude"), payload.get("longitude")
        where = " — ".join(filter(None, [_text(payload.get("title")),
                                         _text(payload.get("address"))]))  # fmt: skip
        return _plain(f"📍 {where} https://www.openstreetmap.org/?mlat={lat}&mlon={lon}".strip())
    if kind in ("choice", "dropdown"):
        options = [
            _text(o.get("label")) or _text(o.get("value")) for o in _dicts(payload, "options")
        ]
        lines = [_text(payload.get("text")) or "", *(f"• {o}" for o in options if o)]
        return _plain("\n".join(lines))
    if kind == "card":
        return _card(payload)
    if kind == "carousel":
        return _bloc([item for card in _dicts(payload, "items") for item in _card_items(card)])
    if kind == "bloc":
        return _bloc([
            to_content(item.get("payload") or {}, _text(item.get("type")))
            for item in _dicts(payload, "items")
        ])  # fmt: skip
    summary = json.dumps(payload, ensure_ascii=False)[:500]
    return _plain(f"[{kind or 'unknown'} message] {summary}")


def _card(payload: dict[str, Any]) -> Content:
    items = _card_items(payload)
    return items[0] if len(items) == 1 else _bloc(items)


def _card_items(card: dict[str, Any]) -> list[Content]:
    labels = [_text(a.get("label")) for a in _dicts(card, "actions")]
    lines = [f"*{_text(card.get('title')) or 'Card'}*", _text(card.get("subtitle")) or ""]
    if any(labels):
        lines.append("Buttons: " + ", ".join(label for label in labels if label))
    items = [_plain("\n".join(line for line in lines if line))]
    if _text(card.get("imageUrl")):
        items.append(to_content({"imageUrl": card["imageUrl"]}, "image"))
    return items


def _bloc(items: list[Content]) -> Content:
    flat: list[dict[str, Any]] = []
    for item in items:
        if item.type == "bloc":
            flat += [i.model_dump() for i in item.payload.items]
        else:
            flat.append(item.model_dump())
    if not flat:
        return _plain("[empty message]")
    if len(flat) == 1:
        return content_from_json(flat[0])
    return content_from_json({"type": "bloc", "payload": {"items": flat[:50]}})


def _plain(text: str) -> Content:
    return content_from_json({"type": "text", "payload": {"text": text[:40000] or "[empty]"}})


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _dicts(payload: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = payload.get(key)
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


async def _json(request: web.Request) -> dict[str, Any] | web.Response:
    if request.content_length is not None and request.content_length > MAX_BODY:
        return _refuse(413, "the body is too large")
    try:
        body = json.loads(await request.read())
    except (ValueError, UnicodeDecodeError, RecursionError, web.HTTPRequestEntityTooLarge):
        return _refuse(400, "the body is not valid JSON")
    if not isinstance(body, dict):
        return _refuse(400, "the body must be a JSON object")
    why = unstorable(body)
    return _refuse(422, f"the body {why}") if why else body


async def _payload(request: web.Request) -> dict[str, Any] | web.Response:
    body = await _json(request)
    if isinstance(body, web.Response):
        return body
    payload = body.get("payload")
    return payload if isinstance(payload, dict) else {}
