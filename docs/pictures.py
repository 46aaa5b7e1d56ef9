"""Pictures of what agents see in Slack, drawn from the fake Slack after a real handoff.

    python -m docs.pictures                  # the pages, in build/pictures/
    python -m docs.pictures --screenshots    # and their PNGs, in docs/images/

Run it from the repository root. :func:`play` stands the real bridge up between the fake
Slack and the fake bot (over HTTP on 127.0.0.1, as the tests do) and plays a short story: a
handoff resolved by Bob, Erin's handoff claimed and answered by Alice, Sam's left waiting, the
bot asking the agents to approve what it wants to promise Sam, and Alice's App Home.
:func:`pages` then draws what the fake Slack stored as self-contained HTML pages that look like
Slack (inline CSS, no script, nothing fetched): the channel, Erin's thread, the approval
request, and the Home tab. ``--screenshots`` takes a PNG of each with Debian's headless
Chromium (``/usr/bin/chromium``; ``apt-get install chromium``). ``tests/test_pictures.py``
renders the pages and opens them.

The drawing knows Block Kit, not the bridge: any message or view is drawn from its blocks
(header, section with fields and accessory, context, actions, divider, image, rich_text),
and mrkdwn from Slack's own markup, so a new kind of post needs a new scene in the story, not
a new renderer.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import html
import re
import secrets
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from bridge import logs
from bridge.client import BridgeClient
from bridge.config import load_settings
from bridge.model import HistoryItem, TextMessage, TextPayload
from bridge.server import Bridge
from bridge.testing.fake_bot import FakeBot
from bridge.testing.fake_slack import FakeSlack, Message

__all__ = [
    "CHROMIUM",
    "PAGES",
    "Scene",
    "blocks_html",
    "channel_page",
    "home_page",
    "main",
    "mrkdwn_html",
    "pages",
    "play",
    "screenshot",
    "thread_page",
    "write_pages",
]

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
APP_NAME = "HITL Bridge"  # manifest.yml's display name, which the Home tab shows
CHANNEL = "C0HANDOFF"
ALICE = "U0ALICE"
BOB = "U0BOB"
TIMEOUT = 10.0
# Each page and the window its screenshot is taken in (width, height).
PAGES: dict[str, tuple[int, int]] = {
    "channel": (1100, 900),
    "thread": (900, 1080),
    "app-home": (1000, 560),
    "approval": (1000, 470),
}


@dataclass
class Scene:
    """What the story left in the fake Slack, and whose eyes the pages show it through."""

    slack: FakeSlack
    channel: str
    thread_ts: str  # the thread pictured
    approval_ts: str  # the approval request pictured
    viewer: str  # whose Home tab it is
    now: datetime


# --- the story ----------------------------------------------------------------------------


def _said(source: Literal["user", "bot"], text: str) -> HistoryItem:
    return HistoryItem(source, TextMessage(type="text", payload=TextPayload(text=text)))


async def play() -> Scene:
    """Run the real bridge against the fakes through the story; the fake Slack as it ends."""
    with tempfile.TemporaryDirectory(prefix="hitl-pictures-") as tmp:
        async with FakeSlack() as slack, FakeBot() as bot:
            slack.add_channel(CHANNEL, "handoffs")
            slack.add_user(ALICE, "alice", display_name="Alice", real_name="Alice Martin")
            slack.add_user(BOB, "bob", display_name="Bob", real_name="Bob Chen")
            token = secrets.token_urlsafe(24)
            env = {
                "SLACK_BOT_TOKEN": slack.bot_token,
                "SLACK_SIGNING_SECRET": slack.signing_secret,
                "SLACK_API_URL": slack.api_url,
                "BRIDGE_CHANNEL": CHANNEL,
                "BRIDGE_API_TOKEN": token,
                "BRIDGE_DATABASE_URL": f"sqlite:///{Path(tmp) / 'bridge.db'}",
                "BRIDGE_WEBHOOK_URL": bot.url,
                "BRIDGE_WEBHOOK_SECRET": bot.secret,
                "BRIDGE_SLACK_RATE": "0",
                "BRIDGE_SLACK_TIERS": "0",
            }
            bridge = Bridge(load_settings(env, env_file=None), port=0)
            await bridge.start()
            slack.events_url = bridge.url + "/slack/events"
            try:
                async with BridgeClient(bridge.url, token) as client:
                    thread_ts, approval_ts = await _story(slack, bot, client)
            finally:
                await bridge.stop()
    return Scene(slack, CHANNEL, thread_ts, approval_ts, ALICE, datetime.now().astimezone())


async def _story(slack: FakeSlack, bot: FakeBot, client: BridgeClient) -> tuple[str, str]:
    """The handoffs the pictures show; the ts of the thread pictured (Erin's), and of the
    approval request (about Sam)."""

    async def hand_off(
        name: str, title: str, history: Sequence[HistoryItem], **extra: Any
    ) -> tuple[str, str, str]:
        """A new end user hands off: their user id, the conversation id, the parent's ts."""
        user = await client.create_user(name, email=f"{name.split()[0].lower()}@example.com")
        conv = await client.start_hitl(user, title=title, message_history=history, **extra)
        deadline = asyncio.get_running_loop().time() + TIMEOUT
        while (ts := (await client.get_conversation(conv)).slack.threadTs) is None:
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"the parent of {title!r} was never posted")
            await asyncio.sleep(0.01)
        await slack.wait_for(lambda: len(slack.thread(CHANNEL, ts)) >= 1, TIMEOUT)
        return user, conv, ts

    def buttons(ts: str) -> list[str]:
        return [
            str(element.get("action_id"))
            for block in slack.message(CHANNEL, ts).blocks or []
            if block.get("type") == "actions"
            for element in block.get("elements", [])
        ]

    async def in_thread(ts: str, text: str) -> None:
        await slack.wait_for(
            lambda: any(text in str(m.blocks) for m in slack.thread(CHANNEL, ts)), TIMEOUT
        )

    async def reacted(reply: str, name: str) -> None:
        await slack.wait_for(lambda: name in slack.message(CHANNEL, reply).reactions, TIMEOUT)

    # Dana's: Bob took it and resolved it before the others came in.
    _, _, dana = await hand_off(
        "Dana Park",
        "Password reset link expired",
        [_said("user", "My reset link says it expired"), _said("user", "agent please")],
    )
    await slack.click(BOB, CHANNEL, dana, "claim")
    await slack.wait_for(lambda: buttons(dana) == ["release", "resolve"], TIMEOUT)
    answer = await slack.user_says(BOB, CHANNEL, "Sent you a fresh link, Dana.", thread_ts=dana)
    await reacted(answer, "white_check_mark")
    await slack.click(BOB, CHANNEL, dana, "resolve")
    await slack.wait_for(lambda: buttons(dana) == [], TIMEOUT)

    # Erin's: the one pictured, from the handoff to Alice's answer.
    erin, conv, ts = await hand_off(
        "Erin Walsh",
        "Refund for order 42",
        [
            _said("user", "Hi there"),
            _said("bot", "Hi! I'm the shop's assistant. How can I help?"),
            _said("user", "I want a refund for order 42"),
            _said("bot", "I can't do refunds myself, but a person can. Shall I get one?"),
            _said("user", "Yes, a human please"),
        ],
        description="Erin wants her money back for order 42 (a kettle, delivered broken).",
    )
    await client.send_text(conv, "Is anybody there?", user_id=erin)
    await in_thread(ts, "Is anybody there?")
    note = await slack.user_says(BOB, CHANNEL, "note: Alice, refunds are yours today", thread_ts=ts)
    await reacted(note, "lock")
    await slack.click(ALICE, CHANNEL, ts, "claim")
    await slack.wait_for(lambda: buttons(ts) == ["release", "resolve"], TIMEOUT)
    await bot.wait_for(lambda: bool(bot.events("hitlAssigned")), TIMEOUT)
    reply = await slack.user_says(
        ALICE,
        CHANNEL,
        "Hi Erin, I'm Alice. I see order 42 &amp; I'm refunding it *now*.",
        thread_ts=ts,
    )
    await reacted(reply, "white_check_mark")
    # A notice from the bot itself (no end user): marked so in the thread.
    await client.send_text(conv, "Erin uploaded a photo: https://shop.example.com/returns/42")
    await in_thread(ts, "uploaded a photo")
    await client.send_text(conv, "Thank you so much!", user_id=erin)
    await in_thread(ts, "Thank you so much!")
    reply = await slack.user_says(
        ALICE, CHANNEL, "Done: the refund is on its way. Anything else?", thread_ts=ts
    )
    await reacted(reply, "white_check_mark")

    # Sam's: high priority, and nobody has claimed it yet.
    sam, _, _ = await hand_off(
        "Sam Lee",
        "Change the delivery address",
        [_said("user", "I moved! My parcel must go to my new address"), _said("user", "human")],
        hitl_session={"priority": "high"},
    )

    # Meanwhile the bot wants to promise Sam something: it asks first.
    approval = await client.request_approval(
        TextMessage(
            type="text",
            payload=TextPayload(
                text="Done! Order 77 will go to 12 Harbour Street, and it ships tomorrow."
            ),
        ),
        title="Confirm the new delivery address",
        context="Sam asked to send order 77 to a new address. The carrier has not picked "
        "it up yet, so the bot thinks it can still be changed.",
        user_id=sam,
    )
    deadline = asyncio.get_running_loop().time() + TIMEOUT
    while (asked := (await client.get_approval(approval)).slack.ts) is None:
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("the approval request was never posted")
        await asyncio.sleep(0.01)

    await slack.send_event({"type": "app_home_opened", "user": ALICE, "tab": "home"})
    await slack.wait_for(
        lambda: "Confirm the new delivery address" in str(slack.home_views.get(ALICE)), TIMEOUT
    )
    return ts, asked


# --- mrkdwn ---------------------------------------------------------------------------------

# The emoji the bridge and this story use, and a few common ones; others stay `:name:`.
EMOJI = {
    "alarm_clock": "\u23f0",
    "bell": "\U0001f514",
    "bust_in_silhouette": "\U0001f464",
    "email": "\U0001f4e7",
    "eyes": "\U0001f440",
    "film_frames": "\U0001f39e\ufe0f",
    "frame_with_picture": "\U0001f5bc\ufe0f",
    "heart": "\u2764\ufe0f",
    "hourglass_flowing_sand": "\u23f3",
    "information_source": "\u2139\ufe0f",
    "large_orange_circle": "\U0001f7e0",
    "link": "\U0001f517",
    "lock": "\U0001f512",
    "memo": "\U0001f4dd",
    "no_entry": "\u26d4",
    "page_facing_up": "\U0001f4c4",
    "raising_hand": "\U0001f64b",
    "red_circle": "\U0001f534",
    "robot_face": "\U0001f916",
    "sound": "\U0001f509",
    "tada": "\U0001f389",
    "thumbsup": "\U0001f44d",
    "+1": "\U0001f44d",
    "warning": "\u26a0\ufe0f",
    "wave": "\U0001f44b",
    "white_check_mark": "\u2705",
    "white_circle": "\u26aa",
    "x": "\u274c",
}

_TOKEN = re.compile(r"<([^<>\n]+)>")
_CODE_BLOCK = re.compile(r"```\n?(.*?)```", re.DOTALL)
_CODE = re.compile(r"`([^`\n]+)`")
_EMOJI_NAME = re.compile(r":([a-z0-9_+-]+):")
_QUOTE = re.compile(r"^&gt;\s?", re.MULTILINE)


def _styled(mark: str, tag: str) -> tuple[re.Pattern[str], str]:
    """Slack's `*bold*`-like markup: the marks hug non-space text and are not inside words."""
    m = re.escape(mark)
    pattern = re.compile(rf"(?<![\w{m}]){m}(?=\S)([^{m}\n]*?\S){m}(?![\w{m}])")
    return pattern, rf"<{tag}>\1</{tag}>"


_STYLES = [_styled("*", "b"), _styled("_", "i"), _styled("~", "s")]


def emoji(name: str) -> str:
    """The picture of an emoji's name, or the name between colons when it is not known."""
    return EMOJI.get(name.strip(":"), f":{name.strip(':')}:")


def _escape(text: str) -> str:
    """Stored Slack text (``&amp;``, ``&lt;``, ``&gt;`` escaped) as HTML text."""
    return html.escape(html.unescape(text), quote=False)


def _emojis(escaped: str) -> str:
    def picture(match: re.Match[str]) -> str:
        found = EMOJI.get(match[1])
        return f'<span class="emoji">{found}</span>' if found else match[0]

    return _EMOJI_NAME.sub(picture, escaped)


def mrkdwn_html(text: str, names: Callable[[str], str], now: datetime) -> str:
    """Slack's mrkdwn as HTML: styles, code, quotes, links, mentions, dates and emoji.

    ``names`` gives a user's name by id. Everything outside the markup is escaped.
    """
    kept: list[str] = []

    def keep(fragment: str) -> str:
        # Out of the way of the styles until the end: a link's URL may hold `_` or `*`.
        kept.append(fragment)
        return f"\x00{len(kept) - 1}\x00"

    text = text.replace("\x00", "")
    text = _CODE_BLOCK.sub(lambda m: keep(f"<pre>{_escape(m[1])}</pre>"), text)
    text = _CODE.sub(lambda m: keep(f"<code>{_escape(m[1])}</code>"), text)
    text = _TOKEN.sub(lambda m: keep(_token(m[1], names, now)), text)
    out = _escape(text)
    for pattern, replacement in _STYLES:
        out = pattern.sub(replacement, out)
    out = _emojis(out)
    out = _quotes(out)
    out = out.replace("\n", "<br>")
    return re.sub(r"\x00(\d+)\x00", lambda m: kept[int(m[1])], out)


def _quotes(out: str) -> str:
    """Lines starting with ``>`` as Slack's quote bars."""
    lines, quoted = [], []
    for line in out.split("\n"):
        if _QUOTE.match(line):
            quoted.append(_QUOTE.sub("", line, count=1))
            continue
        if quoted:
            lines.append(f"<blockquote>{'<br>'.join(quoted)}</blockquote>")
            quoted = []
        lines.append(line)
    if quoted:
        lines.append(f"<blockquote>{'<br>'.join(quoted)}</blockquote>")
    return "\n".join(lines)


def _token(inner: str, names: Callable[[str], str], now: datetime) -> str:
    """One ``<...>`` of mrkdwn: a mention, a special mention, a date or a link."""
    target, _, label = inner.partition("|")
    if target.startswith("@"):
        return f'<span class="mention">@{html.escape(names(target[1:]))}</span>'
    if target.startswith("#"):
        return f'<span class="mention">#{_escape(label or target[1:])}</span>'
    if target.startswith("!date^"):
        return html.escape(_date(target, label, now), quote=False)
    if target.startswith("!subteam^"):
        handle = label or "@" + target.removeprefix("!subteam^")
        return f'<span class="mention">{_escape(handle)}</span>'
    if target.startswith("!"):
        return f'<span class="mention">@{_escape(target[1:])}</span>'
    if re.match(r"(https?|mailto):", target):
        shown = label or target.removeprefix("mailto:")
        return f'<a href="{html.escape(html.unescape(target))}">{_escape(shown)}</a>'
    return _escape(f"<{inner}>")


def _date(target: str, fallback: str, now: datetime) -> str:
    """``<!date^1700000000^{date_short_pretty} at {time}|...>`` as a reader here sees it."""
    parts = target.split("^")
    try:
        moment = datetime.fromtimestamp(int(parts[1])).astimezone()
        pattern = parts[2]
    except (IndexError, ValueError, OverflowError, OSError):
        return fallback
    pretty = _day(moment, now)
    words = {
        "date_pretty": pretty,
        "date_short_pretty": pretty,
        "date_long_pretty": pretty,
        "date_num": f"{moment:%Y-%m-%d}",
        "date": f"{moment:%B} {moment.day}, {moment.year}",
        "date_short": f"{moment:%b} {moment.day}, {moment.year}",
        "date_long": f"{moment:%A}, {moment:%B} {moment.day}, {moment.year}",
        "time": _clock(moment),
        "time_secs": _clock(moment, seconds=True),
    }
    return re.sub(r"\{(\w+)\}", lambda m: words.get(m[1], m[0]), pattern)


def _day(moment: datetime, now: datetime) -> str:
    """``Today``, ``Yesterday`` or ``Dec 5``."""
    days = (now.date() - moment.date()).days
    return {0: "Today", 1: "Yesterday"}.get(days, f"{moment:%b} {moment.day}")


def _clock(moment: datetime, *, seconds: bool = False) -> str:
    """``2:05 PM``, as Slack shows times."""
    hour = moment.hour % 12 or 12
    clock = f"{hour}:{moment:%M}" + (f":{moment:%S}" if seconds else "")
    return f"{clock} {'AM' if moment.hour < 12 else 'PM'}"


# --- Block Kit ------------------------------------------------------------------------------


@dataclass
class _Draw:
    """What drawing text needs: people's names, and the time the pictures were taken."""

    names: Callable[[str], str]
    now: datetime

    def text(self, obj: object) -> str:
        """A text object (``plain_text`` or ``mrkdwn``), or a bare string, as HTML."""
        if isinstance(obj, str):
            return mrkdwn_html(obj, self.names, self.now)
        if not isinstance(obj, dict):
            return ""
        raw = str(obj.get("text", ""))
        if obj.get("type") == "mrkdwn":
            return mrkdwn_html(raw, self.names, self.now)
        plain = html.escape(raw, quote=False)
        return _emojis(plain) if obj.get("emoji", True) else plain

    def block(self, block: dict[str, Any]) -> str:
        kind = str(block.get("type"))
        draw = _BLOCKS.get(kind)
        if draw is None:  # a block this drawing does not know: say so, visibly
            return f'<div class="b-unknown">[{html.escape(kind)} block]</div>'
        return draw(self, block)

    def header(self, block: dict[str, Any]) -> str:
        return f'<div class="b-header">{self.text(block.get("text"))}</div>'

    def section(self, block: dict[str, Any]) -> str:
        body = ""
        if block.get("text"):
            body += f'<div class="b-text">{self.text(block["text"])}</div>'
        if block.get("fields"):
            fields = "".join(f"<div>{self.text(f)}</div>" for f in block["fields"])
            body += f'<div class="b-fields">{fields}</div>'
        accessory = block.get("accessory")
        side = f'<div class="b-accessory">{self.element(accessory)}</div>' if accessory else ""
        return f'<div class="b-section"><div class="b-body">{body}</div>{side}</div>'

    def context(self, block: dict[str, Any]) -> str:
        parts = []
        for element in block.get("elements", []):
            if element.get("type") == "image":
                parts.append(self.element(element))
            else:
                parts.append(f"<span>{self.text(element)}</span>")
        return f'<div class="b-context">{"".join(parts)}</div>'

    def actions(self, block: dict[str, Any]) -> str:
        elements = "".join(self.element(e) for e in block.get("elements", []))
        return f'<div class="b-actions">{elements}</div>'

    def divider(self, block: dict[str, Any]) -> str:
        return '<hr class="b-divider">'

    def image(self, block: dict[str, Any]) -> str:
        # Nothing is fetched: the picture is drawn as a frame with its alternative text.
        title = block.get("title")
        head = f'<div class="b-image-title">{self.text(title)}</div>' if title else ""
        alt = html.escape(str(block.get("alt_text", "image")))
        return f'{head}<div class="b-image" title="{alt}">\U0001f5bc\ufe0f {alt}</div>'

    def rich_text(self, block: dict[str, Any]) -> str:
        return "".join(self._rich(part) for part in block.get("elements", []))

    def _rich(self, part: dict[str, Any]) -> str:
        kind = part.get("type")
        inner = "".join(self._rich_element(e) for e in part.get("elements", []))
        if kind == "rich_text_preformatted":
            return f"<pre>{inner}</pre>"
        if kind == "rich_text_quote":
            return f"<blockquote>{inner}</blockquote>"
        if kind == "rich_text_list":
            tag = "ol" if part.get("style") == "ordered" else "ul"
            items = "".join(f"<li>{self._rich(item)}</li>" for item in part.get("elements", []))
            return f"<{tag}>{items}</{tag}>"
        return f'<div class="b-text">{inner}</div>'

    def _rich_element(self, element: dict[str, Any]) -> str:
        kind = element.get("type")
        if kind == "text":
            out = html.escape(str(element.get("text", "")), quote=False).replace("\n", "<br>")
        elif kind == "link":
            url = html.escape(str(element.get("url", "")))
            label = html.escape(str(element.get("text") or element.get("url", "")), quote=False)
            out = f'<a href="{url}">{label}</a>'
        elif kind == "user":
            out = (
                f'<span class="mention">@{html.escape(self.names(str(element["user_id"])))}</span>'
            )
        elif kind == "channel":
            out = f'<span class="mention">#{html.escape(str(element.get("channel_id")))}</span>'
        elif kind == "usergroup":
            out = f'<span class="mention">@{html.escape(str(element.get("usergroup_id")))}</span>'
        elif kind == "broadcast":
            out = f'<span class="mention">@{html.escape(str(element.get("range")))}</span>'
        elif kind == "emoji":
            out = f'<span class="emoji">{html.escape(emoji(str(element.get("name"))))}</span>'
        else:
            out = html.escape(str(element.get("text", "")), quote=False)
        style = element.get("style") or {}
        for flag, tag in (("code", "code"), ("strike", "s"), ("italic", "i"), ("bold", "b")):
            if style.get(flag):
                out = f"<{tag}>{out}</{tag}>"
        return out

    def element(self, element: dict[str, Any]) -> str:
        """An interactive or image element: buttons, menus, images."""
        kind = element.get("type")
        if kind == "button":
            style = element.get("style")
            cls = f"btn btn-{style}" if style in ("primary", "danger") else "btn"
            return f'<span class="{cls}">{self.text(element.get("text"))}</span>'
        if kind == "image":
            alt = html.escape(str(element.get("alt_text", "")))
            return f'<span class="b-thumb" title="{alt}">\U0001f5bc\ufe0f</span>'
        if kind == "overflow":
            return '<span class="btn btn-overflow">\u22ee</span>'
        placeholder = element.get("placeholder") or element.get("initial_option", {}).get("text")
        label = self.text(placeholder) if placeholder else html.escape(str(kind))
        return f'<span class="btn btn-select">{label} <span class="caret">\u25be</span></span>'


_BLOCKS: dict[str, Callable[[_Draw, dict[str, Any]], str]] = {
    "header": _Draw.header,
    "section": _Draw.section,
    "context": _Draw.context,
    "actions": _Draw.actions,
    "divider": _Draw.divider,
    "image": _Draw.image,
    "rich_text": _Draw.rich_text,
}


def blocks_html(
    blocks: Iterable[dict[str, Any]], names: Callable[[str], str], now: datetime
) -> str:
    """Block Kit blocks as HTML; ``names`` gives a user's name by id."""
    draw = _Draw(names, now)
    return "".join(draw.block(block) for block in blocks)


# --- messages -------------------------------------------------------------------------------

# The bridge's app icon: a bridge, drawn here so that nothing is fetched.
BRIDGE_ICON = (
    '<svg viewBox="0 0 36 36" aria-hidden="true"><rect width="36" height="36" rx="8" '
    'fill="#2eb67d"/><g stroke="#fff" stroke-linecap="round" fill="none">'
    '<path stroke-width="2.6" d="M5 25h26M5 19c5-8 21-8 26 0"/>'
    '<path stroke-width="2" d="M9 25v-7M14 25v-9.5M18 25v-10M22 25v-9.5M27 25v-7"/></g></svg>'
)
_AVATAR_COLOURS = ["#e8912d", "#2bac76", "#1264a3", "#e01e5a", "#9f69be", "#3aa3e3", "#d58a0a"]
_GROUP_SECONDS = 300  # Slack shows a run of one author's messages under one name


@dataclass(frozen=True)
class _Author:
    key: str  # who, for grouping a run of messages
    name: str
    app: bool  # posted by an app: Slack marks it APP
    bridge: bool  # the bridge's own posts carry its icon


def _initials(name: str) -> str:
    words = [w for w in re.split(r"[\s._-]+", name) if w]
    return "".join(w[0] for w in words[:2]).upper() or "?"


def avatar(name: str, *, bridge: bool = False, size: int = 36) -> str:
    """A person's picture as Slack draws one nobody uploaded: initials on a colour."""
    style = f"width:{size}px;height:{size}px"
    if bridge:
        return f'<span class="avatar" style="{style}">{BRIDGE_ICON}</span>'
    colour = _AVATAR_COLOURS[hashlib.sha1(name.encode()).digest()[0] % len(_AVATAR_COLOURS)]
    font = max(9, size * 2 // 5)
    return (
        f'<span class="avatar initials" style="{style};background:{colour};font-size:{font}px">'
        f"{html.escape(_initials(name))}</span>"
    )


def _time(ts: str) -> datetime:
    return datetime.fromtimestamp(float(ts)).astimezone()


class _Channel:
    """Draws one channel's messages as a viewer sees them."""

    def __init__(self, scene: Scene) -> None:
        self.scene = scene
        self.slack = scene.slack

    def name(self, user_id: str) -> str:
        user = self.slack.users.get(user_id)
        if user is None:
            return user_id
        return user.display_name or user.real_name or user.name

    def author(self, msg: Message) -> _Author:
        if msg.username:  # the bridge posting as the end user (chat:write.customize)
            return _Author(f"as:{msg.username}", msg.username, app=True, bridge=False)
        if msg.bot_id == self.slack.bot_id:
            return _Author("bridge", self.slack.bot_name, app=True, bridge=True)
        who = msg.user or msg.bot_id or "?"
        return _Author(who, self.name(who), app=msg.bot_id is not None, bridge=False)

    def body(self, msg: Message) -> str:
        if msg.blocks:
            out = blocks_html(msg.blocks, self.name, self.scene.now)
        else:
            out = f'<div class="b-text">{mrkdwn_html(msg.text, self.name, self.scene.now)}</div>'
        for file in msg.files or []:
            title = html.escape(str(file.get("title") or file.get("name") or "file"))
            out += f'<div class="file">\U0001f4c4 {title}</div>'
        # Slack marks a person's edits; an app's updates (every parent's) go unmarked.
        if msg.edited and msg.bot_id is None:
            out += '<span class="edited">(edited)</span>'
        return out

    def reactions(self, msg: Message) -> str:
        pills = "".join(
            f'<span class="reaction"><span class="emoji">{html.escape(emoji(name))}</span>'
            f"<b>{len(users)}</b></span>"
            for name, users in msg.reactions.items()
            if users
        )
        return f'<div class="reactions">{pills}</div>' if pills else ""

    def summary(self, msg: Message) -> str:
        """Under a parent in the channel: its replies' authors, count and last time."""
        replies = self.slack.thread(msg.channel, msg.ts)
        if not replies:
            return ""
        authors = list({a.key: a for a in map(self.author, replies)}.values())
        faces = "".join(avatar(a.name, bridge=a.bridge, size=24) for a in authors[:4])
        count = f"{len(replies)} repl{'y' if len(replies) == 1 else 'ies'}"
        last = _time(replies[-1].ts)
        day = _day(last, self.scene.now)
        day = day.lower() if day in ("Today", "Yesterday") else day
        return (
            f'<div class="summary">{faces}<span class="count">{count}</span>'
            f'<span class="last">Last reply {day} at {_clock(last)}</span></div>'
        )

    def messages(self, msgs: Sequence[Message], *, summaries: bool) -> str:
        out = []
        previous: tuple[_Author, datetime, bool] | None = None
        for msg in msgs:
            author, moment = self.author(msg), _time(msg.ts)
            summary = self.summary(msg) if summaries else ""
            grouped = (
                previous is not None
                and previous[0] == author
                and not previous[2]
                and (moment - previous[1]).total_seconds() < _GROUP_SECONDS
            )
            previous = (author, moment, bool(summary))
            if grouped:
                head, face = "", '<span class="gutter"></span>'  # Slack's hover time
            else:
                app = '<span class="app">APP</span>' if author.app else ""
                head = (
                    f'<div class="meta"><span class="name">{html.escape(author.name)}</span>'
                    f'{app}<span class="time">{_clock(moment)}</span></div>'
                )
                face = avatar(author.name, bridge=author.bridge)
            out.append(
                f'<div class="msg{" grouped" if grouped else ""}">{face}<div class="content">'
                f"{head}{self.body(msg)}{self.reactions(msg)}{summary}</div></div>"
            )
        return "".join(out)


# --- pages ----------------------------------------------------------------------------------

CSS = """
* { box-sizing: border-box; }
html, body { margin: 0; height: 100%; background: #f8f8f8; }
body {
  font: 15px/1.46668 Lato, "Slack-Lato", "Helvetica Neue", Helvetica, "Segoe UI", Arial,
    sans-serif, "Noto Color Emoji", "Apple Color Emoji", "Segoe UI Emoji";
  color: #1d1c1d; -webkit-font-smoothing: antialiased;
}
.window { display: flex; flex-direction: column; height: 100vh; background: #fff; }
.topbar { flex: none; height: 40px; background: #3f0e40; display: flex; align-items: center;
  justify-content: center; }
.search { width: 46%; height: 26px; border-radius: 6px; background: rgba(255,255,255,.18);
  color: rgba(255,255,255,.8); font-size: 13px; line-height: 26px; padding: 0 10px; }
.head { flex: none; height: 50px; display: flex; align-items: center;
  justify-content: space-between; padding: 0 20px; border-bottom: 1px solid #dddddd; }
.head .title { font-size: 18px; font-weight: 900; display: flex; align-items: center; gap: 8px; }
.head .sub { font-size: 13px; font-weight: 400; color: #616061; }
.head .title .avatar { margin: 0; }
.faces { display: flex; align-items: center; border: 1px solid #dddddd; border-radius: 6px;
  padding: 3px 8px 3px 3px; font-size: 13px; font-weight: 700; color: #616061; }
.faces .avatar { margin: 0 -4px 0 0; border: 2px solid #fff; border-radius: 6px; }
.faces b { margin-left: 10px; }
.close { font-size: 18px; color: #616061; }
.tabs { flex: none; display: flex; gap: 22px; padding: 0 20px; border-bottom: 1px solid #dddddd;
  font-size: 13px; font-weight: 700; color: #616061; }
.tabs span { padding: 9px 0 8px; }
.tabs .on { color: #1d1c1d; border-bottom: 2px solid #1264a3; }
.scroll { flex: 1; overflow: hidden; display: flex; flex-direction: column; padding: 8px 0; }
.scroll.bottom { justify-content: flex-end; }
.day { position: relative; text-align: center; margin: 6px 0 4px; }
.day::before { content: ""; position: absolute; left: 0; right: 0; top: 50%;
  border-top: 1px solid #dddddd; }
.day span { position: relative; background: #fff; border: 1px solid #dddddd;
  border-radius: 24px; padding: 3px 16px; font-size: 13px; font-weight: 700; }
.msg { display: flex; gap: 8px; padding: 8px 20px; }
.msg.grouped { padding-top: 1px; }
.avatar { flex: none; display: inline-flex; align-items: center; justify-content: center;
  border-radius: 6px; overflow: hidden; vertical-align: middle; }
.avatar svg { width: 100%; height: 100%; display: block; }
.initials { color: #fff; font-weight: 900; letter-spacing: .02em; }
.gutter { flex: none; width: 36px; }
.content { flex: 1; min-width: 0; }
.meta { display: flex; align-items: baseline; gap: 6px; line-height: 22px; }
.name { font-weight: 900; }
.app { font-size: 10px; font-weight: 700; color: #616061; background: rgba(29,28,29,.13);
  border-radius: 2px; padding: 0 3px; line-height: 14px; align-self: center; }
.time { font-size: 12px; color: #616061; }
.b-header { font-size: 18px; font-weight: 900; line-height: 1.33; margin: 4px 0 6px; }
.b-section { display: flex; gap: 12px; margin: 4px 0; }
.b-body { flex: 1; min-width: 0; }
.b-text { overflow-wrap: anywhere; }
.b-fields { display: grid; grid-template-columns: 1fr 1fr; gap: 8px 16px; margin-top: 4px; }
.b-accessory { flex: none; }
.b-context { display: flex; flex-wrap: wrap; align-items: center; gap: 4px 14px;
  font-size: 13px; color: #616061; margin: 4px 0; }
.b-context b { color: #1d1c1d; }
.b-actions { display: flex; flex-wrap: wrap; gap: 8px; margin: 10px 0 6px; }
.b-divider { border: 0; border-top: 1px solid #dddddd; margin: 14px 0; }
.b-image { border: 1px solid #dddddd; border-radius: 8px; padding: 40px 16px; color: #616061;
  text-align: center; max-width: 360px; margin: 4px 0; }
.b-image-title { font-size: 13px; color: #616061; }
.b-thumb { display: inline-block; width: 20px; text-align: center; }
.b-unknown { color: #616061; font-style: italic; }
.btn { display: inline-flex; align-items: center; height: 28px; padding: 0 12px;
  border: 1px solid rgba(29,28,29,.3); border-radius: 4px; background: #fff;
  font-size: 13px; font-weight: 700; white-space: nowrap; }
.btn-primary { background: #007a5a; border-color: #007a5a; color: #fff; }
.btn-danger { background: #e01e5a; border-color: #e01e5a; color: #fff; }
.btn-select { font-weight: 400; }
.caret { margin-left: 8px; color: #616061; }
a { color: #1264a3; text-decoration: none; }
.mention { color: #1264a3; background: rgba(29,155,209,.1); border-radius: 3px;
  padding: 0 2px; font-weight: 400; }
code { font: 12px Monaco, Menlo, Consolas, "DejaVu Sans Mono", monospace; color: #e01e5a;
  background: rgba(29,28,29,.04); border: 1px solid rgba(29,28,29,.13); border-radius: 3px;
  padding: 2px 3px 1px; }
pre { font: 12px/1.5 Monaco, Menlo, Consolas, "DejaVu Sans Mono", monospace; margin: 4px 0;
  background: rgba(29,28,29,.04); border: 1px solid rgba(29,28,29,.13); border-radius: 4px;
  padding: 8px; white-space: pre-wrap; }
blockquote { margin: 4px 0; padding-left: 12px; border-left: 4px solid #dddddd; }
ul, ol { margin: 2px 0; padding-left: 22px; }
.emoji { font-family: "Noto Color Emoji", "Apple Color Emoji", "Segoe UI Emoji", sans-serif;
  font-weight: 400; }
.edited { font-size: 13px; color: #616061; }
.file { display: inline-block; border: 1px solid #dddddd; border-radius: 8px; padding: 8px 12px;
  margin: 4px 0; font-weight: 700; }
.reactions { display: flex; gap: 4px; margin-top: 4px; }
.reaction { display: inline-flex; align-items: center; gap: 4px; height: 24px; padding: 0 7px;
  border-radius: 12px; background: rgba(29,28,29,.06); font-size: 12px; }
.reaction .emoji { font-size: 15px; }
.summary { display: inline-flex; align-items: center; gap: 4px; margin-top: 4px; padding: 4px;
  border: 1px solid #dddddd; border-radius: 6px; font-size: 13px; }
.summary .avatar { border-radius: 4px; }
.summary .count { font-weight: 700; color: #1264a3; margin: 0 4px 0 4px; }
.summary .last { color: #616061; }
.replies { display: flex; align-items: center; gap: 12px; margin: 2px 20px 6px;
  font-size: 13px; color: #616061; }
.replies::after { content: ""; flex: 1; border-top: 1px solid #dddddd; }
.composer { flex: none; margin: 0 20px 20px; border: 1px solid rgba(29,28,29,.3);
  border-radius: 8px; }
.composer .hint { padding: 11px 12px 6px; color: #868686; }
.composer .tools { display: flex; justify-content: space-between; padding: 2px 8px 6px;
  color: #868686; font-size: 14px; }
.composer .send { color: #fff; background: #007a5a; border-radius: 4px; padding: 0 9px; }
.home { padding: 12px 32px; }
.home .b-section { margin: 8px 0; }
""".strip()


def _page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n<style>\n{CSS}\n</style>\n</head>\n<body>\n"
        f'<div class="window">\n<div class="topbar"><div class="search">Search fake workspace'
        f"</div></div>\n{body}\n</div>\n</body>\n</html>\n"
    )


def _composer(hint: str) -> str:
    return (
        f'<div class="composer"><div class="hint">{html.escape(hint)}</div>'
        '<div class="tools"><span>+ &nbsp; <b>B</b> &nbsp; <i>I</i> &nbsp; <s>S</s> &nbsp; '
        '\U0001f517 &nbsp; @ &nbsp; \u263a</span><span class="send">\u27a4</span></div></div>'
    )


def channel_page(scene: Scene) -> str:
    """The channel: the handoffs' parent messages, each with its thread's summary."""
    chan = _Channel(scene)
    channel = scene.slack.channels[scene.channel].name
    top = [m for m in scene.slack.messages(scene.channel) if not m.is_reply]
    people = [u for u in scene.slack.users.values() if not u.is_bot]
    faces = "".join(avatar(chan.name(u.id), size=22) for u in people[:3])
    body = (
        f'<div class="head"><div class="title"># {html.escape(channel)}</div>'
        f'<div class="faces">{faces}<b>{len(people) + 1}</b></div></div>\n'
        '<div class="tabs"><span class="on">\U0001f4ac Messages</span><span>Pins</span>'
        "<span>+</span></div>\n"
        f'<div class="scroll bottom"><div class="day"><span>Today</span></div>'
        f"{chan.messages(top, summaries=True)}</div>\n{_composer(f'Message #{channel}')}"
    )
    return _page(f"#{channel}", body)


def thread_page(scene: Scene) -> str:
    """One conversation's thread: the parent, then every reply."""
    chan = _Channel(scene)
    channel = scene.slack.channels[scene.channel].name
    parent = scene.slack.message(scene.channel, scene.thread_ts)
    replies = scene.slack.thread(scene.channel, scene.thread_ts)
    count = f"{len(replies)} repl{'y' if len(replies) == 1 else 'ies'}"
    body = (
        f'<div class="head"><div class="title">Thread <span class="sub"># {html.escape(channel)}'
        '</span></div><div class="close">\u2715</div></div>\n'
        f'<div class="scroll">{chan.messages([parent], summaries=False)}'
        f'<div class="replies">{count}</div>{chan.messages(replies, summaries=False)}</div>\n'
        f"{_composer('Reply…')}"
    )
    return _page(f"Thread in #{channel}", body)


def approval_page(scene: Scene) -> str:
    """An approval request as the agents find it in the channel, waiting for a decision."""
    chan = _Channel(scene)
    channel = scene.slack.channels[scene.channel].name
    request = scene.slack.message(scene.channel, scene.approval_ts)
    body = (
        f'<div class="head"><div class="title"># {html.escape(channel)}</div></div>\n'
        f'<div class="scroll bottom">{chan.messages([request], summaries=False)}</div>\n'
        f"{_composer(f'Message #{channel}')}"
    )
    return _page(f"Approval in #{channel}", body)


def home_page(scene: Scene) -> str:
    """The app's Home tab as the viewer last had it published."""
    view = scene.slack.home_views[scene.viewer]
    blocks = blocks_html(view.get("blocks", []), _Channel(scene).name, scene.now)
    body = (
        f'<div class="head"><div class="title">{avatar(APP_NAME, bridge=True, size=26)}'
        f"{html.escape(APP_NAME)}</div></div>\n"
        '<div class="tabs"><span class="on">Home</span><span>Messages</span><span>About</span>'
        f'</div>\n<div class="scroll home">{blocks}</div>'
    )
    return _page(f"{APP_NAME} - Home", body)


_DRAWN: dict[str, Callable[[Scene], str]] = {
    "channel": channel_page,
    "thread": thread_page,
    "app-home": home_page,
    "approval": approval_page,
}


def pages(scene: Scene) -> dict[str, str]:
    """Every page (name: HTML), the names of :data:`PAGES`."""
    return {name: _DRAWN[name](scene) for name in PAGES}


def write_pages(scene: Scene, out: Path) -> dict[str, Path]:
    """Write every page into ``out`` as ``NAME.html``; their paths by name."""
    out.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, text in pages(scene).items():
        path = out / f"{name}.html"
        path.write_text(text, encoding="utf-8")
        written[name] = path
    return written


# --- screenshots ----------------------------------------------------------------------------


def screenshot(
    page: Path, png: Path, size: tuple[int, int], chromium: str = CHROMIUM, timeout: float = 60
) -> None:
    """A PNG of ``page`` in a ``size`` window of headless Chromium, recompressed."""
    with tempfile.TemporaryDirectory(prefix="hitl-chromium-") as profile:
        command = [
            chromium,
            "--headless",
            "--disable-gpu",
            "--no-sandbox",
            "--hide-scrollbars",
            "--no-first-run",
            "--force-device-scale-factor=1",
            f"--user-data-dir={profile}",  # a profile of its own: no state, no lock held
            f"--window-size={size[0]},{size[1]}",
            f"--screenshot={png.resolve()}",
            page.resolve().as_uri(),
        ]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0 or not png.exists():
        raise RuntimeError(f"chromium failed ({done.returncode}): {done.stderr.strip()[-500:]}")


def main(argv: Sequence[str] | None = None) -> int:
    """Play the story, write the pages, and with ``--screenshots`` take their PNGs."""
    parser = argparse.ArgumentParser(prog="python -m docs.pictures", description=__doc__)
    parser.add_argument(
        "--out", type=Path, default=ROOT / "build" / "pictures", help="where the pages go"
    )
    parser.add_argument(
        "--screenshots", action="store_true", help="take a PNG of each page with Chromium"
    )
    parser.add_argument(
        "--images", type=Path, default=ROOT / "docs" / "images", help="where the PNGs go"
    )
    parser.add_argument("--chromium", default=CHROMIUM, help="the Chromium to take them with")
    args = parser.parse_args(argv)
    logs.setup("WARNING")
    written = write_pages(asyncio.run(play()), args.out)
    for path in written.values():
        print(path)
    if args.screenshots:
        if not Path(args.chromium).exists():
            print(f"no Chromium at {args.chromium}: apt-get install chromium", file=sys.stderr)
            return 1
        args.images.mkdir(parents=True, exist_ok=True)
        for name, path in written.items():
            png = args.images / f"{name}.png"
            screenshot(path, png, PAGES[name], args.chromium)
            print(f"{png} ({png.stat().st_size // 1024} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
