"""What time does: time-outs, reminders, nudges, and forgetting what is old. The clocks are
in the database, so a restart keeps them; the server only looks at them often enough."""

from __future__ import annotations

from datetime import timedelta

from bridge.events import Nudge, Reminder
from bridge.model import StopReason
from bridge.service.core import Core
from bridge.service.work import Work


class Timers:
    def __init__(self, core: Core) -> None:
        self._core = core

    async def expire_waiting(self, older_than: timedelta, limit: int = 100) -> int:
        """Stop conversations nobody claimed in time (`hitlStopped` reason `timeout`)."""
        cutoff = self._core.clock() - older_than

        def expire(w: Work) -> int:
            expired = w.tx.waiting_since_before(cutoff, limit)
            for conv in expired:
                w.stop(conv, StopReason.TIMEOUT, by=None)
            return len(expired)

        return await self._core.write(expire)

    async def remind(self, every: float, most: int, limit: int = 100) -> int:
        """Post the reminders owed to conversations nobody has claimed."""
        now = self._core.clock()

        def remind(w: Work) -> int:
            due = w.tx.due_reminders(now, every, limit, most)
            for conv in due:
                w.tx.count_reminder(conv.id)
                waited = (now - (conv.waiting_since or conv.created_at)).total_seconds()
                w.to_slack(conv, Reminder(waited=int(waited)))
            return len(due)

        return await self._core.write(remind)

    async def nudge_idle(self, after: timedelta, limit: int = 100) -> int:
        """Nudge assignees who have said nothing for `after` since they claimed or replied."""
        before = self._core.clock() - after

        def nudge(w: Work) -> int:
            idle = w.tx.idle_assigned(before, limit)
            for conv in idle:
                assignee = w.tx.user(conv.agent_id) if conv.agent_id else None
                w.tx.mark_nudged(conv.id)
                if assignee is not None and assignee.slack_user_id:
                    idle_for = int(after.total_seconds())
                    w.to_slack(conv, Nudge(user=assignee.slack_user_id, idle=idle_for))
            return len(idle)

        return await self._core.write(nudge)

    async def prune(self) -> None:
        """Forget old Slack event ids, idempotency keys and events (see `Tx.prune`)."""
        await self._core.write(lambda w: w.tx.prune(w.now()))
