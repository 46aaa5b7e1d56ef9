"""Delivers events to the bot's webhook, signed per Standard Webhooks."""

from __future__ import annotations

from datetime import UTC, datetime

import aiohttp
from standardwebhooks.webhooks import Webhook

from bridge.bot.delivery import EventSender
from bridge.events import Target
from bridge.service import Service
from bridge.store import OutboxRow


class WebhookSender(EventSender):
    """The outbox sender for target `bot`: one signed POST per event."""

    target = Target.BOT

    def __init__(
        self, service: Service, url: str, secrets: list[str], session: aiohttp.ClientSession
    ) -> None:
        """Each of `secrets` signs every delivery (space-separated signatures, as Standard
        Webhooks allows), so the bot can move to a new key without a gap."""
        super().__init__(service, session)
        self._url = url
        self._signers = [Webhook(secret) for secret in secrets]

    async def send(self, row: OutboxRow) -> None:
        event_id, body = row.payload["id"], row.text  # the event as stored: sent as it is
        now = datetime.now(UTC)
        headers = {
            "content-type": "application/json",
            "webhook-id": event_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": " ".join(s.sign(event_id, now, body) for s in self._signers),
        }
        await self._post(self._url, "the bot's webhook", data=body.encode(), headers=headers)
