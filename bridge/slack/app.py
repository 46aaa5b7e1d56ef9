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

from bridge.model import Action, Status, TextMessage, TextPayload
from bridge.service import Service
from bridge.slack import blocks, edge, home
from bridge.slack.directory import Directory
from bridge.slack.files import FileLinks
from bridge.slack.text import mentioned_users, to_plain

log = logging.getLogger(__name__)

# Human messages: none, a reply also sent to the channel, or one with files.
HUMAN_SUBTYPES = frozenset({None, "thread_broadcast", "file_share"})


def build_app(
    service: Service,
    client: AsyncWebClient,
    directory: Directory,
    app_home: home.AppHome,
    files: FileLinks,
) -> AsyncApp:
    app = AsyncApp(
        name="hitl-bridge",
        client=client,
        # Requests reach Bolt through `events_route`, which has checked the signature on the
        # raw bytes already, or over Socket Mode, which has none: no need to check twice.
        request_verification_enabled=False,
        process_before_response=True,
    )

    @app.middleware
    async def only_our_app(
        body: dict[str, Any], context: AsyncBoltContext, next: Callable[[], Awaitable[None]]
    ) -> BoltResponse | None:
        """Acknowledge but ignore requests meant for another workspace or app (the same
        signing secret, or an app installed in several workspaces, can bring them), over
        HTTP and Socket Mode alike."""
        team, app_id = await directory.identity()
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

    async def on_change(event: dict[str, Any], body: dict[str, Any]) -> None:
        """An agent edited or deleted a message; it matters only if it was relayed."""
        if event.get("subtype") == "message_changed":
            message, before = event.get("message") or {}, event.get("previous_message") or {}
            if message.get("text") == before.get("text"):
                return  # an unfurl or a reaction, not an edit
            ts, user = message.get("ts"), message.get("user")
            raw = str(message.get("text") or "")
            text: str | None = to_plain(raw, await directory.names(mentioned_users(raw)))
        else:
            ts, user = event.get("deleted_ts"), (event.get("previous_message") or {}).get("user")
            text = None
        channel, event_id = event.get("channel"), body.get("event_id")
        if not all(isinstance(v, str) and v for v in (ts, user, channel)):
            return
        outcome = await service.agent_changed(
            event_id=event_id if isinstance(event_id, str) else None,
            channel=str(channel),
            ts=str(ts),
            slack_user_id=str(user),
            text=text.strip()[:40000] if text else None,
        )
        if outcome.ignored:
            log.debug("edit not relayed: %s", outcome.ignored)

    @app.event("message")
    async def on_message(event: dict[str, Any], body: dict[str, Any]) -> None:
        # Bolt already dropped the bridge's own messages (IgnoringSelfEvents).
        if event.get("subtype") in ("message_changed", "message_deleted"):
            await on_change(event, body)
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
        raw = event.get("text")
        raw = raw if isinstance(raw, str) else ""
        names = await directory.names(mentioned_users(raw))
        text = to_plain(raw, names).strip()[:40000]
        shared = event.get("files")
        content = (
            files.content(text, shared)
            if isinstance(shared, list) and shared
            else TextMessage(type="text", payload=TextPayload(text=text))
            if text
            else None
        )
        if content is None:
            return
        event_id = body.get("event_id")
        outcome = await service.agent_reply(
            event_id=event_id if isinstance(event_id, str) else None,
            channel=str(channel),
            thread_ts=str(thread_ts),
            ts=str(ts),
            agent=await directory.profile(str(user)),
            content=content,
            allowed=await directory.is_agent(str(user)),
        )
        if outcome.ignored:
            log.debug("reply not relayed: %s", outcome.ignored)

    async def on_button(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        user = (body.get("user") or {}).get("id")
        value = action.get("value")
        if not isinstance(user, str) or not isinstance(value, str):
            return
        outcome = await service.act(
            Action(action["action_id"]),
            value,
            await directory.profile(user),
            allowed=await directory.is_agent(user),
        )
        if outcome.ignored:
            log.info("button changed nothing: %s", outcome.ignored)

    for action_id in (blocks.ACTION_CLAIM, blocks.ACTION_RELEASE, blocks.ACTION_RESOLVE):
        app.action(action_id)(on_button)

    @app.event("app_home_opened")
    async def on_home(event: dict[str, Any]) -> None:
        user = event.get("user")
        if event.get("tab", "home") == "home" and isinstance(user, str):
            await app_home.opened(user)

    @app.command("/hitl")
    async def on_command(ack: AsyncAck, command: dict[str, Any]) -> None:
        await ack(text=await answer(command.get("text") or "", str(command.get("user_id"))))

    async def answer(text: str, user: str) -> str:
        """What `/hitl [mine|stats|help]` says (only to whoever asked)."""
        word, now = text.strip().lower(), datetime.now(UTC)
        if word == "":
            waiting = await service.queue(Status.WAITING)
            return home.queue_answer("Waiting", waiting, now, "Nobody is waiting. :tada:")
        if word == "mine":
            mine = await service.queue(Status.ASSIGNED, slack_user_id=user)
            return home.queue_answer("Yours", mine, now, "You have no conversation now.")
        if word == "stats":
            today = now.replace(hour=0, minute=0, second=0, microsecond=0)
            return home.figures_text(await service.figures(today))
        return home.HELP

    return app


def events_route(app: AsyncApp, signing_secret: str) -> web.RouteDef:
    """`POST /slack/events`: checked at the door (see `edge`), then Bolt."""

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
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
