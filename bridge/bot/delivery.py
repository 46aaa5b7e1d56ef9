"""What the bot's two doors out (the webhook and Botpress's) share: one event per outbox
row, POSTed with a timeout; any 2xx is done and anything else is retried (the contract:
until the bot answers 2xx); the agent's reply gets its receipt once the bot has it, or a
warning once it never will."""

from __future__ import annotations

from typing import Any

import aiohttp
from pydantic import ValidationError

from bridge.events import Target, parse_event
from bridge.outbox import Fail, Retry
from bridge.service import Service
from bridge.store import OutboxRow

TIMEOUT = aiohttp.ClientTimeout(total=15)


class EventSender:
    """An outbox sender of events to `target`; subclasses say how one is sent (`send`)."""

    target: Target

    def __init__(self, service: Service, session: aiohttp.ClientSession) -> None:
        self._service = service
        self._session = session

    async def hold(self, row: OutboxRow) -> float:
        return 0.0

    async def delivered(self, row: OutboxRow) -> None:
        await self._receipt(row, None)

    async def failed(self, row: OutboxRow, reason: Fail) -> None:
        await self._receipt(row, str(reason))

    async def _receipt(self, row: OutboxRow, failure: str | None) -> None:
        if row.payload.get("type") != "message" or (
            failure is None and not self._service.deliveries.receipts
        ):
            return  # nothing to mark: spare reading the event
        try:
            event = parse_event(row.payload)
        except ValidationError:
            return  # an event this bridge does not know: no agent's reply to mark
        await self._service.deliveries.receipt(event, self.target, failure)

    async def _post(self, url: str, who: str, **request: Any) -> None:
        """POST to `url`; `Retry` unless the answer is a 2xx. `who` names the receiver."""
        try:
            async with self._session.post(url, timeout=TIMEOUT, **request) as resp:
                if not 200 <= resp.status < 300:
                    raise Retry(f"{who} answered HTTP {resp.status}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise Retry(f"{who} is unreachable ({type(exc).__name__})") from None
