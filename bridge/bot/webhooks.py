"""Delivers events to the bot's webhook, signed per Standard Webhooks."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import aiohttp
from standardwebhooks.webhooks import Webhook

from bridge.outbox import Fail, Retry
from bridge.service import BOT, Service
from bridge.store import OutboxRow

log = logging.getLogger(__name__)


class WebhookSender:
    """The outbox sender for target `bot`: one POST per event, any 2xx is success."""

    def __init__(
        self, service: Service, url: str, secrets: list[str], session: aiohttp.ClientSession
    ) -> None:
        """Each of `secrets` signs every delivery (space-separated signatures, as Standard
        Webhooks allows), so the bot can move to a new key without a gap."""
        self._service = service
        self._url = url
        self._signers = [Webhook(secret) for secret in secrets]
        self._session = session

    def hold(self, row: OutboxRow) -> float:
        return 0.0

    async def delivered(self, row: OutboxRow) -> None:
        await self._service.receipt(row.payload, BOT, None)

    async def failed(self, row: OutboxRow, reason: Fail) -> None:
        await self._service.receipt(row.payload, BOT, str(reason))

    async def send(self, row: OutboxRow) -> None:
        event = row.payload
        body = json.dumps(event, separators=(",", ":"), ensure_ascii=False)
        now = datetime.now(UTC)
        headers = {
            "content-type": "application/json",
            "webhook-id": event["id"],
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": " ".join(s.sign(event["id"], now, body) for s in self._signers),
        }
        try:
            async with self._session.post(
                self._url,
                data=body.encode(),
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=15),
            ) as resp:
                if 200 <= resp.status < 300:
                    return
                raise Retry(f"the bot's webhook answered HTTP {resp.status}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise Retry(f"the bot's webhook is unreachable ({type(exc).__name__})") from None
