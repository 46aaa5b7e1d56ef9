"""Block Kit as Slack validates it: slack_sdk's own models, plus the checks they lack and
Slack's limits in its own words (``[json-pointer:...]`` reasons)."""

from __future__ import annotations

import re
from typing import Any

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.basic_objects import JsonObject
from slack_sdk.models.blocks import Block

from bridge.testing.fake_slack.errors import SlackError
from bridge.testing.fake_slack.models import JSON

# Slack's documented limits.
MAX_BLOCKS = 50  # in a message
MAX_SECTION_TEXT = 3000
MAX_FIELD_TEXT = 2000
MAX_HEADER_TEXT = 150
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2000
MAX_BLOCK_ID = 255
MAX_ACTION_ID = 255
MAX_CONTEXT_ELEMENTS = 10
MAX_INPUT_LABEL = 2000  # an input block's label, and its hint
MAX_PLACEHOLDER = 150
MAX_INPUT_LENGTH = 3000  # the most a plain_text_input's min_length and max_length may say
# All the text one message's blocks may carry (msg_blocks_too_long); see blocks_text_length.
MAX_BLOCKS_TEXT = 12_000

_TEXT_TYPES = ("plain_text", "mrkdwn")


def check_blocks(raw: object) -> list[JSON] | None:
    """A message's ``blocks`` as Slack validates them: ``invalid_blocks`` with its reasons."""
    if raw is None or raw == "":
        return None
    if not isinstance(raw, list):
        raise SlackError("invalid_blocks_format")
    errors = block_errors(raw, "/blocks", MAX_BLOCKS)
    if errors:
        raise SlackError("invalid_blocks", errors=errors, response_metadata=error_messages(errors))
    return [dict(b) for b in raw]


# Slack refuses a message whose blocks carry too much text in all with msg_blocks_too_long, a
# limit the Block Kit docs do not state (chat.postMessage's page lists only the error). A Slack
# engineer described it as "12,000 text characters with a buffer for block containers"
# (slackapi/bolt-js#2509), and apps measure it by summing every `text` string of the block tree
# (bolt-js#2867). The fake sums the same: each string under a "text" key at any depth (section
# text and fields, header, context elements, button and option labels, confirm dialogs, image
# titles, rich_text runs and link labels, markdown blocks) and nothing else: not alt_text, URLs,
# values, ids or emoji names, which are not text a reader sees. It cannot match Slack exactly:
# in #2509 markdown-only blocks passed up to 13,297 characters (a divider lowered that by 125),
# while #2867 was refused at 11,341 with rich_text + section + header + divider. Slack adds some
# per-block overhead it does not publish, so a sender should keep a margin below 12,000.
def blocks_text_length(value: object, key: str = "") -> int:
    """The characters of every ``text`` string in ``value``, recursively."""
    if isinstance(value, str):
        return len(value) if key == "text" else 0
    if isinstance(value, dict):
        return sum(blocks_text_length(item, str(name)) for name, item in value.items())
    if isinstance(value, list):
        return sum(blocks_text_length(item) for item in value)
    return 0


def check_blocks_text(blocks: list[JSON] | None) -> None:
    """``msg_blocks_too_long`` past ``MAX_BLOCKS_TEXT`` characters of text in all."""
    # Applied to chat.update and chat.postEphemeral too: their pages do not list the error,
    # but they take the same blocks, and a sender that counts on them to be laxer is fragile.
    if blocks and blocks_text_length(blocks) > MAX_BLOCKS_TEXT:
        raise SlackError("msg_blocks_too_long")


def block_errors(raw: list[Any], where: str, most: int) -> list[str]:
    """Why Slack would refuse these blocks, in its words (empty: it would take them)."""
    errors: list[str] = []
    if len(raw) > most:
        errors.append(f"no more than {most} items allowed [json-pointer:{where}]")
    block_ids: set[str] = set()
    for i, block in enumerate(raw):
        at = f"{where}/{i}"
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            errors.append(f"missing required field: type [json-pointer:{at}]")
            continue
        # slack_sdk's models check most of Block Kit. The hand checks cover what they miss
        # and the commonest limits in Slack's own words; where those find something, the
        # SDK would only say it again.
        errors.extend(_hand_errors(block, at, block_ids) or _sdk_errors(block, at))
    return errors


def invalid_arguments(errors: list[str]) -> SlackError:
    """The ``invalid_arguments`` refusal, with Slack's ``[ERROR]`` messages."""
    return SlackError("invalid_arguments", response_metadata=error_messages(errors))


def error_messages(errors: list[str]) -> JSON:
    """The ``response_metadata`` that lists the reasons of a refusal."""
    return {"messages": [f"[ERROR] {error}" for error in errors]}


def sdk_reason(exc: Exception) -> str:
    """A slack_sdk model's complaint, in Slack's words where it has them."""
    # The models take Block Kit fields as keyword arguments: a missing one is a TypeError.
    found = re.search(r"argument: '(\w+)'", str(exc))
    return f"missing required field: {found.group(1)}" if found else f"invalid: {exc}"


def _hand_errors(block: JSON, at: str, block_ids: set[str]) -> list[str]:
    errors: list[str] = []
    block_id = block.get("block_id")
    if block_id is not None:
        if not isinstance(block_id, str) or len(block_id) > MAX_BLOCK_ID:
            errors.append(f"invalid block_id [json-pointer:{at}/block_id]")
        elif block_id in block_ids:
            errors.append(f"duplicate block_id [json-pointer:{at}/block_id]")
        else:
            block_ids.add(block_id)
    kind = block["type"]
    if kind == "section":
        if "text" in block:
            errors += text_errors(block["text"], f"{at}/text", MAX_SECTION_TEXT)
        fields = block.get("fields")
        for j, item in enumerate(fields if isinstance(fields, list) else []):
            errors += text_errors(item, f"{at}/fields/{j}", MAX_FIELD_TEXT)
        if isinstance(block.get("accessory"), dict):
            errors += _element_errors(block["accessory"], f"{at}/accessory", set())
    elif kind == "header":
        errors += text_errors(block.get("text"), f"{at}/text", MAX_HEADER_TEXT, plain=True)
    elif kind == "actions":
        elements = block.get("elements")
        if not isinstance(elements, list) or not elements:
            return [*errors, f"must provide elements [json-pointer:{at}/elements]"]
        action_ids: set[str] = set()
        for j, element in enumerate(elements):
            errors += _element_errors(element, f"{at}/elements/{j}", action_ids)
    elif kind == "context":
        elements = block.get("elements")
        if not isinstance(elements, list) or not 1 <= len(elements) <= MAX_CONTEXT_ELEMENTS:
            limit = MAX_CONTEXT_ELEMENTS
            return [*errors, f"must provide 1 to {limit} elements [json-pointer:{at}/elements]"]
        for j, element in enumerate(elements):
            if isinstance(element, dict) and element.get("type") in _TEXT_TYPES:
                errors += text_errors(element, f"{at}/elements/{j}", MAX_SECTION_TEXT)
    elif kind == "input":
        errors += text_errors(block.get("label"), f"{at}/label", MAX_INPUT_LABEL, plain=True)
        if block.get("hint") is not None:
            errors += text_errors(block["hint"], f"{at}/hint", MAX_INPUT_LABEL, plain=True)
        errors += _boolean_errors(block, at, ("optional", "dispatch_action"))
        if not isinstance(block.get("element"), dict):
            return [*errors, f"missing required field: element [json-pointer:{at}]"]
        errors += _element_errors(block["element"], f"{at}/element", set())
    return errors


def text_errors(obj: object, at: str, most: int, *, plain: bool = False) -> list[str]:
    """A text object's faults: its type, and 1 to ``most`` characters."""
    if not isinstance(obj, dict) or obj.get("type") not in (
        ("plain_text",) if plain else _TEXT_TYPES
    ):
        return [f"must be a {'plain_text' if plain else 'text'} object [json-pointer:{at}]"]
    text = obj.get("text")
    if not isinstance(text, str):
        return [f"missing required field: text [json-pointer:{at}]"]
    if not text:
        return [f"must be more than 0 characters [json-pointer:{at}/text]"]
    if len(text) > most:
        return [f"must be less than {most + 1} characters [json-pointer:{at}/text]"]
    return []


def _element_errors(element: object, at: str, action_ids: set[str]) -> list[str]:
    if not isinstance(element, dict) or not isinstance(element.get("type"), str):
        return [f"missing required field: type [json-pointer:{at}]"]
    errors: list[str] = []
    action_id = element.get("action_id")
    if isinstance(action_id, str):
        if len(action_id) > MAX_ACTION_ID:
            limit = MAX_ACTION_ID + 1
            errors.append(f"must be less than {limit} characters [json-pointer:{at}/action_id]")
        elif action_id in action_ids:
            errors.append(f"duplicate action_id [json-pointer:{at}/action_id]")
        action_ids.add(action_id)
    if element["type"] == "plain_text_input":
        errors += _plain_text_input_errors(element, at)
    elif element["type"] == "button":
        errors += text_errors(element.get("text"), f"{at}/text", MAX_BUTTON_TEXT, plain=True)
        value = element.get("value")
        if isinstance(value, str) and len(value) > MAX_BUTTON_VALUE:
            limit = MAX_BUTTON_VALUE + 1
            errors.append(f"must be less than {limit} characters [json-pointer:{at}/value]")
    return errors


def _plain_text_input_errors(element: JSON, at: str) -> list[str]:
    # slack_sdk's PlainTextInputElement checks only its placeholder's length.
    errors = _boolean_errors(element, at, ("multiline", "focus_on_load"))
    if element.get("placeholder") is not None:
        placeholder = element["placeholder"]
        errors += text_errors(placeholder, f"{at}/placeholder", MAX_PLACEHOLDER, plain=True)
    initial = element.get("initial_value")
    if initial is not None and not isinstance(initial, str):
        errors.append(f"must be a string [json-pointer:{at}/initial_value]")
    # The element's page: min_length 0 to 3000, max_length 1 to 3000, inclusive.
    bounds = {"min_length": 0, "max_length": 1}
    for key, least in bounds.items():
        value = element.get(key)
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool):
            errors.append(f"must be an integer [json-pointer:{at}/{key}]")
        elif not least <= value <= MAX_INPUT_LENGTH:
            most = MAX_INPUT_LENGTH
            errors.append(f"must be between {least} and {most} [json-pointer:{at}/{key}]")
    low, high = element.get("min_length"), element.get("max_length")
    if not errors and isinstance(low, int) and isinstance(high, int) and low > high:
        errors.append(f"must be less than or equal to max_length [json-pointer:{at}/min_length]")
    return errors


def _boolean_errors(obj: JSON, at: str, keys: tuple[str, ...]) -> list[str]:
    return [
        f"must be a boolean [json-pointer:{at}/{key}]"
        for key in keys
        if key in obj and not isinstance(obj[key], bool)
    ]


def _sdk_errors(block: JSON, at: str) -> list[str]:
    """What slack_sdk's Block Kit models find wrong with one block, down to its elements."""
    try:
        parsed = Block.parse(block)
    except (TypeError, ValueError, AttributeError, KeyError) as exc:
        return [f"{sdk_reason(exc)} [json-pointer:{at}]"]
    if parsed is None:
        return [f"unsupported type: {block['type']} [json-pointer:{at}/type]"]
    errors = _model_errors(parsed, at)
    for key in ("accessory", "element"):  # the SDK drops an element of a type it lacks
        if isinstance(block.get(key), dict) and getattr(parsed, key, None) is None:
            errors.append(f"unsupported type [json-pointer:{at}/{key}]")
    return errors


def _model_errors(value: object, at: str) -> list[str]:
    # A block's validate_json checks only its own fields: walk into its elements too.
    if isinstance(value, list | tuple):
        errors: list[str] = []
        for i, item in enumerate(value):
            if item is None:  # the SDK parses an element of a type it lacks to None
                errors.append(f"unsupported type [json-pointer:{at}/{i}]")
            else:
                errors += _model_errors(item, f"{at}/{i}")
        return errors
    if not isinstance(value, JsonObject):
        return []
    errors = []
    try:
        value.validate_json()
    except SlackObjectFormationError as exc:
        errors.append(f"{exc} [json-pointer:{at}]")
    except (TypeError, ValueError, AttributeError) as exc:
        errors.append(f"{sdk_reason(exc)} [json-pointer:{at}]")
    for name, attr in vars(value).items():
        errors += _model_errors(attr, f"{at}/{name}")
    return errors
