"""Socket Mode: the app calls ``apps.connections.open`` with its app-level token, connects
to the ``ws://`` URL it gets, and acknowledges each envelope sent over it by its
``envelope_id``."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from dataclasses import dataclass, field

from aiohttp import WSCloseCode, WSMsgType, web

from bridge.testing.fake_slack.models import JSON
from bridge.testing.fake_slack.workspace import Handler, Workspace
from bridge.testing.waiting import wait_until

log = logging.getLogger(__name__)

_DEBUG_INFO: JSON = {"host": "applink-fake-1"}


@dataclass(eq=False)
class Socket:
    """One Socket Mode connection; envelopes sent over it wait for their ack here."""

    ws: web.WebSocketResponse
    pending: dict[str, asyncio.Future[JSON | None]] = field(default_factory=dict)


def connections_open(ws: Workspace, p: JSON) -> JSON:
    """``apps.connections.open``: a URL to connect to, good for one connection."""
    ticket = uuid.uuid4().hex
    ws.tickets.add(ticket)
    return {"url": f"ws{ws.base_url.removeprefix('http')}/socket/{ticket}"}


METHODS: dict[str, Handler] = {"apps.connections.open": connections_open}


class SocketMode:
    """The app's Socket Mode connections, and the acks it sent over them."""

    def __init__(self, ws: Workspace) -> None:
        self._ws = ws
        self.acks: list[JSON] = []  # every ack frame the app sent, in order
        # An app has connected since start: from then on deliveries wait for a connection
        # (the app may be reconnecting) rather than go over HTTP.
        self.in_use = False
        self._sockets: list[Socket] = []  # open connections, oldest first

    @property
    def connected(self) -> bool:
        """True while a client is connected."""
        return self.current() is not None

    def current(self) -> Socket | None:
        """The connection deliveries go over now, if any."""
        # Slack picks one of the app's connections; the newest is as good as any.
        return next((s for s in reversed(self._sockets) if not s.ws.closed), None)

    async def wait_current(self, timeout: float) -> Socket | None:
        """The connection deliveries go over, waiting up to ``timeout`` for one."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while (sock := self.current()) is None and loop.time() < deadline:
            await asyncio.sleep(0.01)
        return sock

    async def wait_connected(self, timeout: float) -> None:
        """Wait until a client is connected (AssertionError after ``timeout``)."""

        def state() -> str:
            opened = sum(1 for name, _ in self._ws.calls if name == "apps.connections.open")
            return f"apps.connections.open called {opened} times; {len(self._sockets)} sockets"

        await wait_until(lambda: self.connected, timeout, state)

    async def send(
        self, sock: Socket, kind: str, payload: JSON, retry: tuple[int, str], timeout: float
    ) -> tuple[int, bytes]:
        """Send ``payload`` in an envelope and wait for its ack: the status (200, or 0 if not
        acked within ``timeout``) and the ack's response payload (JSON bytes, or empty)."""
        envelope_id = str(uuid.uuid4())
        frame: JSON = {
            "envelope_id": envelope_id,
            "payload": payload,
            "type": kind,
            "accepts_response_payload": _accepts_response_payload(kind, payload),
        }
        if kind == "events_api":
            frame["retry_attempt"], frame["retry_reason"] = retry
        ack: asyncio.Future[JSON | None] = asyncio.get_running_loop().create_future()
        sock.pending[envelope_id] = ack
        status, reply = 0, b""
        try:
            await sock.ws.send_json(frame)
            acked = await asyncio.wait_for(ack, timeout)
            status = 200 if acked is not None else 0
            response = (acked or {}).get("payload")
            reply = json.dumps(response).encode() if isinstance(response, dict) else b""
        except (ConnectionError, TimeoutError) as exc:
            log.warning("Socket Mode delivery of %s failed: %r", envelope_id, exc)
        finally:
            sock.pending.pop(envelope_id, None)
        return status, reply

    async def disconnect(self, reason: str, grace: float) -> None:
        """Ask every connected client to reconnect, then close its connection."""
        socks = [s for s in self._sockets if not s.ws.closed]
        frame: JSON = {"type": "disconnect", "reason": reason, "debug_info": _DEBUG_INFO}
        for sock in socks:
            with contextlib.suppress(ConnectionError):
                await sock.ws.send_json(frame)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        while any(s in self._sockets for s in socks) and loop.time() < deadline:
            await asyncio.sleep(0.01)
        for sock in socks:
            if sock in self._sockets:
                await sock.ws.close()

    async def close_all(self) -> None:
        """Close every connection (the fake is stopping)."""
        for sock in list(self._sockets):
            await sock.ws.close(code=WSCloseCode.GOING_AWAY)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """``GET /socket/{ticket}``: one connection, from hello to close."""
        if request.match_info["ticket"] not in self._ws.tickets:
            return web.Response(status=401, text="invalid ticket", content_type="text/plain")
        # autoping: pings are answered with pongs; timeout bounds the closing handshake.
        ws = web.WebSocketResponse(timeout=2.0)
        await ws.prepare(request)
        sock = Socket(ws)
        hello: JSON = {
            "type": "hello",
            "num_connections": sum(1 for s in self._sockets if not s.ws.closed) + 1,
            "debug_info": {
                **_DEBUG_INFO,
                "build_number": 1,
                "approximate_connection_time": 18060,
            },
            "connection_info": {"app_id": self._ws.app_id},
        }
        try:
            await ws.send_json(hello)
        except ConnectionError:
            return ws
        self._sockets.append(sock)
        self.in_use = True
        try:
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    self._on_frame(sock, str(msg.data))
        finally:
            self._sockets.remove(sock)
            for ack in sock.pending.values():
                if not ack.done():
                    ack.set_result(None)  # closed before the ack: the delivery failed
        return ws

    def _on_frame(self, sock: Socket, data: str) -> None:
        frame: object = None
        with contextlib.suppress(ValueError):
            frame = json.loads(data)
        if not isinstance(frame, dict) or not isinstance(frame.get("envelope_id"), str):
            log.warning("ignoring a Socket Mode frame that is not an ack: %r", data[:200])
            return
        self.acks.append(frame)
        ack = sock.pending.get(frame["envelope_id"])
        if ack is not None and not ack.done():
            ack.set_result(frame)


def _accepts_response_payload(kind: str, payload: JSON) -> bool:
    # Slack accepts a response in the ack where HTTP mode would read the response body.
    if kind == "slash_commands":
        return True
    return kind == "interactive" and payload.get("type") in ("view_submission", "block_suggestion")
