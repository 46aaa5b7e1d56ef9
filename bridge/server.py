"""Wiring: the aiohttp server, the Bolt app, the outbox drainers and the timers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
from collections.abc import Awaitable, Callable
from datetime import timedelta
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_sdk.web.async_client import AsyncWebClient

from bridge import media
from bridge.bot.api import BotApi
from bridge.bot.botpress import BotpressApi, BotpressSender
from bridge.bot.webhooks import WebhookSender
from bridge.config import Settings
from bridge.connections import Guard, GuardedSite, Limits
from bridge.events import Target
from bridge.model import utcnow
from bridge.outbox import Drainer, Sender
from bridge.service import Policy, Service
from bridge.slack import preflight
from bridge.slack.app import build_app, events_route
from bridge.slack.directory import Directory
from bridge.slack.files import FileLinks
from bridge.slack.home import AppHome
from bridge.slack.intake import Intake
from bridge.slack.pacing import Pacer, PacingFor, SharedPacer
from bridge.slack.sender import SlackSender
from bridge.slack.webapi import TIMEOUT, WebApi
from bridge.startup import SETTINGS, StartupError, listen_problem, open_postgres, open_store
from bridge.store import Store, Unavailable
from bridge.throttle import Throttle

log = logging.getLogger(__name__)

SHUTDOWN_GRACE = 10.0
# The longest the approval timers sleep: a backstop, since they are told of new requests.
MAX_APPROVAL_WAIT = 60.0


class Bridge:
    """One running bridge. `start()` serves and drains; `stop()` shuts down cleanly."""

    def __init__(
        self, settings: Settings, *, port: int | None = None, limits: Limits | None = None
    ) -> None:
        self.settings = settings
        self._port = settings.port if port is None else port
        self._limits = Limits() if limits is None else limits
        self._closing = asyncio.Event()
        self._ready = False
        self._tasks: list[asyncio.Task[None]] = []
        self._drainers: list[Drainer] = []
        self._runner: web.AppRunner | None = None
        self._socket: AsyncSocketModeHandler | None = None
        self._sessions: list[aiohttp.ClientSession] = []
        self._store: Store | None = None
        self.url = ""

    async def start(self, *, check_slack: bool = False) -> None:
        """Open the database and listen (`/healthz` answers 503 for now); with
        `check_slack`, wait until Slack vouches for the token and the channels; then deliver
        and answer 200. A start that cannot succeed raises `StartupError`, having closed
        whatever it had opened."""
        try:
            await self._start(check_slack)
        except BaseException:
            await self._shut(grace=0)
            raise

    async def _start(self, check_slack: bool) -> None:
        s = self.settings
        if s.postgres_url:
            self._store = store = await open_postgres(s.postgres_url)
        else:
            self._store = store = await open_store(s.database_path, s.sqlite_synchronous)
        policy = Policy(
            channel_for=s.channel_for,
            webhooks=s.webhook_url is not None,
            botpress=s.botpress_webhook_url is not None,
            assignee_closes=s.close_by == "assignee",
            receipts=bool(s.receipt_reaction),
            persona=s.persona,
            relay_corrections=s.relay_corrections,
            approval_timeout=s.approval_timeout,
        )
        service = Service(store, policy)
        self.service = service
        slack_session = self._session()
        token = s.slack_bot_token.get_secret_value()
        # One session for every call: slack_sdk would otherwise open a connection per call.
        client = AsyncWebClient(token=token, base_url=s.slack_api_url, session=slack_session)
        web_api = WebApi(
            client,
            _pacing(store),
            rate=s.slack_rate,
            burst=s.slack_burst,
            tiers=s.slack_tiers,
            on_ratelimited=lambda method, channel: service.metrics.ratelimited.labels(
                method, channel
            ).inc(),
        )
        directory = Directory(web_api, agent_usergroup=s.agent_usergroup)
        signing = s.slack_signing_secret.get_secret_value() if s.slack_signing_secret else None
        home = AppHome(service, web_api)
        files = FileLinks(
            await service.secret("file-links"),
            s.base_url,
            token,
            slack_session,
            slack_hosts={"files.slack.com", urlsplit(s.slack_api_url).netloc},
        )
        intake = Intake(service, web_api, directory, files)
        bolt = build_app(service, client, directory, home, intake)
        api = BotApi(service, s.api_tokens, s.max_body, self._closing)

        guard = Guard(self._limits)
        # What anyone may ask without credentials, so what one client may not ask flat out.
        throttle = Throttle(
            ("/healthz", "/metrics", "/files/"),
            self._limits.anonymous_rate,
            self._limits.anonymous_burst,
        )
        app = web.Application(middlewares=[guard.middleware, throttle.middleware, api.middleware])
        app.add_routes(
            [
                web.get("/healthz", self._health),
                web.get("/metrics", self._metrics),
                files.route(),
                *api.routes(),
            ]
        )
        if signing is not None and not s.socket_mode:
            app.add_routes([events_route(bolt, signing, service, directory, intake)])
        if s.botpress_prefix is not None:
            app.add_routes(BotpressApi(service, s.botpress_prefix, s.max_body).routes())
        app.on_cleanup.extend((guard.cleanup, throttle.cleanup))
        self._runner = web.AppRunner(
            app,
            access_log=None,
            shutdown_timeout=SHUTDOWN_GRACE,
            keepalive_timeout=self._limits.keepalive,
        )
        await self._runner.setup()
        await self._listen(GuardedSite(self._runner, s.host, self._port, guard))
        sockets = self._runner.addresses
        self.url = f"http://{s.host}:{sockets[0][1]}" if sockets else s.base_url
        if s.public_url is None:
            files.base_url = self.url  # where it really listens (the port may have been 0)
        if check_slack:
            me = await self._ask_slack(client)
            directory.knows(me.team_id, me.app_id)  # so no request waits on auth.test

        uploads = None
        if s.upload_media:
            # Its own kind of session: the bridge's other calls may go to private hosts (the
            # bot's webhook); media may not.
            uploads = media.public_session(s.media_allow_networks)
            self._sessions.append(uploads)
        slack = SlackSender(
            service,
            web_api,
            combine=s.slack_combine,
            mention=s.mention,
            home_channel=s.channel,
            uploads=uploads,
            receipt=s.receipt_reaction,
        )
        senders: dict[Target, Sender] = {
            Target.SLACK: slack,
            Target.SLACK_ASIDE: slack,
            Target.SLACK_IN: intake,
        }
        if s.webhook_url:
            senders[Target.BOT] = WebhookSender(
                service, s.webhook_url, s.webhook_secrets, self._session()
            )
        if s.botpress_webhook_url:
            senders[Target.BOTPRESS] = BotpressSender(
                service, s.botpress_webhook_url, self._session()
            )
        # Who this instance is to the others sharing the database (none but itself uses a
        # SQLite one). Only one process at a time can listen here, and it keeps the port
        # until its deliveries are done (`_shut`): who took a lease under this name before
        # is gone. (Machines sharing a database need host names of their own: deploy.md.)
        holder = f"{socket.gethostname()} {urlsplit(self.url).netloc}" if store.shared else ""
        self._drainers = [
            Drainer(
                store,
                target,
                sender,
                service.outbox_pulse[target],
                retry_base=s.retry_base,
                retry_max=s.retry_max,
                max_attempts=s.delivery_max_attempts,
                max_age=s.delivery_max_age,
                metrics=service.metrics,
                load=slack.load if sender is slack else None,
                full=slack.full if sender is slack else None,
                holder=holder,
            )
            for target, sender in senders.items()
        ]
        self._tasks = [self._spawn(d.run, f"drain {i}") for i, d in enumerate(self._drainers)]
        if store.shared:
            self._tasks.append(self._spawn(lambda: store.follow(service.hear), "follow"))
        self._tasks.append(self._spawn(self._prune, "prune"))
        self._tasks.append(self._spawn(home.run, "app home"))
        if s.assign_timeout or s.remind_after or s.idle_reminder:
            self._tasks.append(self._spawn(self._timers, "timers"))
        self._tasks.append(self._spawn(self._approval_timers, "approval timers"))
        if s.socket_mode and s.slack_app_token:
            self._socket = AsyncSocketModeHandler(bolt, s.slack_app_token.get_secret_value())
            await self._socket.connect_async()  # type: ignore[no-untyped-call]
        self._ready = True
        log.info(
            "hitl-bridge serving on %s (%s)",
            self.url,
            "Socket Mode" if s.socket_mode else "HTTP mode, Slack at /slack/events",
        )

    async def _listen(self, site: web.BaseSite) -> None:
        try:
            await site.start()
        except OSError as exc:
            raise StartupError([listen_problem(self.settings.host, self._port, exc)]) from None

    async def _ask_slack(self, client: AsyncWebClient) -> preflight.Identity:
        """Wait for as long as Slack cannot be reached; `StartupError` (code 2) when it
        refuses the token or a channel."""
        s = self.settings
        app_token = s.slack_app_token.get_secret_value() if s.slack_app_token else None
        posts_in = preflight.channels(s.channel, s.queues)
        try:
            me = await preflight.until_answered(
                lambda: preflight.verify(client, posts_in, app_token=app_token, timeout=TIMEOUT)
            )
        except preflight.Refused as exc:
            raise StartupError(exc.problems, SETTINGS) from None
        for note in me.notes:
            log.warning("%s", note)
        log.info("Slack knows the token as @%s's, a member of every channel it posts in", me.name)
        return me

    async def stop(self) -> None:
        """Stop taking requests, let in-flight ones and deliveries finish (up to a grace
        period); whatever is left stays queued in the database."""
        if self._store is None:
            return  # never started (or its start failed and closed all), or stopped already
        await self._shut(SHUTDOWN_GRACE)
        log.info("hitl-bridge stopped")

    async def _shut(self, grace: float) -> None:
        """Close whatever is open: deliveries first (given `grace` seconds; `/healthz`
        answers 503 meanwhile), then requests, the connections out, and the database last."""
        self._ready = False
        self._closing.set()
        if self._runner is not None:  # so the service is there too
            self.service.events_pulse.fire()  # long-polls answer now, not at their timeout
        if self._socket is not None:
            await self._socket.close_async()  # type: ignore[no-untyped-call]
            self._socket = None
        # The deliveries first, while the port is still ours: a process started on it now
        # would take this one's leases for a dead predecessor's (`Drainer` holder).
        for drainer in self._drainers:
            await drainer.stop(grace)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._drainers, self._tasks = [], []
        for session in self._sessions:
            await session.close()
        self._sessions = []
        if self._store is not None:
            await self._store.close()
            self._store = None

    def _session(self) -> aiohttp.ClientSession:
        """A session for one party: each has its own pool of connections, so one that hangs
        cannot hold the connections another needs, and keeps no cookies."""
        session = aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar())
        self._sessions.append(session)
        return session

    async def _health(self, request: web.Request) -> web.Response:
        """503 while starting, stopping, or the database cannot take writes (a probe write
        tells when it can again, so this recovers with no other traffic)."""
        if not self._ready or self._closing.is_set():
            return web.json_response({"status": "unavailable"}, status=503)
        if not await self.service.store.takes_writes():
            body = {"status": "unavailable", "reason": "the database cannot take writes"}
            return web.json_response(body, status=503)
        return web.json_response({"status": "ok"})

    async def _metrics(self, request: web.Request) -> web.Response:
        await self.service.overview.refresh_metrics()
        return web.Response(body=self.service.metrics.render(), content_type="text/plain")

    def _spawn(self, run: Callable[[], Awaitable[None]], name: str) -> asyncio.Task[None]:
        async def guarded() -> None:
            while not self._closing.is_set():
                try:
                    await run()
                    return
                except asyncio.CancelledError:
                    raise
                except Unavailable:  # logged by the store, once per outage
                    await asyncio.sleep(1)
                except Exception:
                    log.exception("%s crashed; restarting it in 1 s", name)
                    await asyncio.sleep(1)

        return asyncio.create_task(guarded(), name=name)

    async def _timers(self) -> None:
        """Time-outs, reminders and nudges. Their clocks live in the database, so they
        survive restarts; this only looks at them often enough."""
        s = self.settings
        periods = [p for p in (s.assign_timeout, s.remind_after, s.idle_reminder) if p > 0]
        tick = min(min(periods) / 4, 5.0)
        while not self._closing.is_set():
            if s.assign_timeout:
                await self.service.timers.expire_waiting(timedelta(seconds=s.assign_timeout))
            if s.remind_after:
                await self.service.timers.remind(s.remind_after, s.remind_repeat)
            if s.idle_reminder:
                await self.service.timers.nudge_idle(timedelta(seconds=s.idle_reminder))
            await _sleep_unless(self._closing, tick)

    async def _approval_timers(self) -> None:
        """Approval requests' reminders and expiries: looked at when the next falls due, or
        when a new request comes (it may fall due sooner)."""
        approvals = self.service.approvals
        while not self._closing.is_set():
            seen = approvals.requested.count
            await approvals.remind()
            await approvals.expire()
            due = await approvals.next_due()
            wait = MAX_APPROVAL_WAIT
            if due is not None:
                wait = min(max((due - utcnow()).total_seconds(), 0.05), wait)
            await approvals.requested.wait(seen, wait)

    async def _prune(self) -> None:
        while not self._closing.is_set():
            await self.service.timers.prune()
            await _sleep_unless(self._closing, 3600)


def _pacing(store: Store) -> PacingFor:
    """Slack's budgets: in memory, unless other instances share the database (and so the
    budgets, which are Slack's for the whole app)."""
    if store.shared:
        return lambda name, rate, burst: SharedPacer(store, name, rate, burst)
    return lambda name, rate, burst: Pacer(rate, burst)


async def _sleep_unless(event: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), seconds)


async def serve(settings: Settings) -> None:
    """Run until SIGTERM or SIGINT (which also end a start still waiting for Slack). Raises
    `StartupError` when the start cannot succeed, having closed all it opened."""
    bridge = Bridge(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if not await _start_unless(bridge, stop):
        log.info("stopped before serving")
        return
    try:
        await stop.wait()
        log.info("shutting down")
    finally:
        await bridge.stop()


async def _start_unless(bridge: Bridge, stop: asyncio.Event) -> bool:
    """Start the bridge, checking Slack first; False when a signal came before it was done
    (the start is called off, and closes what it had opened)."""
    starting = asyncio.create_task(bridge.start(check_slack=True))
    signalled = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({starting, signalled}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        signalled.cancel()
    if not starting.done():
        starting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await starting
        return False
    starting.result()  # a start that failed raises here
    return True
