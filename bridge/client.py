"""An async client for the bridge's bot API (`/v1`), and webhook verification for bots.

Usage::

    from bridge.client import BridgeClient, BridgeError

    async with BridgeClient("http://127.0.0.1:3000", token) as client:
        user_id = await client.create_user("Erin", email="erin@example.com")
        conversation_id = await client.start_hitl(
            user_id,
            title="Refund",
            message_history=[
                {"source": {"type": "user", "userId": user_id},
                 "type": "text", "payload": {"text": "I want a refund"}},
            ],
        )
        await client.send_text(conversation_id, "hello?", user_id=user_id)
        approval_id = await client.request_approval(
            {"type": "text", "payload": {"text": "Your refund is on its way."}},
            conversation_id=conversation_id,
        )
        async for event in client.events():  # long-polls GET /v1/events, forever
            print(event["type"], event["payload"])  # ... approvalDecided, with the verdict
            save(client.cursor)  # resume later with client.events(after=saved)

A bot that receives webhooks instead verifies each delivery::

    from bridge.client import WebhookVerificationError, verify_webhook

    event = verify_webhook(await request.read(), request.headers, secret)

Every non-2xx answer raises :class:`BridgeError` carrying the bridge's error code and message.
The calls are not retried (pass an ``idempotency_key`` and retry them safely yourself), except
the :meth:`BridgeClient.events` long-poll, which rides out connection errors and 5xx answers.
"""

from __future__ import annotations

import asyncio
import binascii
import json
import logging
import random
from collections.abc import AsyncGenerator, Iterable, Mapping
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote

import aiohttp
from pydantic import BaseModel
from standardwebhooks.webhooks import (
    EmptyWebhookSecretError,
    Webhook,
    WebhookVerificationError,
)

from bridge.bot import wire
from bridge.model import Content, HistoryItem

__all__ = [
    "BridgeClient",
    "BridgeError",
    "WebhookVerificationError",
    "verify_webhook",
]

log = logging.getLogger(__name__)

MAX_WAIT = 30.0  # the bridge clamps `wait` to 0-30 seconds


class BridgeError(Exception):
    """A non-2xx answer from the bridge: HTTP ``status``, the error ``code`` (``not_found``,
    ``invalid``, ``unauthorized``, ...) and its ``message`` (for ``invalid``, it starts with the
    field at fault: ``"userId: names no known end user"``)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"HTTP {status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message

    @property
    def field(self) -> str | None:
        """The field a 422 ``invalid`` names (``userId``, ``messageHistory[0].type``), if any."""
        if self.code != "invalid" or ": " not in self.message:
            return None
        return self.message.split(": ", 1)[0]


class BridgeClient:
    """The bot API over one ``aiohttp`` session.

    ``session``: an existing session to use (it stays open when the client closes); without
    one the client opens its own. ``timeout``: seconds per call (a long-poll gets its
    ``wait`` on top).
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        session: aiohttp.ClientSession | None = None,
        timeout: float = 30,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.cursor: str | None = None
        """Where :meth:`events` stands: resuming from it repeats no fully delivered page and
        skips nothing not yet yielded. Persist it to resume after a restart."""
        self.retry_base = 0.5
        """First delay, in seconds, before the long-poll retries after a failure."""
        self.retry_max = 30.0
        """Longest delay between long-poll retries (the backoff doubles up to it)."""
        self._token = token
        self._session = session
        self._own_session = session is None

    def __repr__(self) -> str:  # never show the token
        return f"BridgeClient({self.base_url!r})"

    async def __aenter__(self) -> Self:
        self._http()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the session if the client opened it."""
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None

    # --- users ------------------------------------------------------------------------

    async def create_user(
        self,
        name: str,
        *,
        picture_url: str | None = None,
        email: str | None = None,
        idempotency_key: str | None = None,
    ) -> str:
        """``POST /v1/users`` (createUser): the new end user's ``userId``."""
        body: dict[str, Any] = {"name": name}
        if picture_url is not None:
            body["pictureUrl"] = picture_url
        if email is not None:
            body["email"] = email
        answer = await self._call("POST", "/v1/users", body, idempotency_key)
        return str(answer["userId"])

    async def get_user(self, user_id: str) -> wire.UserOut:
        """``GET /v1/users/{userId}``: an end user or an agent."""
        answer = await self._call("GET", f"/v1/users/{_seg(user_id)}")
        return wire.UserOut.model_validate(answer)

    # --- conversations ------------------------------------------------------------------

    async def start_hitl(
        self,
        user_id: str,
        *,
        title: str | None = None,
        description: str | None = None,
        message_history: Iterable[HistoryItem | Mapping[str, Any]] = (),
        hitl_session: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> str:
        """``POST /v1/conversations`` (startHitl): the new ``conversationId``.

        ``message_history`` items are :class:`~bridge.model.HistoryItem` (a ``"user"`` item is
        attributed to ``user_id``) or dicts in wire shape
        (``{"source": {"type": "bot"}, "type": "text", "payload": {"text": "..."}}``).
        """
        body: dict[str, Any] = {
            "userId": user_id,
            "messageHistory": [_history_entry(item, user_id) for item in message_history],
        }
        if title is not None:
            body["title"] = title
        if description is not None:
            body["description"] = description
        if hitl_session is not None:
            body["hitlSession"] = dict(hitl_session)
        answer = await self._call("POST", "/v1/conversations", body, idempotency_key)
        return str(answer["conversationId"])

    async def get_conversation(self, conversation_id: str) -> wire.ConversationOut:
        """``GET /v1/conversations/{conversationId}``: status, assignee, Slack thread."""
        answer = await self._call("GET", f"/v1/conversations/{_seg(conversation_id)}")
        return wire.ConversationOut.model_validate(answer)

    async def send_message(
        self,
        conversation_id: str,
        content: Content | Mapping[str, Any],
        *,
        user_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> str:
        """``POST .../messages``: the ``messageId``. With ``user_id`` the end user speaks;
        without, it is a notice from the bot. ``content`` is a :data:`~bridge.model.Content`
        model or a ``{type, payload}`` dict."""
        body = _content(content)
        if user_id is not None:
            body["userId"] = user_id
        path = f"/v1/conversations/{_seg(conversation_id)}/messages"
        answer = await self._call("POST", path, body, idempotency_key)
        return str(answer["messageId"])

    async def send_text(
        self,
        conversation_id: str,
        text: str,
        *,
        user_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> str:
        """:meth:`send_message` with a ``text`` message."""
        return await self.send_message(
            conversation_id,
            {"type": "text", "payload": {"text": text}},
            user_id=user_id,
            idempotency_key=idempotency_key,
        )

    async def stop_hitl(self, conversation_id: str, *, idempotency_key: str | None = None) -> None:
        """``POST .../stop`` (stopHitl). Stopping a stopped conversation is fine."""
        path = f"/v1/conversations/{_seg(conversation_id)}/stop"
        await self._call("POST", path, {}, idempotency_key)

    # --- approvals ----------------------------------------------------------------------

    async def request_approval(
        self,
        draft: Content | Mapping[str, Any],
        *,
        title: str | None = None,
        context: str | None = None,
        conversation_id: str | None = None,
        user_id: str | None = None,
        queue: str | None = None,
        expires_in: float | None = None,
        idempotency_key: str | None = None,
    ) -> str:
        """``POST /v1/approvals``: ask a human in Slack to approve, edit or reject ``draft``
        (a :data:`~bridge.model.Content` model or a ``{type, payload}`` dict) before the bot
        says it; the ``approvalId``. The answer comes as an ``approvalDecided`` event."""
        body: dict[str, Any] = {"draft": _content(draft)}
        optional = {
            "title": title,
            "context": context,
            "conversationId": conversation_id,
            "userId": user_id,
            "queue": queue,
            "expiresIn": expires_in,
        }
        body |= {k: v for k, v in optional.items() if v is not None}
        answer = await self._call("POST", "/v1/approvals", body, idempotency_key)
        return str(answer["approvalId"])

    async def get_approval(self, approval_id: str) -> wire.ApprovalOut:
        """``GET /v1/approvals/{approvalId}``: the request, and its decision once made."""
        answer = await self._call("GET", f"/v1/approvals/{_seg(approval_id)}")
        return wire.ApprovalOut.model_validate(answer)

    async def cancel_approval(
        self, approval_id: str, *, idempotency_key: str | None = None
    ) -> None:
        """``POST /v1/approvals/{approvalId}/cancel``: withdraw a pending request (no event
        follows). A decided or expired one raises :class:`BridgeError` ``approval_decided``."""
        path = f"/v1/approvals/{_seg(approval_id)}/cancel"
        await self._call("POST", path, {}, idempotency_key)

    # --- events -------------------------------------------------------------------------

    async def events(
        self, *, after: str | None = None, wait: float = MAX_WAIT
    ) -> AsyncGenerator[dict[str, Any], None]:
        """Every event (``{id, type, createdAt, payload}``), long-polling ``GET /v1/events``
        for ever.

        Starts after the cursor ``after``; without it, where :attr:`cursor` stands (for a new
        client: the oldest event the bridge keeps). Connection errors, timeouts and 5xx
        answers are logged and retried with a capped exponential backoff; any other failure
        (an unknown cursor: 422, a wrong token: 401) raises :class:`BridgeError`.

        Delivery is at least once: drop repeats by event ``id``.
        """
        if wait != wait or wait <= 0:
            raise ValueError("wait must be a positive number of seconds")
        wait = min(wait, MAX_WAIT)
        if after is not None:
            self.cursor = after
        failures = 0
        while True:
            query = {"wait": f"{wait:g}"}
            if self.cursor is not None:
                query["after"] = self.cursor
            try:
                answer = await self._call("GET", "/v1/events", query=query, extra_time=wait)
            except (aiohttp.ClientError, TimeoutError, BridgeError) as exc:
                if isinstance(exc, BridgeError) and exc.status < 500 and exc.status != 429:
                    raise
                delay = min(self.retry_max, self.retry_base * 2**failures)
                delay *= random.uniform(0.5, 1.0)
                failures += 1
                log.warning(
                    "GET /v1/events failed (%s); retry %d in %.1f s",
                    _describe(exc),
                    failures,
                    delay,
                )
                await asyncio.sleep(delay)
                continue
            if failures:
                log.info("GET /v1/events works again after %d failure(s)", failures)
                failures = 0
            events = answer.get("events")
            cursor = answer.get("cursor")
            if not isinstance(events, list) or not isinstance(cursor, str):
                raise BridgeError(200, "bad_response", "GET /v1/events answered no events/cursor")
            for index, event in enumerate(events):
                if index == len(events) - 1:
                    self.cursor = cursor  # the whole page is out once its last event is
                yield event
            self.cursor = cursor

    async def skip_to_latest(self) -> str:
        """Move :attr:`cursor` past every event the bridge holds now, so that :meth:`events`
        yields only what happens from here on; returns the new cursor. For a bot that keeps
        no cursor and wants no replay of the past days' events at start-up."""
        while True:
            query = {"wait": "0"}
            if self.cursor is not None:
                query["after"] = self.cursor
            answer = await self._call("GET", "/v1/events", query=query)
            cursor = answer.get("cursor")
            if not isinstance(cursor, str):
                raise BridgeError(200, "bad_response", "GET /v1/events answered no cursor")
            self.cursor = cursor
            if not answer.get("events"):
                return cursor

    # --- plumbing -----------------------------------------------------------------------

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession()
            self._own_session = True
        return self._session

    async def _call(
        self,
        method: str,
        path: str,
        body: Any = None,
        idempotency_key: str | None = None,
        *,
        query: Mapping[str, str] | None = None,
        extra_time: float = 0.0,
    ) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self._token}", "Accept": "application/json"}
        data: bytes | None = None
        if body is not None:
            data = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
            headers["Content-Type"] = "application/json"
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        async with self._http().request(
            method,
            self.base_url + path,
            params=query,
            data=data,
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=self.timeout + extra_time),
        ) as resp:
            text = await resp.text()
            status = resp.status
        try:
            answer = json.loads(text) if text.strip() else {}
        except ValueError:
            answer = None
        if not 200 <= status < 300:
            raise _error(status, answer, text)
        if not isinstance(answer, dict):
            raise BridgeError(status, "bad_response", f"{method} {path}: the answer is not JSON")
        return answer


def _seg(value: str) -> str:
    """An id as one path segment, whatever it contains."""
    return quote(value, safe="")


def _error(status: int, answer: Any, text: str) -> BridgeError:
    error = answer.get("error") if isinstance(answer, dict) else None
    if isinstance(error, dict) and isinstance(error.get("code"), str):
        return BridgeError(status, error["code"], str(error.get("message", "")))
    return BridgeError(status, f"http_{status}", " ".join(text.split())[:200])


def _describe(exc: BaseException) -> str:
    if isinstance(exc, BridgeError):
        return f"HTTP {exc.status} {exc.code}"
    return type(exc).__name__ if not str(exc) else f"{type(exc).__name__}: {exc}"


def _content(content: Content | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(content, BaseModel):
        return content.model_dump(mode="json", exclude_none=True)
    return dict(content)


def _history_entry(item: HistoryItem | Mapping[str, Any], user_id: str) -> dict[str, Any]:
    if isinstance(item, HistoryItem):
        source: dict[str, Any] = {"type": "bot"}
        if item.source == "user":
            source = {"type": "user", "userId": user_id}
        return {"source": source, **_content(item.content)}
    return dict(item)


# --- webhooks -----------------------------------------------------------------------------


def verify_webhook(body: bytes | str, headers: Mapping[str, str], secret: str) -> dict[str, Any]:
    """Verify a Standard Webhooks delivery from the bridge and return its event
    (``{id, type, createdAt, payload}``).

    ``body``: the raw request body, exactly as received. ``headers``: the request's headers
    (``webhook-id``, ``webhook-timestamp``, ``webhook-signature``; any case). ``secret``: the
    ``whsec_...`` key, or several separated by commas while keys rotate: one verifying is
    enough.

    Raises :class:`WebhookVerificationError` when no key verifies the signature, the headers
    are missing or malformed, or the timestamp is more than 5 minutes off; ``ValueError`` when
    ``secret`` is not a Standard Webhooks secret or the signed body is not a JSON object.
    """
    keys = [key.strip() for key in secret.split(",") if key.strip()]
    if not keys:
        raise ValueError("no webhook secret given")
    signers: list[Webhook] = []
    for key in keys:
        try:
            signers.append(Webhook(key))
        except (binascii.Error, ValueError, EmptyWebhookSecretError):
            raise ValueError("the webhook secret is not a valid whsec_... key") from None
    try:
        text = body.decode() if isinstance(body, bytes) else body
    except UnicodeDecodeError:
        raise WebhookVerificationError("the body is not UTF-8") from None
    lowered = {name.lower(): value for name, value in headers.items()}
    failure = WebhookVerificationError("No matching signature found")
    for signer in signers:
        try:
            signer.verify(text, lowered, json_parse=False)
        except WebhookVerificationError as exc:
            failure = exc
            continue
        except ValueError:  # a signature that is not "v1,<base64>"
            raise WebhookVerificationError("malformed webhook-signature header") from None
        event = json.loads(text)
        if not isinstance(event, dict):
            raise ValueError("the webhook body is not a JSON object")
        return event
    raise failure
