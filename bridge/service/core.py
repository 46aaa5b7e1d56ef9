"""What every part of the service shares: the store, the clock, how this bridge is set up,
and the one way a change is made: a transaction, then the drainers woken for what it queued.

A transaction is a function run whole on the database's thread (`Store.write`): it must not
touch the event loop, nor say anything that may not happen (it can be undone, or run again
with a batch), so the pulses fire and its log lines are written after it is committed, here
and only here.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from bridge.events import Target
from bridge.metrics import Metrics
from bridge.pulse import Pulse
from bridge.service.work import Policy, Work
from bridge.store import Store, Tx

T = TypeVar("T")

# Words of `Tx.announce` besides the outbox's targets.
EVENTS = "events"  # new events for `GET /v1/events`


class Core:
    def __init__(
        self, store: Store, policy: Policy, metrics: Metrics, clock: Callable[[], datetime]
    ) -> None:
        self.store = store
        self.policy = policy
        self.metrics = metrics
        self.clock = clock
        slack = Pulse()  # one wake-up for both of Slack's lines
        self.outbox_pulse = {
            Target.SLACK: slack,
            Target.SLACK_ASIDE: slack,
            Target.SLACK_IN: Pulse(),
            Target.BOT: Pulse(),
            Target.BOTPRESS: Pulse(),
        }
        self.events_pulse = Pulse()  # GET /v1/events long-polls
        self.changed = Pulse()  # any change at all (App Home redraws)
        # What the words other instances announce wake (`hear`): a pulse, or for a word
        # `name:argument`, what was registered under `name`.
        self._pulses = {str(t): p for t, p in self.outbox_pulse.items()}
        self._pulses[EVENTS] = self.events_pulse
        self.handlers: dict[str, Callable[[str], None]] = {}

    async def write(self, body: Callable[[Work], T]) -> T:
        """Run `body` as one transaction; once it is committed, wake whoever has new work,
        here and (through the store) on the other instances sharing the database."""

        def run(tx: Tx) -> tuple[T, Work]:
            work = Work(tx, self.policy, self.clock)
            result = body(work)
            # Only what others must act on: each NOTIFY holds PostgreSQL's commits in line
            # behind it. (What changed and queued nothing, App Home sees at the next that
            # does: `hear` takes any word as a change.)
            if work.queued or work.evented:
                tx.announce([*work.queued, EVENTS] if work.evented else [*work.queued])
            return result, work

        # The store's observers see whose transaction it is (`functools.wraps` costs more).
        run.__qualname__ = body.__qualname__
        result, work = await self.store.write(run)
        for target in work.queued:
            self.outbox_pulse[target].fire()
        if work.evented:
            self.events_pulse.fire()
        self.changed.fire()
        for line in work.logs:
            line()
        return result

    async def read(self, body: Callable[[Tx], T]) -> T:
        return await self.store.read(body)

    def hear(self, words: list[str] | None) -> None:
        """What another instance committed: wake whoever has work in it (None: it may be
        anything)."""
        for word in self._pulses if words is None else words:
            pulse = self._pulses.get(word)
            if pulse is not None:
                pulse.fire()
                continue
            name, _, argument = word.partition(":")
            if (handler := self.handlers.get(name)) is not None:
                handler(argument)
        self.changed.fire()

    async def announce(self, words: list[str]) -> None:
        """Tell the other instances sharing the database, if any."""
        if self.store.shared:
            await self.store.write(lambda tx: tx.announce(words))
