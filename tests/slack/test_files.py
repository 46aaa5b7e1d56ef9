"""Files agents share reach the bot as links to the bridge, signed, expiring, one file each."""

from __future__ import annotations

import aiohttp

from tests.conftest import ALICE, CHANNEL, Stage


async def test_an_agents_file_reaches_the_bot_through_the_bridge(stage: Stage) -> None:
    slack, bot, api = stage.slack, stage.bot, stage.api
    assert bot is not None
    conv = await api.start(await api.create_user())
    parent = await stage.parent_ts(conv)
    await slack.user_says(
        ALICE, CHANNEL, "", thread_ts=parent,
        files=[{"name": "receipt.png", "mimetype": "image/png", "content": b"\x89PNG fake"}],
    )  # fmt: skip
    await slack.user_says(
        ALICE, CHANNEL, "here is the form", thread_ts=parent,
        files=[{"name": "form.pdf", "title": "The form", "mimetype": "application/pdf",
                "content": b"%PDF-1.4 fake"}],
    )  # fmt: skip
    await bot.wait_for(lambda: len(bot.events("message")) == 2)
    image, bloc = (e["payload"] for e in bot.events("message"))
    assert image["type"] == "image" and image["payload"]["title"] == "receipt.png"
    assert bloc["type"] == "bloc"
    text, pdf = bloc["payload"]["items"]
    assert text == {"type": "text", "payload": {"text": "here is the form"}}
    assert pdf["type"] == "file" and pdf["payload"]["title"] == "The form"

    image_url = image["payload"]["imageUrl"]
    assert image_url.startswith(stage.bridge.url + "/files/")
    async with aiohttp.ClientSession() as http:  # an end user's browser: no token at all
        async with http.get(image_url) as resp:
            assert resp.status == 200 and await resp.read() == b"\x89PNG fake"
            assert resp.content_type == "image/png"
        async with http.get(pdf["payload"]["fileUrl"]) as resp:
            assert await resp.read() == b"%PDF-1.4 fake"
        body, signature = image_url.rsplit("/", 1)[1].split(".")
        for forged in (
            f"{body}.{signature[:-2]}AA",  # a tampered signature
            f"{body[:-2]}AA.{signature}",  # a tampered file
            "nonsense",
        ):
            async with http.get(f"{stage.bridge.url}/files/{forged}") as resp:
                assert resp.status == 403


async def test_file_links_expire(stage: Stage) -> None:
    from bridge.slack.files import FileLinks

    async with aiohttp.ClientSession() as http:
        links = FileLinks(b"k" * 32, "http://x", "xoxb-t", http, slack_hosts={"h"}, ttl=-1)
        url = links.link({"url_private_download": "http://h/f", "name": "f"})
        assert links._verify(url.rsplit("/", 1)[1]) == (None, "")
        fresh = FileLinks(b"k" * 32, "http://x", "xoxb-t", http, slack_hosts={"h"})
        assert fresh._verify(fresh.link({"url_private": "http://h/f"}).rsplit("/", 1)[1])[0]
        elsewhere = fresh.link({"url_private": "http://evil.example/f"}).rsplit("/", 1)[1]
        assert fresh._verify(elsewhere) == (None, "")  # the bot token goes to Slack only
