"""Botpress's "Human in the Loop API" (hitl-api) integration, spoken under `/botpress/{token}`.

Botpress POSTs `/ping`, `/createRemoteUser`, `/createRemoteConversation`, `/botSendsMessage`
and `/closeRemoteTicket`, shaped as its published release sends them (`botSendsMessage` with
its ids at the top level and an untyped message payload; the first release's nested form is
accepted too). The bridge tells Botpress what agents do by POSTing
`{BOTPRESS_WEBHOOK_URL}/agent-assigned`, `/message-from-agent` and `/stop-hitl`, through the
outbox like the native webhook.

These routes act only on conversations they opened (`Origin.BOTPRESS`): a native `/v1`
conversation is out of their reach. Known limit: `closeRemoteTicket` carries Botpress's own
conversation id, which the integration never sends the bridge otherwise, so it is honoured
only when that id is one of these conversations; otherwise it is acknowledged and logged.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Awaitable, Callable, Iterator
from typing import Annotated, Any, TypeVar

import aiohttp
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from bridge.bot.api import ApiError, error_answer, read_json, unavailable_answer
from bridge.bot.delivery import EventSender
from bridge.events import AssignedPayload, MessagePayload, Target, parse_event
from bridge.model import (
    MAX_TEXT,
    Content,
    HistoryItem,
    HttpUrl,
    Origin,
    content_from_json,
    unstorable,
)
from bridge.outbox import Fail
from bridge.service import Invalid, NotFound, Service, Stopped
from bridge.store import OutboxRow, Unavailable

log = logging.getLogger(__name__)

JSON = dict[str, Any]
M = TypeVar("M", bound=BaseModel)
Handler = Callable[[web.Request], Awaitable[web.Response]]

BOT_USER = "BOT"  # remoteUserId of what the bot itself says
DEFAULT_NAME = "Botpress user"


def _invalid(message: str) -> ApiError:
    return ApiError(422, "invalid", message)


def _answer(body: JSON) -> web.Response:
    return web.json_response(body)


class HistoryLine(BaseModel):
    """One `messages` item of createRemoteConversation (zod: `{text, author?, timestamp?}`)."""

    model_config = ConfigDict(strict=True)
    text: str
    author: str | None = None


class _NewConversation(BaseModel):
    """createRemoteConversation's payload; unknown fields are dropped, as zod does."""

    model_config = ConfigDict(strict=True)
    title: str | None = None
    description: str | None = None
    messages: Annotated[list[HistoryLine], Field(max_length=1000)] | None = None


class BotpressApi:
    """The routes Botpress's hitl-api integration calls, under `prefix` (`/botpress/{token}`):
    any other path, a wrong token included, is the router's 404."""

    def __init__(self, service: Service, prefix: str, max_body: int) -> None:
        self._bot = service.bot
        self._prefix = prefix
        self._max_body = max_body

    def routes(self) -> list[web.RouteDef]:
        calls: dict[str, Handler] = {
            "ping": self.ping,
            "createRemoteUser": self.create_user,
            "createRemoteConversation": self.create_conversation,
            "botSendsMessage": self.bot_sends_message,
            "closeRemoteTicket": self.close_ticket,
        }
        return [web.post(f"{self._prefix}/{name}", _guarded(run)) for name, run in calls.items()]

    async def ping(self, request: web.Request) -> web.Response:
        return _answer({"status": "ok"})

    async def create_user(self, request: web.Request) -> web.Response:
        # A z.record: Botpress passes on whatever createUser got; use what a person reads.
        payload = _payload(await self._body(request))
        name = _clean(_string(payload.get("name")) or "")[:255] or DEFAULT_NAME
        user_id = await self._bot.create_user(
            name, _url(payload.get("pictureUrl")), _email(payload.get("email"))
        )
        return _answer({"id": user_id})

    async def create_conversation(self, request: web.Request) -> web.Response:
        data = _parse(_NewConversation, _payload(await self._body(request)), "payload")
        title = _clean(_string(data.title) or "")[:500] or None
        description = (_string(data.description) or "")[:10000] or None
        conversation_id = await self._bot.start_hitl(
            None,  # Botpress does not say who the end user is: their first message will
            title=title,
            description=description,
            history=_history(data.messages or []),
            session=None,
            origin=Origin.BOTPRESS,
        )
        # Botpress validates the answer: absent fields are fine, nulls are not.
        answer = {"id": conversation_id, "title": title, "description": description}
        return _answer({k: v for k, v in answer.items() if v is not None})

    async def bot_sends_message(self, request: web.Request) -> web.Response:
        conversation_id, user_id, message = _message_fields(await self._body(request))
        await self._own(conversation_id)
        author = None if user_id == BOT_USER else user_id
        try:
            await self._bot.send_message(conversation_id, to_content(message), author)
        except NotFound:
            raise ApiError(404, "not_found", "no such remoteConversationId") from None
        except Invalid as exc:
            raise _invalid(f"remoteUserId: {str(exc).removeprefix(exc.field + ': ')}") from None
        except Stopped:
            raise ApiError(409, "conversation_stopped", "the conversation is stopped") from None
        return _answer({"status": "ok"})

    async def close_ticket(self, request: web.Request) -> web.Response:
        named = _payload(await self._body(request)).get("botpressConversationId")
        if not isinstance(named, str):
            raise _invalid("payload.botpressConversationId: must be a string")
        conversation = await self._bot.conversation(named)
        if conversation is not None and conversation.origin is Origin.BOTPRESS:
            await self._bot.stop(named)
            return _answer({"status": "closed"})
        log.warning(
            "closeRemoteTicket names %r, not a conversation opened through /botpress (Botpress "
            "sends its own conversation id): the handoff stays open until an agent resolves it",
            named[:100],
        )
        return _answer({"status": "unknown"})

    async def _own(self, conversation_id: str) -> None:
        """404 unless the hitl-api routes opened it: origin never changes, so this check
        cannot go stale before the service acts."""
        conversation = await self._bot.conversation(conversation_id)
        if conversation is None or conversation.origin is not Origin.BOTPRESS:
            raise ApiError(404, "not_found", "no such remoteConversationId")

    async def _body(self, request: web.Request) -> JSON:
        """The JSON object sent: 413 past BRIDGE_MAX_BODY (declared or streamed), 400 when
        it is not JSON, 422 when it is not an object or cannot be stored."""
        body = await read_json(request, self._max_body)
        if not isinstance(body, dict):
            raise _invalid("the body must be a JSON object")
        why = unstorable(body)
        if why is not None:
            raise _invalid(f"the body {why}")
        return body


def _guarded(run: Handler) -> Handler:
    """The route with every refusal as its JSON answer; while the database cannot take
    writes, 503 with `Retry-After` (nothing was done: Botpress may send it again)."""

    async def guarded(request: web.Request) -> web.Response:
        try:
            return await run(request)
        except ApiError as exc:
            return error_answer(exc.status, exc.code, str(exc))
        except Unavailable as exc:  # the store has logged it, once for the outage
            return unavailable_answer(exc)

    return guarded


def _payload(body: JSON) -> JSON:
    payload = body.get("payload")
    if not isinstance(payload, dict):
        raise _invalid("payload: must be a JSON object")
    return payload


def _message_fields(body: JSON) -> tuple[str, str, JSON]:
    """(remoteConversationId, remoteUserId, message payload) of a botSendsMessage body."""
    outer = body
    # The published release puts the ids at the top level; its first release nested all
    # three under "payload". Top-level ids win, so a published body is never misread.
    if "remoteConversationId" not in body and isinstance(body.get("payload"), dict):
        outer = body["payload"]
    conversation_id, user_id = outer.get("remoteConversationId"), outer.get("remoteUserId")
    message = outer.get("payload")
    if not isinstance(conversation_id, str) or not conversation_id:
        raise _invalid("remoteConversationId: must be a non-empty string")
    if not isinstance(user_id, str) or not user_id:
        raise _invalid("remoteUserId: must be a non-empty string")
    if not isinstance(message, dict):
        raise _invalid("payload: must be a JSON object (the message payload)")
    return conversation_id, user_id, message


def _parse(model: type[M], data: JSON, where: str) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors(include_url=False, include_input=False)[0]
        field = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"])
        raise _invalid(f"{where}{field}: {err['msg']}") from None


def _history(lines: list[HistoryLine]) -> list[HistoryItem]:
    """What arrives of the transcript (Botpress itself strips it before this call)."""
    return [
        HistoryItem("bot" if (line.author or "").strip().lower() == "bot" else "user",
                    _assemble([_text_part(line.text)]))
        for line in lines
        if line.text.strip()
    ]  # fmt: skip


_CONTROLS = re.compile(r"[\x00-\x1f\x7f]+")


def _clean(text: str) -> str:
    """One line for a name or a title: control characters become spaces."""
    return _CONTROLS.sub(" ", text).strip()


def _email(value: Any) -> str | None:
    text = _string(value)
    return text if text and len(text) <= 254 and re.fullmatch(r"[^@\s]+@[^@\s]+", text) else None


class BotpressSender(EventSender):
    """The outbox sender for target `botpress`: events, as Botpress's webhook wants them."""

    target = Target.BOTPRESS

    def __init__(self, service: Service, url: str, session: aiohttp.ClientSession) -> None:
        super().__init__(service, session)
        self._url = url.rstrip("/")

    async def send(self, row: OutboxRow) -> None:
        try:
            p = parse_event(row.payload).payload
        except ValidationError as exc:
            raise Fail(f"not an event Botpress takes ({exc.error_count()} problem(s))") from None
        path = "/stop-hitl"
        body: dict[str, Any] = {"remoteConversationId": p.conversationId}
        if isinstance(p, AssignedPayload):
            path = "/agent-assigned"
            body |= {"remoteUserId": p.userId, "agentDisplayName": p.agent.name}
        elif isinstance(p, MessagePayload):
            path = "/message-from-agent"
            body |= {"remoteUserId": p.userId, "messageType": p.type, "payload": p.payload}
        await self._post(self._url + path, f"Botpress ({path})", json=body)


# --- Botpress message payloads as the bridge's contents -------------------------------------

Part = JSON  # one simple message, {type, payload}: text, image, audio, video or file

MAX_ITEMS = 50  # BlocPayload's limit
MAX_NESTING = 4  # blocs in blocs: deeper than any real message, shallow enough to stay cheap
MAX_STRINGS = 50  # of an unrecognised payload, shown line by line
EMPTY = "[empty message]"
UNREADABLE = "[a message the bridge cannot show]"
MEDIA = {"image": "imageUrl", "audio": "audioUrl", "video": "videoUrl", "file": "fileUrl"}
KINDS = {"text", "markdown", *MEDIA, "location", "card", "carousel", "choice", "dropdown", "bloc"}
# Botpress's internal ids (userId, conversationId, messageId, id, ...) are never shown.
_ID_KEY = re.compile(r"(?:id|ids|uuid|guid|.*(?:Id|ID|_id)s?)$")
_url_adapter: TypeAdapter[str] = TypeAdapter(HttpUrl)


def to_content(payload: Any, kind: str | None = None) -> Content:
    """Any Botpress message payload, typed or not, as one of the bridge's contents, so that
    it shows in Slack as what it is. `kind` is the message type when known from outside
    (a bloc item's `type`); a `type` field in the payload counts too; else its fields tell."""
    return _assemble(_parts(payload, kind, 0))


def _parts(payload: Any, kind: str | None, depth: int) -> list[Part]:
    if not isinstance(payload, dict) or depth > MAX_NESTING:
        return _unknown(payload, depth)
    render = _RENDER.get(_kind(payload, kind))
    return render(payload, depth) if render is not None else _unknown(payload, depth)


def _kind(payload: JSON, given: str | None) -> str:
    """The message type: as given, as the payload says (the HITL plugin types what it
    forwards from the end user), or as its fields show (what bot flows send is untyped)."""
    for declared in (given, payload.get("type")):
        if isinstance(declared, str) and declared in KINDS:
            return declared
    return _sniff(payload)


def _sniff(p: JSON) -> str:
    if isinstance(p.get("items"), list):
        return "bloc" if any("payload" in item for item in _dicts(p["items"])) else "carousel"
    if isinstance(p.get("options"), list):
        return "choice"
    if isinstance(p.get("actions"), list) or "subtitle" in p:
        return "card"
    if "latitude" in p and "longitude" in p:
        return "location"
    if isinstance(p.get("markdown"), str):
        return "markdown"
    for kind, key in MEDIA.items():
        if isinstance(p.get(key), str):
            return kind
    return "text" if "text" in p else "unknown"


def _text(p: JSON, depth: int) -> list[Part]:
    text = _string(p.get("text"))
    return [_text_part(text)] if text else _unknown(p, depth)


def _markdown(p: JSON, depth: int) -> list[Part]:
    source = _string(p.get("markdown")) or _string(p.get("text"))
    return [_text_part(to_mrkdwn(source))] if source else _unknown(p, depth)


def _media(kind: str) -> Callable[[JSON, int], list[Part]]:
    key = MEDIA[kind]

    def media(p: JSON, depth: int) -> list[Part]:
        url, title = _url(p.get(key)), _string(p.get("title"))
        if url is not None:
            return [{"type": kind, "payload": {key: url, "title": title}}]
        # No link to follow (missing, or not http(s)): say what it was.
        return [_text_part(f"[{kind}] {title}" if title else f"[{kind} without a link]")]

    return media


def _location(p: JSON, depth: int) -> list[Part]:
    where = " — ".join(filter(None, (_string(p.get("title")), _string(p.get("address")))))
    lines = [f"📍 {where or 'Location'}"]
    lat, lon = _coordinate(p.get("latitude"), 90), _coordinate(p.get("longitude"), 180)
    if lat is not None and lon is not None:
        lines.append(f"https://www.openstreetmap.org/?mlat={lat}&mlon={lon}")
    return [_text_part("\n".join(lines))]


def _choice(p: JSON, depth: int) -> list[Part]:
    options = [_string(o.get("label")) or _string(o.get("value")) for o in _dicts(p.get("options"))]
    lines = [_string(p.get("text")) or "Options:", *(f"• {o}" for o in options if o)]
    return [_text_part("\n".join(lines))]


def _card(p: JSON, depth: int) -> list[Part]:
    title, subtitle = _string(p.get("title")), _string(p.get("subtitle"))
    buttons = [b for b in map(_button, _dicts(p.get("actions"))) if b]
    lines = [f"*{title}*" if title else "", subtitle or ""]
    if buttons:
        lines.append("Buttons: " + " · ".join(buttons))
    text = "\n".join(line for line in lines if line)
    parts = [_text_part(text)] if text else []
    image = _url(p.get("imageUrl"))
    if image is not None:
        parts.append({"type": "image", "payload": {"imageUrl": image, "title": title}})
    return parts or _unknown(p, depth)


def _button(action: JSON) -> str | None:
    """A button's label; a link button's address beside it (the renderer links it)."""
    label = _string(action.get("label")) or _string(action.get("value"))
    link = _url(action.get("value")) if action.get("action") == "url" else None
    return f"{label} ({link})" if link and label and link != label else label


def _carousel(p: JSON, depth: int) -> list[Part]:
    parts = [part for card in _dicts(p.get("items")) for part in _card(card, depth + 1)]
    return parts or _unknown(p, depth)


def _bloc(p: JSON, depth: int) -> list[Part]:
    parts: list[Part] = []
    for item in _dicts(p.get("items")):
        inner = item.get("payload")
        # {type, payload} as Botpress nests it; a flat item is read as its own payload.
        parts += _parts(inner if isinstance(inner, dict) else item, item.get("type"), depth + 1)
    return parts or _unknown(p, depth)


def _unknown(p: Any, depth: int) -> list[Part]:
    """Whatever a person can read in it, never raw JSON or Botpress's internal ids."""
    lines = list(dict.fromkeys(_readable(p)))
    return [_text_part("\n".join(lines) if lines else UNREADABLE)]


def _readable(value: Any) -> Iterator[str]:
    """The string (and number) fields, depth first, skipping types and id-like keys."""
    stack: list[Any] = [value]
    found = 0
    while stack and found < MAX_STRINGS:
        node = stack.pop()
        if isinstance(node, dict):
            keep = [v for k, v in node.items() if k != "type" and not _ID_KEY.fullmatch(str(k))]
            stack.extend(reversed(keep))
        elif isinstance(node, list):
            stack.extend(reversed(node))
        elif (text := _string(node)) is not None:
            found += 1
            yield text


_RENDER: dict[str, Callable[[JSON, int], list[Part]]] = {
    "text": _text,
    "markdown": _markdown,
    **{kind: _media(kind) for kind in MEDIA},
    "location": _location,
    "card": _card,
    "carousel": _carousel,
    "choice": _choice,
    "dropdown": _choice,
    "bloc": _bloc,
}


def _assemble(parts: list[Part]) -> Content:
    """One content: the part itself, or a bloc of them within its 50 items."""
    if not parts:
        parts = [_text_part(EMPTY)]
    if len(parts) > MAX_ITEMS:
        parts = _squeeze(parts)
    if len(parts) == 1:
        return content_from_json(parts[0])
    return content_from_json({"type": "bloc", "payload": {"items": parts}})


def _squeeze(parts: list[Part]) -> list[Part]:
    """Too many items for a bloc: neighbouring texts joined, then the rest counted."""
    merged: list[Part] = []
    for part in parts:
        if merged and part["type"] == "text" and merged[-1]["type"] == "text":
            joined = merged[-1]["payload"]["text"] + "\n" + part["payload"]["text"]
            merged[-1] = _text_part(joined)
        else:
            merged.append(part)
    if len(merged) <= MAX_ITEMS:
        return merged
    left = len(merged) - (MAX_ITEMS - 1)
    return [*merged[: MAX_ITEMS - 1], _text_part(f"… and {left} more items not shown")]


def _text_part(text: str) -> Part:
    text = text if text.strip() else EMPTY
    if len(text) > MAX_TEXT:
        text = text[: MAX_TEXT - 1] + "…"
    return {"type": "text", "payload": {"text": text}}


def _string(value: Any) -> str | None:
    """A value a person can read as text: a non-blank string, or a number."""
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return str(value)
    return None


def _url(value: Any) -> str | None:
    """An http(s) link the renderer accepts, else None."""
    if not isinstance(value, str):
        return None
    try:
        return _url_adapter.validate_python(value.strip())
    except ValidationError:
        return None


def _coordinate(value: Any, limit: int) -> str | None:
    """A latitude or longitude as a map link wants it, or None if it is not one."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except (ValueError, OverflowError):
        return None
    if not math.isfinite(number) or abs(number) > limit:
        return None
    return f"{number:.6f}".rstrip("0").rstrip(".")


def _dicts(value: Any) -> list[JSON]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


# --- Markdown to Slack mrkdwn -------------------------------------------------------------

_FENCE = re.compile(r"\s*(```|~~~)")
_RULE = re.compile(r"\s{0,3}([-*_])(?:\s*\1){2,}\s*$")
_HEADING = re.compile(r"\s{0,3}#{1,6}\s+(.*?)(?:\s+#+)?\s*$")
_BULLET = re.compile(r"(\s*)[-*+]\s+(?=\S)")
# Spans left alone or rewritten whole: code, links, autolinks, bare URLs.
_SPAN = re.compile(
    r"(?P<code>`[^`\n]+`)"
    r"|!?\[(?P<label>[^\]\n]*)\]\(\s*<?(?P<url>[^)\s>]+)>?(?:\s+\"[^\"\n]*\")?\s*\)"
    r"|<(?P<auto>https?://[^\s>]+)>"
    r"|(?P<bare>https?://[^\s<>]+)"
)
_ITALIC = re.compile(r"(?<![*\w])\*(?![\s*])(.+?)(?<![\s*])\*(?![*\w])")
_BOLD = re.compile(r"(?<!\w)(\*\*|__)(?![\s*_])(.+?)(?<![\s*_])\1(?!\w)")
_STRIKE = re.compile(r"~~(?!\s)(.+?)(?<!\s)~~")


def to_mrkdwn(markdown: str) -> str:
    """Markdown as Slack mrkdwn: bold, italics, strike-through, links as "label (url)",
    headings as bold lines, list items as bullets; code is left as it is."""
    out: list[str] = []
    fenced = False
    for line in markdown.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
            out.append("```")  # Slack shows a fence's language name as code: drop it
        else:
            out.append(line if fenced else _md_line(line))
    return "\n".join(out)


def _md_line(line: str) -> str:
    if _RULE.match(line):
        return "──────────"
    if heading := _HEADING.match(line):
        text = _inline(re.sub(r"\*\*|__", "", heading.group(1)))
        return f"*{text}*" if text else ""
    if bullet := _BULLET.match(line):
        return f"{bullet.group(1)}• {_inline(line[bullet.end() :])}"
    return _inline(line)


def _inline(text: str) -> str:
    out: list[str] = []
    pos = 0
    for match in _SPAN.finditer(text):
        out += [_emphasis(text[pos : match.start()]), _span(match)]
        pos = match.end()
    out.append(_emphasis(text[pos:]))
    return "".join(out)


def _span(match: re.Match[str]) -> str:
    if match["code"] or match["bare"]:
        return match.group(0)
    if match["auto"]:
        return match["auto"]
    label, url = _emphasis(match["label"].strip()), match["url"]
    # The renderer links bare URLs; a label Slack cannot carry is kept beside it.
    return f"{label} ({url})" if label and label != url else url


def _emphasis(text: str) -> str:
    # Single-star italics first: once **bold** becomes *bold* it would read as italics.
    text = _ITALIC.sub(r"_\1_", text)
    text = _BOLD.sub(r"*\2*", text)
    return _STRIKE.sub(r"~\1~", text)
