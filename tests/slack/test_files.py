"""Files agents share reach the bot as links to the bridge, signed, expiring, one file each."""

from __future__ import annotations

import asyncio
import logging

import aiohttp
import pytest
from aiohttp import web

from bridge.slack.files import FileLinks
from tests.conftest import ALICE, CHANNEL, Stage, StageFactory
from tests.media_host import PICTURE, media_host, serving

pytestmark = pytest.mark.both_databases

# Uploads on, and the media hosts of these tests, on loopback, allowed (and nothing else).
UPLOADS = {"BRIDGE_UPLOAD_MEDIA": "true", "BRIDGE_MEDIA_ALLOW_NETWORKS": "127.0.0.1/32"}


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
    stage = await make_stage(**UPLOADS)
    slack, api = stage.slack, stage.api
    async with media_host() as host:
        user = await api.create_user("Erin")
        conv = await api.start(user)
        parent = await stage.parent_ts(conv)
        for path in ("cat.png", "gone/gone.png"):
            body = {"type": "image", "payload": {"imageUrl": f"{host.url}/{path}"}, "userId": user}
            assert (await api.post(f"/v1/conversations/{conv}/messages", body))[0] == 202
        await slack.wait_for(lambda: len(slack.thread(CHANNEL, parent)) == 2, timeout=10)
        uploaded, linked = slack.thread(CHANNEL, parent)
        assert uploaded.files and "Erin" in uploaded.text
        assert slack.file_content(uploaded.files[0]["id"]) == PICTURE
        assert not linked.files and "gone.png" in str(linked.blocks)  # unfetchable: a link


async def test_an_upload_whose_answer_was_lost_is_not_posted_twice(
    make_stage: StageFactory,
) -> None:
    stage = await make_stage(**UPLOADS)
    slack, api = stage.slack, stage.api
    async with media_host() as host:
        user = await api.create_user("Erin")
        conv = await api.start(user)
        parent = await stage.parent_ts(conv)
        # Slack shares the file, but its answer never arrives.
        slack.fail("files.completeUploadExternal", "internal_error", status=500, applied=True)
        url = f"{host.url}/big/200004?chunked=1"
        body = {"type": "image", "payload": {"imageUrl": url}, "userId": user}
        assert (await api.post(f"/v1/conversations/{conv}/messages", body))[0] == 202
        await api.say(conv, "did you get it?", user_id=user)
        await slack.wait_for(lambda: len(slack.thread(CHANNEL, parent)) == 2, timeout=10)
        shared, after = slack.thread(CHANNEL, parent)
        assert shared.files and after.text == "did you get it?"
        # Read whole (many chunks), once; the retry asked Slack instead of uploading again.
        assert slack.file_content(shared.files[0]["id"]) == b"x" * 200_004
        assert len(slack.calls_of("files.getUploadURLExternal")) == 1
        assert slack.calls_of("files.info")


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


async def test_an_agents_file_is_a_download_no_browser_runs(stage: Stage) -> None:
    """An agent's HTML file, served from the bridge's origin, must not run there."""
    slack, bot = stage.slack, stage.bot
    assert bot is not None
    _, parent = await stage.handoff()
    page = b"<script>fetch('/v1/events')</script>"
    await slack.user_says(
        ALICE, CHANNEL, "", thread_ts=parent,
        files=[{"name": "notes <1>.html", "mimetype": "text/html", "content": page}],
    )  # fmt: skip
    await bot.wait_for(lambda: len(bot.events("message")) == 1)
    url = bot.events("message")[0]["payload"]["payload"]["fileUrl"]
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        assert resp.status == 200 and await resp.read() == page
        assert resp.headers["Content-Disposition"] == (
            "attachment; filename*=UTF-8''notes%20%3C1%3E.html"
        )
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert "sandbox" in resp.headers["Content-Security-Policy"]


async def test_a_query_string_on_a_file_link_changes_nothing(stage: Stage) -> None:
    """The token alone decides: what follows `?` is ignored, whether the token is good or not."""
    slack, bot = stage.slack, stage.bot
    assert bot is not None
    _, parent = await stage.handoff()
    await slack.user_says(
        ALICE, CHANNEL, "", thread_ts=parent,
        files=[{"name": "r.png", "mimetype": "image/png", "content": PICTURE}],
    )  # fmt: skip
    await bot.wait_for(lambda: len(bot.events("message")) == 1)
    url = bot.events("message")[0]["payload"]["payload"]["imageUrl"]
    token = url.rsplit("/", 1)[1]
    async with aiohttp.ClientSession() as http:
        async with http.get(url) as plain:
            assert plain.status == 200 and await plain.read() == PICTURE
        async with http.get(f"{url}?u=http://127.0.0.1/&download=0") as queried:
            assert queried.status == 200 and await queried.read() == PICTURE
            assert dict(queried.headers) | {"Date": ""} == dict(plain.headers) | {"Date": ""}
        async with http.get(f"{stage.bridge.url}/files/nonsense?token={token}") as forged:
            assert forged.status == 403


async def test_a_stalled_slack_file_is_given_up_on() -> None:
    """Slack's file host that never answers gets a 504 in time; one that stops part way
    cuts the download short, visibly, instead of holding the end user forever."""
    async with media_host() as files, aiohttp.ClientSession() as http:
        links = FileLinks(
            b"k" * 32, "", "xoxb-t", http, slack_hosts={files.url.split("//")[1]},
            timeout=aiohttp.ClientTimeout(sock_read=0.3),
        )  # fmt: skip
        app = web.Application()
        app.add_routes([links.route()])
        async with serving(app) as bridge, asyncio.timeout(5):
            slow = links.link({"url_private": f"{files.url}/slow"}).rsplit("/", 1)[1]
            async with http.get(f"{bridge}/files/{slow}") as resp:
                assert resp.status == 504
            stalled = links.link({"url_private": f"{files.url}/stall"}).rsplit("/", 1)[1]
            async with http.get(f"{bridge}/files/{stalled}") as resp:
                assert resp.status == 200
                with pytest.raises(aiohttp.ClientPayloadError):
                    await resp.read()


async def _media_messages(stage: Stage, urls: list[str]) -> list[bool]:
    """The bot sends each URL as an image; for each, whether it was uploaded (not linked)."""
    slack, api = stage.slack, stage.api
    user = await api.create_user("Erin")
    conv = await api.start(user)
    parent = await stage.parent_ts(conv)
    for url in urls:
        body = {"type": "image", "payload": {"imageUrl": url}, "userId": user}
        assert (await api.post(f"/v1/conversations/{conv}/messages", body))[0] == 202
    await slack.wait_for(lambda: len(slack.thread(CHANNEL, parent)) == len(urls), timeout=10)
    return [bool(m.files) for m in slack.thread(CHANNEL, parent)]


async def test_bot_media_from_the_bridges_own_loopback_is_linked_not_fetched(
    make_stage: StageFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "bridge.media")
    stage = await make_stage(BRIDGE_UPLOAD_MEDIA="true")  # no network allowed beyond public
    async with media_host() as host:
        port = host.url.rsplit(":", 1)[1]
        hosts = ("127.0.0.1", "localhost", "[::ffff:127.0.0.1]", "0.0.0.0")
        urls = [f"http://{h}:{port}/p.png" for h in hosts]
        urls.append("http://169.254.169.254/latest/meta-data/iam/security-credentials/")
        assert await _media_messages(stage, urls) == [False] * 5
        assert host.hits == []
    refused = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(refused) == 5 and "localhost resolves to 127.0.0.1" in refused[1]
    assert refused[4].endswith("169.254.169.254 is not a public address")


async def test_a_redirect_from_an_allowed_host_inward_is_refused(
    make_stage: StageFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "bridge.media")
    stage = await make_stage(**UPLOADS)  # 127.0.0.1 stands for a public host here
    async with media_host("127.0.0.1") as outside, media_host("127.0.0.2") as inside:
        urls = [
            f"{outside.url}/to?url=/p.png",
            f"{outside.url}/to?url={inside.url}/secret.png",
            f"{outside.url}/to?url=http://169.254.169.254/latest/meta-data/",
        ]
        assert await _media_messages(stage, urls) == [True, False, False]
        assert inside.hits == []
    refused = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert refused == [
        "media not fetched, refused: 127.0.0.2 is not a public address",
        "media not fetched, refused: 169.254.169.254 is not a public address",
    ]
