"""The core: the only code that changes state.

Each operation is one transaction that writes the new state together with the outbox rows
saying what must be told to Slack and to the bot (`core.Core.write`); nothing here talks to
either party. The service is split by who asks:

- `bot`: what the bot asks (`/v1`, Botpress's routes) and may read;
- `agents`: what agents do in Slack (kept at once by `intake`, handled after);
- `approvals`: drafts the bot asks a human to approve, edit or reject;
- `timers`: time-outs, reminders, nudges, pruning;
- `deliveries`: what the senders read for a delivery and report back;
- `overview`: what App Home and `/metrics` show.

The steps transactions are made of are `work.Work`'s.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from bridge.metrics import Metrics
from bridge.model import utcnow
from bridge.service.agents import AgentCommands, Outcome
from bridge.service.approvals import ApprovalCommands, Seen, Verdict
from bridge.service.bot import BotCommands
from bridge.service.core import Core
from bridge.service.deliveries import ApprovalView, Deliveries
from bridge.service.errors import Decided, Invalid, KeyTaken, NotFound, Stopped
from bridge.service.overview import Asked, Figures, Listed, Overview, Queued
from bridge.service.timers import Timers
from bridge.service.work import Idem, Policy
from bridge.store import Store

__all__ = [
    "ApprovalView",
    "Asked",
    "Decided",
    "Figures",
    "Idem",
    "Invalid",
    "KeyTaken",
    "Listed",
    "NotFound",
    "Outcome",
    "Policy",
    "Queued",
    "Seen",
    "Service",
    "Stopped",
    "Verdict",
]


class Service:
    """The core's parts over one store, with the pulses that wake the drainers and the
    `GET /v1/events` long-polls."""

    def __init__(
        self,
        store: Store,
        policy: Policy,
        *,
        metrics: Metrics | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        core = Core(store, policy, metrics or Metrics(), clock)
        self.store = store
        self.metrics = core.metrics
        self.outbox_pulse = core.outbox_pulse
        self.events_pulse = core.events_pulse
        self.changed = core.changed
        self.hear = core.hear
        self.announce = core.announce
        self.handlers = core.handlers
        self.bot = BotCommands(core)
        self.agents = AgentCommands(core)
        self.approvals = ApprovalCommands(core)
        self.timers = Timers(core)
        self.deliveries = Deliveries(core)
        self.overview = Overview(core)

    async def secret(self, name: str) -> bytes:
        """A random key of the bridge's own, made once and kept (e.g. for signing links)."""
        return await self.store.write(lambda tx: tx.secret(name))
