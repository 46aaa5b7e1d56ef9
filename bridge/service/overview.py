"""What App Home and `/metrics` show: the queues, today's figures, the outbox's depths."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from datetime import datetime

from bridge.events import Target
from bridge.model import Approval, Conversation, Status, User
from bridge.service.core import Core
from bridge.store import Tx


@dataclass(frozen=True, slots=True)
class Queued:
    """A conversation as a queue shows it."""

    conversation: Conversation
    user: User | None


@dataclass(frozen=True, slots=True)
class Listed:
    """The first conversations of a queue, and how many it holds in all."""

    items: list[Queued]
    total: int


@dataclass(frozen=True, slots=True)
class Asked:
    """The first approval requests still waiting for a decision, and how many wait in all."""

    items: list[Approval]
    total: int


@dataclass(frozen=True, slots=True)
class Figures:
    """Today's handoffs, and the median seconds to a first reply and to resolve them."""

    handoffs: int
    first_reply: float | None
    resolve: float | None


class Overview:
    def __init__(self, core: Core) -> None:
        self._core = core

    async def queue(
        self, status: Status = Status.WAITING, slack_user_id: str | None = None, limit: int = 20
    ) -> Listed:
        """Open conversations, the oldest `limit` of them: the waiting ones, or one
        agent's."""

        def read(tx: Tx) -> Listed:
            agent_id = None
            if slack_user_id is not None:
                agent = tx.agent_by_slack_id(slack_user_id)
                if agent is None:
                    return Listed([], 0)
                agent_id = agent.id
            found = tx.open_conversations(status, limit, agent_id)
            items = [Queued(c, tx.user(c.user_id) if c.user_id else None) for c in found]
            return Listed(items, tx.count_conversations(status, agent_id))

        return await self._core.read(read)

    async def approvals(self, limit: int = 20) -> Asked:
        """Approval requests waiting for a decision, the oldest `limit` of them."""
        return await self._core.read(
            lambda tx: Asked(tx.pending_approvals(limit), tx.count_pending_approvals())
        )

    async def figures(self, since: datetime) -> Figures:
        handoffs, firsts, resolves = await self._core.read(lambda tx: tx.day_figures(since))
        return Figures(
            handoffs,
            statistics.median(firsts) if firsts else None,
            statistics.median(resolves) if resolves else None,
        )

    async def refresh_metrics(self) -> None:
        """Bring the gauges read from the database up to date (before a scrape)."""
        m = self._core.metrics
        stats, counts, pending = await self._core.read(
            lambda tx: (tx.outbox_stats(), tx.conversation_counts(), tx.count_pending_approvals())
        )
        now = time.time()
        for target in Target:
            depth, oldest = stats.get((target, "pending"), (0, now))
            m.outbox_depth.labels(target).set(depth)
            m.outbox_oldest.labels(target).set(now - oldest)
            m.dead_letters.labels(target).set(stats.get((target, "failed"), (0, now))[0])
        for status in Status:
            m.conversations.labels(status.value).set(counts.get(status.value, 0))
        m.approvals_pending.set(pending)
