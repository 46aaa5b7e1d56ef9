"""Block Kit pieces every drawing is made of: limits, measuring and cutting, elements.

Pure. Every string from outside (end users, the bot, titles) goes through
:func:`~bridge.slack.text.escape` or :func:`~bridge.slack.text.link` when it lands in mrkdwn
(:func:`outside_text` does both), and the builders here keep each element within Block Kit's
limits, so nothing anyone typed can make a post fail with ``invalid_blocks``. What is drawn
with them lives beside: the parent and the thread (`thread`), the bridge's own notices
(`notices`), the queue in App Home and `/hitl` (`queue`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from bridge.model import Action, User, iso
from bridge.slack.text import escape, link

__all__ = [
    "ACTIONS",
    "ACTIONS_BLOCK_ID",
    "ACTION_IDS",
    "MAX_BLOCKS",
    "MAX_BUTTON_TEXT",
    "MAX_CONTEXT_ELEMENTS",
    "MAX_CONTEXT_TEXT",
    "MAX_FALLBACK_TEXT",
    "MAX_HEADER_TEXT",
    "MAX_IMAGE_TEXT",
    "MAX_POST_TEXT",
    "MAX_SECTION_TEXT",
    "Rendered",
    "button",
    "call_on",
    "context",
    "fits",
    "image",
    "local_date",
    "mrkdwn",
    "outside_text",
    "pack",
    "person_name",
    "plain",
    "section",
    "split_mrkdwn",
    "text_size",
    "truncate_mrkdwn",
    "truncate_plain",
    "units",
    "user_mention",
]

# The `action_id` of each action's button is the action's own name: buttons already posted
# carry these, so they cannot change. Defined here once, read back with `ACTIONS`.
ACTION_IDS: Final[dict[Action, str]] = {action: action.value for action in Action}
ACTIONS: Final[dict[str, Action]] = {action_id: a for a, action_id in ACTION_IDS.items()}
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

_ELLIPSIS = "…"
_NAME_CHARS = 100  # escaped, at most 500 units
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


def units(text: str) -> int:
    """How long Slack counts ``text``: in UTF-16 code units."""
    if text.isascii():
        return len(text)
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def _fit(text: str, limit: int) -> int:
    """The length of a prefix of ``text`` within ``limit`` UTF-16 units (all of it if it fits)."""
    size = min(len(text), limit)
    while (excess := units(text[:size]) - limit) > 0:
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


def split_mrkdwn(text: str, limit: int) -> list[str]:
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


def pack(lines: Sequence[str], limit: int = MAX_SECTION_TEXT) -> list[str]:
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
        pieces = split_mrkdwn(line, limit) or [""]
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
            units(item) if key == "text" and isinstance(item, str) else _text_units(item)
            for key, item in value.items()
        )
    if isinstance(value, list | tuple):
        return sum(_text_units(item) for item in value)
    return 0


def fits(blocks: Sequence[dict[str, Any]]) -> bool:
    """Whether ``blocks`` can go out as one post."""
    return len(blocks) <= MAX_BLOCKS and text_size(blocks) <= MAX_POST_TEXT


# --- elements -----------------------------------------------------------------------------


def plain(text: str, limit: int) -> dict[str, Any]:
    return {"type": "plain_text", "text": truncate_plain(text, limit), "emoji": True}


def mrkdwn(text: str, limit: int = MAX_SECTION_TEXT) -> dict[str, Any]:
    # verbatim: Slack must not turn plain "@channel" or "#general" into live references.
    return {"type": "mrkdwn", "text": truncate_mrkdwn(text, limit), "verbatim": True}


def section(
    text: str, block_id: str | None = None, limit: int = MAX_SECTION_TEXT
) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "section", "text": mrkdwn(text, limit)}
    if block_id is not None:
        block["block_id"] = block_id
    return block


def context(
    texts: Sequence[str], block_id: str | None = None, limit: int = MAX_CONTEXT_TEXT
) -> dict[str, Any]:
    elements = [mrkdwn(text, limit) for text in texts[:MAX_CONTEXT_ELEMENTS]]
    block: dict[str, Any] = {"type": "context", "elements": elements}
    if block_id is not None:
        block["block_id"] = block_id
    return block


def button(label: str, action: Action, value: str, style: str | None = None) -> dict[str, Any]:
    """The button that does ``action``; ``value`` names the conversation."""
    element: dict[str, Any] = {
        "type": "button",
        "action_id": ACTION_IDS[action],
        "text": plain(label, MAX_BUTTON_TEXT),
        "value": value,
    }
    if style is not None:
        element["style"] = style
    return element


def image(url: str, title: str | None) -> dict[str, Any]:
    block: dict[str, Any] = {
        "type": "image",
        "image_url": url,
        "alt_text": truncate_plain(title or "image", MAX_IMAGE_TEXT),
    }
    if title:
        block["title"] = plain(title, MAX_IMAGE_TEXT)
    return block


# --- outside text, people, dates ------------------------------------------------------------


def outside_text(text: str) -> str:
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


def person_name(user: User) -> str:
    """A person's name as safe mrkdwn, short enough for any line it is part of."""
    return escape(truncate_plain(user.name, _NAME_CHARS))


def user_mention(slack_user_id: str) -> str:
    """A Slack user as a mention; anything that is not a user id, as inert text."""
    if _SLACK_USER_ID.fullmatch(slack_user_id):
        return f"<@{slack_user_id}>"
    return escape(slack_user_id)


def call_on(who: str | None) -> str:
    """`here`, `channel` or a user group id, as a mention that notifies ("" for nobody)."""
    if who in ("here", "channel"):
        return f"<!{who}>"
    return f"<!subteam^{who}>" if who else ""


def local_date(moment: datetime) -> str:
    """A date every reader sees in their own time zone, with ISO 8601 as the fallback."""
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} at {{time}}|{iso(moment)}>"
