"""The `/v1` bot API: thin routes from JSON to service calls.

Checks run in the order the contract gives precedence to: 401, 413, 400, 404, 422, 409.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel

from bridge.bot import openapi, wire
from bridge.events import Target
from bridge.model import Conversation, User, iso
from bridge.service import Decided, Idem, Invalid, KeyTaken, NotFound, Seen, Service, Stopped
from bridge.store import DeadLetter, Unavailable

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)
R = TypeVar("R")

MAX_WAIT = 30.0
PAGE = 100
IN_PROGRESS_WAIT = 10.0


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


def error_answer(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    body = {"error": {"code": code, "message": message}}
    return web.json_response(body, status=status, headers=headers)


async def read_json(request: web.Request, max_body: int, *, empty_ok: bool = False) -> Any:
    """Read and parse a JSON body: 413 past `max_body` (declared, or as it streams in, for a
    chunked body), 400 when it is not JSON; `{}` for an empty one when `empty_ok`."""
    if request.content_length is not None and request.content_length > max_body:
        raise _too_large(max_body)
    raw = bytearray()
    async for chunk in request.content.iter_chunked(65536):
        raw += chunk
        if len(raw) > max_body:
            raise _too_large(max_body)
    if empty_ok and not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: nested too deep to parse
        raise ApiError(400, "bad_json", "the body is not valid JSON") from None


def _too_large(max_body: int) -> ApiError:
    return ApiError(413, "too_large", f"the body is over {max_body} bytes")


def unavailable_answer(exc: Unavailable) -> web.Response:
    """503: nothing was done; the same request may be sent again after `Retry-After`."""
    message = "the bridge cannot store anything now; try again later"
    return error_answer(503, "unavailable", message, {"Retry-After": str(exc.retry_after)})


def _invalid(field: str, message: str) -> ApiError:
    return ApiError(422, "invalid", f"{field}: {message}")


class BotApi:
    """The routes, sharing the service, the token and the in-progress idempotency keys."""

    def __init__(
        self, service: Service, tokens: list[str], max_body: int, closing: asyncio.Event
    ) -> None:
        self._bot = service.bot
        self._approvals = service.approvals
        self._events_pulse = service.events_pulse
        self._tokens = [token.encode() for token in tokens]
        self._max_body = max_body
        self._closing = closing
        self._in_progress: dict[tuple[str, str], asyncio.Future[None]] = {}

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/v1/users", self.create_user),
            web.get("/v1/users/{user_id}", self.get_user),
            web.post("/v1/conversations", self.start_hitl),
            web.get("/v1/conversations/{conversation_id}", self.get_conversation),
            web.post("/v1/conversations/{conversation_id}/messages", self.send_message),
            web.post("/v1/conversations/{conversation_id}/stop", self.stop_hitl),
            web.post("/v1/approvals", self.request_approval),
            web.get("/v1/approvals/{approval_id}", self.get_approval),
            web.post("/v1/approvals/{approval_id}/cancel", self.cancel_approval),
            web.get("/v1/events", self.events),
            web.get("/v1/openapi.json", self.openapi),
        ]

    @web.middleware
    async def middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        """Authenticate every `/v1` request and turn every failure into the JSON error shape."""
        if not request.path.startswith("/v1/") and request.path != "/v1":
            return await handler(request)
        try:
            self._authenticate(request)
            return await handler(request)
        except ApiError as exc:
            return error_answer(exc.status, exc.code, str(exc))
        except Unavailable as exc:  # the store has logged it, once for the outage
            return unavailable_answer(exc)
        except web.HTTPMethodNotAllowed:
            return error_answer(405, "method_not_allowed", f"{request.method} is not allowed here")
        except web.HTTPNotFound:
            return error_answer(404, "not_found", f"no such route: {request.path}")

    def _authenticate(self, request: web.Request) -> None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        given = token.strip().encode()
        # Compare with every token, always: the time taken says nothing about which matched.
        matches = [hmac.compare_digest(given, known) for known in self._tokens]
        if scheme.lower() != "bearer" or not any(matches):
            raise ApiError(401, "unauthorized", "a valid Authorization: Bearer token is required")

    # --- users ------------------------------------------------------------------------

    async def create_user(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        data = self._parse(wire.CreateUser, body)
        return await self._once(
            request,
            body,
            lambda idem: self._bot.create_user(data.name, data.pictureUrl, data.email, idem),
            lambda user_id: web.json_response({"userId": user_id}, status=201),
        )

    async def get_user(self, request: web.Request) -> web.Response:
        user = await self._bot.user(request.match_info["user_id"])
        if user is None:
            raise ApiError(404, "not_found", "no such user")
        return web.json_response(_user_json(user))

    # --- conversations ------------------------------------------------------------------

    async def start_hitl(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        data = self._parse(wire.StartHitl, body)
        history = self._parse_with(lambda: wire.history(data.messageHistory))
        await self._end_user(data.userId)
        return await self._once(
            request,
            body,
            lambda idem: self._bot.start_hitl(
                data.userId,
                title=data.title,
                description=data.description,
                history=history,
                session=data.hitlSession,
                idem=idem,
            ),
            lambda conv_id: web.json_response({"conversationId": conv_id}, status=201),
        )

    async def get_conversation(self, request: web.Request) -> web.Response:
        conv = await self._conversation(request)
        dead = await self._bot.dead_letters(conv.id)
        return web.json_response(_conversation_json(conv, dead))

    async def send_message(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        conversation_id = request.match_info["conversation_id"]
        try:
            data = self._parse(wire.SendMessage, body)
            content = self._parse_with(lambda: wire.content(data.type, data.payload))
        except ApiError:
            await self._conversation(request)  # an unknown conversation is told first
            raise
        if request.headers.get("Idempotency-Key") is not None:
            # A repeated key is answered before the service looks, so what the service would
            # refuse, which wins over a 409, is checked here. Without a key, it checks alone.
            conv = await self._conversation(request)
            if data.userId is not None and data.userId != conv.user_id:
                raise _invalid("userId", "is not this conversation's end user")
        return await self._once(
            request,
            body,
            lambda idem: self._bot.send_message(conversation_id, content, data.userId, idem),
            lambda message_id: web.json_response({"messageId": message_id}, status=202),
        )

    async def stop_hitl(self, request: web.Request) -> web.Response:
        body = await self._body(request, empty_ok=True)
        conv = await self._conversation(request)
        self._parse(wire.StopHitl, body)
        return await self._once(
            request,
            body,
            lambda idem: self._bot.stop(conv.id, idem),
            lambda _: web.json_response({}),
        )

    # --- approvals ----------------------------------------------------------------------

    async def request_approval(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        named = body.get("conversationId") if isinstance(body, dict) else None
        if isinstance(named, str) and await self._bot.conversation(named) is None:
            raise ApiError(404, "not_found", "no such conversation")  # 404 before any 422
        data = self._parse(wire.RequestApproval, body)
        draft = self._parse_with(lambda: wire.content(data.draft.type, data.draft.payload, "draft"))
        if data.userId is not None:
            await self._end_user(data.userId)
        return await self._once(
            request,
            body,
            lambda idem: self._approvals.request(
                draft,
                expires_in=data.expiresIn,
                title=data.title,
                context=data.context,
                conversation_id=data.conversationId,
                user_id=data.userId,
                queue=data.queue,
                idem=idem,
            ),
            lambda approval_id: web.json_response({"approvalId": approval_id}, status=201),
        )

    async def get_approval(self, request: web.Request) -> web.Response:
        seen = await self._approval(request)
        return web.json_response(_approval_json(seen))

    async def cancel_approval(self, request: web.Request) -> web.Response:
        body = await self._body(request, empty_ok=True)
        seen = await self._approval(request)
        self._parse(wire.CancelApproval, body)
        return await self._once(
            request,
            body,
            lambda idem: self._approvals.cancel(seen.approval.id, idem),
            lambda _: web.json_response({}),
        )

    async def openapi(self, request: web.Request) -> web.Response:
        return web.json_response(openapi.document())

    # --- events -------------------------------------------------------------------------

    async def events(self, request: web.Request) -> web.Response:
        after = request.query.get("after")
        try:
            wait = min(max(float(request.query.get("wait", "0")), 0.0), MAX_WAIT)
        except ValueError:
            raise _invalid("wait", "must be a number of seconds (0-30)") from None
        if wait != wait:  # NaN
            raise _invalid("wait", "must be a number of seconds (0-30)")
        seq = 0
        if after is not None:
            if not re.fullmatch(r"[0-9]{1,18}", after):
                raise _invalid("after", "is not a cursor this bridge gave out")
            seq = int(after)
        deadline = time.monotonic() + wait
        pulse = self._events_pulse
        while True:
            seen = pulse.count
            events, last = await self._bot.events_after(seq, PAGE)
            if seq > last:
                raise _invalid("after", "is not a cursor this bridge gave out")
            remaining = deadline - time.monotonic()
            if events or remaining <= 0 or self._closing.is_set():
                break
            await pulse.wait(seen, min(remaining, 1.0))
        cursor = str(events[-1].seq if events else seq)
        return web.json_response({"events": [e.body for e in events], "cursor": cursor})

    # --- helpers ------------------------------------------------------------------------

    async def _body(self, request: web.Request, *, empty_ok: bool = False) -> Any:
        return await read_json(request, self._max_body, empty_ok=empty_ok)

    @staticmethod
    def _parse(model: type[M], body: Any) -> M:
        try:
            return wire.parse(model, body)
        except wire.WireError as exc:
            raise ApiError(422, "invalid", str(exc)) from None

    @staticmethod
    def _parse_with(parse: Callable[[], R]) -> R:
        try:
            return parse()
        except wire.WireError as exc:
            raise ApiError(422, "invalid", str(exc)) from None

    async def _conversation(self, request: web.Request) -> Conversation:
        conv = await self._bot.conversation(request.match_info["conversation_id"])
        if conv is None:
            raise ApiError(404, "not_found", "no such conversation")
        return conv

    async def _approval(self, request: web.Request) -> Seen:
        try:
            return await self._approvals.get(request.match_info["approval_id"])
        except NotFound:
            raise ApiError(404, "not_found", "no such approval request") from None

    async def _end_user(self, user_id: str) -> None:
        user = await self._bot.user(user_id)
        if user is None or user.role != "end-user":
            raise _invalid("userId", "names no known end user")

    async def _once(
        self,
        request: web.Request,
        body: Any,
        run: Callable[[Idem | None], Awaitable[R]],
        answer: Callable[[R], web.Response],
    ) -> web.Response:
        """Run the effect once per `Idempotency-Key`; a repeat gets the first answer again."""
        key = request.headers.get("Idempotency-Key")
        if key is None:
            return answer(await self._effect(run, None))
        if not re.fullmatch(r"[\x20-\x7e]{1,255}", key):
            raise _invalid("Idempotency-Key", "must be 1-255 printable ASCII characters")
        scope = f"{request.method} {request.path}"
        fingerprint = hashlib.sha256(
            json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
        ).hexdigest()
        slot = (scope, key)
        while slot in self._in_progress:
            try:
                await asyncio.wait_for(asyncio.shield(self._in_progress[slot]), IN_PROGRESS_WAIT)
            except TimeoutError:
                raise ApiError(
                    409, "idempotency_in_progress", "a request with this key is still running"
                ) from None
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._in_progress[slot] = done
        try:
            for _ in range(2):
                recalled = await self._bot.recall(scope, key)
                if recalled is not None:
                    if recalled[0] != fingerprint:
                        raise ApiError(
                            409,
                            "idempotency_conflict",
                            "this Idempotency-Key was used with a different body",
                        )
                    return answer(recalled[1])
                try:
                    return answer(await self._effect(run, Idem(scope, key, fingerprint)))
                except KeyTaken:
                    continue  # another process remembered it meanwhile: answer as a repeat
            raise ApiError(409, "idempotency_in_progress", "a request with this key is running")
        finally:
            del self._in_progress[slot]
            done.set_result(None)

    @staticmethod
    async def _effect(run: Callable[[Idem | None], Awaitable[R]], idem: Idem | None) -> R:
        try:
            return await run(idem)
        except NotFound:
            raise ApiError(404, "not_found", "no such conversation") from None
        except Invalid as exc:
            raise ApiError(422, "invalid", str(exc)) from None
        except Stopped:
            raise ApiError(
                409, "conversation_stopped", "the conversation is stopped and takes no messages"
            ) from None
        except Decided:
            raise ApiError(
                409, "approval_decided", "the approval request was decided or expired already"
            ) from None


def _user_json(user: User) -> dict[str, Any]:
    return wire.UserOut(
        userId=user.id,
        name=user.name,
        pictureUrl=user.picture_url,
        email=user.email,
        role=user.role.value,
    ).model_dump()


def _conversation_json(conv: Conversation, dead: list[DeadLetter]) -> dict[str, Any]:
    return wire.ConversationOut(
        conversationId=conv.id,
        userId=conv.user_id,
        status=conv.status.value,
        agentId=conv.agent_id,
        title=conv.title,
        slack=wire.SlackRef(
            channel=conv.channel, threadTs=conv.thread_ts, permalink=conv.permalink
        ),
        createdAt=iso(conv.created_at),
        stoppedAt=iso(conv.stopped_at) if conv.stopped_at else None,
        deadLetters=[_dead_letter(d) for d in dead],
    ).model_dump()


def _approval_json(seen: Seen) -> dict[str, Any]:
    a = seen.approval
    answer = wire.ApprovalOut(
        approvalId=a.id,
        status=a.status.value,
        draft=a.draft,
        message=a.message,
        comment=a.comment,
        agent=seen.agent,
        conversationId=a.conversation_id,
        userId=a.user_id,
        title=a.title,
        slack=wire.ApprovalSlackRef(channel=a.channel, ts=a.ts, permalink=a.permalink),
        createdAt=iso(a.created_at),
        expiresAt=iso(a.expires_at),
        decidedAt=iso(a.decided_at) if a.decided_at else None,
    ).model_dump(mode="json")
    # Messages as the bot sends them: no nulls inside.
    answer["draft"] = a.draft.model_dump(exclude_none=True)
    answer["message"] = a.message.model_dump(exclude_none=True) if a.message else None
    return answer


def _dead_letter(d: DeadLetter) -> wire.DeadLetterOut:
    """An event given up on is known by its own id and type; a Slack delivery by its kind
    and the message it carried, if any."""
    when = iso(datetime.fromtimestamp(d.created_at, UTC))
    if d.target in (Target.BOT, Target.BOTPRESS):
        return wire.DeadLetterOut(
            target="botpress" if d.target == Target.BOTPRESS else "bot",
            kind=d.payload.get("type", d.kind),
            id=d.payload.get("id"),
            attempts=d.attempts,
            error=d.error,
            since=when,
        )
    return wire.DeadLetterOut(
        target="slack",
        kind=d.kind,
        id=d.payload.get("messageId"),
        attempts=d.attempts,
        error=d.error,
        since=when,
    )
