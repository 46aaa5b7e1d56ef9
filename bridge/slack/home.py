"""The queue as agents look at it: the App Home tab and the `/hitl` command's answers.

The functions draw (pure, like `blocks`); `AppHome` keeps the tabs of agents who looked at
it lately up to date as conversations change, within Slack's limits.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from bridge.model import Priority, Status
from bridge.outbox import Defer, Retry
from bridge.pulse import Pulse
from bridge.service import SLACK, Figures, Queued, Service
from bridge.slack.blocks import (
    ACTION_CLAIM,
    DEFAULT_TITLE,
    MAX_HEADER_TEXT,
    MAX_SECTION_TEXT,
    truncate_mrkdwn,
    truncate_plain,
)
from bridge.slack.text import escape, link
from bridge.slack.webapi import Refused, WebApi

log = logging.getLogger(__name__)

HELP = (
    "*`/hitl`* — the open queue, oldest first\n"
    "*`/hitl mine`* — the conversations you have\n"
    "*`/hitl stats`* — today's handoffs and how fast they were answered\n"
    "*`/hitl help`* — this help\n"
    "Claim, answer and resolve in each conversation's thread."
)
_PRIORITY = {Priority.URGENT: ":red_circle: ", Priority.HIGH: ":large_orange_circle: "}
MAX_VIEW_BLOCKS = 100  # a Home tab's limit
MAX_MESSAGE_TEXT = 40_000  # Slack truncates a message's text past this
# How many conversations each list shows: the Home tab stays far within its blocks, a
# `/hitl` answer readable (each line is at most about 1,500 characters, see `line`).
HOME_WAITING = 30
HOME_MINE = 10
ANSWER_LINES = 20
_NAME_CHARS = 100


def duration(seconds: float) -> str:
    """`45s`, `12m`, `3h 5m`, `2d 4h`: how long, at a glance."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, hours = seconds // 60, seconds // 3600
    if hours == 0:
        return f"{minutes}m"
    if hours < 24:
        return f"{hours}h {minutes % 60}m"
    return f"{hours // 24}d {hours % 24}h"


def line(item: Queued, now: datetime) -> str:
    """One conversation: priority, title (a link to its thread), who, how long; within a
    section's limit. The title and name are cut before they are escaped (which can make them
    five times longer), so no cut lands inside an entity or the link."""
    conv = item.conversation
    name = truncate_plain(" ".join((conv.title or "").split()) or DEFAULT_TITLE, MAX_HEADER_TEXT)
    title = link(conv.permalink, name) if conv.permalink else escape(name)
    who = escape(truncate_plain(item.user.name, _NAME_CHARS)) if item.user else None
    since = conv.waiting_since or conv.created_at
    prefix = _PRIORITY.get(conv.priority, "") if conv.priority else ""
    text = f"{prefix}*{title}* · {who or '_unknown end user_'} · "
    return truncate_mrkdwn(text + duration((now - since).total_seconds()), MAX_SECTION_TEXT)


def figures_text(figures: Figures) -> str:
    def median(value: float | None) -> str:
        return duration(value) if value is not None else "—"

    return (
        f"*Today*: {figures.handoffs} handoff{'s' if figures.handoffs != 1 else ''} · "
        f"median first reply {median(figures.first_reply)} · "
        f"median time to resolve {median(figures.resolve)}"
    )


def _more(shown: int, total: int) -> list[str]:
    return [f"_…and {total - shown} more_"] if total > shown else []


def queue_answer(title: str, items: Sequence[Queued], now: datetime, empty: str) -> str:
    """A `/hitl` answer: a heading and one line per conversation, the first `ANSWER_LINES`
    of them and how many more, within a message's text."""
    if not items:
        return f"*{title}*\n{empty}"
    lines = [f"• {line(item, now)}" for item in items[:ANSWER_LINES]]
    text = "\n".join([f"*{title}*", *lines, *_more(len(lines), len(items))])
    return truncate_mrkdwn(text, MAX_MESSAGE_TEXT)


def home_view(
    waiting: Sequence[Queued], mine: Sequence[Queued], figures: Figures, now: datetime
) -> dict[str, Any]:
    """The App Home tab: the waiting queue with Claim buttons (the first `HOME_WAITING`),
    the agent's own (the first `HOME_MINE`), today; within `MAX_VIEW_BLOCKS` blocks."""
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": "Handoff queue"}},
        _context(figures_text(figures)),
        _section(f"*Waiting* ({len(waiting)})"),
    ]
    for item in waiting[:HOME_WAITING]:
        block = _section(line(item, now))
        block["accessory"] = {
            "type": "button",
            "action_id": ACTION_CLAIM,
            "text": {"type": "plain_text", "text": "Claim"},
            "value": item.conversation.id,
        }
        blocks.append(block)
    blocks += [_context(more) for more in _more(HOME_WAITING, len(waiting))]
    if not waiting:
        blocks.append(_context("Nobody is waiting. :tada:"))
    blocks.append({"type": "divider"})
    blocks.append(_section(f"*Yours* ({len(mine)})"))
    blocks += [_context(line(item, now)) for item in mine[:HOME_MINE]]
    blocks += [_context(more) for more in _more(HOME_MINE, len(mine))]
    if not mine:
        blocks.append(_context("You have no conversation right now."))
    return {"type": "home", "blocks": blocks}


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text, "verbatim": True}}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text, "verbatim": True}]}


class AppHome:
    """Publishes each agent's Home tab when they open it, and again when conversations
    change, for those who opened it in the last hour (at most every `every` seconds).

    Publishing happens here, never in a listener (Slack wants its answer first). Each agent's
    tab is published at most once at a time and drawn when it goes out, so the latest view
    wins; `views.publish` keeps to its tier, and a 429 waits out `Retry-After`."""

    def __init__(self, service: Service, api: WebApi, every: float = 5.0) -> None:
        self._service = service
        self._api = api
        self._every = every
        self._viewers: dict[str, float] = {}  # Slack user id -> when they last opened it
        self._due: dict[str, float] = {}  # Slack user id -> when their tab is to go out
        self._wake = Pulse()

    def opened(self, user: str) -> None:
        now = time.monotonic()
        self._viewers[user] = now
        self._due[user] = now
        self._wake.fire()

    async def publish(self, user: str) -> None:
        """Draw `user`'s tab as things are now and publish it; `Retry`, `Defer` or `Refused`
        when Slack does not take it."""
        now = datetime.now(UTC)
        waiting = await self._service.queue(Status.WAITING, limit=30)
        mine = await self._service.queue(Status.ASSIGNED, slack_user_id=user, limit=10)
        today = now.replace(hour=0, minute=0, second=0, microsecond=0)
        view = home_view(waiting, mine, await self._service.figures(today), now)
        await self._api.call("views.publish", user_id=user, view=view)

    async def run(self) -> None:
        async with asyncio.TaskGroup() as group:  # one fails: the other ends with it
            group.create_task(self._follow_changes())
            group.create_task(self._publish_due())

    async def _follow_changes(self) -> None:
        """Every change queues something for Slack: then each recent viewer's tab is due,
        no sooner than a period after their last."""
        pulse = self._service.outbox_pulse[SLACK]
        seen = pulse.count
        while True:
            await pulse.wait(seen, None)
            seen = pulse.count
            now = time.monotonic()
            self._viewers = {u: at for u, at in self._viewers.items() if at >= now - 3600}
            for user in self._viewers:
                self._due.setdefault(user, now)
            if self._viewers:
                self._wake.fire()
                await asyncio.sleep(self._every)  # bursts of changes: one round per period

    async def _publish_due(self) -> None:
        while True:
            seen = self._wake.count
            now = time.monotonic()
            for user in [u for u, at in self._due.items() if at <= now]:
                del self._due[user]  # first: a change while it is drawn makes it due again
                try:
                    await self.publish(user)
                except Defer as exc:  # its tier is spent, or Slack said 429: wait, then go on
                    self._due[user] = time.monotonic() + exc.after
                except (Retry, Refused) as exc:
                    log.warning("views.publish for %s failed: %s", user, exc)
            later = min(self._due.values(), default=None)
            await self._wake.wait(seen, None if later is None else max(later - now, 0.01))
