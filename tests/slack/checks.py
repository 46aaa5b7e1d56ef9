"""Block Kit checks the drawing tests share: every limit as we count it, and as slack_sdk's
own models check it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from slack_sdk.models.blocks import Block

from bridge.slack.blocks import MAX_BLOCKS, MAX_POST_TEXT, Rendered, text_size


def units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def text_objects(block: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, text object) for every text object in a block."""
    kind = block["type"]
    if "text" in block:
        yield kind, block["text"]
    for field in block.get("fields", []):
        yield "field", field
    if kind == "context":
        for element in block["elements"]:
            if element["type"] in ("mrkdwn", "plain_text"):
                yield "context", element
    if kind == "actions":
        for element in block["elements"]:
            yield "button", element["text"]
    if kind == "image" and "title" in block:
        yield "image_title", block["title"]


LIMITS = {
    "header": 150,
    "section": 3000,
    "field": 2000,
    "context": 3000,
    "button": 75,
    "image_title": 2000,
}


def assert_within_limits(rendered: Rendered) -> None:
    """Every Block Kit limit, as we count it and as slack_sdk's own models check it, and the
    block text Slack takes a post (`msg_blocks_too_long`)."""
    assert 0 < len(rendered.blocks) <= MAX_BLOCKS
    assert text_size(rendered.blocks) <= MAX_POST_TEXT
    assert 0 < units(rendered.text) <= 4000
    for block in rendered.blocks:
        parsed = Block.parse(block)
        assert parsed is not None
        parsed.validate_json()
    ids = [b["block_id"] for b in rendered.blocks if "block_id" in b]
    assert len(ids) == len(set(ids))
    for block in rendered.blocks:
        if block["type"] == "context":
            assert 0 < len(block["elements"]) <= 10
        if block["type"] == "image":
            assert 0 < units(block["alt_text"]) <= 2000
            assert len(block["image_url"]) <= 3000
        for where, obj in text_objects(block):
            assert obj["type"] in ("mrkdwn", "plain_text")
            assert obj["text"].strip(), (where, obj)
            assert units(obj["text"]) <= LIMITS[where], (where, units(obj["text"]))
    json.dumps(rendered.blocks)  # serialisable as is


def all_text(rendered: Rendered, *, mrkdwn_only: bool = False) -> str:
    parts = [rendered.text]
    for block in rendered.blocks:
        parts.extend(
            obj["text"]
            for _, obj in text_objects(block)
            if obj["type"] == "mrkdwn" or not mrkdwn_only
        )
    return "\n".join(parts)
