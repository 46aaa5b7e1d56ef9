"""What the fake keeps: messages, channels, users and files, as plain records."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

JSON = dict[str, Any]


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
class Trigger:
    """A trigger_id Slack gave the app in an interaction: whose interaction it was, when it
    was issued (on the workspace's ``clock``), and whether a view was opened with it."""

    user: str
    issued: float
    used: bool = False


@dataclass
class Submission:
    """What became of a person's submission of a modal view, as their Slack client shows it."""

    status: int  # the app's HTTP status (0: no answer, or the connection failed)
    payload: JSON  # the view_submission payload delivered
    action: str | None = None  # the response_action Slack followed (None: closed the view)
    closed: bool = False  # the submitted view was closed (alone, or with its whole stack)
    errors: dict[str, str] = field(default_factory=dict)  # block_id -> error shown under it
    # Why Slack showed the person an error and kept the view as it was: a non-2xx answer,
    # none within SUBMIT_TIMEOUT, or one Slack could not follow. None if it could.
    failure: str | None = None


@dataclass
class StoredFile:
    """A file of the workspace: its object as ``files.info`` answers it, and its bytes."""

    obj: JSON
    content: bytes


@dataclass
class Upload:
    """A file announced by ``files.getUploadURLExternal``; ``data`` once its bytes arrived."""

    name: str
    data: bytes | None = None


@dataclass
class ResponseUrl:
    """Where an answer to a response_url goes: the channel, the person, the message."""

    channel: str
    user: str
    message_ts: str | None
    thread_ts: str | None


def ts_key(ts: str) -> tuple[int, int]:
    """A ts as a pair that sorts as Slack orders messages (a malformed one sorts first)."""
    seconds, _, fraction = ts.partition(".")
    try:
        return int(seconds or 0), int((fraction + "000000")[:6])
    except ValueError:
        return 0, 0
