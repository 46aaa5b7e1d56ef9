"""Block Kit for everything the bridge posts: the parent, the transcript, thread messages.

Pure rendering. Every string from outside (end users, the bot, titles) goes through
:func:`~bridge.slack.text.escape` or :func:`~bridge.slack.text.link` when it lands in mrkdwn,
and every rendering respects Block Kit's limits, truncating or splitting as needed, so a post
never fails with ``invalid_blocks`` or ``msg_too_long`` because of what someone typed.
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
    "MAX_SECTION_TEXT",
    "Rendered",
    "message",
    "notice",
    "parent",
    "transcript",
]

ACTION_CLAIM = "claim"
ACTION_RELEASE = "release"
ACTION_RESOLVE = "resolve"
ACTIONS_BLOCK_ID = "hitl_actions"

# Block Kit's limits (Slack counts UTF-16 code units, so do we).
MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_HEADER_TEXT = 150
MAX_CONTEXT_ELEMENTS = 10
MAX_CONTEXT_TEXT = 2000  # stricter than Slack's, keeps a context line readable
MAX_BUTTON_TEXT = 75
MAX_IMAGE_TEXT = 2000  # image alt_text and title
MAX_FALLBACK_TEXT = 4000  # ours: Slack allows 40,000 but notifications show a line

DEFAULT_TITLE = "Handoff request"
TRANSCRIPT_HEADING = "*Conversation so far*"
_ELLIPSIS = "…"
_TRUNCATED = "_… (truncated: too long for one Slack message)_"
_EMPTY = "_(empty message)_"

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


def _truncate_mrkdwn(text: str, limit: int) -> str:
    if _fit(text, limit) == len(text):
        return text
    cut = _safe_cut(text, _fit(text, limit - 1)) or _fit(text, limit - 1)
    return text[:cut] + _ELLIPSIS


def _truncate_plain(text: str, limit: int) -> str:
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


# --- block builders -----------------------------------------------------------------------


def _plain(text: str, limit: int) -> dict[str, Any]:
    return {"type": "plain_text", "text": _truncate_plain(text, limit), "emoji": True}


def _mrkdwn(text: str, limit: int = MAX_SECTION_TEXT) -> dict[str, Any]:
    # verbatim: Slack must not turn plain "@channel" or "#general" into live references.
    return {"type": "mrkdwn", "text": _truncate_mrkdwn(text, limit), "verbatim": True}


def _section(text: str, block_id: str | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "section", "text": _mrkdwn(text)}
    if block_id is not None:
        block["block_id"] = block_id
    return block


def _context(texts: Sequence[str], block_id: str | None = None) -> dict[str, Any]:
    elements = [_mrkdwn(text, MAX_CONTEXT_TEXT) for text in texts[:MAX_CONTEXT_ELEMENTS]]
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
        "alt_text": _truncate_plain(title or "image", MAX_IMAGE_TEXT),
    }
    if title:
        block["title"] = _plain(title, MAX_IMAGE_TEXT)
    return block


def _cap(blocks: list[dict[str, Any]], budget: int) -> list[dict[str, Any]]:
    if len(blocks) <= budget:
        return blocks
    return [*blocks[: budget - 1], _section(_TRUNCATED)]


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


def _content_blocks(items: Sequence[_Simple], budget: int, *, images: bool) -> list[dict[str, Any]]:
    """The blocks of a message's items, degrading step by step until they fit ``budget``."""
    parts = [_part(item) if images else _line(item) for item in items]
    blocks = _assemble(parts, pack=False)
    if len(blocks) > budget:
        blocks = _assemble(parts, pack=True)
    if len(blocks) > budget and images:
        blocks = _assemble([_line(item) for item in items], pack=True)
    return _cap(blocks, budget)


def message(content: Content, *, from_bot: bool, images: bool = True) -> Rendered:
    """One message in a thread: an end user's (posted under their name) or a bot notice.

    ``images=False`` renders pictures as links instead of image blocks, for a retry when
    Slack refuses a post because it could not fetch an image (``invalid_blocks``).
    """
    items = _items(content)
    blocks: list[dict[str, Any]] = []
    if from_bot:
        blocks.append(_context([":robot_face: From the bot"], block_id="hitl_from_bot"))
    blocks.extend(_content_blocks(items, MAX_BLOCKS - len(blocks), images=images))
    text = "\n".join(_fallback(item) for item in items)
    return Rendered(text=_truncate_mrkdwn(text, MAX_FALLBACK_TEXT), blocks=blocks)


def notice(text: str) -> Rendered:
    """A short bridge notice (usually ephemeral); ``text`` is mrkdwn composed by the caller."""
    return Rendered(
        text=_truncate_mrkdwn(text, MAX_FALLBACK_TEXT),
        blocks=[_section(text)],
    )


# --- the transcript -----------------------------------------------------------------------


def _transcript_line(item: HistoryItem, speaker: str) -> str:
    lines = [_line(sub) for sub in _items(item.content)]
    return f"*{speaker}:* " + "\n".join(lines)


def transcript(items: Sequence[HistoryItem], user: User | None) -> list[Rendered]:
    """The conversation before the handoff, as few thread messages as the limits allow."""
    if not items:
        return []
    user_speaker = escape(user.name) if user is not None and user.name.strip() else "User"
    lines = [TRANSCRIPT_HEADING]
    lines.extend(
        _transcript_line(item, user_speaker if item.source == "user" else "Bot") for item in items
    )
    sections = [_section(chunk) for chunk in _pack(lines)]
    batches = [sections[at : at + MAX_BLOCKS] for at in range(0, len(sections), MAX_BLOCKS)]
    count = f"{len(items)} message{'s' if len(items) != 1 else ''}"
    rendered: list[Rendered] = []
    for number, batch in enumerate(batches, start=1):
        text = f"Conversation so far ({count})"
        if len(batches) > 1:
            text += f", part {number} of {len(batches)}"
        rendered.append(Rendered(text=text, blocks=batch))
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
            who = escape(assignee.name)
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
        who = [f":bust_in_silhouette: *{escape(_truncate_plain(user.name, 200))}*"]
        if user.email:
            who.append(f":email: {link('mailto:' + user.email, user.email)}")
    who.append(f"Opened {_date(created_at)}")
    return who


PRIORITY_LABELS = {
    Priority.LOW: ":white_circle: Low priority",
    Priority.HIGH: ":large_orange_circle: *High priority*",
    Priority.URGENT: ":red_circle: *Urgent*",
}


def parent(
    conv: Conversation, user: User | None, assignee: User | None, *, mention: str = ""
) -> Rendered:
    """The thread's parent message: title, description, end user, priority, status and
    buttons. An urgent handoff still waiting calls on `mention` (a ready mrkdwn mention).

    ``user`` may be None while the end user is unknown (Botpress hitl-api conversations).
    """
    title = " ".join((conv.title or "").split()) or DEFAULT_TITLE
    status_line, status_words = _status(conv, assignee)
    actions = _actions(conv)

    blocks: list[dict[str, Any]] = [
        {"type": "header", "block_id": "hitl_header", "text": _plain(title, MAX_HEADER_TEXT)}
    ]
    label = PRIORITY_LABELS.get(conv.priority) if conv.priority else None
    if label and conv.priority is Priority.URGENT and conv.status is Status.WAITING and mention:
        label += f" {mention}"
    tail = [
        _context(_who(user, conv.created_at), block_id="hitl_user"),
        *([_section(label, block_id="hitl_priority")] if label else []),
        _section(status_line, block_id="hitl_status"),
    ]
    if actions is not None:
        tail.append(actions)
    if conv.description and conv.description.strip():
        budget = MAX_BLOCKS - len(blocks) - len(tail)
        described = [_section(chunk) for chunk in _pack([_outside_text(conv.description)])]
        blocks.extend(_cap(described, budget))
    blocks.extend(tail)

    text = f"Handoff: {escape(title)} — {status_words}"
    return Rendered(text=_truncate_mrkdwn(text, MAX_FALLBACK_TEXT), blocks=blocks)
