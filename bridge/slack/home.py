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

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bridge.model import Priority, Status
from bridge.service import SLACK, Figures, Queued, Service
from bridge.slack.blocks import ACTION_CLAIM, MAX_BLOCKS
from bridge.slack.text import escape, link

log = logging.getLogger(__name__)

HELP = (
    "*`/hitl`* — the open queue, oldest first\n"
    "*`/hitl mine`* — the conversations you have\n"
    "*`/hitl stats`* — today's handoffs and how fast they were answered\n"
    "*`/hitl help`* — this help\n"
    "Claim, answer and resolve in each conversation's thread."
)
_PRIORITY = {Priority.URGENT: ":red_circle: ", Priority.HIGH: ":large_orange_circle: "}


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
    """One conversation: priority, title (a link to its thread), who, how long."""
    conv = item.conversation
    title = escape(conv.title or "Handoff request")
    if conv.permalink:
        title = link(conv.permalink, conv.title or "Handoff request")
    who = escape(item.user.name) if item.user else "_unknown end user_"
    since = conv.waiting_since or conv.created_at
    prefix = _PRIORITY.get(conv.priority, "") if conv.priority else ""
    return f"{prefix}*{title}* · {who} · {duration((now - since).total_seconds())}"


def figures_text(figures: Figures) -> str:
    def median(value: float | None) -> str:
        return duration(value) if value is not None else "—"

    return (
        f"*Today*: {figures.handoffs} handoff{'s' if figures.handoffs != 1 else ''} · "
        f"median first reply {median(figures.first_reply)} · "
        f"median time to resolve {median(figures.resolve)}"
    )


def queue_answer(title: str, items: Sequence[Queued], now: datetime, empty: str) -> str:
    """A `/hitl` answer: a heading and one line per conversation."""
    if not items:
        return f"*{title}*\n{empty}"
    return "\n".join([f"*{title}*", *(f"• {line(item, now)}" for item in items)])


def home_view(
    waiting: Sequence[Queued], mine: Sequence[Queued], figures: Figures, now: datetime
) -> dict[str, Any]:
    """The App Home tab: the waiting queue with Claim buttons, the agent's own, today."""
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": "Handoff queue"}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": figures_text(figures)}]},
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*Waiting* ({len(waiting)})"}},
    ]
    for item in list(waiting)[: MAX_BLOCKS - 20]:  # room for the rest (Slack allows 100)
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": line(item, now), "verbatim": True},
                "accessory": {
                    "type": "button",
                    "action_id": ACTION_CLAIM,
                    "text": {"type": "plain_text", "text": "Claim"},
                    "value": item.conversation.id,
                },
            }
        )
    if not waiting:
        blocks.append(_context("Nobody is waiting. :tada:"))
    blocks.append({"type": "divider"})
    blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": f"*Yours* ({len(mine)})"}})
    blocks += [_context(line(item, now)) for item in list(mine)[:10]]
    if not mine:
        blocks.append(_context("You have no conversation right now."))
    return {"type": "home", "blocks": blocks}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text, "verbatim": True}]}


class AppHome:
    """Publishes each agent's Home tab when they open it, and again when conversations
    change, for those who opened it in the last hour (at most every `every` seconds)."""

    def __init__(self, service: Service, client: AsyncWebClient, every: float = 5.0) -> None:
        self._service = service
        self._client = client
        self._every = every
        self._viewers: dict[str, float] = {}  # Slack user id -> when they last opened it

    async def opened(self, user: str) -> None:
        self._viewers[user] = time.monotonic()
        await self.publish(user)

    async def publish(self, user: str) -> None:
        now = datetime.now(UTC)
        waiting = await self._service.queue(Status.WAITING, limit=30)
        mine = await self._service.queue(Status.ASSIGNED, slack_user_id=user, limit=10)
        today = now.replace(hour=0, minute=0, second=0, microsecond=0)
        view = home_view(waiting, mine, await self._service.figures(today), now)
        try:
            await self._client.views_publish(user_id=user, view=view)
        except SlackApiError as exc:
            log.warning("views.publish for %s failed: %s", user, exc.response.get("error"))

    async def run(self) -> None:
        pulse = self._service.outbox_pulse[SLACK]  # every change queues something for Slack
        seen = pulse.count
        while True:
            await pulse.wait(seen, None)
            seen = pulse.count  # changes from here on bring another round
            cutoff = time.monotonic() - 3600
            self._viewers = {u: at for u, at in self._viewers.items() if at >= cutoff}
            for user in list(self._viewers):
                await self.publish(user)
            if self._viewers:
                await asyncio.sleep(self._every)  # bursts of changes: one round per period
