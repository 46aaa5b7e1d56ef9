"""The fake Slack's strictness: Block Kit validation, the 12,000-character text limit, each
method's documented refusals, per-method rate limits and Slack Connect files.

Driven by the real slack_sdk client, as the bridge drives the fake."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from typing import Any

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from bridge.testing.fake_slack import MAX_EMOJI, TIERS, FakeSlack

CHANNEL = "C0HANDOFF"
AGENT = "UAGENT"
GUEST = "UGUEST"

pytestmark = pytest.mark.filterwarnings("ignore:The top-level `text` argument:UserWarning")


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as slack:
        slack.add_channel(CHANNEL, "handoffs")
        slack.add_channel("C0ARCHIVE", "old", archived=True)
        slack.add_channel("C0OUTSIDE", "elsewhere", member=False)
        slack.add_channel("C0NEWS", "news", read_only=True)
        slack.add_channel("C0SMALL", "small", people={AGENT})
        slack.add_user(AGENT, "alice")
        slack.add_user("UOTHER", "bob")
        slack.add_user(GUEST, "gus", team="T0OTHER")
        yield slack


@pytest.fixture
def client(fake: FakeSlack) -> AsyncWebClient:
    return AsyncWebClient(token=fake.bot_token, base_url=fake.api_url)


async def refusal(call: Awaitable[Any]) -> dict[str, Any]:
    """The body of Slack's refusal of ``call`` (status 200 unless rate-limited)."""
    with pytest.raises(SlackApiError) as info:
        await call
    body = dict(info.value.response.data)
    body["status"] = info.value.response.status_code
    body["retry_after"] = info.value.response.headers.get("Retry-After")
    return body


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def button(label: str = "Claim", **extra: Any) -> dict[str, Any]:
    return {
        "type": "button",
        "action_id": extra.pop("action_id", "claim"),
        "text": {"type": "plain_text", "text": label},
        **extra,
    }


# ---------------------------------------------------------------- Block Kit validation

INVALID_BLOCKS: dict[str, tuple[list[dict[str, Any]], str]] = {
    # Checks slack_sdk's models make (walked down to each element).
    "action_id over 255": ([{"type": "actions", "elements": [button(action_id="a" * 256)]}], ""),
    "button url over 3000": (
        [{"type": "actions", "elements": [button(url="https://x.example/" + "x" * 3000)]}],
        "",
    ),
    "button style": ([{"type": "actions", "elements": [button(style="pink")]}], ""),
    "11 fields": ([{"type": "section", "fields": [{"type": "mrkdwn", "text": "f"}] * 11}], ""),
    "26 buttons": (
        [{"type": "actions", "elements": [button(action_id=f"a{i}") for i in range(26)]}],
        "",
    ),
    "section without text or fields": ([{"type": "section"}], ""),
    "image without alt_text": (
        [{"type": "image", "image_url": "https://x.example/a.png"}],
        "missing required field: alt_text [json-pointer:/blocks/0]",
    ),
    "image title over 2000": (
        [
            {
                "type": "image",
                "image_url": "https://x.example/a.png",
                "alt_text": "a",
                "title": {"type": "plain_text", "text": "t" * 2001},
            }
        ],
        "",
    ),
    "confirm title over 100": (
        [
            {
                "type": "actions",
                "elements": [
                    button(
                        confirm={
                            "title": {"type": "plain_text", "text": "t" * 101},
                            "text": {"type": "plain_text", "text": "Sure?"},
                            "confirm": {"type": "plain_text", "text": "Yes"},
                            "deny": {"type": "plain_text", "text": "No"},
                        }
                    )
                ],
            }
        ],
        "",
    ),
    "markdown over 12000": ([{"type": "markdown", "text": "x" * 12_001}], ""),
    "unknown block type": (
        [{"type": "pigeon"}],
        "unsupported type: pigeon [json-pointer:/blocks/0/type]",
    ),
    "unknown element type": (
        [{"type": "actions", "elements": [{"type": "pigeon"}]}],
        "unsupported type [json-pointer:/blocks/0/elements/0]",
    ),
    "unknown accessory type": (
        [{**section("x"), "accessory": {"type": "pigeon"}}],
        "unsupported type [json-pointer:/blocks/0/accessory]",
    ),
    # Checks the SDK does not make, by hand.
    "button text over 75": (
        [{"type": "actions", "elements": [button("x" * 76)]}],
        "must be less than 76 characters [json-pointer:/blocks/0/elements/0/text/text]",
    ),
    "button value over 2000": (
        [{"type": "actions", "elements": [button(value="v" * 2001)]}],
        "must be less than 2001 characters [json-pointer:/blocks/0/elements/0/value]",
    ),
    "accessory button text over 75": (
        [{**section("x"), "accessory": button("x" * 76)}],
        "must be less than 76 characters [json-pointer:/blocks/0/accessory/text/text]",
    ),
    "field over 2000": (
        [{"type": "section", "fields": [{"type": "mrkdwn", "text": "f" * 2001}]}],
        "must be less than 2001 characters [json-pointer:/blocks/0/fields/0/text]",
    ),
    "context text over 3000": (
        [{"type": "context", "elements": [{"type": "mrkdwn", "text": "c" * 3001}]}],
        "must be less than 3001 characters [json-pointer:/blocks/0/elements/0/text]",
    ),
    "11 context elements": (
        [{"type": "context", "elements": [{"type": "mrkdwn", "text": "c"}] * 11}],
        "must provide 1 to 10 elements [json-pointer:/blocks/0/elements]",
    ),
    "empty context": (
        [{"type": "context", "elements": []}],
        "must provide 1 to 10 elements [json-pointer:/blocks/0/elements]",
    ),
    "empty section text": (
        [section("")],
        "must be more than 0 characters [json-pointer:/blocks/0/text/text]",
    ),
    "text that is not a text object": (
        [{"type": "section", "text": {"type": "html", "text": "x"}}],
        "must be a text object [json-pointer:/blocks/0/text]",
    ),
    "mrkdwn header": (
        [{"type": "header", "text": {"type": "mrkdwn", "text": "x"}}],
        "must be a plain_text object [json-pointer:/blocks/0/text]",
    ),
    "header over 150": (
        [{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}],
        "must be less than 151 characters [json-pointer:/blocks/0/text/text]",
    ),
    "duplicate block_id": (
        [{"type": "divider", "block_id": "b"}, {"type": "divider", "block_id": "b"}],
        "duplicate block_id [json-pointer:/blocks/1/block_id]",
    ),
    "block_id over 255": (
        [{"type": "divider", "block_id": "b" * 256}],
        "invalid block_id [json-pointer:/blocks/0/block_id]",
    ),
    "duplicate action_id": (
        [{"type": "actions", "elements": [button(), button()]}],
        "duplicate action_id [json-pointer:/blocks/0/elements/1/action_id]",
    ),
    "51 blocks": (
        [{"type": "divider"}] * 51,
        "no more than 50 items allowed [json-pointer:/blocks]",
    ),
}


@pytest.mark.parametrize("case", list(INVALID_BLOCKS))
async def test_invalid_blocks_are_refused_everywhere(
    client: AsyncWebClient, fake: FakeSlack, case: str
) -> None:
    blocks, expected = INVALID_BLOCKS[case]
    posted = await client.chat_postMessage(channel=CHANNEL, text="before")
    calls: list[Awaitable[Any]] = [
        client.chat_postMessage(channel=CHANNEL, text="x", blocks=blocks),
        client.chat_update(channel=CHANNEL, ts=posted["ts"], text="x", blocks=blocks),
        client.chat_postEphemeral(channel=CHANNEL, user=AGENT, text="x", blocks=blocks),
    ]
    for call in calls:
        body = await refusal(call)
        assert (body["status"], body["error"]) == (200, "invalid_blocks")
        assert body["errors"], body
        messages = body["response_metadata"]["messages"]
        assert messages == [f"[ERROR] {e}" for e in body["errors"]]
        assert all("[json-pointer:/blocks" in e for e in body["errors"])
        if expected:
            assert expected in body["errors"]
    assert [m.text for m in fake.messages(CHANNEL)] == ["before"]
    assert fake.message(CHANNEL, posted["ts"]).edited is False
    assert fake.ephemerals == []


async def test_valid_blocks_of_every_kind_pass(client: AsyncWebClient, fake: FakeSlack) -> None:
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": "Handoff", "emoji": True}},
        {**section("x" * 3000), "accessory": button("x" * 75, value="v" * 2000)},
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": "f" * 2000},
                *[{"type": "mrkdwn", "text": "f"}] * 9,
            ],
        },
        {
            "type": "context",
            "elements": [
                {"type": "image", "image_url": "https://x.example/a.png", "alt_text": "a"},
                {"type": "mrkdwn", "text": "context", "verbatim": True},
            ],
        },
        {"type": "divider", "block_id": "b" * 255},
        {
            "type": "actions",
            "elements": [button(style="primary"), button("Resolve", action_id="resolve")],
        },
        {
            "type": "image",
            "image_url": "https://x.example/a.png",
            "alt_text": "a",
            "title": {"type": "plain_text", "text": "t"},
        },
        {
            "type": "rich_text",
            "elements": [
                {
                    "type": "rich_text_section",
                    "elements": [
                        {"type": "text", "text": "hi "},
                        {"type": "user", "user_id": AGENT},
                        {"type": "link", "url": "https://x.example", "text": "x"},
                    ],
                }
            ],
        },
        {"type": "markdown", "text": "**bold**"},
    ]
    posted = await client.chat_postMessage(channel=CHANNEL, text="ok", blocks=blocks[:4])
    await client.chat_update(channel=CHANNEL, ts=posted["ts"], text="ok", blocks=blocks[4:])
    await client.chat_postEphemeral(channel=CHANNEL, user=AGENT, text="ok", blocks=blocks[4:])
    await client.chat_postMessage(channel=CHANNEL, text="ok", blocks=[{"type": "divider"}] * 50)
    assert fake.message(CHANNEL, posted["ts"]).blocks == blocks[4:]


# ---------------------------------------------------------------- 12,000 characters of text


def text_blocks(total: int) -> list[dict[str, Any]]:
    """Blocks carrying exactly ``total`` characters of text, spread over the kinds Slack
    counts: section text and fields, header, context, a button label, a rich_text run."""
    parts: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": "h" * 100}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": "f" * 500}] * 2},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "c" * 300}]},
        {"type": "actions", "elements": [button("b" * 50, value="not counted" * 100)]},
        {
            "type": "image",
            "image_url": "https://x.example/a.png",
            "alt_text": "alt text is not counted" * 10,
        },
        {
            "type": "rich_text",
            "elements": [
                {"type": "rich_text_section", "elements": [{"type": "text", "text": "r" * 50}]}
            ],
        },
    ]
    left = total - 100 - 1000 - 300 - 50 - 50
    while left > 0:
        size = min(left, 3000)
        parts.append(section("s" * size))
        left -= size
    return parts


@pytest.mark.parametrize("method", ["chat.postMessage", "chat.update", "chat.postEphemeral"])
async def test_blocks_may_carry_12000_characters_of_text(
    client: AsyncWebClient, fake: FakeSlack, method: str
) -> None:
    posted = await client.chat_postMessage(channel=CHANNEL, text="before")

    def call(blocks: list[dict[str, Any]]) -> Awaitable[Any]:
        if method == "chat.update":
            return client.chat_update(channel=CHANNEL, ts=posted["ts"], text="x", blocks=blocks)
        if method == "chat.postEphemeral":
            return client.chat_postEphemeral(channel=CHANNEL, user=AGENT, text="x", blocks=blocks)
        return client.chat_postMessage(channel=CHANNEL, text="x", blocks=blocks)

    await call(text_blocks(12_000))
    body = await refusal(call(text_blocks(12_001)))
    assert (body["status"], body["error"]) == (200, "msg_blocks_too_long")


async def test_the_text_limit_is_for_blocks_not_the_fallback(client: AsyncWebClient) -> None:
    await client.chat_postMessage(channel=CHANNEL, text="t" * 40_000, blocks=[section("x")])
    body = await refusal(client.chat_postMessage(channel=CHANNEL, text="t" * 40_001))
    assert body["error"] == "msg_too_long"


# ---------------------------------------------------------------- views


def home(blocks: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "home", "blocks": blocks}


async def test_home_views_are_validated(client: AsyncWebClient, fake: FakeSlack) -> None:
    await client.views_publish(user_id=AGENT, view=home([{"type": "divider"}] * 100))
    assert len(fake.home_views[AGENT]["blocks"]) == 100
    cases: list[tuple[Any, str]] = [
        (home([{"type": "divider"}] * 101), "no more than 100 items allowed"),
        (home([]), "views must contain between 1 and 100 blocks"),
        (home([section("x" * 3001)]), "[json-pointer:/view/blocks/0/text/text]"),
        (home([{"type": "actions", "elements": [button("x" * 76)]}]), "/view/blocks/0/elements"),
        (home([{"type": "pigeon"}]), "unsupported type: pigeon"),
        ({"type": "modal", "blocks": [{"type": "divider"}]}, "must be home"),
        ({"type": "pigeon", "blocks": [{"type": "divider"}]}, "type must be either"),
        ({"blocks": [{"type": "divider"}]}, "missing required field: type"),
        ({"type": "home"}, "missing required field: blocks"),
    ]
    for view, expected in cases:
        body = await refusal(client.views_publish(user_id=AGENT, view=view))
        assert body["error"] == "invalid_arguments", view
        messages = body["response_metadata"]["messages"]
        assert any(expected in m for m in messages), (view, messages)
        assert all(m.startswith("[ERROR] ") for m in messages)
    huge = home([section("x" * 3000)] * 90)
    assert (await refusal(client.views_publish(user_id=AGENT, view=huge)))["error"] == (
        "view_too_large"
    )
    assert len(fake.home_views[AGENT]["blocks"]) == 100  # the last good one stays


# ---------------------------------------------------------------- each method's refusals


async def test_post_message_refusals(client: AsyncWebClient, fake: FakeSlack) -> None:
    parent = await client.chat_postMessage(channel=CHANNEL, text="parent")
    reply = await client.chat_postMessage(channel=CHANNEL, text="r", thread_ts=parent["ts"])
    fake.lock_thread(CHANNEL, reply["ts"])  # any message of the thread names it
    for ts in (parent["ts"], reply["ts"]):
        body = await refusal(client.chat_postMessage(channel=CHANNEL, text="x", thread_ts=ts))
        assert body["error"] == "restricted_action_thread_locked"
    history = await client.conversations_history(channel=CHANNEL)
    assert history["messages"][0]["is_locked"] is True
    await client.chat_postMessage(channel=CHANNEL, text="top level is fine")
    fake.lock_thread(CHANNEL, parent["ts"], locked=False)
    await client.chat_postMessage(channel=CHANNEL, text="x", thread_ts=parent["ts"])

    body = await refusal(client.chat_postMessage(channel="C0NEWS", text="x"))
    assert body["error"] == "restricted_action_read_only_channel"
    fake.channels[CHANNEL].member = False
    assert (await refusal(client.chat_postMessage(channel=CHANNEL, text="x")))["error"] == (
        "not_in_channel"
    )
    fake.channels[CHANNEL].archived = True
    assert (await refusal(client.chat_postMessage(channel=CHANNEL, text="x")))["error"] == (
        "is_archived"
    )


async def test_update_refusals(client: AsyncWebClient, fake: FakeSlack) -> None:
    posted = await client.chat_postMessage(channel=CHANNEL, text="p")
    fake.edit_window = 3600.0
    await client.chat_update(channel=CHANNEL, ts=posted["ts"], text="still editable")
    fake.edit_window = 0.0
    await asyncio.sleep(0.01)
    body = await refusal(client.chat_update(channel=CHANNEL, ts=posted["ts"], text="x"))
    assert body["error"] == "edit_window_closed"
    fake.edit_window = None
    body = await refusal(client.chat_update(channel=CHANNEL, ts="1.000001", text="x"))
    assert body["error"] == "message_not_found"
    body = await refusal(client.chat_update(channel="CNONE", ts=posted["ts"], text="x"))
    assert body["error"] == "channel_not_found"
    fake.channels[CHANNEL].archived = True
    body = await refusal(client.chat_update(channel=CHANNEL, ts=posted["ts"], text="x"))
    assert body["error"] == "is_inactive"  # chat.update's word for an archived channel


async def test_delete_refusals(client: AsyncWebClient, fake: FakeSlack) -> None:
    body = await refusal(client.chat_delete(channel=CHANNEL, ts="1.000001"))
    assert body["error"] == "message_not_found"
    human = await fake.user_says(AGENT, CHANNEL, "mine")
    assert (await refusal(client.chat_delete(channel=CHANNEL, ts=human)))["error"] == (
        "cant_delete_message"
    )


async def test_ephemeral_refusals(client: AsyncWebClient, fake: FakeSlack) -> None:
    await client.chat_postEphemeral(channel="C0SMALL", user=AGENT, text="you are in")
    cases: list[tuple[dict[str, Any], str]] = [
        ({"channel": "C0SMALL", "user": "UOTHER"}, "user_not_in_channel"),
        ({"channel": CHANNEL, "user": "UNOBODY"}, "user_not_in_channel"),
        ({"channel": "C0ARCHIVE", "user": AGENT}, "is_archived"),
        ({"channel": "C0OUTSIDE", "user": AGENT}, "not_in_channel"),
        ({"channel": "CNONE", "user": AGENT}, "channel_not_found"),
    ]
    for kwargs, error in cases:
        body = await refusal(client.chat_postEphemeral(text="x", **kwargs))
        assert body["error"] == error, kwargs
    body = await refusal(client.chat_postEphemeral(channel=CHANNEL, user=AGENT, text=""))
    assert body["error"] == "no_text"
    assert [e.text for e in fake.ephemerals] == ["you are in"]


async def test_reaction_refusals(client: AsyncWebClient, fake: FakeSlack) -> None:
    parent = await client.chat_postMessage(channel=CHANNEL, text="p")
    ts = parent["ts"]
    cases: list[tuple[dict[str, Any], str]] = [
        ({"timestamp": "yesterday", "name": "eyes"}, "bad_timestamp"),
        ({"timestamp": "1.000001", "name": "eyes"}, "message_not_found"),
        ({"timestamp": ts, "name": "Not An Emoji!"}, "invalid_name"),
        ({"timestamp": ts, "name": ""}, "invalid_name"),
        ({"timestamp": "", "name": "eyes"}, "no_item_specified"),
        ({"channel": "CNONE", "timestamp": ts, "name": "eyes"}, "channel_not_found"),
    ]
    for kwargs, error in cases:
        body = await refusal(client.reactions_add(**{"channel": CHANNEL, **kwargs}))
        assert body["error"] == error, kwargs
    await client.reactions_add(channel=CHANNEL, timestamp=ts, name=":+1::skin-tone-2:")
    assert (await refusal(client.reactions_remove(channel=CHANNEL, timestamp=ts, name="eyes")))[
        "error"
    ] == "no_reaction"

    # Slack's maximum of distinct emoji: another one is refused, a present one still joins.
    full = await client.chat_postMessage(channel=CHANNEL, text="popular")
    msg = fake.message(CHANNEL, full["ts"])
    msg.reactions = {f"emoji_{i}": ["UOTHER"] for i in range(MAX_EMOJI)}
    body = await refusal(client.reactions_add(channel=CHANNEL, timestamp=full["ts"], name="eyes"))
    assert body["error"] == "too_many_emoji"
    await client.reactions_add(channel=CHANNEL, timestamp=full["ts"], name="emoji_0")

    reply = await fake.user_says(AGENT, CHANNEL, "reply", thread_ts=ts)
    fake.lock_thread(CHANNEL, ts)
    for target in (ts, reply):
        body = await refusal(client.reactions_add(channel=CHANNEL, timestamp=target, name="ok"))
        assert body["error"] == "thread_locked"
    body = await refusal(client.reactions_remove(channel=CHANNEL, timestamp=ts, name="+1"))
    assert body["error"] == "thread_locked"
    fake.lock_thread(CHANNEL, ts, locked=False)

    await client.chat_delete(channel=CHANNEL, ts=ts)  # a tombstone: it has a reply
    body = await refusal(client.reactions_add(channel=CHANNEL, timestamp=ts, name="eyes"))
    assert body["error"] == "not_reactable"

    old = await fake.user_says(AGENT, "C0ARCHIVE", "old news")
    body = await refusal(client.reactions_add(channel="C0ARCHIVE", timestamp=old, name="eyes"))
    assert body["error"] == "is_archived"


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


# ---------------------------------------------------------------- rate limits


async def test_rate_limits_are_off_by_default(client: AsyncWebClient, fake: FakeSlack) -> None:
    for _ in range(120):
        await client.users_info(user=AGENT)
    assert not fake.ratelimited_by_method


async def test_limit_method_answers_429_with_retry_after(
    client: AsyncWebClient, fake: FakeSlack
) -> None:
    fake.limit_method("users.info", 6, burst=2)
    await client.users_info(user=AGENT)
    await client.users_info(user=AGENT)
    body = await refusal(client.users_info(user=AGENT))
    assert (body["status"], body["error"], body["retry_after"]) == (429, "ratelimited", "10")
    assert fake.ratelimited_by_method == {"users.info": 1}
    fake.limit_method("users.info", None)
    await client.users_info(user=AGENT)


async def test_a_429_on_one_method_leaves_the_others_alone(
    client: AsyncWebClient, fake: FakeSlack
) -> None:
    posted = await client.chat_postMessage(channel=CHANNEL, text="p")
    fake.limit_method("reactions.add", 1, burst=1)
    await client.reactions_add(channel=CHANNEL, timestamp=posted["ts"], name="eyes")
    body = await refusal(client.reactions_add(channel=CHANNEL, timestamp=posted["ts"], name="ok"))
    assert (body["status"], body["retry_after"]) == (429, "60")
    await client.reactions_remove(channel=CHANNEL, timestamp=posted["ts"], name="eyes")
    await client.chat_update(channel=CHANNEL, ts=posted["ts"], text="edited")
    await client.chat_postMessage(channel=CHANNEL, text="posted")
    await client.users_info(user=AGENT)
    assert fake.ratelimited_by_method == {"reactions.add": 1}
    assert fake.message(CHANNEL, posted["ts"]).reactions == {}  # the refused call did nothing


async def test_enforce_tiers_follows_the_method_pages(
    client: AsyncWebClient, fake: FakeSlack
) -> None:
    assert TIERS["usergroups.users.list"] == 20
    assert TIERS["reactions.remove"] == 20  # its page says Tier 2
    assert all(TIERS[m] == 50 for m in ("chat.update", "reactions.add", "conversations.replies"))
    assert all(TIERS[m] == 100 for m in ("users.info", "views.publish", "chat.postEphemeral"))
    assert "chat.postMessage" not in TIERS and "auth.test" not in TIERS
    fake.add_usergroup("S0AGENTS", [AGENT])
    fake.enforce_tiers()
    for _ in range(20):
        await client.usergroups_users_list(usergroup="S0AGENTS")
    body = await refusal(client.usergroups_users_list(usergroup="S0AGENTS"))
    assert (body["status"], body["error"]) == (429, "ratelimited")
    assert body["retry_after"] in ("1", "2", "3")  # one call every 3 s
    for _ in range(30):  # a Tier 4 method is untouched by Tier 2's exhaustion
        await client.users_info(user=AGENT)
    assert fake.ratelimited_by_method == {"usergroups.users.list": 1}


async def test_enforce_tiers_scale_speeds_the_clock(
    client: AsyncWebClient, fake: FakeSlack
) -> None:
    fake.add_usergroup("S0AGENTS", [AGENT])
    fake.enforce_tiers(scale=6)  # Tier 2: 20 calls at once, then 2 a second
    passed = 0
    while passed <= 40:
        try:
            await client.usergroups_users_list(usergroup="S0AGENTS")
        except SlackApiError as exc:
            assert exc.response.headers["Retry-After"] == "1"
            break
        passed += 1
    assert 20 <= passed < 40
    await asyncio.sleep(0.6)  # a call's worth back
    await client.usergroups_users_list(usergroup="S0AGENTS")


async def test_a_client_that_honours_retry_after_gets_through(fake: FakeSlack) -> None:
    patient = AsyncWebClient(
        token=fake.bot_token,
        base_url=fake.api_url,
        retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=2)],
    )
    fake.limit_method("users.info", 1, burst=1, scale=60)  # one a second
    await patient.users_info(user=AGENT)
    await patient.users_info(user=AGENT)  # refused, slept Retry-After (1 s), retried
    assert fake.ratelimited_by_method["users.info"] == 1
    assert len(fake.calls_of("users.info")) == 3


async def test_post_pacing_counts_per_method_too(client: AsyncWebClient, fake: FakeSlack) -> None:
    fake.limit_posts(rate=1, burst=1)
    await client.chat_postMessage(channel=CHANNEL, text="one")
    body = await refusal(client.chat_postMessage(channel=CHANNEL, text="two"))
    assert (body["status"], body["retry_after"]) == (429, "1")
    assert (fake.ratelimited, fake.ratelimited_by_method["chat.postMessage"]) == (1, 1)


# ---------------------------------------------------------------- Slack Connect files


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
