"""The Bolt app: its settings, middleware and error handler, and the door to it over HTTP.

`process_before_response=True` makes Bolt run each listener before it answers Slack, so an
ack means the work is committed (Bolt's default acks first and loses the event on a crash).
The listeners themselves are in `listeners`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from slack_bolt import BoltResponse
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_bolt.logger import get_bolt_logger
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.web.async_client import AsyncWebClient

from bridge.outbox import Defer, Retry
from bridge.service import Service
from bridge.slack import edge, listeners
from bridge.slack.directory import Directory
from bridge.slack.home import AppHome
from bridge.slack.intake import Intake
from bridge.slack.webapi import Refused
from bridge.store import Unavailable

log = logging.getLogger(__name__)

Next = Callable[[], Awaitable[None]]


class _GivenClient(logging.Filter):
    """Bolt warns that its token "will be unused" whenever `SLACK_BOT_TOKEN` is in the
    environment and a client is given, as the bridge gives one on purpose (its own session
    and timeouts): that one line is dropped, every other warning kept."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != warning_client_prioritized_and_token_skipped()


_given_client = _GivenClient()


def build_app(
    service: Service,
    client: AsyncWebClient,
    directory: Directory,
    app_home: AppHome,
    intake: Intake,
) -> AsyncApp:
    get_bolt_logger(AsyncApp).addFilter(_given_client)  # again: a no-op
    app = AsyncApp(
        name="hitl-bridge",
        client=client,
        # Requests reach Bolt through `events_route`, which has checked the signature on the
        # raw bytes already, or over Socket Mode, which has none: no need to check twice.
        request_verification_enabled=False,
        process_before_response=True,
    )
    app.error(on_error)

    async def provide(context: AsyncBoltContext, next: Next) -> None:
        """What middleware and listeners name as arguments beyond Bolt's own: Bolt passes
        a context's keys by name."""
        context["service"] = service
        context["app_home"] = app_home
        context["directory"] = directory
        context["intake"] = intake
        await next()

    app.middleware(provide)
    app.middleware(only_our_app)  # after `provide`: it needs `directory`
    listeners.register(app)
    return app


async def on_error(error: Exception, logger: logging.Logger) -> BoltResponse | None:
    """What the database cannot take now is answered 503, not acknowledged, so Slack sends
    it again later (over HTTP and Socket Mode alike; the store logs the outage once, not per
    request). Anything else gets Bolt's own answer (500)."""
    if isinstance(error, Unavailable):
        return BoltResponse(status=503, body="", headers={"Retry-After": str(error.retry_after)})
    logger.exception(f"Failed to run listener function (error: {error})")
    return None


async def only_our_app(
    body: dict[str, Any], context: AsyncBoltContext, next: Next, directory: Directory
) -> BoltResponse | None:
    """Acknowledge but ignore requests meant for another workspace or app (the same signing
    secret, or an app installed in several workspaces, can bring them), over HTTP and Socket
    Mode alike."""
    enterprise = bool(context.enterprise_id and context.is_enterprise_install)
    if not await _ours(directory, context.team_id, body.get("api_app_id"), enterprise):
        return BoltResponse(status=200, body="")
    await next()
    return None


async def _ours(directory: Directory, their_team: Any, their_app: Any, enterprise: bool) -> bool:
    """Whether a request is for this workspace and app, as far as Slack says who we are."""
    try:
        team, app_id = await directory.identity()
    except (Retry, Defer, Refused) as exc:
        # Slack cannot say who we are right now: let it through rather than drop it.
        log.warning("auth.test failed (%s); not checking the request's workspace", exc)
        return True
    if enterprise:
        their_team = team  # an org-wide install spans the org's workspaces
    if (their_team and team and their_team != team) or (
        their_app and app_id and their_app != app_id
    ):
        log.info("ignoring a request for team %s / app %s", their_team, their_app)
        return False
    return True


def events_route(
    app: AsyncApp, signing_secret: str, service: Service, directory: Directory, intake: Intake
) -> web.RouteDef:
    """`POST /slack/events`: checked at the door (see `edge`), then Bolt; but an agent's
    reply, most of what comes, goes straight to its listener's work (`_reply`), sparing
    Bolt's dispatch, which costs as much again as the rest of its handling."""

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
        assert payload is not None
        received = listeners.plain_reply(payload)
        if received is not None:
            return await _reply(payload, received, service, directory, intake)
        bolt_request = AsyncBoltRequest(
            body=body.decode(), query=request.query_string, headers=dict(request.headers)
        )
        response = await app.async_dispatch(bolt_request)
        if response.status == 404:
            return web.Response(status=200)  # signed but unwanted: still a 2xx
        return await to_aiohttp_response(response)

    return web.post("/slack/events", handle)


async def _reply(
    envelope: dict[str, Any],
    received: listeners.Received,
    service: Service,
    directory: Directory,
    intake: Intake,
) -> web.Response:
    """What Bolt would do with an agent's reply, answered as Bolt would: `only_our_app`,
    then `listeners.on_reply`'s work (Bolt's `IgnoringSelfEvents` has nothing to drop: a
    reply is no bot's message)."""
    enterprise = bool(envelope.get("enterprise_id") and envelope.get("is_enterprise_install"))
    if await _ours(directory, envelope.get("team_id"), envelope.get("api_app_id"), enterprise):
        try:
            await listeners.handle_reply(service, intake, received, listeners.event_id(envelope))
        except Unavailable as exc:
            return web.Response(status=503, headers={"Retry-After": str(exc.retry_after)})
    return web.Response(status=200)
