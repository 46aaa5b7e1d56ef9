"""The Bolt app: thin listeners from Slack payloads to service calls.

`process_before_response=True` makes Bolt run each listener before it answers Slack, so an
ack means the work is committed (Bolt's default acks first and loses the event on a crash).
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bridge.model import Action, TextMessage, TextPayload
from bridge.service import Service
from bridge.slack import blocks
from bridge.slack.directory import Directory
from bridge.slack.text import mentioned_users, to_plain

log = logging.getLogger(__name__)

# Human messages: none, a reply also sent to the channel, or one with files.
HUMAN_SUBTYPES = frozenset({None, "thread_broadcast", "file_share"})


def build_app(
    service: Service,
    client: AsyncWebClient,
    directory: Directory,
    signing_secret: str | None,
) -> AsyncApp:
    app = AsyncApp(
        name="hitl-bridge",
        client=client,
        signing_secret=signing_secret,
        # Socket Mode has no signatures; HTTP mode always checks them.
        request_verification_enabled=signing_secret is not None,
        process_before_response=True,
    )

    @app.event("message")
    async def on_message(event: dict[str, Any], body: dict[str, Any]) -> None:
        # Bolt already dropped the bridge's own messages (IgnoringSelfEvents).
        thread_ts = event.get("thread_ts")
        if (
            event.get("subtype") not in HUMAN_SUBTYPES
            or event.get("bot_id")
            or not event.get("user")
            or not thread_ts
            or thread_ts == event.get("ts")
        ):
            return  # edits, deletions, other bots, top-level chatter: not agent replies
        raw = event.get("text") or ""
        names = await directory.names(mentioned_users(raw))
        text = to_plain(raw, names).strip()
        if not text:
            log.info("ignoring a reply with no text (files are not relayed yet)")
            return
        outcome = await service.agent_reply(
            event_id=body.get("event_id"),
            channel=event["channel"],
            thread_ts=thread_ts,
            ts=event["ts"],
            agent=await directory.profile(event["user"]),
            content=TextMessage(type="text", payload=TextPayload(text=text[:40000])),
        )
        if outcome.ignored:
            log.debug("reply not relayed: %s", outcome.ignored)

    async def on_button(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        outcome = await service.act(
            Action(action["action_id"]),
            str(action.get("value") or ""),
            await directory.profile(body["user"]["id"]),
        )
        if outcome.ignored:
            log.info("button changed nothing: %s", outcome.ignored)

    for action_id in (blocks.ACTION_CLAIM, blocks.ACTION_RELEASE, blocks.ACTION_RESOLVE):
        app.action(action_id)(on_button)

    return app


def events_route(app: AsyncApp) -> web.RouteDef:
    """`POST /slack/events`: Bolt behind an ordinary aiohttp route."""

    async def handle(request: web.Request) -> web.Response:
        response = await app.async_dispatch(await to_bolt_request(request))
        if response.status == 404:
            # A signed request no listener wants (an event we do not use): still a 2xx, or
            # Slack retries it and may disable the app.
            return web.Response(status=200)
        return await to_aiohttp_response(response)

    return web.post("/slack/events", handle)
