"""A faithful fake of Slack, over real HTTP on 127.0.0.1.

Two halves, like the real thing:

- the Web API at ``api_url``, which the real ``slack_sdk`` ``AsyncWebClient`` talks to
  unmodified (``AsyncWebClient(token=..., base_url=fake.api_url)``); answers are in Slack's
  shapes, errors are HTTP 200 ``{"ok": false, "error": ...}``, rate limits are HTTP 429 with
  ``Retry-After``;
- deliveries to the app at ``events_url``: Events API envelopes, ``block_actions`` payloads
  and slash commands, signed with the signing secret exactly as Slack signs them;
- or, in Socket Mode, the same deliveries over a WebSocket: the app calls
  ``apps.connections.open`` with its app-level token (``app_token``), connects to the
  ``ws://`` URL it gets, and acknowledges each envelope by its ``envelope_id``. While a socket
  is connected every delivery goes over it instead of ``events_url``.

Helpers act as the people in the workspace (``user_says``, ``click``...), state is kept for
assertions (``calls``, ``messages``, ``ephemerals``, ``delivered``), and ``fail`` /
``rate_limit`` inject faults.

It is strict on purpose, so tests catch what a real workspace would refuse: ``blocks`` and
views are validated with slack_sdk's own Block Kit models plus the checks they lack, a
message's blocks may carry 12,000 characters of text in all (``msg_blocks_too_long``), each
method answers the documented errors its state allows (archived channels, locked threads, a
bot outside the channel...), and ``enforce_tiers`` / ``limit_method`` switch on Slack's
per-method rate limits (off by default).

Text given to the human helpers is what Slack stores: already escaped (``&amp;``, ``&lt;``),
mentions as ``<@U123>``, links as ``<https://x|label>``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import hashlib
import hmac
import html
import inspect
import itertools
import json
import logging
import math
import mimetypes
import re
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, ClassVar, Self
from urllib.parse import parse_qs, urlencode

from aiohttp import ClientError, ClientSession, ClientTimeout, WSCloseCode, WSMsgType, web
from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.basic_objects import JsonObject
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

__all__ = ["Channel", "Ephemeral", "FakeSlack", "Message", "SlackError", "User", "wait_until"]

log = logging.getLogger(__name__)

JSON = dict[str, Any]

# Slack's documented limits that the fake enforces.
MAX_TEXT = 40_000
MAX_BLOCKS = 50
MAX_VIEW_BLOCKS = 100  # a Home tab or a modal
MAX_SECTION_TEXT = 3000
MAX_FIELD_TEXT = 2000
MAX_HEADER_TEXT = 150
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2000
MAX_BLOCK_ID = 255
MAX_CONTEXT_ELEMENTS = 10
MAX_VIEW_SIZE = 250_000  # views.publish: view_too_large past 250 kB
# All the text one message's blocks may carry (msg_blocks_too_long); see _blocks_text_length.
MAX_BLOCKS_TEXT = 12_000
# Distinct emoji on one message (too_many_emoji). Not in the API docs: the number users report.
MAX_EMOJI = 23
MAX_PAGE = 1000
DEFAULT_PAGE = 100  # Slack's default is smaller; a large one keeps tests short

# The scopes the bridge's manifest asks for; Slack reports granted scopes in this header.
SCOPES = (
    "chat:write,chat:write.customize,channels:history,groups:history,users:read,"
    "users:read.email,files:read,files:write,reactions:write,commands"
)

# Calls a minute per method, from each method page's "Rate Limits" (Tier 2: 20+, Tier 3: 50+,
# Tier 4: 100+). chat.postMessage has its own per-channel limit (limit_posts); auth.test is
# "special" and left free. chat.getPermalink's page says only "special rate limits apply":
# the fake holds it to Tier 3 rather than leave it unlimited.
TIERS: dict[str, int] = {
    "usergroups.users.list": 20,
    "reactions.remove": 20,
    "apps.connections.open": 50,
    "chat.update": 50,
    "chat.delete": 50,
    "chat.getPermalink": 50,
    "reactions.add": 50,
    "conversations.info": 50,
    "conversations.replies": 50,
    "conversations.history": 50,
    "users.info": 100,
    "views.publish": 100,
    "chat.postEphemeral": 100,
    "files.info": 100,
    "files.getUploadURLExternal": 100,
    "files.completeUploadExternal": 100,
}

_SOCKET_DEBUG: JSON = {"host": "applink-fake-1"}
_NS = uuid.UUID("6f1c1a52-58a4-4d57-9a57-1b1d2f0c5e11")  # for stable client_msg_ids
_MENTION = re.compile(r"<(@[UW][A-Z0-9]+|#[CG][A-Z0-9]+(?:\|[^>]*)?|https?://[^>|]+(?:\|[^>]*)?)>")
_TS = re.compile(r"\d+\.\d+")
_EMOJI_NAME = re.compile(r"[a-z0-9_+-]+(?:::skin-tone-[2-6])?")


@dataclass
class Message:
    """A message as the fake stores it (one per ``ts`` per channel)."""

    ts: str
    channel: str
    user: str | None
    bot_id: str | None
    text: str
    blocks: list[JSON] | None = None
    thread_ts: str | None = None  # the parent's ts for a reply; None for a top-level message
    username: str | None = None
    icon_url: str | None = None
    metadata: JSON | None = None  # {"event_type", "event_payload"}
    subtype: str | None = None
    edited: bool = False
    files: list[JSON] | None = None
    reactions: dict[str, list[str]] = field(default_factory=dict)  # name -> user ids
    edited_ts: str | None = None
    locked: bool = False  # a parent whose thread admins locked (see FakeSlack.lock_thread)

    @property
    def is_reply(self) -> bool:
        """True for a message inside a thread (not the parent)."""
        return self.thread_ts is not None and self.thread_ts != self.ts


@dataclass
class Ephemeral:
    """A message only one user saw (``chat.postEphemeral`` or an ephemeral response_url)."""

    channel: str
    user: str
    text: str
    blocks: list[JSON] | None
    thread_ts: str | None
    ts: str


@dataclass
class Channel:
    """A channel of the fake workspace."""

    id: str
    name: str
    archived: bool = False
    member: bool = True  # whether the bot is in it
    read_only: bool = False  # only admins may post (the bot gets restricted_action_...)
    people: set[str] | None = None  # who is in it besides the bot; None: everyone


@dataclass
class User:
    """A user of the fake workspace (people and bots)."""

    id: str
    name: str
    display_name: str = ""
    real_name: str | None = None
    email: str | None = None
    image: str | None = None
    is_bot: bool = False
    bot_id: str | None = None
    team: str | None = None  # another organisation's id for a Slack Connect guest


@dataclass
class _Fault:
    error: str
    status: int
    headers: dict[str, str]
    applied: bool


@dataclass
class _Bucket:
    """A token bucket: ``burst`` calls at once, then ``rate`` calls a second."""

    rate: float
    burst: float
    tokens: float
    at: float

    def take(self, now: float) -> int | None:
        """Spend a token; if none is left, return the Retry-After (whole seconds) instead."""
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens < 1:
            return max(1, math.ceil((1 - self.tokens) / self.rate))
        self.tokens -= 1
        return None


@dataclass
class _StoredFile:
    obj: JSON
    content: bytes


@dataclass(eq=False)
class _Socket:
    """One Socket Mode connection; envelopes sent over it wait for their ack here."""

    ws: web.WebSocketResponse
    pending: dict[str, asyncio.Future[JSON | None]] = field(default_factory=dict)


@dataclass
class _ResponseUrl:
    channel: str
    user: str
    message_ts: str | None
    thread_ts: str | None


class SlackError(Exception):
    """A Web API error: answered as ``{"ok": false, "error": code, **extra}``."""

    def __init__(self, code: str, **extra: Any) -> None:
        super().__init__(code)
        self.code = code
        self.extra = extra


class FakeSlack:
    """A Slack workspace with one app installed (the bridge), served on 127.0.0.1."""

    def __init__(
        self,
        *,
        bot_token: str = "xoxb-fake-bot-token",
        app_token: str = "xapp-1-A0FAKE-fake-app-token",
        signing_secret: str = "fake-signing-secret",
        team_id: str = "T0FAKE",
        app_id: str = "A0FAKE",
        bot_user_id: str = "UBRIDGE",
        bot_id: str = "BBRIDGE",
        echo_events: bool = True,
    ) -> None:
        self.bot_token = bot_token
        self.app_token = app_token  # the app-level token Socket Mode connects with
        self.signing_secret = signing_secret
        self.team_id = team_id
        self.team_domain = "fake"
        self.app_id = app_id
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.bot_name = "hitl-bridge"
        self.echo_events = echo_events
        self.events_url: str | None = None
        # Slack gives up on a delivery after 3 s; a looser default keeps slow CI green.
        self.delivery_timeout: float = 10.0

        self.calls: list[tuple[str, JSON]] = []
        self.ephemerals: list[Ephemeral] = []
        self.delivered: list[tuple[int, JSON]] = []
        self.socket_acks: list[JSON] = []  # every Socket Mode ack frame the app sent, in order
        self.home_views: dict[str, JSON] = {}  # user id -> last view published
        self.channels: dict[str, Channel] = {}
        self.users: dict[str, User] = {}
        self.usergroups: dict[str, list[str]] = {}

        self._messages: dict[str, dict[str, Message]] = {}
        self._files: dict[str, _StoredFile] = {}
        self._uploads: dict[str, JSON] = {}  # file id -> pending upload (name, length, data)
        self._response_urls: dict[str, _ResponseUrl] = {}
        self._faults: dict[str, list[_Fault]] = {}
        self.hung: set[tuple[str, str | None]] = set()  # (method, channel) never answered
        self._unhang = asyncio.Event()
        self._rate_limits: dict[str, list[int]] = {}
        self.post_limit: tuple[float, int] | None = None  # see limit_posts()
        self._last_reply = b""  # the body of the app's answer to the latest delivery
        self.ratelimited = 0  # chat.postMessage calls refused by limit_posts()
        # Every call the fake's own limits answered 429, per method (see limit_method).
        self.ratelimited_by_method: Counter[str] = Counter()
        self._post_buckets: dict[str, _Bucket] = {}
        self._method_buckets: dict[str, _Bucket] = {}
        # Workspace settings: how long after posting a message may still be edited (seconds;
        # None: always), and whether file uploads are turned off.
        self.edit_window: float | None = None
        self.uploads_disabled = False
        self._last_us = 0
        self._ids = itertools.count(1)

        self._runner: web.AppRunner | None = None
        self._session: ClientSession | None = None
        self._echoes: asyncio.Queue[JSON] = asyncio.Queue()
        self._echo_task: asyncio.Task[None] | None = None
        self._port = 0
        self._tickets: set[str] = set()  # socket ids issued by apps.connections.open
        self._sockets: list[_Socket] = []  # open Socket Mode connections, oldest first
        self._socket_mode = False  # an app has connected over Socket Mode since start

        self.add_user(bot_user_id, self.bot_name, is_bot=True, bot_id=bot_id)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Listen on a free port of 127.0.0.1."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/api/{method}", self._handle_api)
        app.router.add_post("/upload/v1/{file_id}", self._handle_upload)
        app.router.add_get("/files-pri/{key}/{name}", self._handle_file)
        app.router.add_get("/files-pri/{key}/download/{name}", self._handle_file)
        app.router.add_post("/response_url/{rid}", self._handle_response_url)
        app.router.add_get("/socket/{ticket}", self._handle_socket)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self._port = int(self._runner.addresses[0][1])
        self._session = ClientSession(timeout=ClientTimeout(total=self.delivery_timeout))
        self._echo_task = asyncio.create_task(self._deliver_echoes())

    async def stop(self) -> None:
        """Stop serving; pending background deliveries are cancelled."""
        self.heal()  # calls left hanging get their answer, so the server can close
        if self._echo_task is not None:
            self._echo_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._echo_task
            self._echo_task = None
        for sock in list(self._sockets):
            await sock.ws.close(code=WSCloseCode.GOING_AWAY)
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` (no trailing slash)."""
        if not self._port:
            raise RuntimeError("FakeSlack is not started")
        return f"http://127.0.0.1:{self._port}"

    @property
    def api_url(self) -> str:
        """The Web API base URL for ``AsyncWebClient(base_url=...)`` (trailing slash)."""
        return f"{self.base_url}/api/"

    # ------------------------------------------------------------------ workspace setup

    def add_channel(
        self,
        channel_id: str,
        name: str,
        *,
        archived: bool = False,
        member: bool = True,
        read_only: bool = False,
        people: set[str] | None = None,
    ) -> None:
        """Create a channel: ``member`` is whether the bot is in it, ``people`` who else is
        (None: everyone), ``read_only`` whether only admins may post."""
        self.channels[channel_id] = Channel(
            channel_id, name, archived, member, read_only, None if people is None else set(people)
        )
        self._messages.setdefault(channel_id, {})

    def add_user(
        self,
        user_id: str,
        name: str,
        *,
        display_name: str = "",
        real_name: str | None = None,
        email: str | None = None,
        image: str | None = None,
        is_bot: bool = False,
        bot_id: str | None = None,
        team: str | None = None,
    ) -> None:
        """Create a user; a bot user with ``bot_id`` posts modern bot messages. ``team``
        makes them a Slack Connect guest from that organisation: the files they share arrive
        as ``file_access: "check_file_info"`` stubs (see ``user_says``)."""
        self.users[user_id] = User(
            user_id, name, display_name, real_name, email, image, is_bot, bot_id, team
        )

    def add_usergroup(self, usergroup_id: str, users: list[str]) -> None:
        """Create a user group (``usergroups.users.list``)."""
        self.usergroups[usergroup_id] = list(users)

    # ------------------------------------------------------------------ state for assertions

    def messages(self, channel: str) -> list[Message]:
        """All messages of a channel (parents and replies) in ts order."""
        return sorted(self._messages.get(channel, {}).values(), key=lambda m: _ts_key(m.ts))

    def thread(self, channel: str, thread_ts: str) -> list[Message]:
        """The replies of a thread in ts order, parent excluded."""
        return [m for m in self.messages(channel) if m.thread_ts == thread_ts and m.ts != thread_ts]

    def message(self, channel: str, ts: str) -> Message:
        """The message with that ts; KeyError if there is none."""
        try:
            return self._messages[channel][ts]
        except KeyError:
            raise KeyError(f"no message {ts} in channel {channel}") from None

    def calls_of(self, method: str) -> list[JSON]:
        """The params of every call of one Web API method, in order."""
        return [params for name, params in self.calls if name == method]

    def file_content(self, file_id: str) -> bytes:
        """The bytes of a stored file."""
        return self._files[file_id].content

    # ------------------------------------------------------------------ fault injection

    def fail(
        self,
        method: str,
        error: str = "internal_error",
        *,
        times: int = 1,
        status: int = 200,
        headers: dict[str, str] | None = None,
        applied: bool = False,
    ) -> None:
        """Answer the next ``times`` calls of ``method`` with ``{"ok": false, "error": error}``.

        ``status=429`` with ``headers={"Retry-After": "2"}`` is a rate limit, 500/503 a server
        error. ``applied=True`` makes the call take effect before the error is answered: the
        answer was lost on its way back (the crash-between-post-and-record case).
        """
        fault = _Fault(error, status, dict(headers or {}), applied)
        self._faults.setdefault(method, []).extend(copy.deepcopy(fault) for _ in range(times))

    def hang(self, method: str, channel: str) -> None:
        """Never answer calls of ``method`` for ``channel`` (until ``heal``)."""
        self.hung.add((method, channel))

    def heal(self, method: str | None = None) -> None:
        """Drop the faults still queued for ``method`` (all methods when None)."""
        if method is None:
            self._faults.clear()
            self.hung.clear()
        else:
            self._faults.pop(method, None)
            self.hung = {(m, c) for m, c in self.hung if m != method}
        self._unhang.set()  # what hung is answered now (with an error)
        self._unhang = asyncio.Event()

    def limit_posts(self, rate: float, burst: int = 1) -> None:
        """Enforce Slack's pacing from now on: more than ``rate`` posts a second per channel
        (after a ``burst``) get 429 ``ratelimited``; ``ratelimited`` counts them."""
        self.post_limit = (rate, burst)
        self._post_buckets.clear()

    def rate_limit(self, channel: str, retry_after: int) -> None:
        """Answer the next ``chat.postMessage`` to ``channel`` with 429 ``ratelimited``."""
        self._rate_limits.setdefault(channel, []).append(retry_after)

    def limit_method(
        self,
        method: str,
        per_minute: float | None,
        *,
        burst: int | None = None,
        scale: float = 1.0,
    ) -> None:
        """Rate-limit one Web API method from now on, as Slack does per method and app.

        A token bucket: ``burst`` calls (default ``per_minute``) may go at once, then
        ``per_minute`` a minute. ``scale`` speeds the clock up: ``scale=60`` allows
        ``per_minute`` calls a *second*. A call over the limit gets HTTP 429 ``ratelimited``
        with ``Retry-After`` (whole seconds, at least 1) and is counted in
        ``ratelimited_by_method``; other methods are not affected. ``per_minute=None`` lifts
        the limit.
        """
        if per_minute is None:
            self._method_buckets.pop(method, None)
            return
        if per_minute <= 0 or scale <= 0:
            raise ValueError("per_minute and scale must be positive")
        size = float(burst if burst is not None else max(1, math.floor(per_minute)))
        rate = per_minute / 60 * scale
        self._method_buckets[method] = _Bucket(rate, size, size, time.monotonic())

    def enforce_tiers(self, scale: float = 1.0) -> None:
        """``limit_method`` every method the fake serves by its documented tier (``TIERS``):
        Tier 2 20 a minute, Tier 3 50, Tier 4 100, each ``scale`` times faster (``scale=60``:
        50 a second for a Tier 3 method). ``chat.postMessage`` keeps ``limit_posts``."""
        for method, per_minute in TIERS.items():
            self.limit_method(method, per_minute, scale=scale)

    # ------------------------------------------------------------------ workspace state

    def lock_thread(self, channel: str, ts: str, locked: bool = True) -> None:
        """Admins lock (or unlock) the thread of ``ts``: replies then get
        ``restricted_action_thread_locked``, reactions in it ``thread_locked``."""
        self.message(channel, self._thread_root(channel, ts)).locked = locked

    # ------------------------------------------------------------------ waiting

    # A deadline argument (not a caller-side asyncio.timeout) lets the failure name the predicate.
    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        """Poll ``predicate`` every 10 ms; AssertionError if still false after ``timeout``."""

        def state() -> str:
            methods = [name for name, _ in self.calls[-10:]]
            statuses = [status for status, _ in self.delivered[-10:]]
            return f"last Web API calls {methods}; last delivery statuses {statuses}"

        await wait_until(predicate, timeout, state)

    async def flush(self, timeout: float = 5.0) -> None:
        """Wait until every queued echo event has been delivered."""
        await asyncio.wait_for(self._echoes.join(), timeout)

    # ------------------------------------------------------------------ acting as people

    async def user_says(
        self,
        user: str,
        channel: str,
        text: str,
        *,
        thread_ts: str | None = None,
        files: list[JSON] | None = None,
        deliver: bool = True,
    ) -> str:
        """A person posts a message (a ``file_share`` if ``files``); returns its ts.

        ``files`` items are partial file objects: ``name`` and optionally ``title``,
        ``mimetype``, ``filetype`` and ``content`` (bytes, served at ``url_private``). A Slack
        Connect guest's files (``add_user(team=...)``), or any with ``"file_access":
        "check_file_info"``, arrive as stubs (``id``, no URLs): ``files.info`` has the rest.
        The message event is delivered (and awaited) when ``events_url`` is set or an app uses
        Socket Mode, and the bot is in the channel; the message is stored either way.
        ``deliver=False`` only stores it: the caller delivers ``message_event`` itself (with
        ``send_event``, to choose its event id and play Slack's retries).
        """
        self._known_channel(channel)
        if thread_ts is not None:
            thread_ts = self._thread_root(channel, thread_ts)
        file_objs = [self._store_file(f, user) for f in files] if files else None
        msg = Message(
            ts=self._next_ts(),
            channel=channel,
            user=user,
            bot_id=None,
            text=text,
            thread_ts=thread_ts,
            subtype="file_share" if file_objs else None,
            files=file_objs,
        )
        self._store(msg)
        self._share(msg)
        if deliver:
            await self._deliver_message_event(msg)
        return msg.ts

    async def edit(self, user: str, channel: str, ts: str, text: str) -> None:
        """A person edits a message: ``message_changed`` event."""
        msg = self.message(channel, ts)
        previous = self._view(msg)
        msg.text = text
        msg.blocks = None  # a person's blocks are Slack's rendering of the text
        msg.edited = True
        msg.edited_ts = self._next_ts()
        changed = self._view(msg)
        changed["edited"] = {"user": user, "ts": msg.edited_ts}
        event = self._changed_event(channel, changed, previous, msg.edited_ts)
        if self.channels[channel].member:
            await self.send_event(event)

    async def delete(self, channel: str, ts: str) -> None:
        """A message is deleted: ``message_deleted`` event."""
        msg = self.message(channel, ts)
        previous = self._view(msg)
        self._remove(msg)
        event = self._deleted_event(channel, ts, previous)
        if self.channels[channel].member:
            await self.send_event(event)

    async def other_bot_says(
        self, bot_id: str, channel: str, text: str, *, thread_ts: str | None = None
    ) -> str:
        """Another app posts: a modern bot message if a user with that ``bot_id`` was added,
        else a legacy ``bot_message``. Returns its ts."""
        self._known_channel(channel)
        if thread_ts is not None:
            thread_ts = self._thread_root(channel, thread_ts)
        bot_user = self._bot_user(bot_id)
        msg = Message(
            ts=self._next_ts(),
            channel=channel,
            user=bot_user.id if bot_user else None,
            bot_id=bot_id,
            text=text,
            thread_ts=thread_ts,
            username=None if bot_user else f"bot-{bot_id}",
            subtype=None if bot_user else "bot_message",
        )
        self._store(msg)
        await self._deliver_message_event(msg)
        return msg.ts

    async def click(
        self,
        user: str,
        channel: str,
        message_ts: str,
        action_id: str,
        value: str | None = None,
    ) -> int:
        """A person clicks a button in a message; returns the bridge's HTTP status.

        The payload shows the message as stored now. A button that is no longer there is
        still sent (with ``value``): stale clicks happen.
        """
        msg = self.message(channel, message_ts)
        view = self._view(msg, metadata=False)
        found = _find_element(view.get("blocks") or [], action_id)
        if found is not None:
            block, element = found
            block_id = str(block.get("block_id"))
            text = element.get("text", _plain(action_id))
            kind = str(element.get("type", "button"))
            if value is None:
                value = element.get("value")
            extra = {k: element[k] for k in ("style",) if k in element}
        else:
            block_id, text, kind, extra = _block_id(message_ts, 99), _plain(action_id), "button", {}
        action: JSON = {
            "action_id": action_id,
            "block_id": block_id,
            "text": text,
            "type": kind,
            "action_ts": f"{time.time():.6f}",
            **extra,
        }
        if value is not None:
            action["value"] = value
        container: JSON = {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel,
            "is_ephemeral": False,
        }
        if msg.is_reply:
            container["thread_ts"] = msg.thread_ts
        payload: JSON = {
            "type": "block_actions",
            "user": self._user_ref(user),
            "api_app_id": self.app_id,
            "token": "legacy-verification-token",
            "container": container,
            "trigger_id": self._trigger_id(),
            "team": {"id": self.team_id, "domain": self.team_domain},
            "enterprise": None,
            "is_enterprise_install": False,
            "channel": {"id": channel, "name": self.channels[channel].name},
            "message": view,
            "state": {"values": {}},
            "response_url": self._response_url(channel, user, message_ts, msg.thread_ts),
            "actions": [action],
        }
        body = urlencode({"payload": json.dumps(payload)}).encode()
        return await self._deliver(
            "interactive", payload, body, "application/x-www-form-urlencoded"
        )

    async def slash_command(self, user: str, channel: str, command: str, text: str = "") -> int:
        """A person runs a slash command in a channel; returns the bridge's HTTP status."""
        form = {
            "token": "legacy-verification-token",
            "team_id": self.team_id,
            "team_domain": self.team_domain,
            "channel_id": channel,
            "channel_name": self.channels[channel].name if channel in self.channels else "",
            "user_id": user,
            "user_name": self._user_ref(user)["username"],
            "command": command,
            "text": text,
            "api_app_id": self.app_id,
            "is_enterprise_install": "false",
            "response_url": self._response_url(channel, user, None, None),
            "trigger_id": self._trigger_id(),
        }
        body = urlencode(form).encode()
        self._last_reply = b""
        status = await self._deliver(
            "slash_commands", dict(form), body, "application/x-www-form-urlencoded"
        )
        # What the app answers right away (JSON, or plain text) is shown to the person who
        # ran the command, and to nobody else.
        try:
            reply = json.loads(self._last_reply or b"null")
        except ValueError:
            reply = {"text": self._last_reply.decode(errors="replace")}
        if isinstance(reply, dict) and (reply.get("text") or reply.get("blocks")):
            text, blocks = str(reply.get("text") or ""), reply.get("blocks")
            self.ephemerals.append(Ephemeral(channel, user, text, blocks, None, self._next_ts()))
        return status

    # ------------------------------------------------------------------ acting as Slack's delivery

    async def send_event(
        self,
        event: JSON,
        *,
        event_id: str | None = None,
        retry_num: int | None = None,
        retry_reason: str = "http_timeout",
    ) -> int:
        """Deliver ``event`` in an ``event_callback`` envelope; returns the HTTP status.

        POSTed signed to ``events_url``, or in Socket Mode sent as an ``events_api`` envelope
        (200 once acked). Send the same ``event_id`` again (with ``retry_num``) to play one of
        Slack's retries: ``X-Slack-Retry-Num`` / ``-Reason`` headers over HTTP, the envelope's
        ``retry_attempt`` / ``retry_reason`` over a socket. A connection failure or a missing
        ack is recorded and returned as status 0.
        """
        envelope = self.envelope(event, event_id)
        headers: dict[str, str] = {}
        retry = (0, "")
        if retry_num is not None:
            headers["X-Slack-Retry-Num"] = str(retry_num)
            headers["X-Slack-Retry-Reason"] = retry_reason
            retry = (retry_num, retry_reason)
        body = json.dumps(envelope).encode()
        return await self._deliver(
            "events_api", envelope, body, "application/json", headers=headers, retry=retry
        )

    async def send_signed(
        self,
        body: bytes,
        content_type: str,
        *,
        timestamp: int | None = None,
        signature: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> int:
        """POST raw ``body`` signed (or with the given ``signature``); returns the status.

        Always over HTTP to ``events_url``, even while a Socket Mode client is connected.
        """
        return await self._post(
            body,
            content_type,
            _parse_body(body),
            timestamp=timestamp,
            signature=signature,
            headers=headers,
        )

    def message_event(self, msg: Message) -> JSON:
        """The ``message`` event Slack sends for the stored message ``msg``."""
        return {**self._view(msg), **self._event_fields(msg.channel, msg.ts)}

    def signature(self, timestamp: int | str, body: bytes) -> str:
        """Slack's v0 signature of ``body`` sent at ``timestamp``."""
        base = b"v0:" + str(timestamp).encode() + b":" + body
        digest = hmac.new(self.signing_secret.encode(), base, hashlib.sha256).hexdigest()
        return f"v0={digest}"

    # ------------------------------------------------------------------ Socket Mode

    @property
    def socket_connected(self) -> bool:
        """True while a Socket Mode client is connected (deliveries then go over it)."""
        return self._open_socket() is not None

    async def wait_socket(self, timeout: float = 5.0) -> None:
        """Wait until a Socket Mode client is connected (AssertionError after ``timeout``)."""

        def state() -> str:
            opened = len(self.calls_of("apps.connections.open"))
            return f"apps.connections.open called {opened} times; {len(self._sockets)} sockets"

        await wait_until(lambda: self.socket_connected, timeout, state)

    async def socket_disconnect(
        self, reason: str = "refresh_requested", *, grace: float = 1.0
    ) -> None:
        """Ask every connected client to reconnect, then close its connection, as Slack does.

        Sends ``{"type": "disconnect", "reason": reason, ...}``; a client that reconnects at
        once (slack_sdk's does) closes the old connection itself, else the fake closes it after
        ``grace`` seconds (``grace=0``: at once). Returns when the old connections are closed;
        ``wait_socket`` then waits for the new one. Slack's reasons: ``warning``,
        ``refresh_requested``, ``link_disabled``.
        """
        socks = [s for s in self._sockets if not s.ws.closed]
        frame: JSON = {"type": "disconnect", "reason": reason, "debug_info": _SOCKET_DEBUG}
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

    # ------------------------------------------------------------------ Web API

    async def _handle_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params, header_token = await self._read_params(request)
        token = header_token or params.pop("token", None)
        params.pop("token", None)
        self.calls.append((method, params))
        handler = self._api.get(method)
        if handler is None:
            return _answer({"ok": False, "error": "unknown_method"})
        if not token:
            return _answer({"ok": False, "error": "not_authed"})
        expected = self.app_token if method in self._app_token_methods else self.bot_token
        if token != expected:
            return _answer({"ok": False, "error": "invalid_auth"})
        if (method, self._resolve_channel_id(_opt_str(params.get("channel")))) in self.hung:
            await self._unhang.wait()  # no answer until healed (the caller's timeout ends it)
            return _answer({"ok": False, "error": "request_timeout"}, 504)
        faults = self._faults.get(method)
        fault = faults.pop(0) if faults else None
        if fault is None:
            fault = self._rate_limit_fault(method, params)
        if fault is not None and not fault.applied:
            return _answer({"ok": False, "error": fault.error}, fault.status, fault.headers)
        try:
            result = handler(self, params)
        except SlackError as err:
            # Said in the test's captured log: a refusal is often why a test waits in vain.
            log.info("fake Slack refused %s: %s %s", method, err.code, err.extra or "")
            return _answer({"ok": False, "error": err.code, **err.extra})
        if fault is not None:
            return _answer({"ok": False, "error": fault.error}, fault.status, fault.headers)
        return _answer({"ok": True, **result})

    async def _read_params(self, request: web.Request) -> tuple[JSON, str | None]:
        params: JSON = dict(request.query)
        if request.method == "POST" and request.can_read_body:
            if request.content_type == "application/json":
                body = await request.json()
                if isinstance(body, dict):
                    params.update(body)
            elif request.content_type in (
                "application/x-www-form-urlencoded",
                "multipart/form-data",
            ):
                form = await request.post()
                params.update({k: v for k, v in form.items() if isinstance(v, str)})
        for key in ("blocks", "metadata", "attachments", "view"):
            value = params.get(key)
            if isinstance(value, str) and value:
                # Forms carry JSON-valued arguments as strings; an unparsable one stays a
                # string so the method answers with its own format error.
                with contextlib.suppress(ValueError):
                    params[key] = json.loads(value)
        auth = request.headers.get("Authorization", "")
        header_token = auth[len("Bearer ") :].strip() if auth.startswith("Bearer ") else None
        return params, header_token or None

    def _rate_limit_fault(self, method: str, params: JSON) -> _Fault | None:
        """429 if one of the fake's rate limits refuses this call (each method its own)."""
        retry_after: int | None = None
        now = time.monotonic()
        if method == "chat.postMessage":
            retry_after = self._post_retry_after(params, now)
        bucket = self._method_buckets.get(method)
        if retry_after is None and bucket is not None:
            retry_after = bucket.take(now)
        if retry_after is None:
            return None
        self.ratelimited_by_method[method] += 1
        return _Fault("ratelimited", 429, {"Retry-After": str(retry_after)}, False)

    def _post_retry_after(self, params: JSON, now: float) -> int | None:
        channel = self._resolve_channel_id(_opt_str(params.get("channel"))) or ""
        pending = self._rate_limits.get(channel)
        if pending:
            return pending.pop(0)
        if self.post_limit is None:
            return None
        # Slack's own pacing of chat.postMessage: a token bucket per channel.
        rate, burst = self.post_limit
        bucket = self._post_buckets.setdefault(channel, _Bucket(rate, burst, burst, now))
        retry_after = bucket.take(now)
        if retry_after is not None:
            self.ratelimited += 1
        return retry_after

    def _auth_test(self, p: JSON) -> JSON:
        return {
            "url": f"https://{self.team_domain}.slack.com/",
            "team": "Fake Team",
            "user": self.bot_name,
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
            "app_id": self.app_id,
        }

    def _apps_connections_open(self, p: JSON) -> JSON:
        ticket = uuid.uuid4().hex
        self._tickets.add(ticket)
        return {"url": f"ws://127.0.0.1:{self._port}/socket/{ticket}"}

    def _chat_post_message(self, p: JSON) -> JSON:
        channel = self._writable_channel(p)
        if channel.read_only:
            raise SlackError("restricted_action_read_only_channel")
        text, blocks = _check_content(p)
        thread_ts = _opt_str(p.get("thread_ts")) or None
        if thread_ts is not None:
            target = self._messages[channel.id].get(thread_ts)
            if target is None:
                raise SlackError("thread_not_found")
            thread_ts = target.thread_ts or target.ts  # a reply to a reply joins its thread
            root = self._messages[channel.id].get(thread_ts)
            if root is not None and root.locked:
                raise SlackError("restricted_action_thread_locked")
        broadcast = thread_ts is not None and _truthy(p.get("reply_broadcast"))
        msg = Message(
            ts=self._next_ts(),
            channel=channel.id,
            user=self.bot_user_id,
            bot_id=self.bot_id,
            text=text,
            blocks=blocks,
            thread_ts=thread_ts,
            username=_opt_str(p.get("username")),
            icon_url=_opt_str(p.get("icon_url")),
            metadata=_check_metadata(p.get("metadata")),
            subtype="thread_broadcast" if broadcast else None,
        )
        self._store(msg)
        view = self._view(msg)
        self._echo({**view, **self._event_fields(msg.channel, msg.ts)})
        return {"channel": channel.id, "ts": msg.ts, "message": view}

    def _chat_update(self, p: JSON) -> JSON:
        channel = self._known_channel_param(p)
        if channel.archived:
            # chat.update's page: "cannot be edited within a frozen, archived or deleted
            # channel" is is_inactive (is_archived is not among its errors).
            raise SlackError("is_inactive")
        msg = self._message_param(channel.id, p.get("ts"))
        if msg.user != self.bot_user_id or msg.bot_id != self.bot_id:
            raise SlackError("cant_update_message")
        if self.edit_window is not None and time.time() - float(msg.ts) > self.edit_window:
            raise SlackError("edit_window_closed")
        if not any(key in p for key in ("text", "blocks", "attachments", "metadata")):
            raise SlackError("no_text")
        blocks = _check_blocks(p.get("blocks")) if "blocks" in p else msg.blocks
        _check_blocks_text(blocks)
        text = _opt_str(p.get("text")) if "text" in p else msg.text
        if len(text or "") > MAX_TEXT:
            raise SlackError("msg_too_long")
        metadata = _check_metadata(p.get("metadata")) if p.get("metadata") else msg.metadata
        previous = self._view(msg)
        # Slack keeps what an update leaves out; `blocks=[]` removes the blocks.
        msg.text = text or ""
        msg.blocks = blocks or None
        msg.metadata = metadata
        msg.edited = True
        msg.edited_ts = self._next_ts()
        view = self._view(msg)
        self._echo(self._changed_event(channel.id, view, previous, msg.edited_ts))
        return {"channel": channel.id, "ts": msg.ts, "text": msg.text, "message": view}

    def _chat_delete(self, p: JSON) -> JSON:
        channel = self._known_channel_param(p)
        msg = self._message_param(channel.id, p.get("ts"))
        if msg.user != self.bot_user_id or msg.bot_id != self.bot_id:
            raise SlackError("cant_delete_message")
        previous = self._view(msg)
        self._remove(msg)
        self._echo(self._deleted_event(channel.id, msg.ts, previous))
        return {"channel": channel.id, "ts": msg.ts}

    def _chat_post_ephemeral(self, p: JSON) -> JSON:
        channel = self._writable_channel(p)
        user = _opt_str(p.get("user"))
        if (
            user is None
            or user not in self.users
            or (channel.people is not None and user not in channel.people)
        ):
            raise SlackError("user_not_in_channel")
        text, blocks = _check_content(p)
        ts = self._next_ts()
        thread_ts = _opt_str(p.get("thread_ts")) or None
        self.ephemerals.append(Ephemeral(channel.id, user, text, blocks, thread_ts, ts))
        return {"message_ts": ts}

    def _chat_get_permalink(self, p: JSON) -> JSON:
        channel = self._known_channel_param(p)
        msg = self._message_param(channel.id, p.get("message_ts"))
        link = (
            f"https://{self.team_domain}.slack.com/archives/{channel.id}/p{msg.ts.replace('.', '')}"
        )
        if msg.is_reply:
            link += f"?thread_ts={msg.thread_ts}&cid={channel.id}"
        return {"channel": channel.id, "permalink": link}

    def _users_info(self, p: JSON) -> JSON:
        user = self.users.get(_opt_str(p.get("user")) or "")
        if user is None:
            raise SlackError("user_not_found")
        return {"user": self._user_object(user)}

    def _conversations_info(self, p: JSON) -> JSON:
        channel = self._known_channel_param(p)
        return {
            "channel": {
                "id": channel.id,
                "name": channel.name,
                "is_channel": True,
                "is_group": False,
                "is_im": False,
                "is_private": False,
                "is_archived": channel.archived,
                "is_member": channel.member,
                "is_general": False,
                "created": 1_700_000_000,
                "creator": "USLACKBOT",
                "name_normalized": channel.name,
                "is_shared": False,
                "is_ext_shared": False,
                "is_org_shared": False,
            }
        }

    def _conversations_replies(self, p: JSON) -> JSON:
        channel = self._readable_channel(p)
        ts = _opt_str(p.get("ts"))
        if not ts:
            raise SlackError("invalid_arguments")
        found = self._messages[channel.id].get(ts)
        if found is None:
            raise SlackError("thread_not_found")
        root = found.thread_ts or found.ts
        parent = self._messages[channel.id].get(root)
        with_meta = _truthy(p.get("include_all_metadata"))
        thread = ([parent] if parent else []) + self.thread(channel.id, root)
        views = [self._view(m, metadata=with_meta) for m in thread]
        page, has_more, cursor = _paginate(views, p)
        return {
            "messages": page,
            "has_more": has_more,
            "response_metadata": {"next_cursor": cursor},
        }

    def _conversations_history(self, p: JSON) -> JSON:
        channel = self._readable_channel(p)
        with_meta = _truthy(p.get("include_all_metadata"))
        inclusive = _truthy(p.get("inclusive"))
        oldest = _ts_key(_opt_str(p.get("oldest")) or "0")
        latest_raw = _opt_str(p.get("latest"))
        latest = _ts_key(latest_raw) if latest_raw else None

        def in_range(m: Message) -> bool:
            key = _ts_key(m.ts)
            above = key >= oldest if inclusive else key > oldest
            below = latest is None or (key <= latest if inclusive else key < latest)
            return above and below

        top = [
            m
            for m in reversed(self.messages(channel.id))
            if (not m.is_reply or m.subtype == "thread_broadcast") and in_range(m)
        ]
        views = [self._view(m, metadata=with_meta) for m in top]
        page, has_more, cursor = _paginate(views, p)
        return {
            "messages": page,
            "has_more": has_more,
            "pin_count": 0,
            "channel_actions_ts": None,
            "channel_actions_count": 0,
            "response_metadata": {"next_cursor": cursor},
        }

    def _reactions_add(self, p: JSON) -> JSON:
        msg, name = self._reaction_target(p)
        if self.channels[msg.channel].archived:
            raise SlackError("is_archived")  # on reactions.add's list, not reactions.remove's
        if msg.subtype == "tombstone":
            raise SlackError("not_reactable")  # a deleted parent kept for its replies
        users = msg.reactions.get(name, [])
        if self.bot_user_id in users:
            raise SlackError("already_reacted")
        if name not in msg.reactions and len(msg.reactions) >= MAX_EMOJI:
            raise SlackError("too_many_emoji")
        msg.reactions.setdefault(name, []).append(self.bot_user_id)
        return {}

    def _reactions_remove(self, p: JSON) -> JSON:
        msg, name = self._reaction_target(p)
        users = msg.reactions.get(name, [])
        if self.bot_user_id not in users:
            raise SlackError("no_reaction")
        users.remove(self.bot_user_id)
        if not users:
            del msg.reactions[name]
        return {}

    def _reaction_target(self, p: JSON) -> tuple[Message, str]:
        channel = self._known_channel_param(p)
        ts = p.get("timestamp")
        if ts is None or ts == "":
            raise SlackError("no_item_specified")
        if not isinstance(ts, str) or not _TS.fullmatch(ts):
            raise SlackError("bad_timestamp")
        msg = self._message_param(channel.id, ts)
        name = (_opt_str(p.get("name")) or "").strip(":")
        if not _EMOJI_NAME.fullmatch(name):
            raise SlackError("invalid_name")
        root = self._messages[channel.id].get(msg.thread_ts or msg.ts)
        if root is not None and root.locked:
            raise SlackError("thread_locked")
        return msg, name

    def _views_publish(self, p: JSON) -> JSON:
        user = _opt_str(p.get("user_id"))
        view = p.get("view")
        if user is None or user not in self.users:
            raise SlackError("user_not_found")
        view = _check_view(view)
        if view.get("type") != "home":
            raise _invalid_arguments(["must be home [json-pointer:/view/type]"])
        stored = {"id": f"V{next(self._ids):08d}", "team_id": self.team_id, **view}
        self.home_views[user] = stored
        return {"view": stored}

    def _usergroups_users_list(self, p: JSON) -> JSON:
        group = self.usergroups.get(_opt_str(p.get("usergroup")) or "")
        if group is None:
            raise SlackError("no_such_subteam")
        return {"users": list(group)}

    def _files_get_upload_url(self, p: JSON) -> JSON:
        if self.uploads_disabled:
            raise SlackError("file_uploads_disabled")
        name = _opt_str(p.get("filename"))
        length = _opt_str(p.get("length"))
        if not name or not length or not length.isdigit():
            raise SlackError("invalid_arguments")
        if int(length) == 0:
            raise SlackError("missing_argument")  # the page: "when the length provided is 0"
        file_id = f"F{next(self._ids):08d}"
        self._uploads[file_id] = {"name": name, "length": int(length), "data": None}
        return {"upload_url": f"{self.base_url}/upload/v1/{file_id}", "file_id": file_id}

    def _files_complete_upload(self, p: JSON) -> JSON:
        raw = p.get("files")
        try:
            items = json.loads(raw) if isinstance(raw, str) else raw
        except ValueError:
            raise SlackError("invalid_arguments") from None
        if not isinstance(items, list) or not items:
            raise SlackError("invalid_arguments")
        channel_id = _opt_str(p.get("channel_id"))
        channel = self._writable_channel({"channel": channel_id}) if channel_id else None
        if channel is not None and channel.read_only:
            raise SlackError("posting_to_channel_denied")
        thread_ts = _opt_str(p.get("thread_ts")) or None
        if channel is not None and thread_ts is not None:
            if thread_ts not in self._messages[channel.id]:
                raise SlackError("thread_not_found")
            thread_ts = self._thread_root(channel.id, thread_ts)
        objs: list[JSON] = []
        for item in items:
            file_id = str(item.get("id")) if isinstance(item, dict) else ""
            upload = self._uploads.get(file_id)
            if upload is None or upload["data"] is None:
                raise SlackError("file_not_found")
            spec = {"name": upload["name"], "content": upload["data"], "id": file_id}
            if item.get("title"):
                spec["title"] = item["title"]
            objs.append(self._store_file(spec, self.bot_user_id))
            del self._uploads[file_id]
        if channel is not None:
            msg = Message(
                ts=self._next_ts(),
                channel=channel.id,
                user=self.bot_user_id,
                bot_id=self.bot_id,
                text=_opt_str(p.get("initial_comment")) or "",
                thread_ts=thread_ts,
                subtype="file_share",
                files=objs,
            )
            self._store(msg)
            self._share(msg)
            self._echo({**self._view(msg), **self._event_fields(msg.channel, msg.ts)})
        return {"files": [{"id": o["id"], "title": o["title"]} for o in objs]}

    def _files_info(self, p: JSON) -> JSON:
        stored = self._files.get(_opt_str(p.get("file")) or "")
        if stored is None:
            raise SlackError("file_not_found")
        # The whole object, also for a Slack Connect file whose message carried only a stub:
        # files.info is how an app gets its url_private (served by the fake, bot token only).
        obj = {**copy.deepcopy(stored.obj), "file_access": "visible"}
        return {"file": obj, "comments": [], "response_metadata": {"next_cursor": ""}}

    # Methods called with the app-level token (``xapp-``) instead of the bot token.
    _app_token_methods: ClassVar[frozenset[str]] = frozenset({"apps.connections.open"})

    _api: ClassVar[dict[str, Callable[[FakeSlack, JSON], JSON]]] = {
        "apps.connections.open": _apps_connections_open,
        "auth.test": _auth_test,
        "chat.postMessage": _chat_post_message,
        "chat.update": _chat_update,
        "chat.delete": _chat_delete,
        "chat.postEphemeral": _chat_post_ephemeral,
        "chat.getPermalink": _chat_get_permalink,
        "users.info": _users_info,
        "conversations.info": _conversations_info,
        "conversations.replies": _conversations_replies,
        "conversations.history": _conversations_history,
        "reactions.add": _reactions_add,
        "reactions.remove": _reactions_remove,
        "views.publish": _views_publish,
        "usergroups.users.list": _usergroups_users_list,
        "files.getUploadURLExternal": _files_get_upload_url,
        "files.completeUploadExternal": _files_complete_upload,
        "files.info": _files_info,
    }

    # ------------------------------------------------------------------ other endpoints

    async def _handle_upload(self, request: web.Request) -> web.Response:
        upload = self._uploads.get(request.match_info["file_id"])
        if upload is None:
            return web.Response(status=404, text="not found", content_type="text/plain")
        data = await request.read()
        upload["data"] = data
        return web.Response(text=f"OK - {len(data)}", content_type="text/plain")

    async def _handle_file(self, request: web.Request) -> web.Response:
        file_id = request.match_info["key"].rpartition("-")[2]
        stored = self._files.get(file_id)
        if stored is None:
            return web.Response(status=404, text="not found", content_type="text/plain")
        if request.headers.get("Authorization") != f"Bearer {self.bot_token}":
            # Slack answers a login page, not an error, to a request without the token.
            page = (
                "<!DOCTYPE html><html><head><title>Slack</title></head><body>Sign in</body></html>"
            )
            return web.Response(text=page, content_type="text/html")
        mimetype = str(stored.obj.get("mimetype") or "application/octet-stream")
        return web.Response(body=stored.content, content_type=mimetype)

    async def _handle_response_url(self, request: web.Request) -> web.Response:
        target = self._response_urls.get(request.match_info["rid"])
        if target is None:
            return web.json_response({"ok": False, "error": "expired_url"}, status=404)
        try:
            body = await request.json()
        except ValueError:
            return web.json_response({"ok": False, "error": "invalid_payload"}, status=400)
        if not isinstance(body, dict):
            return web.json_response({"ok": False, "error": "invalid_payload"}, status=400)
        self.calls.append(("response_url", body))
        text = _opt_str(body.get("text")) or ""
        blocks = body.get("blocks") if isinstance(body.get("blocks"), list) else None
        original = (
            self._messages.get(target.channel, {}).get(target.message_ts)
            if target.message_ts
            else None
        )
        if _truthy(body.get("delete_original")) and original is not None:
            previous = self._view(original)
            self._remove(original)
            self._echo(self._deleted_event(target.channel, original.ts, previous))
        elif _truthy(body.get("replace_original")) and original is not None:
            previous = self._view(original)
            original.text, original.blocks = text, blocks
            original.edited, original.edited_ts = True, self._next_ts()
            view = self._view(original)
            self._echo(self._changed_event(target.channel, view, previous, original.edited_ts))
        elif body.get("response_type") == "in_channel":
            thread_ts = _opt_str(body.get("thread_ts")) or target.thread_ts
            msg = Message(
                ts=self._next_ts(),
                channel=target.channel,
                user=self.bot_user_id,
                bot_id=self.bot_id,
                text=text,
                blocks=blocks,
                thread_ts=thread_ts,
            )
            self._store(msg)
            self._echo({**self._view(msg), **self._event_fields(msg.channel, msg.ts)})
        else:
            thread_ts = _opt_str(body.get("thread_ts")) or target.thread_ts
            self.ephemerals.append(
                Ephemeral(target.channel, target.user, text, blocks, thread_ts, self._next_ts())
            )
        return web.json_response({"ok": True})

    async def _handle_socket(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["ticket"] not in self._tickets:
            return web.Response(status=401, text="invalid ticket", content_type="text/plain")
        # autoping: pings are answered with pongs; timeout bounds the closing handshake.
        ws = web.WebSocketResponse(timeout=2.0)
        await ws.prepare(request)
        sock = _Socket(ws)
        hello: JSON = {
            "type": "hello",
            "num_connections": sum(1 for s in self._sockets if not s.ws.closed) + 1,
            "debug_info": {
                **_SOCKET_DEBUG,
                "build_number": 1,
                "approximate_connection_time": 18060,
            },
            "connection_info": {"app_id": self.app_id},
        }
        try:
            await ws.send_json(hello)
        except ConnectionError:
            return ws
        self._sockets.append(sock)
        self._socket_mode = True
        try:
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    self._on_socket_frame(sock, str(msg.data))
        finally:
            self._sockets.remove(sock)
            for ack in sock.pending.values():
                if not ack.done():
                    ack.set_result(None)  # closed before the ack: the delivery failed
        return ws

    def _on_socket_frame(self, sock: _Socket, data: str) -> None:
        frame: object = None
        with contextlib.suppress(ValueError):
            frame = json.loads(data)
        if not isinstance(frame, dict) or not isinstance(frame.get("envelope_id"), str):
            log.warning("ignoring a Socket Mode frame that is not an ack: %r", data[:200])
            return
        self.socket_acks.append(frame)
        ack = sock.pending.get(frame["envelope_id"])
        if ack is not None and not ack.done():
            ack.set_result(frame)

    # ------------------------------------------------------------------ deliveries

    async def _deliver(
        self,
        kind: str,
        payload: JSON,
        body: bytes,
        content_type: str,
        *,
        headers: dict[str, str] | None = None,
        retry: tuple[int, str] = (0, ""),
    ) -> int:
        """Over the socket while one is connected, else POSTed to ``events_url``."""
        sock = self._open_socket()
        if sock is None and self.events_url is None and self._socket_mode:
            # Between two connections (a reconnect): Slack holds the delivery for the app.
            sock = await self._wait_open_socket(self.delivery_timeout)
            if sock is None:
                log.warning("no Socket Mode connection for a %s delivery", kind)
                self.delivered.append((0, payload))
                return 0
        if sock is None:
            return await self._post(body, content_type, payload, headers=headers)
        return await self._send_envelope(sock, kind, payload, retry)

    async def _send_envelope(
        self, sock: _Socket, kind: str, payload: JSON, retry: tuple[int, str]
    ) -> int:
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
        try:
            await sock.ws.send_json(frame)
            acked = await asyncio.wait_for(ack, self.delivery_timeout)
            status = 200 if acked is not None else 0
            reply = (acked or {}).get("payload")
            self._last_reply = json.dumps(reply).encode() if isinstance(reply, dict) else b""
        except (ConnectionError, TimeoutError) as exc:
            log.warning("Socket Mode delivery of %s failed: %r", envelope_id, exc)
            status = 0
        finally:
            sock.pending.pop(envelope_id, None)
        self.delivered.append((status, payload))
        return status

    def _open_socket(self) -> _Socket | None:
        # Slack picks one of the app's connections; the newest is as good as any.
        return next((s for s in reversed(self._sockets) if not s.ws.closed), None)

    async def _wait_open_socket(self, timeout: float) -> _Socket | None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while (sock := self._open_socket()) is None and loop.time() < deadline:
            await asyncio.sleep(0.01)
        return sock

    def _delivers(self) -> bool:
        return self.events_url is not None or self._socket_mode

    async def _post(
        self,
        body: bytes,
        content_type: str,
        record: JSON,
        *,
        timestamp: int | None = None,
        signature: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> int:
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
        try:
            async with self._session.post(self.events_url, data=body, headers=sent) as resp:
                self._last_reply = await resp.read()
                status = resp.status
        except (ClientError, TimeoutError) as exc:
            log.warning("delivery to %s failed: %r", self.events_url, exc)
            status = 0
        self.delivered.append((status, record))
        return status

    def _echo(self, event: JSON) -> None:
        # Slack sends the echo on its own, after answering the Web API call.
        if self.echo_events:
            self._echoes.put_nowait(event)

    async def _deliver_echoes(self) -> None:
        while True:
            event = await self._echoes.get()
            try:
                if self._delivers() and self._bot_in(event.get("channel")):
                    await self.send_event(event)
            except Exception:  # a background task must not die on one bad delivery
                log.exception("echo delivery failed")
            finally:
                self._echoes.task_done()

    async def _deliver_message_event(self, msg: Message) -> None:
        # Slack only sends message.channels events for channels the app is in.
        if self._delivers() and self.channels[msg.channel].member:
            await self.send_event(self.message_event(msg))

    def _bot_in(self, channel: object) -> bool:
        found = self.channels.get(channel) if isinstance(channel, str) else None
        return found is None or found.member

    def envelope(self, event: JSON, event_id: str | None = None) -> JSON:
        """The ``event_callback`` envelope ``event`` is delivered in (a new event id unless
        given one)."""
        event = dict(event)
        event.setdefault("event_ts", event.get("ts") or self._next_ts())
        context = {"et": event.get("type"), "tid": self.team_id, "aid": self.app_id}
        if isinstance(event.get("channel"), str):
            context["cid"] = event["channel"]
        encoded = base64.urlsafe_b64encode(json.dumps(context).encode()).decode().rstrip("=")
        return {
            "token": "legacy-verification-token",
            "team_id": self.team_id,
            "context_team_id": self.team_id,
            "context_enterprise_id": None,
            "api_app_id": self.app_id,
            "event": event,
            "type": "event_callback",
            "event_id": event_id or f"Ev{next(self._ids):08d}FAKE",
            "event_time": int(time.time()),
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": self.team_id,
                    "user_id": self.bot_user_id,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
            "event_context": f"4-{encoded}",
        }

    def _event_fields(self, channel: str, ts: str) -> JSON:
        return {"channel": channel, "event_ts": ts, "channel_type": "channel"}

    def _changed_event(self, channel: str, message: JSON, previous: JSON, ts: str) -> JSON:
        return {
            "type": "message",
            "subtype": "message_changed",
            "message": message,
            "previous_message": previous,
            "channel": channel,
            "hidden": True,
            "ts": ts,
            "event_ts": ts,
            "channel_type": "channel",
        }

    def _deleted_event(self, channel: str, deleted_ts: str, previous: JSON) -> JSON:
        ts = self._next_ts()
        return {
            "type": "message",
            "subtype": "message_deleted",
            "hidden": True,
            "deleted_ts": deleted_ts,
            "channel": channel,
            "previous_message": previous,
            "ts": ts,
            "event_ts": ts,
            "channel_type": "channel",
        }

    # ------------------------------------------------------------------ helpers

    def _next_ts(self) -> str:
        # Real-time microseconds, bumped when needed so every ts is unique and increasing.
        self._last_us = max(int(time.time() * 1_000_000), self._last_us + 1)
        return f"{self._last_us // 1_000_000}.{self._last_us % 1_000_000:06d}"

    def _store(self, msg: Message) -> None:
        self._messages.setdefault(msg.channel, {})[msg.ts] = msg

    def _remove(self, msg: Message) -> None:
        if not msg.is_reply and self.thread(msg.channel, msg.ts):
            # A deleted parent with replies stays as a tombstone, as in Slack.
            msg.text = "This message was deleted."
            msg.blocks = msg.files = msg.metadata = None
            msg.user, msg.bot_id, msg.subtype = "USLACKBOT", None, "tombstone"
            return
        del self._messages[msg.channel][msg.ts]

    def _known_channel(self, channel: str) -> Channel:
        if channel not in self.channels:
            raise KeyError(f"unknown channel {channel}: call add_channel first")
        return self.channels[channel]

    def _thread_root(self, channel: str, ts: str) -> str:
        target = self.message(channel, ts)
        return target.thread_ts or target.ts

    def _resolve_channel_id(self, raw: str | None) -> str | None:
        if not raw:
            return None
        if raw in self.channels:
            return raw
        name = raw.removeprefix("#")
        return next((c.id for c in self.channels.values() if c.name == name), None)

    def _known_channel_param(self, p: JSON) -> Channel:
        channel_id = self._resolve_channel_id(_opt_str(p.get("channel")))
        if channel_id is None:
            raise SlackError("channel_not_found")
        return self.channels[channel_id]

    def _writable_channel(self, p: JSON) -> Channel:
        channel = self._known_channel_param(p)
        if channel.archived:
            raise SlackError("is_archived")
        if not channel.member:
            raise SlackError("not_in_channel")
        return channel

    def _readable_channel(self, p: JSON) -> Channel:
        channel = self._known_channel_param(p)
        if not channel.member:
            raise SlackError("not_in_channel")
        return channel

    def _message_param(self, channel: str, ts: object) -> Message:
        msg = self._messages[channel].get(ts) if isinstance(ts, str) else None
        if msg is None:
            raise SlackError("message_not_found")
        return msg

    def _team_of(self, user_id: str) -> str:
        user = self.users.get(user_id)
        return user.team if user is not None and user.team else self.team_id

    def _bot_user(self, bot_id: str) -> User | None:
        return next((u for u in self.users.values() if u.bot_id == bot_id), None)

    def _bot_profile(self, bot_id: str) -> JSON:
        user = self._bot_user(bot_id)
        app_id = self.app_id if bot_id == self.bot_id else f"A{bot_id[1:]}"
        return {
            "id": bot_id,
            "deleted": False,
            "name": user.name if user else bot_id,
            "updated": 1_700_000_000,
            "app_id": app_id,
            "icons": {
                size: f"https://fake.slack-edge.com/bots/{bot_id}_{size[6:]}.png"
                for size in ("image_36", "image_48", "image_72")
            },
            "team_id": self.team_id,
        }

    def _user_ref(self, user_id: str) -> JSON:
        user = self.users.get(user_id)
        name = user.name if user else user_id.lower()
        return {"id": user_id, "username": name, "name": name, "team_id": self.team_id}

    def _user_object(self, user: User) -> JSON:
        real_name = user.real_name if user.real_name is not None else user.name
        profile: JSON = {
            "real_name": real_name,
            "real_name_normalized": real_name,
            "display_name": user.display_name,
            "display_name_normalized": user.display_name,
            "team": user.team or self.team_id,
        }
        if user.email is not None:
            profile["email"] = user.email
        for size in (24, 32, 48, 72, 192, 512):
            profile[f"image_{size}"] = user.image or (
                f"https://fake.slack-edge.com/avatars/{user.id}_{size}.png"
            )
        if user.image:
            profile["image_original"] = user.image
            profile["is_custom_image"] = True
        if user.bot_id:
            profile["bot_id"] = user.bot_id
        obj: JSON = {
            "id": user.id,
            "team_id": user.team or self.team_id,
            "name": user.name,
            "deleted": False,
            "real_name": real_name,
            "tz": "Europe/Paris",
            "tz_label": "Central European Time",
            "tz_offset": 3600,
            "profile": profile,
            "is_admin": False,
            "is_owner": False,
            "is_bot": user.is_bot,
            "is_app_user": False,
            "updated": 1_700_000_000,
        }
        return obj

    def _view(self, msg: Message, *, metadata: bool = True) -> JSON:
        """The message as Slack shows it in API answers, events and payloads."""
        view: JSON = {"type": "message"}
        if msg.subtype:
            view["subtype"] = msg.subtype
        view["text"] = msg.text
        if msg.user:
            view["user"] = msg.user
        if msg.bot_id:
            view["bot_id"] = msg.bot_id
            if msg.user:  # a modern bot; legacy bot_message has neither app_id nor profile
                profile = self._bot_profile(msg.bot_id)
                view["app_id"] = profile["app_id"]
                view["bot_profile"] = profile
        if msg.username:
            view["username"] = msg.username
        if msg.icon_url:
            view["icons"] = {"image_48": msg.icon_url}
        view["ts"] = msg.ts
        if msg.user and not msg.bot_id and msg.subtype != "tombstone":
            view["client_msg_id"] = str(uuid.uuid5(_NS, f"{msg.channel}/{msg.ts}"))
        if msg.user and msg.subtype != "tombstone":
            view["team"] = self._team_of(msg.user)
            if view["team"] != self.team_id:  # a Slack Connect guest's message
                view["user_team"] = view["source_team"] = view["team"]
        blocks = msg.blocks
        if blocks is None and msg.text and msg.subtype not in ("tombstone", "bot_message"):
            blocks = [_rich_text(msg.text)]  # Slack renders plain text as rich_text blocks
        if blocks:
            view["blocks"] = [
                block if "block_id" in block else {**block, "block_id": _block_id(msg.ts, i)}
                for i, block in enumerate(blocks)
            ]
        if msg.files:
            view["files"] = [_file_in_message(f) for f in msg.files]
            view["upload"] = False
            view["display_as_bot"] = False
        if msg.edited:
            view["edited"] = {"user": msg.user or "", "ts": msg.edited_ts or msg.ts}
        if msg.is_reply:
            view["thread_ts"] = msg.thread_ts
            parent = self._messages.get(msg.channel, {}).get(str(msg.thread_ts))
            if parent is not None and parent.user:
                view["parent_user_id"] = parent.user
        else:
            replies = self.thread(msg.channel, msg.ts)
            if replies:
                users = list(dict.fromkeys(r.user or r.bot_id or "" for r in replies))
                view.update(
                    thread_ts=msg.ts,
                    reply_count=len(replies),
                    reply_users_count=len(users),
                    latest_reply=replies[-1].ts,
                    reply_users=users,
                    is_locked=msg.locked,
                    subscribed=False,
                )
        if msg.reactions:
            view["reactions"] = [
                {"name": name, "users": list(users), "count": len(users)}
                for name, users in msg.reactions.items()
            ]
        if metadata and msg.metadata:
            view["metadata"] = copy.deepcopy(msg.metadata)
        return view

    def _store_file(self, spec: JSON, user: str) -> JSON:
        spec = dict(spec)
        content = spec.pop("content", b"")
        data = content.encode() if isinstance(content, str) else bytes(content)
        file_id = str(spec.pop("id", None) or f"F{next(self._ids):08d}")
        name = str(spec.get("name") or "file")
        mimetype = (
            spec.get("mimetype") or mimetypes.guess_type(name)[0] or "application/octet-stream"
        )
        filetype = spec.get("filetype") or (
            name.rpartition(".")[2].lower() if "." in name else "binary"
        )
        key = f"{self.team_id}-{file_id}"
        team = self._team_of(user)
        now = int(time.time())
        obj: JSON = {
            "id": file_id,
            "created": now,
            "timestamp": now,
            "name": name,
            "title": spec.get("title") or name,
            "mimetype": mimetype,
            "filetype": filetype,
            "pretty_type": filetype.upper(),
            "user": user,
            "user_team": team,
            "editable": False,
            "size": len(data),
            "mode": "hosted",
            "is_external": False,
            "external_type": "",
            "is_public": True,
            "public_url_shared": False,
            "display_as_bot": False,
            "username": "",
            "url_private": f"{self.base_url}/files-pri/{key}/{name}",
            "url_private_download": f"{self.base_url}/files-pri/{key}/download/{name}",
            "permalink": f"https://{self.team_domain}.slack.com/files/{user}/{file_id}/{name}",
            "permalink_public": f"https://slack-files.com/{key}-fake",
            "has_rich_preview": False,
            # Another organisation's file reaches the app as a stub to look up (files.info).
            "file_access": "visible" if team == self.team_id else "check_file_info",
        }
        obj.update(spec)
        self._files[file_id] = _StoredFile(obj, data)
        return obj

    def _share(self, msg: Message) -> None:
        """Record where the message's files are shared, as `files.info` tells it (`channels`
        and `shares`: how an app learns that an upload it lost the answer to went through)."""
        for file in msg.files or []:
            stored = self._files.get(str(file.get("id")))
            if stored is None:
                continue
            share = {"ts": msg.ts, "channel_name": self.channels[msg.channel].name}
            if msg.thread_ts:
                share["thread_ts"] = msg.thread_ts
            stored.obj.setdefault("channels", []).append(msg.channel)
            public = stored.obj.setdefault("shares", {}).setdefault("public", {})
            public.setdefault(msg.channel, []).append(share)

    def _response_url(
        self, channel: str, user: str, message_ts: str | None, thread_ts: str | None
    ) -> str:
        rid = f"{self.team_id}/{next(self._ids)}/{uuid.uuid4().hex[:24]}"
        self._response_urls[rid.replace("/", "-")] = _ResponseUrl(
            channel, user, message_ts, thread_ts
        )
        return f"{self.base_url}/response_url/{rid.replace('/', '-')}"

    def _trigger_id(self) -> str:
        return f"{next(self._ids)}.{int(time.time())}.{uuid.uuid4().hex}"


async def wait_until(
    predicate: Callable[[], bool],
    timeout: float,
    state: Callable[[], str] | None = None,
) -> None:
    """Poll ``predicate`` every 10 ms; AssertionError naming it if false after ``timeout``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        if predicate():
            return
        if loop.time() >= deadline:
            what = getattr(predicate, "__qualname__", repr(predicate))
            with contextlib.suppress(OSError, TypeError):
                what = inspect.getsource(predicate).strip()
            detail = f"; {state()}" if state is not None else ""
            raise AssertionError(f"condition not met within {timeout} s: {what}{detail}")
        await asyncio.sleep(0.01)


def _accepts_response_payload(kind: str, payload: JSON) -> bool:
    # Slack accepts a response in the ack where HTTP mode would read the response body.
    if kind == "slash_commands":
        return True
    return kind == "interactive" and payload.get("type") in ("view_submission", "block_suggestion")


def _answer(body: JSON, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    all_headers = {"X-OAuth-Scopes": SCOPES, "X-Accepted-OAuth-Scopes": "", **(headers or {})}
    return web.json_response(body, status=status, headers=all_headers)


def _parse_body(body: bytes) -> JSON:
    """Best-effort reading of a raw delivery body, for the ``delivered`` record."""
    text = body.decode(errors="replace")
    parsed: object = None
    with contextlib.suppress(ValueError):
        parsed = json.loads(text)
    if parsed is None:
        with contextlib.suppress(ValueError, KeyError):
            parsed = json.loads(parse_qs(text)["payload"][0])
    return parsed if isinstance(parsed, dict) else {"raw": text}


def _opt_str(value: object) -> str | None:
    return None if value is None else str(value)


def _truthy(value: object) -> bool:
    return value is True or str(value).lower() in ("true", "1")


def _ts_key(ts: str) -> tuple[int, int]:
    seconds, _, fraction = ts.partition(".")
    try:
        return int(seconds or 0), int((fraction + "000000")[:6])
    except ValueError:
        return 0, 0


def _plain(text: str) -> JSON:
    return {"type": "plain_text", "text": text, "emoji": True}


def _block_id(ts: str, index: int) -> str:
    # Slack gives blocks without a block_id a short random one; derive it to stay stable.
    digest = hashlib.sha1(f"{ts}/{index}".encode()).digest()
    return base64.b32encode(digest).decode()[:5]


def _rich_text(text: str) -> JSON:
    elements: list[JSON] = []
    pos = 0
    for match in _MENTION.finditer(text):
        if match.start() > pos:
            elements.append({"type": "text", "text": html.unescape(text[pos : match.start()])})
        target, _, label = match.group(1).partition("|")
        if target.startswith("@"):
            elements.append({"type": "user", "user_id": target[1:]})
        elif target.startswith("#"):
            elements.append({"type": "channel", "channel_id": target[1:]})
        else:
            link: JSON = {"type": "link", "url": target}
            if label:
                link["text"] = label
            elements.append(link)
        pos = match.end()
    if pos < len(text):
        elements.append({"type": "text", "text": html.unescape(text[pos:])})
    return {
        "type": "rich_text",
        "elements": [{"type": "rich_text_section", "elements": elements}],
    }


def _find_element(blocks: list[JSON], action_id: str) -> tuple[JSON, JSON] | None:
    for block in blocks:
        candidates: list[Any] = []
        if block.get("type") == "actions":
            candidates = list(block.get("elements") or [])
        elif block.get("type") == "section":
            candidates = [block.get("accessory")]
        elif block.get("type") == "input":
            candidates = [block.get("element")]
        for element in candidates:
            if isinstance(element, dict) and element.get("action_id") == action_id:
                return block, element
    return None


_TEXT_TYPES = ("plain_text", "mrkdwn")


def _check_content(p: JSON) -> tuple[str, list[JSON] | None]:
    """A new message's ``text`` and ``blocks``, refused as chat.postMessage refuses them."""
    text = _opt_str(p.get("text")) or ""
    blocks = _check_blocks(p.get("blocks"))
    if not text and not blocks and not p.get("attachments"):
        raise SlackError("no_text")
    _check_blocks_text(blocks)
    if len(text) > MAX_TEXT:
        raise SlackError("msg_too_long")
    return text, blocks


def _check_blocks(raw: object) -> list[JSON] | None:
    """A message's ``blocks`` as Slack validates them: ``invalid_blocks`` with its reasons."""
    if raw is None or raw == "":
        return None
    if not isinstance(raw, list):
        raise SlackError("invalid_blocks_format")
    errors = _block_errors(raw, "/blocks", MAX_BLOCKS)
    if errors:
        raise SlackError("invalid_blocks", errors=errors, response_metadata=_messages(errors))
    return [dict(b) for b in raw]


# Slack refuses a message whose blocks carry too much text in all with msg_blocks_too_long, a
# limit the Block Kit docs do not state (chat.postMessage's page lists only the error). A Slack
# engineer described it as "12,000 text characters with a buffer for block containers"
# (slackapi/bolt-js#2509), and apps measure it by summing every `text` string of the block tree
# (bolt-js#2867). The fake sums the same: each string under a "text" key at any depth (section
# text and fields, header, context elements, button and option labels, confirm dialogs, image
# titles, rich_text runs and link labels, markdown blocks) and nothing else: not alt_text, URLs,
# values, ids or emoji names, which are not text a reader sees. It cannot match Slack exactly:
# in #2509 markdown-only blocks passed up to 13,297 characters (a divider lowered that by 125),
# while #2867 was refused at 11,341 with rich_text + section + header + divider. Slack adds some
# per-block overhead it does not publish, so a sender should keep a margin below 12,000.
def _blocks_text_length(value: object, key: str = "") -> int:
    """The characters of every ``text`` string in ``value``, recursively."""
    if isinstance(value, str):
        return len(value) if key == "text" else 0
    if isinstance(value, dict):
        return sum(_blocks_text_length(item, str(name)) for name, item in value.items())
    if isinstance(value, list):
        return sum(_blocks_text_length(item) for item in value)
    return 0


def _check_blocks_text(blocks: list[JSON] | None) -> None:
    # Applied to chat.update and chat.postEphemeral too: their pages do not list the error,
    # but they take the same blocks, and a sender that counts on them to be laxer is fragile.
    if blocks and _blocks_text_length(blocks) > MAX_BLOCKS_TEXT:
        raise SlackError("msg_blocks_too_long")


def _check_view(raw: object) -> JSON:
    """A view as Slack validates it: ``invalid_arguments`` with its reasons."""
    if not isinstance(raw, dict):
        raise _invalid_arguments(["must be an object [json-pointer:/view]"])
    if len(json.dumps(raw)) > MAX_VIEW_SIZE:
        raise SlackError("view_too_large")
    blocks = raw.get("blocks")
    if not isinstance(blocks, list):
        raise _invalid_arguments(["missing required field: blocks [json-pointer:/view]"])
    errors = _block_errors(blocks, "/view/blocks", MAX_VIEW_BLOCKS)
    if not errors:  # the view's own fields (type, title, 1 to 100 blocks...)
        try:
            View(**raw).validate_json()
        except SlackObjectFormationError as exc:
            errors.append(f"{exc} [json-pointer:/view]")
        except (TypeError, ValueError, AttributeError, KeyError) as exc:
            errors.append(f"{_sdk_reason(exc)} [json-pointer:/view]")
    if errors:
        raise _invalid_arguments(errors)
    return dict(raw)


def _invalid_arguments(errors: list[str]) -> SlackError:
    return SlackError("invalid_arguments", response_metadata=_messages(errors))


def _messages(errors: list[str]) -> JSON:
    return {"messages": [f"[ERROR] {error}" for error in errors]}


def _block_errors(raw: list[Any], where: str, most: int) -> list[str]:
    """Why Slack would refuse these blocks, in its words (empty: it would take them)."""
    errors: list[str] = []
    if len(raw) > most:
        errors.append(f"no more than {most} items allowed [json-pointer:{where}]")
    block_ids: set[str] = set()
    for i, block in enumerate(raw):
        at = f"{where}/{i}"
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            errors.append(f"missing required field: type [json-pointer:{at}]")
            continue
        # slack_sdk's models check most of Block Kit. The hand checks cover what they miss
        # and the commonest limits in Slack's own words; where those find something, the
        # SDK would only say it again.
        errors.extend(_hand_errors(block, at, block_ids) or _sdk_errors(block, at))
    return errors


def _hand_errors(block: JSON, at: str, block_ids: set[str]) -> list[str]:
    errors: list[str] = []
    block_id = block.get("block_id")
    if block_id is not None:
        if not isinstance(block_id, str) or len(block_id) > MAX_BLOCK_ID:
            errors.append(f"invalid block_id [json-pointer:{at}/block_id]")
        elif block_id in block_ids:
            errors.append(f"duplicate block_id [json-pointer:{at}/block_id]")
        else:
            block_ids.add(block_id)
    kind = block["type"]
    if kind == "section":
        if "text" in block:
            errors += _text_errors(block["text"], f"{at}/text", MAX_SECTION_TEXT)
        fields = block.get("fields")
        for j, item in enumerate(fields if isinstance(fields, list) else []):
            errors += _text_errors(item, f"{at}/fields/{j}", MAX_FIELD_TEXT)
        if isinstance(block.get("accessory"), dict):
            errors += _element_errors(block["accessory"], f"{at}/accessory", set())
    elif kind == "header":
        errors += _text_errors(block.get("text"), f"{at}/text", MAX_HEADER_TEXT, plain=True)
    elif kind == "actions":
        elements = block.get("elements")
        if not isinstance(elements, list) or not elements:
            return [*errors, f"must provide elements [json-pointer:{at}/elements]"]
        action_ids: set[str] = set()
        for j, element in enumerate(elements):
            errors += _element_errors(element, f"{at}/elements/{j}", action_ids)
    elif kind == "context":
        elements = block.get("elements")
        if not isinstance(elements, list) or not 1 <= len(elements) <= MAX_CONTEXT_ELEMENTS:
            limit = MAX_CONTEXT_ELEMENTS
            return [*errors, f"must provide 1 to {limit} elements [json-pointer:{at}/elements]"]
        for j, element in enumerate(elements):
            if isinstance(element, dict) and element.get("type") in _TEXT_TYPES:
                errors += _text_errors(element, f"{at}/elements/{j}", MAX_SECTION_TEXT)
    return errors


def _text_errors(obj: object, at: str, most: int, *, plain: bool = False) -> list[str]:
    """A text object's faults: its type, and 1 to ``most`` characters."""
    if not isinstance(obj, dict) or obj.get("type") not in (
        ("plain_text",) if plain else _TEXT_TYPES
    ):
        return [f"must be a {'plain_text' if plain else 'text'} object [json-pointer:{at}]"]
    text = obj.get("text")
    if not isinstance(text, str):
        return [f"missing required field: text [json-pointer:{at}]"]
    if not text:
        return [f"must be more than 0 characters [json-pointer:{at}/text]"]
    if len(text) > most:
        return [f"must be less than {most + 1} characters [json-pointer:{at}/text]"]
    return []


def _element_errors(element: object, at: str, action_ids: set[str]) -> list[str]:
    if not isinstance(element, dict) or not isinstance(element.get("type"), str):
        return [f"missing required field: type [json-pointer:{at}]"]
    errors: list[str] = []
    action_id = element.get("action_id")
    if isinstance(action_id, str):
        if action_id in action_ids:
            errors.append(f"duplicate action_id [json-pointer:{at}/action_id]")
        action_ids.add(action_id)
    if element["type"] == "button":
        errors += _text_errors(element.get("text"), f"{at}/text", MAX_BUTTON_TEXT, plain=True)
        value = element.get("value")
        if isinstance(value, str) and len(value) > MAX_BUTTON_VALUE:
            limit = MAX_BUTTON_VALUE + 1
            errors.append(f"must be less than {limit} characters [json-pointer:{at}/value]")
    return errors


def _sdk_errors(block: JSON, at: str) -> list[str]:
    """What slack_sdk's Block Kit models find wrong with one block, down to its elements."""
    try:
        parsed = Block.parse(block)
    except (TypeError, ValueError, AttributeError, KeyError) as exc:
        return [f"{_sdk_reason(exc)} [json-pointer:{at}]"]
    if parsed is None:
        return [f"unsupported type: {block['type']} [json-pointer:{at}/type]"]
    errors = _model_errors(parsed, at)
    for key in ("accessory", "element"):  # the SDK drops an element of a type it lacks
        if isinstance(block.get(key), dict) and getattr(parsed, key, None) is None:
            errors.append(f"unsupported type [json-pointer:{at}/{key}]")
    return errors


def _model_errors(value: object, at: str) -> list[str]:
    # A block's validate_json checks only its own fields: walk into its elements too.
    if isinstance(value, list | tuple):
        errors: list[str] = []
        for i, item in enumerate(value):
            if item is None:  # the SDK parses an element of a type it lacks to None
                errors.append(f"unsupported type [json-pointer:{at}/{i}]")
            else:
                errors += _model_errors(item, f"{at}/{i}")
        return errors
    if not isinstance(value, JsonObject):
        return []
    errors = []
    try:
        value.validate_json()
    except SlackObjectFormationError as exc:
        errors.append(f"{exc} [json-pointer:{at}]")
    except (TypeError, ValueError, AttributeError) as exc:
        errors.append(f"{_sdk_reason(exc)} [json-pointer:{at}]")
    for name, attr in vars(value).items():
        errors += _model_errors(attr, f"{at}/{name}")
    return errors


def _sdk_reason(exc: Exception) -> str:
    # The models take Block Kit fields as keyword arguments: a missing one is a TypeError.
    found = re.search(r"argument: '(\w+)'", str(exc))
    return f"missing required field: {found.group(1)}" if found else f"invalid: {exc}"


def _file_in_message(obj: JSON) -> JSON:
    """A file as a message carries it: whole, or only a stub for a Slack Connect file."""
    if obj.get("file_access") != "check_file_info":
        return copy.deepcopy(obj)
    # What Slack sends for another organisation's file: no name, no URLs; ask files.info.
    return {
        "id": obj["id"],
        "mode": "file_access",
        "file_access": "check_file_info",
        "created": 0,
        "timestamp": 0,
        "user": "",
    }


def _check_metadata(raw: object) -> JSON | None:
    if raw is None or raw == "":
        return None
    if (
        not isinstance(raw, dict)
        or not isinstance(raw.get("event_type"), str)
        or not isinstance(raw.get("event_payload"), dict)
    ):
        raise SlackError("invalid_metadata_format")
    return {"event_type": raw["event_type"], "event_payload": copy.deepcopy(raw["event_payload"])}


def _paginate(items: list[JSON], p: JSON) -> tuple[list[JSON], bool, str]:
    """Cut one page out of ``items`` following Slack's cursor convention."""
    try:
        limit = int(p.get("limit") or DEFAULT_PAGE)
    except (TypeError, ValueError):
        raise SlackError("invalid_limit") from None
    limit = max(1, min(limit, MAX_PAGE))
    start = 0
    cursor = _opt_str(p.get("cursor"))
    if cursor:
        try:
            decoded = base64.b64decode(cursor + "==").decode()
        except ValueError:
            raise SlackError("invalid_cursor") from None
        ts = decoded.removeprefix("next_ts:")
        start = next((i for i, item in enumerate(items) if item["ts"] == ts), -1)
        if not decoded.startswith("next_ts:") or start < 0:
            raise SlackError("invalid_cursor")
    page = items[start : start + limit]
    has_more = start + limit < len(items)
    next_cursor = ""
    if has_more:
        next_ts = items[start + limit]["ts"]
        next_cursor = base64.b64encode(f"next_ts:{next_ts}".encode()).decode()
    return page, has_more, next_cursor
