"""Files agents share reach the bot as links to the bridge, signed, expiring, one file each."""

from __future__ import annotations

import aiohttp
from aiohttp import web

from tests.conftest import ALICE, CHANNEL, Stage, StageFactory


async def test_an_agents_file_reaches_the_bot_through_the_bridge(stage: Stage) -> None:
    slack, bot = stage.slack, stage.bot
    assert bot is not None
    _, parent = await stage.handoff()
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


async def test_bot_media_can_be_uploaded_into_the_thread(make_stage: StageFactory) -> None:
    stage = await make_stage(BRIDGE_UPLOAD_MEDIA="true")
    slack, api = stage.slack, stage.api

    async def serve(request: web.Request) -> web.Response:
        if request.match_info["name"] == "gone.png":
            return web.Response(status=404)
        return web.Response(body=b"\x89PNG picture", content_type="image/png")

    media = web.Application()
    media.router.add_get("/{name}", serve)
    runner = web.AppRunner(media)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        user = await api.create_user("Erin")
        conv = await api.start(user)
        parent = await stage.parent_ts(conv)
        for name in ("cat.png", "gone.png"):
            body = {"type": "image", "payload": {"imageUrl": f"{base}/{name}"}, "userId": user}
            assert (await api.post(f"/v1/conversations/{conv}/messages", body))[0] == 202
        await slack.wait_for(lambda: len(slack.thread(CHANNEL, parent)) == 2, timeout=10)
        uploaded, linked = slack.thread(CHANNEL, parent)
        assert uploaded.files and "Erin" in uploaded.text
        assert slack.file_content(uploaded.files[0]["id"]) == b"\x89PNG picture"
        assert not linked.files and "gone.png" in str(linked.blocks)  # unfetchable: a link
    finally:
        await runner.cleanup()


async def test_an_upload_whose_answer_was_lost_is_not_posted_twice(
    make_stage: StageFactory,
) -> None:
    stage = await make_stage(BRIDGE_UPLOAD_MEDIA="true")
    slack, api = stage.slack, stage.api

    async def serve(request: web.Request) -> web.Response:
        return web.Response(body=b"\x89PNG" + b"p" * 200_000, content_type="image/png")

    media = web.Application()
    media.router.add_get("/{name}", serve)
    runner = web.AppRunner(media)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        user = await api.create_user("Erin")
        conv = await api.start(user)
        parent = await stage.parent_ts(conv)
        # Slack shares the file, but its answer never arrives.
        slack.fail("files.completeUploadExternal", "internal_error", status=500, applied=True)
        url = f"http://127.0.0.1:{runner.addresses[0][1]}/big.png"
        body = {"type": "image", "payload": {"imageUrl": url}, "userId": user}
        assert (await api.post(f"/v1/conversations/{conv}/messages", body))[0] == 202
        await api.say(conv, "did you get it?", user_id=user)
        await slack.wait_for(lambda: len(slack.thread(CHANNEL, parent)) == 2, timeout=10)
        shared, after = slack.thread(CHANNEL, parent)
        assert shared.files and after.text == "did you get it?"
        # Read whole (many chunks), once; the retry asked Slack instead of uploading again.
        assert slack.file_content(shared.files[0]["id"]) == b"\x89PNG" + b"p" * 200_000
        assert len(slack.calls_of("files.getUploadURLExternal")) == 1
        assert slack.calls_of("files.info")
    finally:
        await runner.cleanup()


async def test_a_file_shared_from_another_organisation_reaches_the_bot(stage: Stage) -> None:
    slack, bot = stage.slack, stage.bot
    assert bot is not None
    slack.add_user("U0GUEST", "guest", display_name="Gus", team="T0OTHER")
    _, parent = await stage.handoff()
    await slack.user_says(
        "U0GUEST", CHANNEL, "the contract", thread_ts=parent,
        files=[{"name": "contract.pdf", "mimetype": "application/pdf", "content": b"%PDF-1.7"}],
    )  # fmt: skip
    await bot.wait_for(lambda: len(bot.events("message")) == 1)
    payload = bot.events("message")[0]["payload"]
    assert payload["type"] == "bloc"
    text, pdf = payload["payload"]["items"]
    assert text["payload"]["text"] == "the contract" and pdf["type"] == "file"
    async with aiohttp.ClientSession() as http, http.get(pdf["payload"]["fileUrl"]) as resp:
        assert resp.status == 200 and await resp.read() == b"%PDF-1.7"
