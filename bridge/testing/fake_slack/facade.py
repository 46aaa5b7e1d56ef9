"""``FakeSlack``: the fake's one public face, serving its parts on 127.0.0.1."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from functools import partial
from types import TracebackType
from typing import Generic, Self, TypeVar, overload

from aiohttp import web

from bridge.testing.fake_slack import events, files
from bridge.testing.fake_slack.delivery import Delivery, parse_body
from bridge.testing.fake_slack.faults import Faults
from bridge.testing.fake_slack.modals import Typed
from bridge.testing.fake_slack.models import JSON, Channel, Ephemeral, Message, Submission, User
from bridge.testing.fake_slack.people import People
from bridge.testing.fake_slack.ratelimits import RateLimits
from bridge.testing.fake_slack.response_urls import handle_response_url
from bridge.testing.fake_slack.socket_mode import SocketMode
from bridge.testing.fake_slack.web_api import WebApi
from bridge.testing.fake_slack.workspace import Workspace
from bridge.testing.waiting import wait_until

_T = TypeVar("_T")


class _Kept(Generic[_T]):
    """An attribute of FakeSlack kept by one of its parts: read and written there."""

    def __init__(self, part: str, name: str = "") -> None:
        self._part = part
        self._name = name

    def __set_name__(self, owner: type[object], name: str) -> None:
        self._name = self._name or name

    @overload
    def __get__(self, obj: None, owner: type[object]) -> _Kept[_T]: ...
    @overload
    def __get__(self, obj: object, owner: type[object]) -> _T: ...
    def __get__(self, obj: object | None, owner: type[object]) -> _Kept[_T] | _T:
        if obj is None:
            return self
        value: _T = getattr(getattr(obj, self._part), self._name)
        return value

    def __set__(self, obj: object, value: _T) -> None:
        setattr(getattr(obj, self._part), self._name, value)


class FakeSlack:
    """A Slack workspace with one app installed (the bridge), served on 127.0.0.1.

    A facade over its parts: ``workspace`` (the state), ``web_api`` (the Web API, after
    ``faults`` and ``limits``), ``delivery`` (what Slack sends the app, over HTTP or
    ``socket_mode``) and ``people`` (who act in the workspace).
    """

    # The workspace and its app; settable (a test may play another workspace's events).
    bot_token = _Kept[str]("workspace")
    app_token = _Kept[str]("workspace")  # the app-level token Socket Mode connects with
    signing_secret = _Kept[str]("workspace")
    team_id = _Kept[str]("workspace")
    team_domain = _Kept[str]("workspace")
    app_id = _Kept[str]("workspace")
    bot_user_id = _Kept[str]("workspace")
    bot_id = _Kept[str]("workspace")
    bot_name = _Kept[str]("workspace")
    channels = _Kept[dict[str, Channel]]("workspace")
    users = _Kept[dict[str, User]]("workspace")
    usergroups = _Kept[dict[str, list[str]]]("workspace")
    # Workspace settings: how long after posting a message may still be edited (seconds;
    # None: always), and whether file uploads are turned off.
    edit_window = _Kept[float | None]("workspace")
    uploads_disabled = _Kept[bool]("workspace")
    echo_events = _Kept[bool]("workspace")  # whether the app's own actions come back to it
    # What the fake measures Slack's time limits with (seconds, time.monotonic by default): a
    # trigger_id's TRIGGER_TTL and the app's SUBMIT_TIMEOUT to answer a submission. Replace it
    # with a function of your own to play time passing without sleeping.
    clock = _Kept[Callable[[], float]]("workspace")

    # What happened, for assertions.
    calls = _Kept[list[tuple[str, JSON]]]("workspace")  # Web API calls and response_url posts
    ephemerals = _Kept[list[Ephemeral]]("workspace")
    home_views = _Kept[dict[str, JSON]]("workspace")  # user id -> last view published
    submissions = _Kept[list[Submission]]("workspace")  # every modal submission, in order
    delivered = _Kept[list[tuple[int, JSON]]]("delivery")  # (status, 0 if failed; payload)
    socket_acks = _Kept[list[JSON]]("socket_mode", "acks")  # every ack frame, in order
    ratelimited = _Kept[int]("limits")  # chat.postMessage calls refused by limit_posts()
    # Every call the fake's own limits answered 429, per method (see limit_method).
    ratelimited_by_method = _Kept[Counter[str]]("limits")
    post_limit = _Kept[tuple[float, int] | None]("limits")  # see limit_posts()
    hung = _Kept[set[tuple[str, str | None]]]("faults")  # (method, channel) never answered

    # Where deliveries go: the app's HTTP endpoint (None: Socket Mode only), and how long
    # Slack waits for the app's answer (seconds).
    events_url = _Kept[str | None]("delivery")
    delivery_timeout = _Kept[float]("delivery", "timeout")

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
        self.workspace = Workspace(
            bot_token=bot_token,
            app_token=app_token,
            signing_secret=signing_secret,
            team_id=team_id,
            app_id=app_id,
            bot_user_id=bot_user_id,
            bot_id=bot_id,
            echo_events=echo_events,
            on_store=self._store,
        )
        self.faults = Faults()
        self.limits = RateLimits()
        self.web_api = WebApi(self.workspace, self.faults, self.limits)
        self.socket_mode = SocketMode(self.workspace)
        self.delivery = Delivery(self.workspace, self.socket_mode)
        self.people = People(self.workspace, self.delivery)
        self._runner: web.AppRunner | None = None

    def _store(self, msg: Message) -> None:
        """Called with every new message once stored (posted, said, uploaded). Does nothing
        here: a subclass overrides it to watch arrivals (``bench.fakes`` times them)."""

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Listen on a free port of 127.0.0.1."""
        ws = self.workspace
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/api/{method}", self.web_api.handle)
        app.router.add_post("/upload/v1/{file_id}", partial(files.handle_upload, ws))
        app.router.add_get("/files-pri/{key}/{name}", partial(files.handle_download, ws))
        app.router.add_get("/files-pri/{key}/download/{name}", partial(files.handle_download, ws))
        app.router.add_post("/response_url/{rid}", partial(handle_response_url, ws))
        app.router.add_get("/socket/{ticket}", self.socket_mode.handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        ws.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        self.delivery.start()

    async def stop(self) -> None:
        """Stop serving; pending background deliveries are cancelled."""
        self.faults.heal()  # calls left hanging get their answer, so the server can close
        await self.delivery.stop()
        await self.socket_mode.close_all()
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
        return self.workspace.base_url

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
        self.workspace.add_channel(
            channel_id, name, archived=archived, member=member, read_only=read_only, people=people
        )

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
        self.workspace.add_user(
            user_id,
            name,
            display_name=display_name,
            real_name=real_name,
            email=email,
            image=image,
            is_bot=is_bot,
            bot_id=bot_id,
            team=team,
        )

    def add_usergroup(self, usergroup_id: str, users: list[str]) -> None:
        """Create a user group (``usergroups.users.list``)."""
        self.workspace.add_usergroup(usergroup_id, users)

    def lock_thread(self, channel: str, ts: str, locked: bool = True) -> None:
        """Admins lock (or unlock) the thread of ``ts``: replies then get
        ``restricted_action_thread_locked``, reactions in it ``thread_locked``."""
        self.workspace.lock_thread(channel, ts, locked)

    # ------------------------------------------------------------------ state for assertions

    def messages(self, channel: str) -> list[Message]:
        """All messages of a channel (parents and replies) in ts order."""
        return self.workspace.messages(channel)

    def thread(self, channel: str, thread_ts: str) -> list[Message]:
        """The replies of a thread in ts order, parent excluded."""
        return self.workspace.thread(channel, thread_ts)

    def message(self, channel: str, ts: str) -> Message:
        """The message with that ts; KeyError if there is none."""
        return self.workspace.message(channel, ts)

    def calls_of(self, method: str) -> list[JSON]:
        """The params of every call of one Web API method, in order."""
        return [params for name, params in self.calls if name == method]

    def open_views(self, user: str) -> list[JSON]:
        """The views of the person's open modal as Slack keeps them, root first and the one
        they see last (a push adds one); empty when they have none open."""
        return list(self.workspace.modals.get(user, []))

    def file_content(self, file_id: str) -> bytes:
        """The bytes of a stored file."""
        return self.workspace.files[file_id].content

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
        self.faults.fail(
            method, error, times=times, status=status, headers=headers, applied=applied
        )

    def hang(self, method: str, channel: str) -> None:
        """Never answer calls of ``method`` for ``channel`` (until ``heal``)."""
        self.faults.hang(method, channel)

    def heal(self, method: str | None = None) -> None:
        """Drop the faults still queued for ``method`` (all methods when None); what hung
        is answered now (504 ``request_timeout``)."""
        self.faults.heal(method)

    def limit_posts(self, rate: float, burst: int = 1) -> None:
        """Enforce Slack's pacing from now on: more than ``rate`` posts a second per channel
        (after a ``burst``) get 429 ``ratelimited``; ``ratelimited`` counts them."""
        self.limits.limit_posts(rate, burst)

    def rate_limit(self, channel: str, retry_after: int) -> None:
        """Answer the next ``chat.postMessage`` to ``channel`` with 429 ``ratelimited``."""
        self.limits.rate_limit(channel, retry_after)

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
        self.limits.limit_method(method, per_minute, burst=burst, scale=scale)

    def enforce_tiers(self, scale: float = 1.0) -> None:
        """``limit_method`` every method the fake serves by its documented tier (``TIERS``):
        Tier 2 20 a minute, Tier 3 50, Tier 4 100, each ``scale`` times faster (``scale=60``:
        50 a second for a Tier 3 method). ``chat.postMessage`` keeps ``limit_posts``."""
        self.limits.enforce_tiers(scale)

    # ------------------------------------------------------------------ waiting

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        """Poll ``predicate`` every 10 ms; AssertionError if still false after ``timeout``."""

        def state() -> str:
            methods = [name for name, _ in self.calls[-10:]]
            statuses = [status for status, _ in self.delivered[-10:]]
            return f"last Web API calls {methods}; last delivery statuses {statuses}"

        await wait_until(predicate, timeout, state)

    async def flush(self, timeout: float = 5.0) -> None:
        """Wait until every queued echo event has been delivered."""
        await self.delivery.flush(timeout)

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
        return await self.people.user_says(
            user, channel, text, thread_ts=thread_ts, files=files, deliver=deliver
        )

    async def edit(self, user: str, channel: str, ts: str, text: str) -> None:
        """A person edits a message: ``message_changed`` event."""
        await self.people.edit(user, channel, ts, text)

    async def delete(self, channel: str, ts: str) -> None:
        """A message is deleted: ``message_deleted`` event."""
        await self.people.delete(channel, ts)

    async def other_bot_says(
        self, bot_id: str, channel: str, text: str, *, thread_ts: str | None = None
    ) -> str:
        """Another app posts: a modern bot message if a user with that ``bot_id`` was added,
        else a legacy ``bot_message``. Returns its ts."""
        return await self.people.other_bot_says(bot_id, channel, text, thread_ts=thread_ts)

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
        still sent (with ``value``): stale clicks happen. Its ``trigger_id`` opens a modal for
        this person (``views.open``), once, within ``TRIGGER_TTL``.
        """
        return await self.people.click(user, channel, message_ts, action_id, value)

    async def slash_command(self, user: str, channel: str, command: str, text: str = "") -> int:
        """A person runs a slash command in a channel; returns the bridge's HTTP status.

        What the app answers at once (JSON, or plain text) becomes an ephemeral for them. Its
        ``trigger_id`` opens a modal for them, as a click's does.
        """
        return await self.people.slash_command(user, channel, command, text)

    async def submit_view(
        self, user: str, view_id: str, values: Mapping[str, Typed] | None = None
    ) -> Submission:
        """A person types ``values`` into the modal view they see and clicks its submit button.

        ``values`` maps an input block's block_id to the text typed into its
        ``plain_text_input`` (None or "": left empty), or, for another element, to its state
        value as Slack sends it (``{"selected_option": {...}}``). Blocks not named keep what
        they hold: ``initial_value``, or what was typed in an earlier try. The app gets a
        ``view_submission`` payload with ``view.state.values`` filled (``{block_id:
        {action_id: {"type": "plain_text_input", "value": ...}}}``), like a click.

        ``ClientRefused``, with nothing sent, where Slack's client would not submit: a view
        that is not the one they see, or has no submit button; a required input left empty;
        text shorter than ``min_length``, longer than ``max_length``, or with a newline in a
        single-line input.

        The ``Submission`` says what Slack did with the app's answer: any 2xx without a
        ``response_action`` (an empty body, ``{}``, a bare Socket Mode ack) closes the view;
        ``errors`` keeps it open with the errors shown under its input blocks; ``update``
        replaces it (same id, inputs kept), ``push`` stacks a new view on it (3 at most),
        ``clear`` closes the whole modal. An answer that is not 2xx, comes after
        ``SUBMIT_TIMEOUT`` on ``clock``, or cannot be followed (a view Slack refuses, errors
        for blocks that are not inputs of the view...) leaves the view as it was: Slack shows
        the person an error, and ``failure`` says why. ``open_views`` shows the result.
        """
        return await self.people.submit_view(user, view_id, values or {})

    async def close_view(self, user: str, view_id: str) -> int | None:
        """A person closes the modal view they see (its close button, or the x): it goes, and
        with it the whole modal if the view has ``clear_on_close``. The app gets a
        ``view_closed`` payload (``is_cleared`` says whether the modal was cleared) only if
        the view has ``notify_on_close``: then its HTTP status is returned, else None.
        ``ClientRefused`` for a view that is not the one they see."""
        return await self.people.close_view(user, view_id)

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
        return await self.delivery.send_event(
            event, event_id=event_id, retry_num=retry_num, retry_reason=retry_reason
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
        status, _ = await self.delivery.post(
            body,
            content_type,
            parse_body(body),
            timestamp=timestamp,
            signature=signature,
            headers=headers,
        )
        return status

    def message_event(self, msg: Message) -> JSON:
        """The ``message`` event Slack sends for the stored message ``msg``."""
        return events.message_event(self.workspace, msg)

    def envelope(self, event: JSON, event_id: str | None = None) -> JSON:
        """The ``event_callback`` envelope ``event`` is delivered in (a new event id unless
        given one)."""
        return events.envelope(self.workspace, event, event_id)

    def signature(self, timestamp: int | str, body: bytes) -> str:
        """Slack's v0 signature of ``body`` sent at ``timestamp``."""
        return self.delivery.signature(timestamp, body)

    # ------------------------------------------------------------------ Socket Mode

    @property
    def socket_connected(self) -> bool:
        """True while a Socket Mode client is connected (deliveries then go over it)."""
        return self.socket_mode.connected

    async def wait_socket(self, timeout: float = 5.0) -> None:
        """Wait until a Socket Mode client is connected (AssertionError after ``timeout``)."""
        await self.socket_mode.wait_connected(timeout)

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
        await self.socket_mode.disconnect(reason, grace)
