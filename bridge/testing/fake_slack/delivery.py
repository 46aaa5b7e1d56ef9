"""What Slack sends the app: over a Socket Mode connection while one is open, else POSTed to
``events_url`` signed with the signing secret exactly as Slack signs it; and the echoes of
the app's own actions, sent in the background."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import time
from urllib.parse import parse_qs

from aiohttp import ClientError, ClientSession, ClientTimeout

from bridge.testing.fake_slack.events import envelope, message_event
from bridge.testing.fake_slack.models import JSON, Message
from bridge.testing.fake_slack.socket_mode import SocketMode
from bridge.testing.fake_slack.workspace import Workspace

log = logging.getLogger(__name__)


class Delivery:
    """Sends events, interactivity payloads and slash commands to the app, and records
    each one's outcome in ``delivered``."""

    def __init__(self, ws: Workspace, socket_mode: SocketMode) -> None:
        self._ws = ws
        self._socket_mode = socket_mode
        self.events_url: str | None = None
        # Slack gives up on a delivery after 3 s; a looser default keeps slow CI green.
        self.timeout = 10.0
        self.delivered: list[tuple[int, JSON]] = []  # (HTTP status, 0 if failed; payload)
        self._session: ClientSession | None = None
        self._echo_task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Open the HTTP client and start sending echoes."""
        self._session = ClientSession(timeout=ClientTimeout(total=self.timeout))
        self._echo_task = asyncio.create_task(self._deliver_echoes())

    async def stop(self) -> None:
        """Stop; echoes not sent yet are dropped."""
        if self._echo_task is not None:
            self._echo_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._echo_task
            self._echo_task = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def active(self) -> bool:
        """Whether the app listens: an ``events_url``, or Socket Mode."""
        return self.events_url is not None or self._socket_mode.in_use

    async def send_event(
        self,
        event: JSON,
        *,
        event_id: str | None = None,
        retry_num: int | None = None,
        retry_reason: str = "http_timeout",
    ) -> int:
        """Deliver ``event`` in an ``event_callback`` envelope; returns the HTTP status."""
        wrapped = envelope(self._ws, event, event_id)
        headers: dict[str, str] = {}
        retry = (0, "")
        if retry_num is not None:
            headers["X-Slack-Retry-Num"] = str(retry_num)
            headers["X-Slack-Retry-Reason"] = retry_reason
            retry = (retry_num, retry_reason)
        body = json.dumps(wrapped).encode()
        status, _ = await self.deliver(
            "events_api", wrapped, body, "application/json", headers=headers, retry=retry
        )
        return status

    async def send_message(self, msg: Message) -> None:
        """Deliver the ``message`` event of ``msg``, if the app listens and is in its channel."""
        # Slack only sends message.channels events for channels the app is in.
        if self.active and self._ws.channels[msg.channel].member:
            await self.send_event(message_event(self._ws, msg))

    async def deliver(
        self,
        kind: str,
        payload: JSON,
        body: bytes,
        content_type: str,
        *,
        headers: dict[str, str] | None = None,
        retry: tuple[int, str] = (0, ""),
    ) -> tuple[int, bytes]:
        """Over the socket while one is connected, else POSTed to ``events_url``: the status
        (0 if it failed) and the body of the app's answer."""
        sock = self._socket_mode.current()
        if sock is None and self.events_url is None and self._socket_mode.in_use:
            # Between two connections (a reconnect): Slack holds the delivery for the app.
            sock = await self._socket_mode.wait_current(self.timeout)
            if sock is None:
                log.warning("no Socket Mode connection for a %s delivery", kind)
                self.delivered.append((0, payload))
                return 0, b""
        if sock is None:
            return await self.post(body, content_type, payload, headers=headers)
        status, reply = await self._socket_mode.send(sock, kind, payload, retry, self.timeout)
        self.delivered.append((status, payload))
        return status, reply

    async def post(
        self,
        body: bytes,
        content_type: str,
        record: JSON,
        *,
        timestamp: int | None = None,
        signature: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, bytes]:
        """POST ``body`` to ``events_url``, signed unless given a ``signature``; ``record``
        is what ``delivered`` keeps of it."""
        if self.events_url is None:
            raise RuntimeError("FakeSlack.events_url is not set and no Socket Mode app connected")
        if self._session is None:
            raise RuntimeError("FakeSlack is not started")
        ts = timestamp if timestamp is not None else int(time.time())
        sent = {
            "Content-Type": content_type,
            "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
            "X-Slack-Request-Timestamp": str(ts),
            "X-Slack-Signature": signature if signature is not None else self.signature(ts, body),
            **(headers or {}),
        }
        status, reply = 0, b""
        try:
            async with self._session.post(self.events_url, data=body, headers=sent) as resp:
                reply = await resp.read()
                status = resp.status
        except (ClientError, TimeoutError) as exc:
            log.warning("delivery to %s failed: %r", self.events_url, exc)
        self.delivered.append((status, record))
        return status, reply

    def signature(self, timestamp: int | str, body: bytes) -> str:
        """Slack's v0 signature of ``body`` sent at ``timestamp``."""
        base = b"v0:" + str(timestamp).encode() + b":" + body
        key = self._ws.signing_secret.encode()
        return f"v0={hmac.new(key, base, hashlib.sha256).hexdigest()}"

    async def flush(self, timeout: float) -> None:
        """Wait until every queued echo has been delivered."""
        await asyncio.wait_for(self._ws.echoes.join(), timeout)

    async def _deliver_echoes(self) -> None:
        while True:
            event = await self._ws.echoes.get()
            try:
                if self.active and self._bot_in(event.get("channel")):
                    await self.send_event(event)
            except Exception:  # a background task must not die on one bad delivery
                log.exception("echo delivery failed")
            finally:
                self._ws.echoes.task_done()

    def _bot_in(self, channel: object) -> bool:
        found = self._ws.channels.get(channel) if isinstance(channel, str) else None
        return found is None or found.member


def parse_body(body: bytes) -> JSON:
    """Best-effort reading of a raw delivery body, for the ``delivered`` record."""
    text = body.decode(errors="replace")
    parsed: object = None
    with contextlib.suppress(ValueError):
        parsed = json.loads(text)
    if parsed is None:
        with contextlib.suppress(ValueError, KeyError):
            parsed = json.loads(parse_qs(text)["payload"][0])
    return parsed if isinstance(parsed, dict) else {"raw": text}
