"""Block Kit for everything the bridge posts: the parent, the transcript, thread messages.

Pure rendering. Every string from outside (end users, the bot, titles) goes through
:func:`~bridge.slack.text.escape` or :func:`~bridge.slack.text.link` when it lands in mrkdwn,
and every rendering respects Block Kit's limits and the block text Slack takes a post, so a
post never fails with ``invalid_blocks``, ``msg_too_long`` or ``msg_blocks_too_long`` because
of what someone typed. What people wrote is split over several posts, never cut; only what
labels it (names, titles) and the bridge's own notices are truncated.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bridge.model import (
    AudioMessage,
    BlocMessage,
    Content,
    Conversation,
    FileMessage,
    HistoryItem,
    ImageMessage,
    Priority,
    Status,
    StopReason,
    TextMessage,
    User,
    VideoMessage,
    iso,
)
from bridge.slack.text import escape, link

__all__ = [
    "ACTIONS_BLOCK_ID",
    "ACTION_CLAIM",
    "ACTION_RELEASE",
    "ACTION_RESOLVE",
    "MAX_BLOCKS",
    "MAX_BUTTON_TEXT",
    "MAX_CONTEXT_ELEMENTS",
    "MAX_FALLBACK_TEXT",
    "MAX_HEADER_TEXT",
    "MAX_IMAGE_TEXT",
    "MAX_POST_TEXT",
    "MAX_SECTION_TEXT",
    "Rendered",
    "combined",
    "description_rest",
    "message",
    "notice",
    "parent",
    "text_size",
    "transcript",
    "truncate_mrkdwn",
    "truncate_plain",
]

ACTION_CLAIM = "claim"
ACTION_RELEASE = "release"
ACTION_RESOLVE = "resolve"
ACTIONS_BLOCK_ID = "hitl_actions"

# Block Kit's limits (Slack counts UTF-16 code units, so do we).
MAX_BLOCKS = 50
# Slack refuses a post whose blocks carry more than about 12,000 characters of text in all
# (`msg_blocks_too_long`, undocumented: slackapi/bolt-js#2509, #2867); ours stays below it.
MAX_POST_TEXT = 11_000
MAX_SECTION_TEXT = 3000
MAX_HEADER_TEXT = 150
MAX_CONTEXT_ELEMENTS = 10
MAX_CONTEXT_TEXT = 2000  # stricter than Slack's, keeps a context line readable
MAX_BUTTON_TEXT = 75
MAX_IMAGE_TEXT = 2000  # image alt_text and title
MAX_FALLBACK_TEXT = 4000  # ours: Slack allows 40,000 but notifications show a line

DEFAULT_TITLE = "Handoff request"
TRANSCRIPT_HEADING = "*Conversation so far*"
DESCRIPTION_HEADING = "*Description*"
_ELLIPSIS = "…"
_EMPTY = "_(empty message)_"
_FROM_BOT = ":robot_face: From the bot"
_DESCRIPTION_CUT = "_… (the full description is in the thread)_"
# The text a part's mark takes at most (its counts up to six digits); it takes a block too.
_MARK_ROOM = len(f"{_FROM_BOT} · _continued (999999/999999)_")
# The parent cannot be split, so every line of it but the description is capped (the end
# user's three, the priority with its mention, the status): with the header and buttons
# they take at most about 3,300 units, which leaves the description this much.
_PARENT_LINE = 600
_DESCRIPTION_TEXT = 7_500
_NAME_CHARS = 100  # escaped, at most 500 units

_EMOJI = {
    "image": ":frame_with_picture:",
    "audio": ":sound:",
    "video": ":film_frames:",
    "file": ":page_facing_up:",
}

_SLACK_USER_ID = re.compile(r"[UW][A-Z0-9]+")
# Bare URLs in outside text become explicit links, because sections are posted verbatim
# (Slack's automatic parsing of mentions and names is off) and would leave them unclickable.
_BARE_URL = re.compile(r"https?://[^\s<>\"|]+", re.IGNORECASE)
_ENTITY_PREFIXES = ("&amp;", "&lt;", "&gt;")


@dataclass(frozen=True, slots=True)
class Rendered:
    """One Slack message: ``text`` is the notification fallback, ``blocks`` the Block Kit."""

    text: str
    blocks: list[dict[str, Any]]


# --- lengths and cutting ----------------------------------------------------------------


def _units(text: str) -> int:
    if text.isascii():
        return len(text)
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def _fit(text: str, limit: int) -> int:
    """The length of a prefix of ``text`` within ``limit`` UTF-16 units (all of it if it fits)."""
    size = min(len(text), limit)
    while (excess := _units(text[:size]) - limit) > 0:
        # A character is one or two units: drop the fewest characters that could be enough.
        size -= (excess + 1) // 2
    return size


def _inside_token(text: str, index: int) -> int | None:
    """Where the ``<...>`` token that ``index`` falls inside starts, if it does."""
    start = text.rfind("<", 0, index)
    if start != -1 and text.find(">", start, index) == -1:
        return start
    return None


def _safe_cut(text: str, index: int) -> int:
    """Move a cut back so it splits neither a ``<...>`` token nor an ``&amp;`` entity."""
    start = _inside_token(text, index)
    if start is not None and start > 0:
        index = start
    amp = text.rfind("&", max(0, index - 4), index)
    if amp > 0:
        for entity in _ENTITY_PREFIXES:
            if text.startswith(entity, amp) and amp + len(entity) > index:
                index = amp
    return index


def _split_mrkdwn(text: str, limit: int) -> list[str]:
    """Split mrkdwn into pieces within ``limit``, preferably at line breaks, then spaces."""
    pieces: list[str] = []
    while (hard := max(_fit(text, limit), 1)) < len(text):
        cut = _safe_cut(text, hard) or hard  # a token longer than the limit: cut it anyway
        rest_at = cut
        for separator in ("\n", " "):
            at = text.rfind(separator, cut // 2, cut)
            if at > 0 and _inside_token(text, at) is None:
                cut, rest_at = at, at + 1
                break
        pieces.append(text[:cut])
        text = text[rest_at:]
    pieces.append(text)
    return [piece for piece in pieces if piece.strip()]


def truncate_mrkdwn(text: str, limit: int) -> str:
    """``text`` within ``limit`` units, cut (with an ellipsis) outside any token or entity."""
    if _fit(text, limit) == len(text):
        return text
    cut = _safe_cut(text, _fit(text, limit - 1)) or _fit(text, limit - 1)
    return text[:cut] + _ELLIPSIS


def truncate_plain(text: str, limit: int) -> str:
    """``text`` within ``limit`` units, cut with an ellipsis if it must be."""
    if _fit(text, limit) == len(text):
        return text
    return text[: _fit(text, limit - 1)] + _ELLIPSIS


def _pack(lines: Sequence[str], limit: int = MAX_SECTION_TEXT) -> list[str]:
    """Join lines into as few chunks within ``limit`` as possible, splitting long lines."""
    chunks: list[str] = []
    current = ""
    for line in lines:
        candidate = f"{current}\n{line}" if current else line
        if _fit(candidate, limit) == len(candidate):
            current = candidate
            continue
        if current:
            chunks.append(current)
        pieces = _split_mrkdwn(line, limit) or [""]
        chunks.extend(pieces[:-1])
        current = pieces[-1]
    if current.strip():
        chunks.append(current)
    return chunks


def text_size(blocks: Sequence[dict[str, Any]]) -> int:
    """The block text Slack counts against a post: every ``text`` string, however deep."""
    return _text_units(blocks)


def _text_units(value: object) -> int:
    if isinstance(value, dict):
        return sum(
            _units(item) if key == "text" and isinstance(item, str) else _text_units(item)
            for key, item in value.items()
        )
    if isinstance(value, list | tuple):
        return sum(_text_units(item) for item in value)
    return 0


def _fits(blocks: Sequence[dict[str, Any]]) -> bool:
    return len(blocks) <= MAX_BLOCKS and text_size(blocks) <= MAX_POST_TEXT


def _posts(blocks: Sequence[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Blocks in order over as few posts as the limits allow, each with room for a mark."""
    most_blocks, most_text = MAX_BLOCKS - 1, MAX_POST_TEXT - _MARK_ROOM
    posts: list[list[dict[str, Any]]] = [[]]
    size = 0
    for block in blocks:
        units = text_size([block])  # a block's own text is within its limit, far below a post's
        if posts[-1] and (len(posts[-1]) >= most_blocks or size + units > most_text):
            posts.append([])
            size = 0
        posts[-1].append(block)
        size += units
    return posts


def _where(number: int, count: int) -> str:
    """Which part of how many: ``(1/4)`` on the first, ``continued (2/4)`` on the others."""
    return f"({number}/{count})" if number == 1 else f"continued ({number}/{count})"


def _series(blocks: Sequence[dict[str, Any]], what: str) -> list[list[dict[str, Any]]]:
    """Blocks that open with their own heading, as one post if they fit, else split: the
    parts after the first open with a line saying ``{what}, continued (2/3)``."""
    if _fits(blocks):
        return [list(blocks)]
    posts = _posts(blocks)
    for number, post in enumerate(posts[1:], start=2):
        post.insert(0, _context([f"_{what}, {_where(number, len(posts))}_"], "hitl_part"))
    return posts


def _gist(blocks: Sequence[dict[str, Any]]) -> str:
    """What a part says, as a fallback: its sections' text and its pictures' titles."""
    lines: list[str] = []
    for block in blocks:
        if block["type"] == "section":
            lines.append(block["text"]["text"])
        elif block["type"] == "image":
            title = block.get("title")
            lines.append(f"[image] {escape(title['text'])}" if title else "[image]")
    return "\n".join(lines)


# --- block builders -----------------------------------------------------------------------


def _plain(text: str, limit: int) -> dict[str, Any]:
    return {"type": "plain_text", "text": truncate_plain(text, limit), "emoji": True}


def _mrkdwn(text: str, limit: int = MAX_SECTION_TEXT) -> dict[str, Any]:
    # verbatim: Slack must not turn plain "@channel" or "#general" into live references.
    return {"type": "mrkdwn", "text": truncate_mrkdwn(text, limit), "verbatim": True}


def _section(
    text: str, block_id: str | None = None, limit: int = MAX_SECTION_TEXT
) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "section", "text": _mrkdwn(text, limit)}
    if block_id is not None:
        block["block_id"] = block_id
    return block


def _context(
    texts: Sequence[str], block_id: str | None = None, limit: int = MAX_CONTEXT_TEXT
) -> dict[str, Any]:
    elements = [_mrkdwn(text, limit) for text in texts[:MAX_CONTEXT_ELEMENTS]]
    block: dict[str, Any] = {"type": "context", "elements": elements}
    if block_id is not None:
        block["block_id"] = block_id
    return block


def _button(label: str, action_id: str, value: str, style: str | None = None) -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "action_id": action_id,
        "text": _plain(label, MAX_BUTTON_TEXT),
        "value": value,
    }
    if style is not None:
        button["style"] = style
    return button


def _image(url: str, title: str | None) -> dict[str, Any]:
    block: dict[str, Any] = {
        "type": "image",
        "image_url": url,
        "alt_text": truncate_plain(title or "image", MAX_IMAGE_TEXT),
    }
    if title:
        block["title"] = _plain(title, MAX_IMAGE_TEXT)
    return block


# --- outside text -------------------------------------------------------------------------


def _outside_text(text: str) -> str:
    """End-user or bot text as safe mrkdwn, with its bare URLs made into links."""
    out: list[str] = []
    pos = 0
    for match in _BARE_URL.finditer(text):
        url = match.group(0)
        # Sentence punctuation after a URL is not part of it ("see https://x.io/a.").
        trimmed = url.rstrip(".,;:!?'")
        if trimmed.endswith(")") and "(" not in trimmed:
            trimmed = trimmed.rstrip(")")
        if len(trimmed) <= len("https://"):
            continue
        out.append(escape(text[pos : match.start()]))
        out.append(link(trimmed, None))
        pos = match.start() + len(trimmed)
    out.append(escape(text[pos:]))
    return "".join(out)


def _title(title: str | None) -> str | None:
    return title if title and title.strip() else None


def _name(user: User) -> str:
    """A person's name as safe mrkdwn, short enough for any line it is part of."""
    return escape(truncate_plain(user.name, _NAME_CHARS))


def _mention(slack_user_id: str) -> str:
    if _SLACK_USER_ID.fullmatch(slack_user_id):
        return f"<@{slack_user_id}>"
    return escape(slack_user_id)


def _date(moment: datetime) -> str:
    """A date every reader sees in their own time zone, with ISO 8601 as the fallback."""
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} at {{time}}|{iso(moment)}>"


# --- message contents ---------------------------------------------------------------------

_Simple = TextMessage | ImageMessage | AudioMessage | VideoMessage | FileMessage


@dataclass(frozen=True, slots=True)
class _Picture:
    url: str
    title: str | None


def _media(item: _Simple) -> tuple[str, str, str | None]:
    """(kind, url, title) of a non-text item."""
    if isinstance(item, ImageMessage):
        return "image", item.payload.imageUrl, _title(item.payload.title)
    if isinstance(item, AudioMessage):
        return "audio", item.payload.audioUrl, _title(item.payload.title)
    if isinstance(item, VideoMessage):
        return "video", item.payload.videoUrl, _title(item.payload.title)
    if isinstance(item, FileMessage):
        return "file", item.payload.fileUrl, _title(item.payload.title)
    raise TypeError(f"not a media message: {item.type}")


def _media_line(kind: str, url: str, title: str | None) -> str:
    return f"{_EMOJI[kind]} {link(url, title or kind)}"


def _line(item: _Simple) -> str:
    """One item as a line of mrkdwn (pictures as links)."""
    if isinstance(item, TextMessage):
        text = item.payload.text
        return _outside_text(text) if text.strip() else _EMPTY
    return _media_line(*_media(item))


def _part(item: _Simple) -> str | _Picture:
    if isinstance(item, ImageMessage):
        return _Picture(item.payload.imageUrl, _title(item.payload.title))
    return _line(item)


def _fallback(item: _Simple) -> str:
    if isinstance(item, TextMessage):
        return escape(item.payload.text)
    kind, _, title = _media(item)
    return f"[{kind}] {escape(title)}" if title else f"[{kind}]"


def _items(content: Content) -> list[_Simple]:
    if isinstance(content, BlocMessage):
        return list(content.payload.items)
    return [content]


def _assemble(parts: Sequence[str | _Picture], *, pack: bool) -> list[dict[str, Any]]:
    """Pictures as image blocks; text as sections, one run per part or packed together."""
    blocks: list[dict[str, Any]] = []
    run: list[str] = []

    def flush() -> None:
        blocks.extend(_section(chunk) for chunk in _pack(run))
        run.clear()

    for part in parts:
        if isinstance(part, _Picture):
            flush()
            blocks.append(_image(part.url, part.title))
        else:
            run.append(part)
            if not pack:
                flush()
    flush()
    return blocks


def _content_blocks(items: Sequence[_Simple], room: int, *, images: bool) -> list[dict[str, Any]]:
    """The blocks of a message's items: a run of sections each, or packed together when that
    many blocks would not fit one post beside ``room`` others (fewer posts, nothing lost)."""
    parts = [_part(item) if images else _line(item) for item in items]
    blocks = _assemble(parts, pack=False)
    if len(blocks) + room > MAX_BLOCKS:
        blocks = _assemble(parts, pack=True)
    return blocks


def _message_mark(number: int, count: int, *, from_bot: bool) -> dict[str, Any]:
    if from_bot:
        return _context([f"{_FROM_BOT} · _{_where(number, count)}_"], block_id="hitl_from_bot")
    return _context([f"_{_where(number, count)}_"], block_id="hitl_part")


def message(content: Content, *, from_bot: bool, images: bool = True) -> list[Rendered]:
    """One message in a thread, an end user's (posted under their name) or a bot notice, as
    the posts that carry it all, in order: one, unless it is too long for a single post.

    Each part of several opens with a mark (``(1/3)``, ``continued (2/3)``, after the bot's
    marker for a bot notice), and its fallback text starts with the same words.
    ``images=False`` renders pictures as links instead of image blocks, for a retry when
    Slack refuses a post because it could not fetch an image (``invalid_blocks``).
    """
    items = _items(content)
    head = [_context([_FROM_BOT], block_id="hitl_from_bot")] if from_bot else []
    body = _content_blocks(items, len(head), images=images)
    if _fits([*head, *body]):
        text = "\n".join(_fallback(item) for item in items)
        return [Rendered(text=truncate_mrkdwn(text, MAX_FALLBACK_TEXT), blocks=[*head, *body])]
    # Split, each part marked (the bot's marker included): one post with the marker did not
    # fit, so this makes two or more.
    posts = _posts(body)
    return [
        Rendered(
            text=truncate_mrkdwn(f"{_where(n, len(posts))} {_gist(post)}", MAX_FALLBACK_TEXT),
            blocks=[_message_mark(n, len(posts), from_bot=from_bot), *post],
        )
        for n, post in enumerate(posts, start=1)
    ]


def combined(contents: Sequence[Content]) -> tuple[Rendered, int]:
    """An end user's messages queued together as one post, in order, a divider between them:
    as many from the start as fit, and how many that is (at least one).

    The first must fit one post on its own (``len(message(first, from_bot=False)) == 1``).
    """
    blocks: list[dict[str, Any]] = []
    texts: list[str] = []
    for content in contents:
        rendered = message(content, from_bot=False)
        joined = (
            [*blocks, {"type": "divider"}, *rendered[0].blocks] if blocks else rendered[0].blocks
        )
        if len(rendered) > 1 or not _fits(joined):
            break
        blocks = joined
        texts.append(rendered[0].text)
    if not texts:
        raise ValueError("the first message does not fit one post")
    text = truncate_mrkdwn("\n".join(texts), MAX_FALLBACK_TEXT)
    return Rendered(text=text, blocks=blocks), len(texts)


def notice(text: str) -> Rendered:
    """A short bridge notice (usually ephemeral); ``text`` is mrkdwn composed by the caller,
    truncated to one section."""
    return Rendered(
        text=truncate_mrkdwn(text, MAX_FALLBACK_TEXT),
        blocks=[_section(text)],
    )


# --- the transcript -----------------------------------------------------------------------


def _transcript_line(item: HistoryItem, speaker: str) -> str:
    lines = [_line(sub) for sub in _items(item.content)]
    return f"*{speaker}:* " + "\n".join(lines)


def transcript(items: Sequence[HistoryItem], user: User | None) -> list[Rendered]:
    """The conversation before the handoff, as few thread messages as the limits allow; the
    parts after the first open with ``Conversation so far, continued (2/3)``."""
    if not items:
        return []
    user_speaker = _name(user) if user is not None and user.name.strip() else "User"
    lines = [TRANSCRIPT_HEADING]
    lines.extend(
        _transcript_line(item, user_speaker if item.source == "user" else "Bot") for item in items
    )
    sections = [_section(chunk) for chunk in _pack(lines)]
    posts = _series(sections, "Conversation so far")
    count = f"{len(items)} message{'s' if len(items) != 1 else ''}"
    rendered: list[Rendered] = []
    for number, post in enumerate(posts, start=1):
        text = f"Conversation so far ({count})"
        if len(posts) > 1:
            text += f", part {number} of {len(posts)}"
        rendered.append(Rendered(text=text, blocks=post))
    return rendered


# --- the parent message -------------------------------------------------------------------


def _status(conv: Conversation, assignee: User | None) -> tuple[str, str]:
    """(status line in mrkdwn, the same in a few plain words for the fallback)."""
    if conv.status is Status.WAITING:
        line = ":hourglass_flowing_sand: *Waiting for an agent*"
        if conv.changed_by:
            line += f" · released by {_mention(conv.changed_by)}"
        return line, "waiting for an agent"
    if conv.status is Status.ASSIGNED:
        if assignee is not None and assignee.slack_user_id:
            who = _mention(assignee.slack_user_id)
        elif assignee is not None:
            who = _name(assignee)
        else:
            return ":raising_hand: *Assigned*", "assigned"
        return f":raising_hand: *Assigned to {who}*", "assigned"
    if conv.stop_reason is StopReason.RESOLVED:
        by = f" by {_mention(conv.changed_by)}" if conv.changed_by else ""
        line, words = f":white_check_mark: *Resolved{by}*", "resolved"
    elif conv.stop_reason is StopReason.BOT:
        line, words = ":robot_face: *Ended by the bot*", "ended by the bot"
    elif conv.stop_reason is StopReason.TIMEOUT:
        line, words = ":alarm_clock: *Closed: nobody claimed it in time*", "closed, unclaimed"
    else:
        line, words = ":white_check_mark: *Closed*", "closed"
    if conv.stopped_at is not None:
        line += f" · {_date(conv.stopped_at)}"
    return line, words


def _actions(conv: Conversation) -> dict[str, Any] | None:
    if conv.status is Status.WAITING:
        buttons = [_button("Claim", ACTION_CLAIM, conv.id, "primary")]
    elif conv.status is Status.ASSIGNED:
        resolve = _button("Resolve", ACTION_RESOLVE, conv.id, "primary")
        # Resolving is final (the conversation cannot be reopened), hence the confirmation.
        resolve["confirm"] = {
            "title": _plain("Resolve this conversation?", 100),
            "text": _plain("The bot takes over again and this thread closes for good.", 300),
            "confirm": _plain("Resolve", 30),
            "deny": _plain("Cancel", 30),
        }
        buttons = [_button("Release", ACTION_RELEASE, conv.id), resolve]
    else:
        return None
    return {"type": "actions", "block_id": ACTIONS_BLOCK_ID, "elements": buttons}


def _who(user: User | None, created_at: datetime) -> list[str]:
    if user is None:
        # hitl-api conversations learn who the end user is only with their first message.
        who = [":bust_in_silhouette: _End user not known yet_"]
    else:
        who = [f":bust_in_silhouette: *{_name(user)}*"]
        if user.email:
            who.append(f":email: {link('mailto:' + user.email, user.email)}")
    who.append(f"Opened {_date(created_at)}")
    return who


PRIORITY_LABELS = {
    Priority.LOW: ":white_circle: Low priority",
    Priority.HIGH: ":large_orange_circle: *High priority*",
    Priority.URGENT: ":red_circle: *Urgent*",
}


def _description(conv: Conversation) -> tuple[list[str], bool]:
    """The description's chunks of mrkdwn as the parent shows them, and whether that is all:
    the parent is rewritten in place, so it must stay one post whatever the description."""
    if not conv.description or not conv.description.strip():
        return [], True
    text = _outside_text(conv.description)
    chunks = _pack([text])
    if sum(_units(chunk) for chunk in chunks) <= _DESCRIPTION_TEXT:
        return chunks, True
    return _pack([_split_mrkdwn(text, _DESCRIPTION_TEXT)[0]]), False


def parent(
    conv: Conversation, user: User | None, assignee: User | None, *, mention: str = ""
) -> Rendered:
    """The thread's parent message: title, description, end user, priority, status and
    buttons, always one post. An urgent handoff still waiting calls on `mention` (a ready
    mrkdwn mention). A description too long for it is cut, saying so, and shown whole in
    the thread by :func:`description_rest`.

    ``user`` may be None while the end user is unknown (Botpress hitl-api conversations).
    """
    title = " ".join((conv.title or "").split()) or DEFAULT_TITLE
    status_line, status_words = _status(conv, assignee)
    actions = _actions(conv)

    blocks: list[dict[str, Any]] = [
        {"type": "header", "block_id": "hitl_header", "text": _plain(title, MAX_HEADER_TEXT)}
    ]
    shown, whole = _description(conv)
    blocks.extend(_section(chunk) for chunk in shown)
    if not whole:
        blocks.append(_context([_DESCRIPTION_CUT], block_id="hitl_description_cut"))
    label = PRIORITY_LABELS.get(conv.priority) if conv.priority else None
    if label and conv.priority is Priority.URGENT and conv.status is Status.WAITING and mention:
        label += f" {mention}"
    blocks.append(_context(_who(user, conv.created_at), "hitl_user", _PARENT_LINE))
    if label:
        blocks.append(_section(label, "hitl_priority", _PARENT_LINE))
    blocks.append(_section(status_line, "hitl_status", _PARENT_LINE))
    if actions is not None:
        blocks.append(actions)

    text = f"Handoff: {escape(title)} — {status_words}"
    return Rendered(text=truncate_mrkdwn(text, MAX_FALLBACK_TEXT), blocks=blocks)


def description_rest(conv: Conversation) -> list[Rendered]:
    """The whole description, for the thread, when the parent could show only its start:
    the posts open with ``*Description*``, later ones with ``Description, continued (2/3)``.
    Empty when the parent shows it all."""
    if _description(conv)[1] or conv.description is None:
        return []
    # One line, so the heading shares the first section rather than standing alone.
    whole = f"{DESCRIPTION_HEADING}\n{_outside_text(conv.description)}"
    posts = _series([_section(chunk) for chunk in _pack([whole])], "Description")
    return [
        Rendered(
            text=f"Description, part {n} of {len(posts)}" if len(posts) > 1 else "Description",
            blocks=post,
        )
        for n, post in enumerate(posts, start=1)
    ]
