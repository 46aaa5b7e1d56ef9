"""The Bolt app: thin listeners from Slack payloads to service calls.

`process_before_response=True` makes Bolt run each listener before it answers Slack, so an
ack means the work is committed (Bolt's default acks first and loses the event on a crash).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from slack_bolt import BoltResponse
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.web.async_client import AsyncWebClient

from bridge.model import Status
from bridge.outbox import Defer, Retry
from bridge.service import Service
from bridge.slack import edge, home, queue
from bridge.slack.blocks import ACTIONS
from bridge.slack.directory import Directory
from bridge.slack.webapi import Refused
from bridge.store import Unavailable

log = logging.getLogger(__name__)

# Human messages: none, a reply also sent to the channel, or one with files.
HUMAN_SUBTYPES = frozenset({None, "thread_broadcast", "file_share"})


def build_app(
    service: Service, client: AsyncWebClient, directory: Directory, app_home: home.AppHome
) -> AsyncApp:
    app = AsyncApp(
        name="hitl-bridge",
        client=client,
        # Requests reach Bolt through `events_route`, which has checked the signature on the
        # raw bytes already, or over Socket Mode, which has none: no need to check twice.
        request_verification_enabled=False,
        process_before_response=True,
    )

    @app.error
    async def on_error(error: Exception, logger: logging.Logger) -> BoltResponse | None:
        """What the database cannot take now is answered 503, not acknowledged, so Slack
        sends it again later (over HTTP and Socket Mode alike; the store logs the outage
        once, not per request). Anything else gets Bolt's own answer (500)."""
        if isinstance(error, Unavailable):
            return BoltResponse(
                status=503, body="", headers={"Retry-After": str(error.retry_after)}
            )
        logger.exception(f"Failed to run listener function (error: {error})")
        return None

    @app.middleware
    async def only_our_app(
        body: dict[str, Any], context: AsyncBoltContext, next: Callable[[], Awaitable[None]]
    ) -> BoltResponse | None:
        """Acknowledge but ignore requests meant for another workspace or app (the same
        signing secret, or an app installed in several workspaces, can bring them), over
        HTTP and Socket Mode alike."""
        try:
            team, app_id = await directory.identity()
        except (Retry, Defer, Refused) as exc:
            # Slack cannot say who we are right now: let it through rather than drop it.
            log.warning("auth.test failed (%s); not checking the request's workspace", exc)
            team = app_id = None
        their_team = context.team_id
        their_app = body.get("api_app_id")
        if context.enterprise_id and context.is_enterprise_install:
            their_team = team  # an org-wide install spans the org's workspaces
        if (their_team and team and their_team != team) or (
            their_app and app_id and their_app != app_id
        ):
            log.info("ignoring a request for team %s / app %s", their_team, their_app)
            return BoltResponse(status=200, body="")
        await next()
        return None

    async def on_change(event: dict[str, Any], event_id: str | None) -> None:
        """An agent edited or deleted a message; it matters only if it was relayed."""
        if event.get("subtype") == "message_changed":
            message, before = event.get("message") or {}, event.get("previous_message") or {}
            if message.get("text") == before.get("text"):
                return  # an unfurl or a reaction, not an edit
            text: str | None = str(message.get("text") or "")
            ts, user = message.get("ts"), message.get("user")
        else:
            message, text = event.get("previous_message") or {}, None
            ts, user = event.get("deleted_ts"), message.get("user")
        channel, thread_ts = event.get("channel"), message.get("thread_ts")
        if not all(isinstance(v, str) and v for v in (ts, user, channel, thread_ts)):
            return  # not a reply in a thread
        await service.intake(
            "change",
            {"channel": channel, "ts": ts, "user": user, "text": text},
            event_id=event_id,
            thread=(str(channel), str(thread_ts)),
        )

    @app.event("message")
    async def on_message(event: dict[str, Any], body: dict[str, Any]) -> None:
        # Bolt already dropped the bridge's own messages (IgnoringSelfEvents).
        event_id = body.get("event_id") if isinstance(body.get("event_id"), str) else None
        if event.get("subtype") in ("message_changed", "message_deleted"):
            await on_change(event, event_id)
            return
        thread_ts, ts = event.get("thread_ts"), event.get("ts")
        channel, user = event.get("channel"), event.get("user")
        if (
            event.get("subtype") not in HUMAN_SUBTYPES
            or event.get("bot_id")
            or not all(isinstance(v, str) and v for v in (thread_ts, ts, channel, user))
            or thread_ts == ts
        ):
            return  # edits, deletions, other bots, top-level chatter: not agent replies
        text, files = event.get("text"), event.get("files")
        reply = {
            "channel": channel,
            "thread_ts": thread_ts,
            "ts": ts,
            "user": user,
            "text": text if isinstance(text, str) else "",
            "files": [f for f in files if isinstance(f, dict)] if isinstance(files, list) else [],
        }
        await service.intake(
            "reply", reply, event_id=event_id, thread=(str(channel), str(thread_ts))
        )

    async def on_button(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        user = (body.get("user") or {}).get("id")
        value = action.get("value")
        if isinstance(user, str) and isinstance(value, str):
            pressed = {"action": action["action_id"], "user": user}
            await service.intake("action", pressed, conversation_id=value)
        await ack()

    for action_id in ACTIONS:
        app.action(action_id)(on_button)

    @app.event("app_home_opened")
    async def on_home(event: dict[str, Any]) -> None:
        user = event.get("user")
        if event.get("tab", "home") == "home" and isinstance(user, str):
            app_home.opened(user)  # published once Slack has its answer

    @app.command("/hitl")
    async def on_command(ack: AsyncAck, command: dict[str, Any]) -> None:
        await ack(text=await answer(command.get("text") or "", str(command.get("user_id"))))

    async def answer(text: str, user: str) -> str:
        """What `/hitl [mine|stats|help]` says (only to whoever asked)."""
        word, now = text.strip().lower(), datetime.now(UTC)
        if word == "":
            waiting = await service.queue(Status.WAITING)
            return queue.waiting_answer(waiting, now)
        if word == "mine":
            mine = await service.queue(Status.ASSIGNED, slack_user_id=user)
            return queue.mine_answer(mine, now)
        if word == "stats":
            today = now.replace(hour=0, minute=0, second=0, microsecond=0)
            return queue.figures_text(await service.figures(today))
        return queue.HELP

    return app


def events_route(app: AsyncApp, signing_secret: str) -> web.RouteDef:
    """`POST /slack/events`: checked at the door (see `edge`), then Bolt."""

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        if edge.ssl_check(body, request.content_type):
            return web.Response(status=200)
        if not edge.signed(signing_secret, request.headers, body, time.time()):
            return web.json_response({"error": "invalid signature"}, status=401)
        payload = edge.parse(body, request.content_type)
        raw_json = None if request.content_type.endswith("urlencoded") else body
        why = "it is not a JSON object" if payload is None else edge.problem(payload, raw_json)
        if why is not None:
            # Signed, so from Slack: acknowledge it, or Slack retries it and may disable us.
            log.info("ignoring a request from Slack: %s", why)
            return web.Response(status=200)
        bolt_request = AsyncBoltRequest(
            body=body.decode(), query=request.query_string, headers=dict(request.headers)
        )
        response = await app.async_dispatch(bolt_request)
        if response.status == 404:
            return web.Response(status=200)  # signed but unwanted: still a 2xx
        return await to_aiohttp_response(response)

    return web.post("/slack/events", handle)
