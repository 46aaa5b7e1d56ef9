"""The fake's state: one workspace, the app installed in it, and what the app did there."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable

from bridge.testing.fake_slack.models import (
    JSON,
    Channel,
    Ephemeral,
    Message,
    ResponseUrl,
    StoredFile,
    Submission,
    Trigger,
    Upload,
    User,
    ts_key,
)

# A Web API method: its arguments in, the fields of its answer out (or a SlackError).
Handler = Callable[["Workspace", JSON], JSON]


class Workspace:
    """A Slack workspace with one app installed: people, channels, messages and files.

    Every part of the fake reads and changes this one object; it does no I/O itself.
    """

    def __init__(
        self,
        *,
        bot_token: str,
        app_token: str,
        signing_secret: str,
        team_id: str,
        app_id: str,
        bot_user_id: str,
        bot_id: str,
        echo_events: bool,
        on_store: Callable[[Message], None],
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
        self.url: str | None = None  # http://127.0.0.1:PORT once served

        self.channels: dict[str, Channel] = {}
        self.users: dict[str, User] = {}
        self.usergroups: dict[str, list[str]] = {}
        self.files: dict[str, StoredFile] = {}
        self.uploads: dict[str, Upload] = {}  # file id -> upload not completed yet
        self.response_urls: dict[str, ResponseUrl] = {}  # by the id ending the URL
        self.tickets: set[str] = set()  # socket ids issued by apps.connections.open
        self.triggers: dict[str, Trigger] = {}  # every trigger_id given the app, by id
        # Each person's open modal: its view stack, root first, the one they see last.
        self.modals: dict[str, list[JSON]] = {}
        self.external_ids: set[str] = set()  # of every view opened (unique per team)
        # What the fake measures Slack's time limits with (seconds): a trigger_id's life and
        # the app's time to answer a submission. A test may replace it to play time passing.
        self.clock: Callable[[], float] = time.monotonic
        # Workspace settings: how long after posting a message may still be edited (seconds;
        # None: always), and whether file uploads are turned off.
        self.edit_window: float | None = None
        self.uploads_disabled = False

        # What the app did, for assertions.
        self.calls: list[tuple[str, JSON]] = []  # Web API calls and response_url posts
        self.ephemerals: list[Ephemeral] = []
        self.home_views: dict[str, JSON] = {}  # user id -> last view published
        self.submissions: list[Submission] = []  # every modal submission, in order

        # Slack sends the app's own posts, edits and deletions back to it as events, on its
        # own after answering the call: queued here, sent by Delivery.
        self.echo_events = echo_events
        self.echoes: asyncio.Queue[JSON] = asyncio.Queue()

        self._messages: dict[str, dict[str, Message]] = {}  # channel -> ts -> message
        self._on_store = on_store
        self._last_us = 0
        self._ids = itertools.count(1)

        self.add_user(bot_user_id, self.bot_name, is_bot=True, bot_id=bot_id)

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``, where files, uploads and response URLs are served."""
        if self.url is None:
            raise RuntimeError("FakeSlack is not started")
        return self.url

    # ------------------------------------------------------------------ people and channels

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
        """Create a channel (see ``FakeSlack.add_channel``)."""
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
        """Create a user (see ``FakeSlack.add_user``)."""
        self.users[user_id] = User(
            user_id, name, display_name, real_name, email, image, is_bot, bot_id, team
        )

    def add_usergroup(self, usergroup_id: str, users: list[str]) -> None:
        """Create a user group (``usergroups.users.list``)."""
        self.usergroups[usergroup_id] = list(users)

    def known_channel(self, channel: str) -> Channel:
        """The channel a test names; KeyError if it was never added."""
        if channel not in self.channels:
            raise KeyError(f"unknown channel {channel}: call add_channel first")
        return self.channels[channel]

    def resolve_channel_id(self, raw: str | None) -> str | None:
        """The id of the channel an argument names, by id or by ``#name``; None if none."""
        if not raw:
            return None
        if raw in self.channels:
            return raw
        name = raw.removeprefix("#")
        return next((c.id for c in self.channels.values() if c.name == name), None)

    def team_of(self, user_id: str) -> str:
        """The organisation a user belongs to: ours, or a Slack Connect guest's own."""
        user = self.users.get(user_id)
        return user.team if user is not None and user.team else self.team_id

    def bot_user(self, bot_id: str) -> User | None:
        """The user of a modern bot; None for a legacy one."""
        return next((u for u in self.users.values() if u.bot_id == bot_id), None)

    # ------------------------------------------------------------------ messages

    def messages(self, channel: str) -> list[Message]:
        """All messages of a channel (parents and replies) in ts order."""
        return sorted(self._messages.get(channel, {}).values(), key=lambda m: ts_key(m.ts))

    def thread(self, channel: str, thread_ts: str) -> list[Message]:
        """The replies of a thread in ts order, parent excluded."""
        return [m for m in self.messages(channel) if m.thread_ts == thread_ts and m.ts != thread_ts]

    def message(self, channel: str, ts: str) -> Message:
        """The message with that ts; KeyError if there is none."""
        try:
            return self._messages[channel][ts]
        except KeyError:
            raise KeyError(f"no message {ts} in channel {channel}") from None

    def find(self, channel: str, ts: str) -> Message | None:
        """The message with that ts, or None."""
        return self._messages.get(channel, {}).get(ts)

    def thread_root(self, channel: str, ts: str) -> str:
        """The ts of the thread ``ts`` is in (its own if it is a parent or stands alone)."""
        target = self.message(channel, ts)
        return target.thread_ts or target.ts

    def store(self, msg: Message) -> None:
        """Keep a new message, and tell ``on_store``."""
        self._messages.setdefault(msg.channel, {})[msg.ts] = msg
        self._on_store(msg)

    def remove(self, msg: Message) -> None:
        """Delete a message; a parent with replies stays as a tombstone, as in Slack."""
        if not msg.is_reply and self.thread(msg.channel, msg.ts):
            msg.text = "This message was deleted."
            msg.blocks = msg.files = msg.metadata = None
            msg.user, msg.bot_id, msg.subtype = "USLACKBOT", None, "tombstone"
            return
        del self._messages[msg.channel][msg.ts]

    def lock_thread(self, channel: str, ts: str, locked: bool = True) -> None:
        """Admins lock (or unlock) the thread of ``ts``."""
        self.message(channel, self.thread_root(channel, ts)).locked = locked

    def echo(self, event: JSON) -> None:
        """Queue the event Slack sends the app about its own action (unless echoes are off)."""
        if self.echo_events:
            self.echoes.put_nowait(event)

    # ------------------------------------------------------------------ ids

    def next_ts(self) -> str:
        """A new ts: real-time microseconds, bumped so every ts is unique and increasing."""
        self._last_us = max(int(time.time() * 1_000_000), self._last_us + 1)
        return f"{self._last_us // 1_000_000}.{self._last_us % 1_000_000:06d}"

    def new_id(self) -> int:
        """A number never given before (for file, view, event and trigger ids)."""
        return next(self._ids)
