"""Writes the reference tables in `docs/` from the code they describe, so they cannot drift.

    python -m docs.generate          # rewrite the generated parts of docs/api.md and
                                     # docs/configuration.md
    python -m docs.generate --check  # exit 1, naming the files, if any is out of date

Run it from the repository root. Each generated part sits between two markers,
`<!-- BEGIN GENERATED name ... -->` and `<!-- END GENERATED name -->`; everything outside
them is written by hand and kept as it is. `tests/test_docs.py` fails when a committed file
differs from what this makes now.

What comes from where:

- the bot API's calls: the routes `BotApi` serves, with the OpenAPI document's operations
  (`bridge.bot.openapi`); bodies and answers: the pydantic models of `bridge.bot.wire` and
  `bridge.bot.openapi`; message contents: `bridge.model`; events: `bridge.events`. Types,
  required fields and bounds come from the models' JSON schemas, rules such as "an email
  address" from the validators attached to each field (`VALIDATORS` says what each means);
- the errors: the (status, code) pairs raised in `bridge/bot/api.py`, the codes the OpenAPI
  document lists, and the precedence the module states;
- the settings: `bridge.config.Settings` (names, defaults, `Literal` choices, lengths and
  patterns), its `BOUNDS`, and its field validators (`SETTING_RULES` says what each checks).

What cannot be read from the code (what a field or a setting is for) is written here, in
`NOTES`, `ERRORS` and `SETTINGS`, and checked against the code: a note about a field that no
longer exists, a setting, an error code or a validator without its words, stops the
generator with a line saying what to add.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import typing
from collections.abc import Callable, Iterable
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast, get_args, get_origin

from annotated_types import MaxLen, MinLen
from pydantic import AfterValidator, BaseModel
from pydantic_core import PydanticUndefined

from bridge import config, events, model
from bridge.bot import api, openapi, wire

DOCS = Path(__file__).resolve().parent
COMMAND = "python -m docs.generate"


class Missing(Exception):
    """The code has something these docs have no words for (or the other way round)."""


# --- words the code cannot give ------------------------------------------------------------

# What each validator attached to a bot API field checks, by function name.
VALIDATORS: dict[str, str] = {
    "_no_controls": "no control characters",
    "_email": "an email address",
    "_http_url": "an `http://` or `https://` URL",
    "_storable": f"nested at most {model.MAX_DEPTH} levels deep, no unpaired surrogates",
}

# What a field is for, by (model, field). Only where the name does not say it all.
NOTES: dict[tuple[str, str], str] = {
    ("CreateUser", "name"): "shown in the thread as the end user's name",
    ("CreateUser", "pictureUrl"): "the end user's picture beside their messages",
    ("CreateUser", "email"): "shown on the parent message",
    ("StartHitl", "userId"): "an end user made with `createUser` (else 422 naming `userId`)",
    ("StartHitl", "title"): "the parent message's heading (`Handoff request` when absent)",
    ("StartHitl", "description"): "shown on the parent; a long one is cut there (at 7,500 "
    "characters) and posted whole in the thread",
    ("StartHitl", "messageHistory"): "the conversation so far, posted as the thread's first "
    "reply; required, `[]` is fine",
    ("StartHitl", "hitlSession"): "kept as given; `queue` picks the channel "
    "(`BRIDGE_QUEUES`), `priority` is `low`, `normal`, `high` or `urgent` (else 422)",
    ("HistoryEntry", "source"): "who said it",
    ("HistoryEntry", "type"): "a [message](#messages) type",
    ("HistoryEntry", "payload"): "that type's payload",
    ("UserSource", "userId"): "a record only: not checked",
    ("SendMessage", "type"): "a [message](#messages) type",
    ("SendMessage", "payload"): "that type's payload",
    ("SendMessage", "userId"): "present: the end user speaks (it must be the conversation's, "
    "else 422); absent: a notice from the bot",
    ("UserOut", "role"): "`agent` for the Slack users the bridge met as agents",
    ("ConversationOut", "userId"): "the end user; null only while a Botpress hitl-api "
    "conversation does not know them yet",
    ("ConversationOut", "agentId"): "the assignee's bridge user id; null while waiting, kept "
    "once stopped",
    ("ConversationOut", "createdAt"): "ISO 8601, UTC",
    ("ConversationOut", "stoppedAt"): "ISO 8601, UTC; null until stopped",
    ("ConversationOut", "deadLetters"): "what the bridge gave up delivering for this conversation",
    ("SlackRef", "channel"): "the channel id of the thread",
    ("SlackRef", "threadTs"): "the parent message's `ts`; null until it is posted",
    ("SlackRef", "permalink"): "a link to the parent; null until it is posted",
    ("DeadLetterOut", "target"): "`bot`: an event for the webhook; `botpress`: an event for "
    "Botpress's webhook; `slack`: anything for Slack",
    ("DeadLetterOut", "kind"): "the event's type, or what was meant for Slack (`message`, "
    "`transcript`, ...)",
    ("DeadLetterOut", "id"): "the event's id, or the message's",
    ("DeadLetterOut", "error"): "the last failure",
    ("DeadLetterOut", "since"): "when it was queued (ISO 8601, UTC)",
    ("EventsPage", "events"): f"at most {api.PAGE}, oldest first",
    ("EventsPage", "cursor"): "pass it as `after` next time; always there, also when no event came",
    ("ErrorDetail", "code"): "see [Errors](#errors)",
    ("ErrorDetail", "message"): "for people; for a 422 it starts with the field at fault",
    ("Event", "id"): "the same on every delivery of this event: drop repeats by it",
    ("Event", "createdAt"): "ISO 8601, UTC, whole seconds",
    ("Agent", "name"): "the Slack display name (the real name when it is empty), or "
    "`BRIDGE_PERSONA_NAME`",
    ("Agent", "pictureUrl"): "the largest Slack profile image, or `BRIDGE_PERSONA_PICTURE`",
    ("Agent", "email"): "from Slack (`users:read.email`); null with a persona",
    ("Agent", "slackUserId"): "the agent's Slack user id (also with a persona)",
    ("AssignedPayload", "userId"): "the agent's bridge user id (`GET /v1/users/{userId}`)",
    ("MessagePayload", "userId"): "the agent's bridge user id",
    ("MessagePayload", "messageId"): "the bridge's id for this reply",
    ("MessagePayload", "type"): "`text`, or a file the agent shared: `image`, `audio`, "
    "`video`, `file`, or a `bloc` of text and files",
    ("MessagePayload", "payload"): "as in [messages](#messages); a shared file's URL "
    "points at the bridge (`/files/...`), signed, and works for 7 days",
    ("StoppedPayload", "reason"): "`resolved`: an agent resolved it; `timeout`: nobody "
    "claimed it within `BRIDGE_ASSIGN_TIMEOUT`",
    ("RequestApproval", "draft"): "what the bot is about to say, as a message it sends",
    ("RequestApproval", "title"): "the request's headline in Slack",
    ("RequestApproval", "context"): "for the agent: what the end user asked, why a human "
    "should look",
    ("RequestApproval", "conversationId"): "a conversation that is not stopped: the request "
    "goes in its thread; else it is a new message in the channel",
    ("RequestApproval", "userId"): "the end user concerned, shown with the request",
    ("RequestApproval", "queue"): "as `hitlSession.queue`: picks the channel of a request "
    "outside a conversation",
    ("RequestApproval", "expiresIn"): "seconds until it expires (default "
    "`BRIDGE_APPROVAL_TIMEOUT`); one reminder at three quarters of it",
    ("ApprovalOut", "status"): "`pending`, then one of the others, for good",
    ("ApprovalOut", "message"): "the draft as approved, or the edited text; null while "
    "pending, and when rejected, expired or cancelled",
    ("ApprovalOut", "comment"): "the reason given on Reject, if any",
    ("ApprovalOut", "agent"): "who decided, as in `hitlAssigned`",
    ("ApprovalSlackRef", "ts"): "the request's message, once posted",
    ("DecidedPayload", "message"): "the draft as approved, or the edited text (a `text` "
    "message); left out when rejected or expired",
    ("DecidedPayload", "comment"): "the reason given on Reject; left out when none was given",
    ("DecidedPayload", "userId"): "the deciding agent's bridge user id; left out when expired",
    ("DecidedPayload", "agent"): "who decided, as in `hitlAssigned`; left out when expired",
    ("DecidedPayload", "conversationId"): "null for a request outside a conversation",
}

# When each error code is given (its status comes from bridge/bot/api.py).
ERRORS: dict[str, str] = {
    "unauthorized": "no `Authorization: Bearer` header, or a token that is not one of "
    "`BRIDGE_API_TOKEN`'s",
    "too_large": "the body is over `BRIDGE_MAX_BODY` bytes, as declared or as it arrives",
    "bad_json": "the body is not JSON",
    "not_found": "no such user, conversation or route",
    "method_not_allowed": "a route that exists, called with another method",
    "invalid": "a body, field, header or parameter that does not fit; the message names it "
    "(`messageHistory[2].type: ...`)",
    "conversation_stopped": "a message, or an approval request, for a conversation that is stopped",
    "approval_decided": "cancelling an approval request that was decided or expired already",
    "idempotency_conflict": "an `Idempotency-Key` used before, on the same call, with another body",
    "idempotency_in_progress": f"a request with the same key still running after "
    f"{api.IN_PROGRESS_WAIT:g} seconds",
    "unavailable": "the database cannot take a write now (a full disk): nothing was done; "
    "send it again after `Retry-After` seconds",
}

# What each Settings validator checks, by function name; `_within_bounds` is read from BOUNDS.
SETTING_RULES: dict[str, str] = {
    "_retry_order": "at least `BRIDGE_RETRY_BASE`",
    "_bot_token": "starts with `xoxb-`",
    "_path_token": "16 to 200 letters, digits, `-` or `_`; required with `BOTPRESS_WEBHOOK_URL`",
    "_remind_mention": "`here`, `channel` or a user group id (`S0123456789`)",
    "_receipt": "`off` (or `none`) for no reaction",
    "_not_blank": f"not blank; each token at least {config.MIN_TOKEN_LENGTH} characters "
    "(`serve` and `check` refuse shorter ones); several, comma-separated",
    "_signing_secret": "required unless `SLACK_APP_TOKEN` is set",
    "_app_token": "starts with `xapp-`",
    "_webhook_secret": "`whsec_` and base64 (at least 16 bytes); required with "
    "`BRIDGE_WEBHOOK_URL`; several, comma-separated",
    "_url": "an `http://` or `https://` URL",
    "_port": "1 to 65535",
    "_slack_id": "a Slack id: capital letters and digits",
    "_database": "`sqlite:///` and a file path (`sqlite:///:memory:` is refused), or "
    "`postgresql://` with a host",
    "_queues": "`name=CHANNEL_ID`, comma-separated",
    "_media_allow_networks": "networks, comma-separated (`10.1.2.0/24,fd12::/64`)",
    "_log_level": "`DEBUG`, `INFO`, `WARNING` or `ERROR`",
}

# Every setting: the group it is listed under, and what it does.
SETTING_GROUPS = [
    "Slack",
    "The bot",
    "Waiting, reminders and who may act",
    "In the thread",
    "Pace and retries",
    "Server, storage and logs",
]
SETTINGS: dict[str, tuple[str, str]] = {
    "slack_bot_token": ("Slack", "The app's **Bot User OAuth Token** (Install App, or OAuth "
                        "& Permissions)."),
    "slack_app_token": ("Slack", "An app-level token with the `connections:write` scope "
                        "(Basic Information → App-Level Tokens). Set: Socket Mode; Slack's "
                        "events, buttons and `/hitl` come over a WebSocket the bridge opens, "
                        "and `/slack/events` is not served."),
    "slack_signing_secret": ("Slack", "Basic Information → App Credentials → **Signing "
                             "Secret**: checks every request Slack sends to `/slack/events` "
                             "(HTTP mode). Not used in Socket Mode."),
    "slack_api_url": ("Slack", "Slack's Web API. Leave it: tests and the demo point it at a "
                      "fake Slack."),
    "channel": ("Slack", "The id of the channel where handoff threads open (`C...`; the "
                "README says how to find it). The app must be a member: `/invite "
                "@hitl-bridge`."),
    "queues": ("Slack", "More channels, by queue name: a handoff whose "
               "`hitlSession.queue` names one opens in its channel, any other in "
               "`BRIDGE_CHANNEL`. The app must be a member of each."),
    "api_token": ("The bot", "The bearer token the bot sends to `/v1/*` (make one with "
                  "`openssl rand -hex 32`). Several, comma-separated, are all accepted, so a "
                  "token can be replaced without a gap."),
    "webhook_url": ("The bot", "Where events are POSTed. Unset: the bot reads them with "
                    "`GET /v1/events`."),
    "webhook_secret": ("The bot", "Signs each webhook delivery (Standard Webhooks). With "
                       "several keys, each signs every delivery, so keys can rotate."),
    "max_body": ("The bot", "The largest request body the bot API (and `/botpress`) takes; "
                 "past it, 413 `too_large`."),
    "persona_name": ("The bot", "One name the bot sees as every agent's (`agent.name`), "
                     "instead of theirs; `agent.email` is then null."),
    "persona_picture": ("The bot", "The picture that goes with `BRIDGE_PERSONA_NAME`."),
    "relay_corrections": ("The bot", "`true`: when an agent edits a reply the bot already "
                          "has, the new text goes to the bot as a new message starting "
                          "`Correction: `. `false`: the agent is told the edit was not sent."),
    "botpress_webhook_url": ("The bot", "Botpress's webhook URL for its *Human in the Loop "
                             "API* integration: turns on the routes under "
                             "`/botpress/{BOTPRESS_PATH_TOKEN}` ([botpress.md](botpress.md))."),
    "botpress_path_token": ("The bot", "The secret path segment of those routes. Botpress "
                            "sends no credentials: this is what keeps strangers out."),
    "agent_usergroup": ("Waiting, reminders and who may act", "A user group id (`S...`): "
                        "only its members may claim, reply, release, resolve and decide "
                        "approvals; anyone "
                        "else is told so, privately, and nothing is relayed. Unset: everyone "
                        "in the channel is an agent. Needs the `usergroups:read` scope."),
    "close_by": ("Waiting, reminders and who may act", "Who may Release or Resolve a "
                 "conversation that someone else has: `anyone`, or only the `assignee`."),
    "assign_timeout": ("Waiting, reminders and who may act", "Seconds a conversation may "
                       "wait unclaimed before it stops, with `hitlStopped` reason "
                       "`timeout`. A Release starts the clock again."),
    "remind_after": ("Waiting, reminders and who may act", "Seconds of waiting before the "
                     "thread gets a reminder that calls on `BRIDGE_REMIND_MENTION`; then "
                     "another each time as many seconds more have passed."),
    "approval_timeout": ("Waiting, reminders and who may act", "Seconds an approval request "
                         "waits for a decision unless it says otherwise (`expiresIn`); at "
                         "three quarters of it, one reminder; at the end, `expired`."),
    "remind_repeat": ("Waiting, reminders and who may act", "How many reminders at most for "
                      "one wait (a Release starts the count again)."),
    "remind_mention": ("Waiting, reminders and who may act", "Whom reminders, and the parent "
                       "of an urgent handoff still waiting, call on. Unset: "
                       "`BRIDGE_AGENT_USERGROUP` if set, else `here`."),
    "idle_reminder": ("Waiting, reminders and who may act", "Seconds an assignee may go "
                      "without a reply in the thread (since they claimed it or last replied) "
                      "before the thread nudges them; once until they reply again."),
    "receipt_reaction": ("In the thread", "The emoji (its name, without colons) put on an "
                         "agent's reply once the bot's webhook has taken it."),
    "upload_media": ("In the thread", "`true`: media the end user or the bot sends (up to "
                     "20 MB) is fetched, from public addresses only, and uploaded into the "
                     "thread; what cannot be fetched is linked. `false`: links."),
    "media_allow_networks": ("In the thread", "With uploads on: networks media may come "
                             "from besides public addresses (your own media host). Cloud "
                             "metadata addresses stay refused."),
    "slack_combine": ("In the thread", "`true`: end-user messages queued behind the rate "
                      "limit go out together as one post, in order, divided."),
    "slack_rate": ("Pace and retries", "Posts a second per channel the bridge allows itself. "
                   "Slack's own `429 Retry-After` is obeyed either way."),
    "slack_burst": ("Pace and retries", "Posts that may go at once, per channel, after a "
                    "quiet spell."),
    "slack_tiers": ("Pace and retries", "Every other Slack method is kept within its "
                    "published rate tier, times this."),
    "retry_base": ("Pace and retries", "Seconds before the first retry of a delivery that "
                   "failed; each next wait doubles (with jitter)."),
    "retry_max": ("Pace and retries", "The longest wait between retries."),
    "delivery_max_age": ("Pace and retries", "Seconds a delivery is retried before it "
                         "becomes a dead letter (the default is 3 days)."),
    "delivery_max_attempts": ("Pace and retries", "Attempts before a delivery becomes a "
                              "dead letter."),
    "database_url": ("Server, storage and logs", "The database. A SQLite file, for one "
                     "instance: `sqlite:///bridge.db` is relative to the working directory, "
                     "`sqlite:////var/lib/hitl-bridge/bridge.db` (four slashes) absolute. Or "
                     "`postgresql://user:pw@host:5432/db`: PostgreSQL 14 or newer, which "
                     "several instances may share ([deploy.md](deploy.md))."),
    "sqlite_synchronous": ("Server, storage and logs", "How hard SQLite makes each commit "
                           "durable. `normal`: a killed process loses nothing committed; a "
                           "power cut or kernel crash can lose the last commits. `full`: "
                           "each commit is flushed to the disk before it is acknowledged, "
                           "at a cost in throughput (see bench/RESULTS.md)."),
    "host": ("Server, storage and logs", "The address the server listens on. Keep "
             "`127.0.0.1` behind a reverse proxy on the same machine."),
    "port": ("Server, storage and logs", "The port it listens on."),
    "public_url": ("Server, storage and logs", "How the outside world reaches the bridge: "
                   "links to files agents share (`/files/...`) start with it. Unset: "
                   "`http://{BRIDGE_HOST}:{BRIDGE_PORT}`."),
    "log_level": ("Server, storage and logs", "How much the log says (any case)."),
    "log_format": ("Server, storage and logs", "Log lines on standard error: `text`, or "
                   "`json` (one object a line, for a collector)."),
}  # fmt: skip


# --- JSON schema to words --------------------------------------------------------------------


def _message_types() -> dict[str, str]:
    """Message classes by name, and the `type` each stands for (`TextMessage`: `text`)."""
    found: dict[str, str] = {}
    for cls in _union(model.Content):
        found[cls.__name__] = _literal(cls, "type")
    return found


def _union(annotation: Any) -> list[type[BaseModel]]:
    """The classes of a (possibly `Annotated`) union."""
    if get_origin(annotation) is typing.Annotated:
        annotation = get_args(annotation)[0]
    return [cast(type[BaseModel], cls) for cls in get_args(annotation)]


def _literal(cls: type[BaseModel], field: str) -> str:
    (value,) = get_args(cls.model_fields[field].annotation)
    return str(value)


def _event_types() -> dict[str, str]:
    """Event classes by name, and the `type` each stands for (`MessageEvent`: `message`)."""
    return {cls.__name__: _literal(cls, "type") for cls in _union(events.BotEvent)}


def _anchor(name: str) -> str:
    return f"[{name}](#{name.lower()})"


def _type(schema: dict[str, Any]) -> str:
    """A schema's type in words: `string`, `list of X`, `string or null`, a link."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        messages, kinds = _message_types(), _event_types()
        if name in messages:
            return f"`{messages[name]}`"
        if name in kinds:
            return f"[`{kinds[name]}`](#{kinds[name].lower()})"
        return _anchor(name)
    if "const" in schema:
        return f"`{json.dumps(schema['const'])}`"
    if "enum" in schema:
        return _or([f"`{value}`" for value in schema["enum"]])
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return _or([_type(part) for part in schema[key]])
    kind = schema.get("type")
    if kind == "array":
        items = schema.get("items", {})
        refs = [part.get("$ref", "").rsplit("/", 1)[-1] for part in items.get("oneOf", [])]
        if refs and all(ref in _message_types() for ref in refs):
            return f"list of {_type(items)} messages"
        if refs and all(ref in _event_types() for ref in refs):
            return f"list of {_type(items)} events"
        return f"list of {_type(items)}"
    if kind == "object":
        return "object"
    if kind is None:
        return "any JSON"
    return str(kind)


def _or(words: list[str]) -> str:
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " or " + words[-1]


def _bounds(schema: dict[str, Any]) -> list[str]:
    """Lengths, counts, patterns and ranges, from the schema (and its non-null branch)."""
    for part in schema.get("anyOf", []):
        if part.get("type") != "null":
            schema = {**part, **{k: v for k, v in schema.items() if k != "anyOf"}}
    rules = []
    for low, high, unit in (
        ("minLength", "maxLength", "characters"),
        ("minItems", "maxItems", "items"),
        ("minimum", "maximum", ""),
    ):
        lo, hi = schema.get(low), schema.get(high)
        if lo is not None and hi is not None:
            rules.append(f"{_num(lo)} to {_num(hi)} {unit}".strip())
        elif hi is not None:
            rules.append(f"at most {_num(hi)} {unit}".strip())
        elif lo is not None:
            rules.append(f"at least {_num(lo)} {unit}".strip())
    if "pattern" in schema:
        rules.append(f"matches `{schema['pattern']}`")
    return rules


def _num(value: float) -> str:
    return f"{int(value):,}" if value == int(value) else str(value)


def _validators(annotation: Any, metadata: Iterable[Any]) -> list[str]:
    """The words for every `AfterValidator` on a field, however deep in its annotation."""
    found: list[Any] = list(metadata)
    stack = [annotation]
    while stack:
        node = stack.pop()
        if get_origin(node) is typing.Annotated:
            found.extend(node.__metadata__)
        stack.extend(get_args(node))
    words = []
    for item in found:
        if isinstance(item, AfterValidator):
            name = getattr(item.func, "__name__", repr(item.func))
            if name not in VALIDATORS:
                raise Missing(f"docs/generate.py: say in VALIDATORS what {name} checks")
            words.append(VALIDATORS[name])
    return words


def _fields(cls: type[BaseModel], *, answer: bool, name: str | None = None) -> str:
    """A table of a model's fields: type, whether required (or always there), rules, notes."""
    name = name or cls.__name__
    schema = cls.model_json_schema(ref_template="{model}")
    properties: dict[str, Any] = schema.get("properties", {})
    required = set(schema.get("required", []))
    for (owner, field), _ in NOTES.items():
        if owner == name and field not in properties:
            raise Missing(f"docs/generate.py: NOTES names {name}.{field}, which is gone")
    if not properties:
        return "No fields: send `{}`, or no body at all.\n"
    lines = []
    for field, prop in properties.items():
        info = cls.model_fields[field]
        rules = _bounds(prop) + _validators(info.annotation, info.metadata)
        lines.append(
            [f"`{field}`", _type(prop), "yes" if field in required else "no", "; ".join(rules),
             NOTES.get((name, field), "")]
        )  # fmt: skip
    head = ["field", "type", "always there" if answer else "required", "rules", "notes"]
    if not any(line[3] for line in lines):  # no rules at all (answers): no column for them
        head.pop(3)
        lines = [line[:3] + line[4:] for line in lines]
    return _table(head, lines)


def _table(head: list[str], lines: list[list[str]]) -> str:
    rows = [head, ["---"] * len(head), *lines]
    return "\n".join("| " + " | ".join(row) + " |" for row in rows) + "\n"


def _describe(cls: type[BaseModel]) -> str:
    doc = (cls.__doc__ or "").strip()
    return f"{doc}\n\n" if doc and not doc.startswith("Usage docs:") else ""


# --- the bot API -----------------------------------------------------------------------------


def _routes() -> list[tuple[str, str]]:
    """(method, path) of every route the bot API serves."""
    # Listing the routes calls nothing.
    nothing = cast(Any, SimpleNamespace(bot=None, approvals=None, events_pulse=None))
    bot = api.BotApi(nothing, [], 0, asyncio.Event())
    return [(route.method, route.path) for route in cast(Any, bot.routes())]


def _shape(path: str) -> str:
    return re.sub(r"\{[^}]*\}", "{}", path)


def _ref(content: dict[str, Any]) -> str | None:
    schema = content.get("application/json", {}).get("schema", {})
    return schema["$ref"].rsplit("/", 1)[-1] if "$ref" in schema else None


def calls() -> str:
    document = openapi.document()
    operations = {
        (method.upper(), _shape(path)): (path, op)
        for path, item in document["paths"].items()
        for method, op in item.items()
    }
    rows = [
        "| call | operation | body | answer | Idempotency-Key | what it does |",
        "|---|---|---|---|---|---|",
    ]
    for method, route in _routes():
        found = operations.pop((method, _shape(route)), None)
        if found is None:
            if route == "/v1/openapi.json":
                rows.append(
                    f"| `{method} {route}` | | | 200: this API as an OpenAPI 3.1 document | "
                    "| the same tables, for tools |"
                )
                continue
            raise Missing(f"docs/generate.py: {method} {route} is in no OpenAPI operation")
        path, op = found
        body = op.get("requestBody")
        if body is None:
            shown = ""
        else:
            ref = _ref(body["content"])
            shown = _anchor(ref) if ref else "`{}` or nothing"
        status, answer = next((s, a) for s, a in op["responses"].items() if s.startswith("2"))
        ref = _ref(answer.get("content", {}))
        answered = f"{status} {_anchor(ref) if ref else '`{}`'}"
        idempotent = any(p["name"] == "Idempotency-Key" for p in op.get("parameters", []))
        query = [p for p in op.get("parameters", []) if p["in"] == "query"]
        what = op["summary"]
        if query:
            what += "; " + ", ".join(_parameter(p) for p in query)
        rows.append(
            f"| `{method} {path}` | `{op['operationId']}` | {shown} | {answered} "
            f"| {'yes' if idempotent else ''} | {what} |"
        )
    if operations:
        raise Missing(f"docs/generate.py: OpenAPI operations with no route: {operations}")
    return "\n".join(rows) + "\n"


def _parameter(parameter: dict[str, Any]) -> str:
    words = [parameter.get("description", ""), *_bounds(parameter.get("schema", {}))]
    return f"`{parameter['name']}`: " + ", ".join(w for w in words if w)


REQUESTS: list[tuple[type[BaseModel], str | None]] = [
    (wire.CreateUser, None),
    (wire.StartHitl, None),
    (wire.HistoryEntry, None),
    (wire.UserSource, None),
    (wire.BotSource, None),
    (wire.SendMessage, None),
    (wire.StopHitl, None),
    (wire.RequestApproval, None),
    (wire.Draft, None),
    (wire.CancelApproval, None),
]
ANSWERS: list[type[BaseModel]] = [
    openapi.UserCreated,
    wire.UserOut,
    openapi.ConversationCreated,
    wire.ConversationOut,
    wire.SlackRef,
    wire.DeadLetterOut,
    openapi.MessageAccepted,
    openapi.ApprovalCreated,
    wire.ApprovalOut,
    wire.ApprovalSlackRef,
    openapi.EventsPage,
    openapi.Error,
    openapi.ErrorDetail,
]


def bodies() -> str:
    parts = ["### Requests\n"]
    for cls, name in REQUESTS:
        parts.append(f"#### {name or cls.__name__}\n\n{_fields(cls, answer=False, name=name)}")
    parts.append("### Answers\n")
    for cls in ANSWERS:
        parts.append(f"#### {cls.__name__}\n\n{_describe(cls)}{_fields(cls, answer=True)}")
    return "\n".join(parts)


def messages() -> str:
    rows = ["| `type` | payload field | type | required | rules |", "|---|---|---|---|---|"]
    for cls in _union(model.Content):
        kind = _literal(cls, "type")
        payload = cast(type[BaseModel], cls.model_fields["payload"].annotation)
        schema = payload.model_json_schema(ref_template="{model}")
        required = set(schema.get("required", []))
        for number, (field, prop) in enumerate(schema["properties"].items()):
            info = payload.model_fields[field]
            rules = _bounds(prop) + _validators(info.annotation, info.metadata)
            rows.append(
                f"| {f'`{kind}`' if number == 0 else ''} | `{field}` | {_type(prop)} "
                f"| {'yes' if field in required else 'no'} | {'; '.join(rules)} |"
            )
    return "\n".join(rows) + "\n"


def bot_events() -> str:
    kinds = _union(events.BotEvent)
    envelope = kinds[0]
    rows = ["| field | type | notes |", "|---|---|---|"]
    for field, prop in envelope.model_json_schema(ref_template="{model}")["properties"].items():
        if field == "type":
            shown = _or([f"`{_literal(cls, 'type')}`" for cls in kinds])
            rows.append(f"| `type` | {shown} | which event |")
        elif field == "payload":
            rows.append("| `payload` | object | the event's own fields, below |")
        else:
            rows.append(f"| `{field}` | {_type(prop)} | {NOTES.get(('Event', field), '')} |")
    parts = ["\n".join(rows) + "\n"]
    for cls in kinds:
        payload = cast(type[BaseModel], cls.model_fields["payload"].annotation)
        parts.append(
            f"### {_literal(cls, 'type')}\n\n{_describe(cls)}"
            f"`payload` ({payload.__name__}):\n\n{_fields(payload, answer=True)}"
        )
    parts.append(f"### Agent\n\n{_describe(events.Agent)}{_fields(events.Agent, answer=True)}")
    return "\n".join(parts)


def _raised() -> dict[str, int]:
    """Every (code: status) the bot API answers with, as `bridge/bot/api.py` raises them."""
    source = Path(api.__file__).read_text(encoding="utf-8")
    found: dict[str, int] = {}
    for status, code in re.findall(r'(?:ApiError|error_answer)\(\s*(\d{3}),\s*"(\w+)"', source):
        if found.setdefault(code, int(status)) != int(status):
            raise Missing(f"docs/generate.py: {code} is answered with two statuses")
    return found


def errors() -> str:
    raised = _raised()
    listed = get_args(openapi.ErrorDetail.model_fields["code"].annotation)
    for code in [*raised, *listed]:
        if code not in ERRORS:
            raise Missing(f"docs/generate.py: say in ERRORS when {code} is given")
    for code in ERRORS:
        if code not in raised:
            raise Missing(f"docs/generate.py: ERRORS names {code}, which api.py never gives")
    rows = ["| status | code | when |", "|---|---|---|"]
    for code, status in sorted(raised.items(), key=lambda item: (item[1], item[0])):
        rows.append(f"| {status} | `{code}` | {ERRORS[code]} |")
    order = re.search(r"precedence to: ([0-9, ]+)\.", api.__doc__ or "")
    if order is None:
        raise Missing("docs/generate.py: bridge/bot/api.py no longer states the precedence")
    rows.append(
        f"\nWhen several apply, the first of {order.group(1)} wins (a request with a bad "
        "token and a bad body is told 401)."
    )
    return "\n".join(rows) + "\n"


# --- the settings ----------------------------------------------------------------------------


def _default(field: Any) -> str:
    default = field.get_default(call_default_factory=True)
    if default is PydanticUndefined:
        return "**required**"
    if default in (None, (), "", {}):
        return "unset"
    if isinstance(default, bool):
        return f"`{str(default).lower()}`"
    if isinstance(default, float) and default == int(default):
        default = int(default)
    return f"`{default}`"


def _allowed(name: str, field: Any, rules: dict[str, list[str]]) -> str:
    words: list[str] = []
    bound = config.BOUNDS.get(name)
    if bound is not None:
        zero = f"`0` ({bound.off}), or " if bound.off else ""
        whole = "a whole number, " if bound.whole else ""
        words.append(f"{zero}{whole}{_num(bound.low)} to {_num(bound.high)}{bound.unit}")
    annotation = field.annotation
    if annotation is bool:
        words.append("`true` or `false`")
    elif get_origin(annotation) is typing.Literal:
        words.append(_or([f"`{value}`" for value in get_args(annotation)]))
    for item in field.metadata:
        if isinstance(item, MaxLen):
            words.append(f"at most {item.max_length} characters")
        elif isinstance(item, MinLen):
            words.append(f"at least {item.min_length} characters")
        elif getattr(item, "pattern", None):
            words.append(f"matches `{item.pattern}`")
    words += rules.get(name, [])
    return "; ".join(words)


def _setting_rules() -> dict[str, list[str]]:
    """The words of every validator, by the settings it checks."""
    found: dict[str, list[str]] = {}
    validators = config.Settings.__pydantic_decorators__.field_validators
    for function, decorator in validators.items():
        if function == "_within_bounds":
            continue  # BOUNDS says it
        if function not in SETTING_RULES:
            raise Missing(f"docs/generate.py: say in SETTING_RULES what {function} checks")
        for name in decorator.info.fields:
            found.setdefault(name, []).append(SETTING_RULES[function])
    for function in SETTING_RULES:
        if function not in validators:
            raise Missing(f"docs/generate.py: SETTING_RULES names {function}, which is gone")
    return found


def settings() -> str:
    fields = config.Settings.model_fields
    for name in fields:
        if name not in SETTINGS:
            raise Missing(f"docs/generate.py: say in SETTINGS what {name} is for")
    for name, (group, _) in SETTINGS.items():
        if name not in fields:
            raise Missing(f"docs/generate.py: SETTINGS names {name}, which is gone")
        if group not in SETTING_GROUPS:
            raise Missing(f"docs/generate.py: {name}'s group {group!r} is not in SETTING_GROUPS")
    rules = _setting_rules()
    parts = []
    for group in SETTING_GROUPS:
        rows = ["| variable | default | allowed | what it does |", "|---|---|---|---|"]
        for name, field in fields.items():
            if SETTINGS[name][0] == group:
                rows.append(
                    f"| `{field.validation_alias}` | {_default(field)} "
                    f"| {_allowed(name, field, rules)} | {SETTINGS[name][1]} |"
                )
        parts.append(f"### {group}\n\n" + "\n".join(rows) + "\n")
    return "\n".join(parts)


# --- the files ------------------------------------------------------------------------------

FILES: dict[str, dict[str, Callable[[], str]]] = {
    "api.md": {
        "calls": calls,
        "bodies": bodies,
        "messages": messages,
        "events": bot_events,
        "errors": errors,
    },
    "configuration.md": {"settings": settings},
}
_BLOCK = re.compile(
    r"(<!-- BEGIN GENERATED (?P<name>[\w-]+)[^>]*-->\n)(?P<body>.*?)(<!-- END GENERATED "
    r"(?P=name) -->)",
    re.DOTALL,
)


def render(text: str, parts: dict[str, Callable[[], str]]) -> str:
    """`text` with every generated part made anew; `Missing` if a part has no markers."""
    seen: list[str] = []

    def replace(match: re.Match[str]) -> str:
        name = match.group("name")
        if name not in parts:
            raise Missing(f"docs/generate.py: no generator for the part {name!r}")
        seen.append(name)
        return f"{match.group(1)}\n{parts[name]().strip()}\n\n{match.group(4)}"

    made = _BLOCK.sub(replace, text)
    for name in parts:
        if name not in seen:
            raise Missing(f"the markers of the generated part {name!r} are missing")
    return made


def outdated() -> list[str]:
    """The files whose generated parts differ from what the code makes now."""
    stale = []
    for file, parts in FILES.items():
        text = (DOCS / file).read_text(encoding="utf-8")
        if render(text, parts) != text:
            stale.append(f"docs/{file}")
    return stale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=COMMAND, description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only say what is out of date")
    args = parser.parse_args(argv)
    try:
        if args.check:
            stale = outdated()
            for file in stale:
                print(f"{file} is out of date: run {COMMAND}", file=sys.stderr)
            return 1 if stale else 0
        for file, parts in FILES.items():
            path = DOCS / file
            text = path.read_text(encoding="utf-8")
            made = render(text, parts)
            if made != text:
                path.write_text(made, encoding="utf-8")
                print(f"wrote docs/{file}")
    except Missing as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
