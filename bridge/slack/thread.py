"""A conversation's thread in Slack: its parent and what the bridge posts in it.

Pure rendering, built of `blocks`' pieces, so every post respects Block Kit's limits and the
block text Slack takes a post, and never fails with ``invalid_blocks``, ``msg_too_long`` or
``msg_blocks_too_long`` because of what someone typed. What people wrote is split over
several posts, never cut; only what labels it (names, titles) is truncated.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bridge.model import (
    Action,
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
)
from bridge.slack.blocks import (
    ACTIONS_BLOCK_ID,
    MAX_BLOCKS,
    MAX_FALLBACK_TEXT,
    MAX_HEADER_TEXT,
    MAX_POST_TEXT,
    Rendered,
    button,
    context,
    fits,
    image,
    local_date,
    outside_text,
    pack,
    person_name,
    plain,
    section,
    split_mrkdwn,
    text_size,
    truncate_mrkdwn,
    units,
    user_mention,
)
from bridge.slack.text import escape, link

__all__ = [
    "DEFAULT_TITLE",
    "PRIORITY_LABELS",
    "as_sent",
    "combined",
    "description_rest",
    "message",
    "parent",
    "transcript",
]

DEFAULT_TITLE = "Handoff request"
TRANSCRIPT_HEADING = "*Conversation so far*"
DESCRIPTION_HEADING = "*Description*"
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

_EMOJI = {
    "image": ":frame_with_picture:",
    "audio": ":sound:",
    "video": ":film_frames:",
    "file": ":page_facing_up:",
}


# --- over several posts -------------------------------------------------------------------


def _posts(blocks: Sequence[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Blocks in order over as few posts as the limits allow, each with room for a mark."""
    most_blocks, most_text = MAX_BLOCKS - 1, MAX_POST_TEXT - _MARK_ROOM
    posts: list[list[dict[str, Any]]] = [[]]
    size = 0
    for block in blocks:
        text = text_size([block])  # a block's own text is within its limit, far below a post's
        if posts[-1] and (len(posts[-1]) >= most_blocks or size + text > most_text):
            posts.append([])
            size = 0
        posts[-1].append(block)
        size += text
    return posts


def _where(number: int, count: int) -> str:
    """Which part of how many: ``(1/4)`` on the first, ``continued (2/4)`` on the others."""
    return f"({number}/{count})" if number == 1 else f"continued ({number}/{count})"


def _series(blocks: Sequence[dict[str, Any]], what: str) -> list[list[dict[str, Any]]]:
    """Blocks that open with their own heading, as one post if they fit, else split: the
    parts after the first open with a line saying ``{what}, continued (2/3)``."""
    if fits(blocks):
        return [list(blocks)]
    posts = _posts(blocks)
    for number, post in enumerate(posts[1:], start=2):
        post.insert(0, context([f"_{what}, {_where(number, len(posts))}_"], "hitl_part"))
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


# --- message contents ---------------------------------------------------------------------

_Simple = TextMessage | ImageMessage | AudioMessage | VideoMessage | FileMessage


@dataclass(frozen=True, slots=True)
class _Picture:
    """An image shown as itself, not as a link."""

    url: str
    title: str | None


def _title(title: str | None) -> str | None:
    return title if title and title.strip() else None


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
        return outside_text(text) if text.strip() else _EMPTY
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


def _assemble(parts: Sequence[str | _Picture], *, together: bool) -> list[dict[str, Any]]:
    """Pictures as image blocks; text as sections, one run per part or packed together."""
    blocks: list[dict[str, Any]] = []
    run: list[str] = []

    def flush() -> None:
        blocks.extend(section(chunk) for chunk in pack(run))
        run.clear()

    for part in parts:
        if isinstance(part, _Picture):
            flush()
            blocks.append(image(part.url, part.title))
        else:
            run.append(part)
            if not together:
                flush()
    flush()
    return blocks


def _content_blocks(items: Sequence[_Simple], room: int, *, images: bool) -> list[dict[str, Any]]:
    """The blocks of a message's items: a run of sections each, or packed together when that
    many blocks would not fit one post beside ``room`` others (fewer posts, nothing lost)."""
    parts = [_part(item) if images else _line(item) for item in items]
    blocks = _assemble(parts, together=False)
    if len(blocks) + room > MAX_BLOCKS:
        blocks = _assemble(parts, together=True)
    return blocks


def _message_mark(number: int, count: int, *, from_bot: bool) -> dict[str, Any]:
    if from_bot:
        return context([f"{_FROM_BOT} · _{_where(number, count)}_"], block_id="hitl_from_bot")
    return context([f"_{_where(number, count)}_"], block_id="hitl_part")


def message(content: Content, *, from_bot: bool, images: bool = True) -> list[Rendered]:
    """One message in a thread, an end user's (posted under their name) or a bot notice, as
    the posts that carry it all, in order: one, unless it is too long for a single post.

    Each part of several opens with a mark (``(1/3)``, ``continued (2/3)``, after the bot's
    marker for a bot notice), and its fallback text starts with the same words.
    ``images=False`` renders pictures as links instead of image blocks, for a retry when
    Slack refuses a post because it could not fetch an image (``invalid_blocks``).
    """
    items = _items(content)
    head = [context([_FROM_BOT], block_id="hitl_from_bot")] if from_bot else []
    body = _content_blocks(items, len(head), images=images)
    if fits([*head, *body]):
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


def as_sent(content: Content, *, images: bool = True) -> list[dict[str, Any]]:
    """A bot message's blocks as `message` draws it in a thread, marker first, however long:
    for a drawing that shows it within another message (an approval request's draft)."""
    head = context([_FROM_BOT], block_id="hitl_from_bot")
    return [head, *_content_blocks(_items(content), 1, images=images)]


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
        if len(rendered) > 1 or not fits(joined):
            break
        blocks = joined
        texts.append(rendered[0].text)
    if not texts:
        raise ValueError("the first message does not fit one post")
    text = truncate_mrkdwn("\n".join(texts), MAX_FALLBACK_TEXT)
    return Rendered(text=text, blocks=blocks), len(texts)


# --- the transcript -----------------------------------------------------------------------


def _transcript_line(item: HistoryItem, speaker: str) -> str:
    lines = [_line(sub) for sub in _items(item.content)]
    return f"*{speaker}:* " + "\n".join(lines)


def transcript(items: Sequence[HistoryItem], user: User | None) -> list[Rendered]:
    """The conversation before the handoff, as few thread messages as the limits allow; the
    parts after the first open with ``Conversation so far, continued (2/3)``."""
    if not items:
        return []
    user_speaker = person_name(user) if user is not None and user.name.strip() else "User"
    lines = [TRANSCRIPT_HEADING]
    lines.extend(
        _transcript_line(item, user_speaker if item.source == "user" else "Bot") for item in items
    )
    sections = [section(chunk) for chunk in pack(lines)]
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
            line += f" · released by {user_mention(conv.changed_by)}"
        return line, "waiting for an agent"
    if conv.status is Status.ASSIGNED:
        if assignee is not None and assignee.slack_user_id:
            who = user_mention(assignee.slack_user_id)
        elif assignee is not None:
            who = person_name(assignee)
        else:
            return ":raising_hand: *Assigned*", "assigned"
        return f":raising_hand: *Assigned to {who}*", "assigned"
    if conv.stop_reason is StopReason.RESOLVED:
        by = f" by {user_mention(conv.changed_by)}" if conv.changed_by else ""
        line, words = f":white_check_mark: *Resolved{by}*", "resolved"
    elif conv.stop_reason is StopReason.BOT:
        line, words = ":robot_face: *Ended by the bot*", "ended by the bot"
    elif conv.stop_reason is StopReason.TIMEOUT:
        line, words = ":alarm_clock: *Closed: nobody claimed it in time*", "closed, unclaimed"
    else:
        line, words = ":white_check_mark: *Closed*", "closed"
    if conv.stopped_at is not None:
        line += f" · {local_date(conv.stopped_at)}"
    return line, words


def _actions(conv: Conversation) -> dict[str, Any] | None:
    if conv.status is Status.WAITING:
        buttons = [button("Claim", Action.CLAIM, conv.id, "primary")]
    elif conv.status is Status.ASSIGNED:
        resolve = button("Resolve", Action.RESOLVE, conv.id, "primary")
        # Resolving is final (the conversation cannot be reopened), hence the confirmation.
        resolve["confirm"] = {
            "title": plain("Resolve this conversation?", 100),
            "text": plain("The bot takes over again and this thread closes for good.", 300),
            "confirm": plain("Resolve", 30),
            "deny": plain("Cancel", 30),
        }
        buttons = [button("Release", Action.RELEASE, conv.id), resolve]
    else:
        return None
    return {"type": "actions", "block_id": ACTIONS_BLOCK_ID, "elements": buttons}


def _who(user: User | None, created_at: datetime) -> list[str]:
    if user is None:
        # hitl-api conversations learn who the end user is only with their first message.
        who = [":bust_in_silhouette: _End user not known yet_"]
    else:
        who = [f":bust_in_silhouette: *{person_name(user)}*"]
        if user.email:
            who.append(f":email: {link('mailto:' + user.email, user.email)}")
    who.append(f"Opened {local_date(created_at)}")
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
    text = outside_text(conv.description)
    chunks = pack([text])
    if sum(units(chunk) for chunk in chunks) <= _DESCRIPTION_TEXT:
        return chunks, True
    return pack([split_mrkdwn(text, _DESCRIPTION_TEXT)[0]]), False


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
        {"type": "header", "block_id": "hitl_header", "text": plain(title, MAX_HEADER_TEXT)}
    ]
    shown, whole = _description(conv)
    blocks.extend(section(chunk) for chunk in shown)
    if not whole:
        blocks.append(context([_DESCRIPTION_CUT], block_id="hitl_description_cut"))
    label = PRIORITY_LABELS.get(conv.priority) if conv.priority else None
    if label and conv.priority is Priority.URGENT and conv.status is Status.WAITING and mention:
        label += f" {mention}"
    blocks.append(context(_who(user, conv.created_at), "hitl_user", _PARENT_LINE))
    if label:
        blocks.append(section(label, "hitl_priority", _PARENT_LINE))
    blocks.append(section(status_line, "hitl_status", _PARENT_LINE))
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
    whole = f"{DESCRIPTION_HEADING}\n{outside_text(conv.description)}"
    posts = _series([section(chunk) for chunk in pack([whole])], "Description")
    return [
        Rendered(
            text=f"Description, part {n} of {len(posts)}" if len(posts) > 1 else "Description",
            blocks=post,
        )
        for n, post in enumerate(posts, start=1)
    ]
