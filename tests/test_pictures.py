"""`python -m docs.pictures`: the pages drawn from a real story, opened, and photographed."""

from __future__ import annotations

import asyncio
import struct
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from docs import pictures

# Elements HTML closes by itself; every other tag must be closed, in order.
VOID = {"br", "hr", "img", "meta", "link", "input", "source", "wbr"}
INLINE = {"a", "b", "i", "s", "code"}  # styles inside a line: no space around them


class Page(HTMLParser):
    """Reads a page, failing on a tag closed out of order, and keeps its visible text."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[str] = []
        self.tags: set[str] = set()
        self.sources: list[str] = []  # anything the page would fetch
        self.chunks: list[str] = []
        self.buttons: list[str] = []  # their labels, in order
        self._button: tuple[int, int] | None = None  # (depth, first chunk) inside a button
        self.feed(text)
        self.close()
        assert not self.open, f"never closed: {self.open}"

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.sources += [str(v) for k, v in attrs if k in ("src", "srcset", "data")]
        if tag not in VOID:
            self.open.append(tag)
        if "btn" in (dict(attrs).get("class") or "").split():
            self._button = (len(self.open), len(self.chunks))
        if tag not in INLINE:
            self.chunks.append(" ")

    def handle_endtag(self, tag: str) -> None:
        assert self.open and self.open[-1] == tag, f"</{tag}> closes {self.open[-1:]}"
        if self._button is not None and self._button[0] == len(self.open):
            self.buttons.append("".join(self.chunks[self._button[1] :]).strip())
            self._button = None
        self.open.pop()
        if tag not in INLINE:
            self.chunks.append(" ")

    def handle_data(self, data: str) -> None:
        if not set(self.open) & {"style", "title"}:
            self.chunks.append(data)

    @property
    def text(self) -> str:
        return " ".join("".join(self.chunks).split())


async def test_the_pages_show_the_story_and_open(tmp_path: Path) -> None:
    scene = await pictures.play()
    written = pictures.write_pages(scene, tmp_path)
    assert set(written) == set(pictures.PAGES)
    read = {name: Page(path.read_text(encoding="utf-8")) for name, path in written.items()}
    for page in read.values():
        # Self-contained: no script, no stylesheet or picture to fetch.
        assert not page.tags & {"script", "link", "img", "iframe"} and not page.sources

    channel, thread, home = read["channel"].text, read["thread"].text, read["app-home"].text
    for title in ("Password reset link expired", "Refund for order 42", "Change the delivery"):
        assert title in channel
    assert "Resolved by @Bob" in channel and "Assigned to @Alice" in channel
    assert "Waiting for an agent" in channel and "7 replies" in channel
    # Erin's, Sam's, then the approval request about Sam.
    assert read["channel"].buttons == ["Release", "Resolve", "Claim", "Approve", "Edit", "Reject"]
    assert read["thread"].buttons == ["Release", "Resolve"]
    assert read["app-home"].buttons == ["Claim"]
    approval = read["approval"]
    assert approval.buttons == ["Approve", "Edit", "Reject"]
    assert "Confirm the new delivery address" in approval.text and "Sam Lee" in approval.text
    assert "Order 77 will go to 12 Harbour Street" in approval.text  # the draft
    assert "Approvals waiting (1)" in home
    assert "Refund for order 42" in thread and "Conversation so far" in thread
    assert "Erin Walsh APP" in thread and "Is anybody there?" in thread  # the end user
    assert "I see order 42 & I'm refunding it now." in thread  # Alice's reply, unescaped once
    assert "\u2705 1" in thread and "\U0001f512 1" in thread  # the receipt, the note's lock
    assert "From the bot Erin uploaded a photo" in thread
    assert "Handoff queue" in home and "Waiting (1)" in home and "Claim" in home
    assert "Yours (1)" in home and "Refund for order 42" in home

    # Served as a browser would get them, each page opens whole.
    app = web.Application()
    app.router.add_static("/", tmp_path)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        async with aiohttp.ClientSession() as session:
            for name, path in written.items():
                async with session.get(f"http://127.0.0.1:{port}/{path.name}") as resp:
                    assert resp.status == 200 and resp.content_type == "text/html", name
                    assert await resp.text() == path.read_text(encoding="utf-8")
    finally:
        await runner.cleanup()


def test_mrkdwn_is_drawn_and_escaped() -> None:
    names = {"U0ALICE": "Alice <3"}.get
    out = pictures.mrkdwn_html(
        "*bold* _it_ ~gone~ `a<b` <https://x.io/?a=1&amp;b=2|x &amp; y> <@U0ALICE> :tada: "
        "&lt;script&gt; <!date^0^{date_num}|then> snake_case_name",
        lambda user: names(user) or user,
        datetime.now().astimezone(),
    )
    assert "<b>bold</b> <i>it</i> <s>gone</s> <code>a&lt;b</code>" in out
    assert '<a href="https://x.io/?a=1&amp;b=2">x &amp; y</a>' in out
    assert '<span class="mention">@Alice &lt;3</span>' in out and "\U0001f389" in out
    assert "&lt;script&gt;" in out and "<script" not in out
    assert "1970-01-01" in out or "1969-12-31" in out  # the date in the reader's time zone
    assert "snake_case_name" in out  # underscores inside a word are no italics


@pytest.mark.skipif(
    not Path(pictures.CHROMIUM).exists(),
    reason=f"no Chromium at {pictures.CHROMIUM} to take screenshots (apt-get install chromium)",
)
async def test_a_screenshot_of_a_page(tmp_path: Path) -> None:
    scene = await pictures.play()
    page = pictures.write_pages(scene, tmp_path)["thread"]
    png = tmp_path / "thread.png"
    await asyncio.to_thread(pictures.screenshot, page, png, (600, 400))
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", data[16:24]) == (600, 400)  # IHDR: the window's size
    assert len(data) > 10_000  # text and colours, not an empty page
