"""Files: the two-step upload, files.info, private downloads, Slack Connect stubs."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bridge.testing.fake_slack import FakeSlack
from tests.testing.fake_slack.conftest import AGENT, CHANNEL, GUEST, Receiver, refusal

pytestmark = pytest.mark.filterwarnings("ignore:The top-level `text` argument:UserWarning")


async def test_file_upload_v2(client: AsyncWebClient, fake: FakeSlack, receiver: Receiver) -> None:
    parent = await client.chat_postMessage(channel=CHANNEL, text="p")
    resp = await client.files_upload_v2(
        channel=CHANNEL, content=b"%PDF", filename="a.pdf", title="A", thread_ts=parent["ts"]
    )
    (reply,) = fake.thread(CHANNEL, parent["ts"])
    assert reply.subtype == "file_share"
    assert reply.files is not None
    assert reply.files[0]["id"] == resp["file"]["id"]
    assert fake.file_content(resp["file"]["id"]) == b"%PDF"


async def test_file_share_and_private_download(fake: FakeSlack, receiver: Receiver) -> None:
    files = [{"name": "shot.png", "content": b"\x89PNG"}]
    await fake.user_says(AGENT, CHANNEL, "look", files=files)
    event = receiver.events()[0]
    assert event["subtype"] == "file_share"
    (file,) = event["files"]
    assert (file["name"], file["mimetype"], file["filetype"], file["size"]) == (
        "shot.png",
        "image/png",
        "png",
        4,
    )
    for key in ("id", "title", "url_private", "url_private_download", "permalink"):
        assert file[key]
    async with aiohttp.ClientSession() as http:
        auth = {"Authorization": f"Bearer {fake.bot_token}"}
        async with http.get(file["url_private_download"], headers=auth) as resp:
            assert (resp.status, await resp.read()) == (200, b"\x89PNG")
        async with http.get(file["url_private"]) as resp:
            assert resp.content_type == "text/html"  # a login page, not the file


async def test_file_refusals(client: AsyncWebClient, fake: FakeSlack) -> None:
    fake.uploads_disabled = True
    body = await refusal(client.files_upload_v2(channel=CHANNEL, content=b"x", filename="a.txt"))
    assert body["error"] == "file_uploads_disabled"
    fake.uploads_disabled = False
    body = await refusal(client.files_upload_v2(channel="C0NEWS", content=b"x", filename="a.txt"))
    assert body["error"] == "posting_to_channel_denied"
    body = await refusal(client.files_getUploadURLExternal(filename="empty.txt", length=0))
    assert body["error"] == "missing_argument"
    assert (await refusal(client.files_info(file="FNOPE")))["error"] == "file_not_found"
    assert fake.messages("C0NEWS") == []


async def test_files_info_answers_the_whole_file(client: AsyncWebClient, fake: FakeSlack) -> None:
    resp = await client.files_upload_v2(channel=CHANNEL, content=b"%PDF", filename="a.pdf")
    info = await client.files_info(file=resp["file"]["id"])
    file = info["file"]
    assert (file["id"], file["name"], file["size"], file["file_access"]) == (
        resp["file"]["id"],
        "a.pdf",
        4,
        "visible",
    )
    assert file["url_private_download"].startswith(fake.base_url)


async def test_a_slack_connect_file_needs_files_info(
    client: AsyncWebClient, fake: FakeSlack
) -> None:
    seen: list[dict[str, Any]] = []
    ts = await fake.user_says(
        GUEST, CHANNEL, "from abroad", files=[{"name": "a.png", "content": b"PNG"}]
    )
    seen.append(fake.message_event(fake.message(CHANNEL, ts)))
    seen.append((await client.conversations_history(channel=CHANNEL))["messages"][0])
    for message in seen:
        assert (message["team"], message["user_team"]) == ("T0OTHER", "T0OTHER")
        (stub,) = message["files"]
        assert stub["file_access"] == "check_file_info"
        assert "url_private" not in stub and "url_private_download" not in stub
        assert "name" not in stub
    file_id = seen[0]["files"][0]["id"]

    file = (await client.files_info(file=file_id))["file"]
    assert (file["name"], file["user"], file["user_team"]) == ("a.png", GUEST, "T0OTHER")
    assert file["url_private_download"].startswith(fake.base_url)
    async with aiohttp.ClientSession() as http:
        auth = {"Authorization": f"Bearer {fake.bot_token}"}
        async with http.get(file["url_private_download"], headers=auth) as resp:
            assert (resp.status, await resp.read()) == (200, b"PNG")
        async with http.get(file["url_private"]) as resp:
            assert resp.content_type == "text/html"  # no token: a login page

    # Any file can be shared that way; a guest's user object names their organisation.
    ts = await fake.user_says(
        AGENT, CHANNEL, "x", files=[{"name": "b.txt", "file_access": "check_file_info"}]
    )
    event = fake.message_event(fake.message(CHANNEL, ts))
    assert event["files"][0]["file_access"] == "check_file_info"
    assert "user_team" not in event
    assert (await client.users_info(user=GUEST))["user"]["team_id"] == "T0OTHER"
