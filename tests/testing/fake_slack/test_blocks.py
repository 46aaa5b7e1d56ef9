"""Block Kit validation, in messages: slack_sdk's models, the hand checks, and the
12,000 characters of text one message's blocks may carry."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bridge.testing.fake_slack import FakeSlack
from tests.testing.fake_slack.conftest import AGENT, CHANNEL, button, refusal, section, slack_error

pytestmark = pytest.mark.filterwarnings("ignore:The top-level `text` argument:UserWarning")


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


async def test_invalid_blocks_says_where(client: AsyncWebClient) -> None:
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}]
    err = await slack_error(client.chat_postMessage(channel=CHANNEL, text="x", blocks=blocks))
    assert err.response["errors"] == [
        "must be less than 3001 characters [json-pointer:/blocks/0/text/text]"
    ]


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
