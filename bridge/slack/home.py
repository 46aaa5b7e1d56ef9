"""The App Home tab kept up to date: each agent's tab is drawn (`queue.home_view`) and
published when they open it, and again as conversations change, within Slack's limits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import UTC, datetime

from bridge.model import Status
from bridge.outbox import Defer, Retry
from bridge.pulse import Pulse
from bridge.service import Service
from bridge.slack.queue import HOME_APPROVALS, HOME_MINE, HOME_WAITING, home_view
from bridge.slack.webapi import Refused, WebApi
from bridge.store import Unavailable

log = logging.getLogger(__name__)

# The word other instances hear when an agent opens their tab here (`Service.announce`).
OPENED = "home-opened"
# How often an instance that does not lead looks whether it does now.
LOOK_AGAIN = 5.0
# The least time between two publishes of one agent's tab as conversations change (a
# module constant, read at construction, so a test can wait less).
EVERY = 5.0


class AppHome:
    """Publishes each agent's Home tab when they open it, and again when conversations
    change, for those who opened it in the last hour (at most every `EVERY` seconds). Of
    several instances sharing a database, the one that leads publishes (`Store.leads`).

    Publishing happens here, never in a listener (Slack wants its answer first). Each agent's
    tab is published at most once at a time and drawn when it goes out, so the latest view
    wins; `views.publish` keeps to its tier, and a 429 waits out `Retry-After`."""

    def __init__(self, service: Service, api: WebApi) -> None:
        self._service = service
        self._api = api
        self._every = EVERY
        self._viewers: dict[str, float] = {}  # Slack user id -> when they last opened it
        self._due: dict[str, float] = {}  # Slack user id -> when their tab is to go out
        self._published: dict[str, float] = {}  # Slack user id -> when it last went out
        self._wake = Pulse()

        # An agent who opens their tab through another instance is a viewer here too, so
        # the instance that leads (the one that publishes) knows them, whichever it is.
        service.handlers[OPENED] = self._opened

    async def opened(self, user: str) -> None:
        """`user` opened their tab (here): due at once, wherever it is published."""
        self._opened(user)
        with contextlib.suppress(Unavailable):  # the others learn of them at the next open
            await self._service.announce([f"{OPENED}:{user}"])

    def _opened(self, user: str) -> None:
        now = time.monotonic()
        self._viewers[user] = now
        self._due[user] = now
        self._wake.fire()

    async def publish(self, user: str) -> None:
        """Draw `user`'s tab as things are now and publish it; `Retry`, `Defer` or `Refused`
        when Slack does not take it."""
        now = datetime.now(UTC)
        waiting = await self._service.overview.queue(Status.WAITING, limit=HOME_WAITING)
        mine = await self._service.overview.queue(
            Status.ASSIGNED, slack_user_id=user, limit=HOME_MINE
        )
        today = now.replace(hour=0, minute=0, second=0, microsecond=0)
        figures = await self._service.overview.figures(today)
        asked = await self._service.overview.approvals(HOME_APPROVALS)
        totals = (waiting.total, mine.total)
        view = home_view(waiting.items, mine.items, figures, now, totals, asked)
        await self._api.call("views.publish", user_id=user, view=view)

    async def run(self) -> None:
        async with asyncio.TaskGroup() as group:  # one fails: the other ends with it
            group.create_task(self._follow_changes())
            group.create_task(self._publish_due())

    async def _follow_changes(self) -> None:
        """After any change, each recent viewer's tab is due, no sooner than a period after
        their last."""
        pulse = self._service.changed
        seen = pulse.count
        while True:
            await pulse.wait(seen, None)
            seen = pulse.count
            now = time.monotonic()
            self._viewers = {u: at for u, at in self._viewers.items() if at >= now - 3600}
            self._published = {u: at for u, at in self._published.items() if u in self._viewers}
            for user in self._viewers:
                again = self._published.get(user, -self._every) + self._every
                self._due.setdefault(user, max(now, again))
            if self._viewers:
                self._wake.fire()
                await asyncio.sleep(self._every)  # bursts of changes: one round per period

    async def _publish_due(self) -> None:
        """Publish the tabs that are due, if this instance leads; else look again later
        (it may lead by then)."""
        while True:
            seen = self._wake.count
            if not self._service.store.leads:
                await self._wake.wait(seen, LOOK_AGAIN)
                continue
            now = time.monotonic()
            for user in [u for u, at in self._due.items() if at <= now]:
                # First: a change while it is drawn makes it due again, a period after.
                del self._due[user]
                self._published[user] = now
                try:
                    await self.publish(user)
                except Defer as exc:  # its tier is spent, or Slack said 429: wait, then go on
                    self._due[user] = time.monotonic() + exc.after
                except Unavailable:  # the database: its tab waits for it
                    self._due[user] = time.monotonic() + self._every
                except (Retry, Refused) as exc:
                    log.warning("views.publish for %s failed: %s", user, exc)
            later = min(self._due.values(), default=None)
            await self._wake.wait(seen, None if later is None else max(later - now, 0.01))
