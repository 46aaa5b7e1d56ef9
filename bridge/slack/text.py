"""Slack mrkdwn, both ways: making outside text safe to post, and reading agents' text.

Slack's message text has exactly three control characters, ``&``, ``<`` and ``>``; every
mention, channel link, broadcast and hyperlink is an angle-bracket token. Escaping those three
therefore makes any text inert, and parsing the tokens before decoding the entities recovers
what a person reading the message sees.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

__all__ = ["escape", "link", "mentioned_users", "to_plain", "unescape"]

# Slack splits a link token on its first "|", so a "|" in the label is harmless there, but
# a look-alike keeps the label readable whatever parser meets it later.
_PIPE_LOOKALIKE = "\u2223"

_TOKEN = re.compile(r"<([^<>]*)>")
_ENTITY = re.compile(r"&(amp|lt|gt);")
_ENTITIES = {"amp": "&", "lt": "<", "gt": ">"}
_USER_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^<>]*)?>")
_BROADCASTS = {"here", "channel", "everyone"}


def escape(text: str) -> str:
    """Make arbitrary text inert in mrkdwn: no mentions, broadcasts or disguised links."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def unescape(text: str) -> str:
    """Decode Slack's three entities in one pass (so ``&amp;lt;`` becomes ``&lt;``)."""
    return _ENTITY.sub(lambda m: _ENTITIES[m.group(1)], text)


def _encode_url(url: str) -> str:
    out: list[str] = []
    for ch in url:
        if ch in "<>|" or ch.isspace() or ord(ch) < 0x20:
            out.extend(f"%{byte:02X}" for byte in ch.encode("utf-8"))
        elif ch == "&":
            # Slack itself sends "&" in URLs as "&amp;" and decodes it back when rendering.
            out.append("&amp;")
        else:
            out.append(ch)
    return "".join(out)


def link(url: str, label: str | None) -> str:
    """A mrkdwn link ``<url|label>`` that neither the URL nor the label can break out of."""
    target = _encode_url(url)
    if not label:
        return f"<{target}>"
    return f"<{target}|{escape(label).replace('|', _PIPE_LOOKALIKE)}>"


def _split_label(body: str) -> tuple[str, str | None]:
    head, sep, label = body.partition("|")
    return head, (label if sep else None)


def _special(body: str) -> str:
    """A ``<!...>`` token: broadcasts, user groups, dates and the like (still escaped)."""
    head, label = _split_label(body)
    command = head.split("^", 1)[0]
    if command in _BROADCASTS:
        return f"@{command}"
    if label:
        return label
    if command == "subteam" and "^" in head:
        return f"@{head.split('^', 1)[1]}"
    return head


def _url(body: str) -> str:
    url, label = _split_label(body)
    if url.startswith("mailto:"):
        address = url.removeprefix("mailto:")
        if not label or label == address:
            return address
    if not label or label == url:
        return url
    return f"{label} ({url})"


def to_plain(text: str, names: Mapping[str, str]) -> str:
    """An agent's Slack text as a person reads it: mentions by name, links as ``label (url)``.

    ``names`` maps Slack user ids to display names; unknown ids fall back to the token's own
    label, then to the raw id.
    """
    out: list[str] = []
    pos = 0
    for match in _TOKEN.finditer(text):
        out.append(unescape(text[pos : match.start()]))
        pos = match.end()
        body = match.group(1)
        if body.startswith("@"):
            user_id, label = _split_label(body[1:])
            # The mapping holds plain names, so only the token's own label is decoded.
            name = names.get(user_id) or (unescape(label) if label else user_id)
            out.append(f"@{name}")
        elif body.startswith("#"):
            channel, label = _split_label(body[1:])
            out.append(f"#{unescape(label or channel)}")
        elif body.startswith("!"):
            out.append(unescape(_special(body[1:])))
        else:
            out.append(unescape(_url(body)))
    out.append(unescape(text[pos:]))
    return "".join(out)


def mentioned_users(text: str) -> set[str]:
    """The Slack user ids mentioned in ``text`` as ``<@U...>`` or ``<@W...>`` tokens."""
    return set(_USER_MENTION.findall(text))
