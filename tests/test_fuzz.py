"""Property-based fuzzing of both doors: the bot API (`/v1`) and Slack's `/slack/events`.

Hypothesis draws hostile and almost-right inputs for every route and every Slack payload
kind. The properties are the contract's:

- never a 5xx;
- a bot API error is `{"error": {"code", "message"}}` with a documented code and a 4xx, and
  the statuses fixed before the body matters (401, 413, 400, 404) come in that order;
- a refused request changes nothing: no database commit, no call to Slack;
- every request that passes Slack's signature check gets a 2xx; one that does not is refused;
- end-user text reaches Slack inert (no mention, broadcast or disguised link);
- after each run the bridge still hands off end to end (see `world`).

Each test shares one stage across its examples (state accumulates, as in production), runs
derandomized (the same examples every time, no example database) and is bounded so the whole
file takes about 15 seconds; `FUZZ_SCALE=10` runs ten times as many examples. Slack requests
that once got a 500 are pinned by `test_malformed_slack_requests`.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
import re
import sqlite3
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urlencode

import aiohttp
import hypothesis
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bridge.slack.sender import Refused
from bridge.slack.text import to_plain, unescape
from tests.conftest import ALICE, API_TOKEN, BOB, CHANNEL, Stage

MAX_BODY = 1_048_576  # BRIDGE_MAX_BODY's default, which the stage uses

pytestmark = [
    # Bodies near the limit are sent as plain bytes on purpose.
    pytest.mark.filterwarnings("ignore:Sending a large body:ResourceWarning"),
    # A whitespace-only end-user message is posted with blocks and a blank fallback `text`,
    # which slack_sdk warns about (Slack accepts it; reported, not a failure here).
    pytest.mark.filterwarnings("ignore:The top-level `text` argument is missing:UserWarning"),
]

ERROR_CODES = {
    400: {"bad_json"},
    401: {"unauthorized"},
    404: {"not_found"},
    409: {"conversation_stopped", "idempotency_conflict", "idempotency_in_progress"},
    413: {"too_large"},
    422: {"invalid"},
}
# `name`, `a.b[0].c`, `body["odd key"]`, then ": " and the problem.
NAMES_A_FIELD = re.compile(
    r'[A-Za-z_][\w-]*(?:\.[A-Za-z_][\w-]*|\[\d+\]|\["(?:[^"\\]|\\.)*"\])*: \S'
)


# FUZZ_SCALE=10 multiplies every test's examples, for a deeper run by hand.
SCALE = float(os.environ.get("FUZZ_SCALE", "1"))


def fuzz(examples: int) -> settings:
    return settings(
        max_examples=max(1, round(examples * SCALE)),
        derandomize=True,
        database=None,
        deadline=None,
        print_blob=False,
        # One stage serves every example on purpose; the data checks are about speed.
        suppress_health_check=list(HealthCheck),
    )


FORM = "application/x-www-form-urlencoded"
JSON = "application/json"


def _form(payload: Any) -> bytes:
    """An interactivity request's body: the payload as JSON in a `payload` form field."""
    return urlencode({"payload": json.dumps(payload)}).encode()


# --- strategies: text and JSON -------------------------------------------------------------

SPECIAL_TEXT = [
    "",
    " ",
    "\t",
    "\n",
    "\r\n",
    "\x00",
    "\x07",
    "\x1b[31m",
    "\x7f",
    "\u0085",
    "\u200b",
    "\u202e",
    "\ufeff",
    "\uffff",
    "😀",
    "👩‍👩‍👧",
    "é",
    "İ",
    "&",
    "&amp;",
    "&lt;",
    "<",
    ">",
    "|",
    "*bold*",
    "`code`",
    "<!channel>",
    "<!here>",
    "<!everyone>",
    "<!subteam^S0ADMINS>",
    "<@U123>",
    "<@U0ALICE|alice>",
    "<#C0HANDOFF>",
    "<https://evil.example|click>",
    "<mailto:a@evil.example|support>",
    "https://evil.example/a?b=1&c=2",
    "javascript:alert(1)",
    "' OR 1=1 --",
    "${jndi:ldap://x}",
    "../../etc/passwd",
    "%00",
    "note: secret",
    "null",
    "1e999",
    "usr_",
    "conv_",
]
LONE_SURROGATES = ["\ud800", "\udfff", "a\udc80b"]


def weighted(*options: tuple[int, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """A choice between strategies with weights. (`one_of` drifts towards the branches with
    more distinct values, so a handful of real ids would hardly ever be drawn.)"""
    picks = [index for index, (weight, _) in enumerate(options) for _ in range(weight)]
    return st.sampled_from(picks).flatmap(lambda index: options[index][1])


def texts(*, surrogates: bool = True) -> st.SearchStrategy[str]:
    special = SPECIAL_TEXT + (LONE_SURROGATES if surrogates else [])
    piece = st.one_of(st.text(max_size=12), st.sampled_from(special))
    return weighted(
        (1, st.sampled_from(special)),
        (1, st.text(max_size=40)),
        (1, st.lists(piece, max_size=6).map("".join)),
    )


# Lengths at the bot API's field limits (255, 500, 3000, 10000, 40000...), in characters that
# are 1, 2 and 4 bytes of UTF-8 and characters that mrkdwn escaping makes longer.
LIMITS = [1, 64, 65, 254, 255, 256, 500, 501, 3000, 3001, 10000, 10001, 40000, 40001]
near_limits = st.builds(
    lambda n, ch: ch * n, st.sampled_from(LIMITS), st.sampled_from(["a", "é", "😀", "<", "&"])
)
api_text = weighted((2, texts()), (1, near_limits))

FIELD_NAMES = [
    "name",
    "pictureUrl",
    "email",
    "userId",
    "title",
    "description",
    "messageHistory",
    "hitlSession",
    "type",
    "payload",
    "source",
    "text",
    "imageUrl",
    "items",
    "queue",
    "__proto__",
]
keys = st.one_of(st.sampled_from(FIELD_NAMES), texts())
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([2**63, -(2**63) - 1, 10**300, -0.0, 1e308]),
    st.floats(),  # NaN and infinities too: Python's json reads them
    api_text,
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=10,
)


Field = tuple[st.SearchStrategy[Any], st.SearchStrategy[Any]]  # (good values, bad values)


def objects(spec: dict[str, Field], required: tuple[str, ...] = ()) -> st.SearchStrategy[Any]:
    """Bodies shaped like `spec`, from right to hostile: all fields good; each field good,
    bad or of any JSON type, some missing, now and then with unknown fields; any JSON."""

    def fields(names: list[str], *, good: bool) -> dict[str, st.SearchStrategy[Any]]:
        return {
            name: spec[name][0] if good else st.one_of(*spec[name], json_values) for name in names
        }

    optional = [name for name in spec if name not in required]
    valid = st.fixed_dictionaries(
        fields(list(required), good=True), optional=fields(optional, good=True)
    )
    complete = st.fixed_dictionaries(
        fields(list(required), good=False), optional=fields(optional, good=False)
    )
    partial = st.fixed_dictionaries({}, optional=fields(list(spec), good=False))
    extras = st.one_of(st.just({}), st.dictionaries(keys, json_values, min_size=1, max_size=2))
    shaped = st.builds(lambda known, extra: {**extra, **known}, complete | partial, extras)
    return weighted((2, valid), (2, shaped), (1, json_values))


# --- strategies: the bot API's bodies -------------------------------------------------------

good_text = st.one_of(
    st.text(st.characters(exclude_categories=("Cc", "Cs")), min_size=1, max_size=40),
    st.sampled_from([t for t in SPECIAL_TEXT if t and not re.search(r"[\x00-\x1f\x7f]", t)]),
)
text_field: Field = (good_text, api_text)

# "$NAME" strings stand for ids that exist only at run time (see `World.resolve`).
FORGED_IDS = [
    "",
    "usr_00000000000000000000",
    "conv_00000000000000000000",
    "usr_",
    "*",
    "%",
    "' OR '1'='1",
    "../usr",
    "a" * 64,
    "a" * 65,
    "USR_X",
    "usr_\x00",
    "usr_\ud800",
]
forged_ids = weighted((1, st.sampled_from(FORGED_IDS)), (1, texts()))
user_ids: Field = (st.just("$USER"), st.sampled_from(["$OTHER", "$AGENT", "$WAITING"]) | forged_ids)

GOOD_URLS = [
    "https://img.example.com/cat.png",
    "http://x.example",
    "HTTPS://X.EXAMPLE/A.PNG",
    "https://evil.example/<!channel>|click",
    "https://x.example/" + "a" * 2981,  # 3000 characters: the limit
]
BAD_URLS = [
    "https://",
    "http:/x",
    "ftp://x.example/a",
    "javascript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "//evil.example/a.png",
    "https://a b.example",
    "https://x.example/\n",
    "file:///etc/passwd",
    "https://x.example/" + "a" * 2982,
]
urls: Field = (st.sampled_from(GOOD_URLS), st.sampled_from(BAD_URLS) | texts())
TYPES = ["text", "image", "audio", "video", "file", "bloc"]
URL_FIELD = {"image": "imageUrl", "audio": "audioUrl", "video": "videoUrl", "file": "fileUrl"}


def payloads(type_: str) -> st.SearchStrategy[Any]:
    if type_ == "text":
        return objects({"text": text_field}, required=("text",))
    if type_ == "bloc":
        sizes = st.sampled_from([0, 51]).map(
            lambda n: [{"type": "text", "payload": {"text": f"item {i}"}} for i in range(n)]
        )
        items = st.lists(simple_messages, min_size=1, max_size=4)  # a bloc in a bloc is refused
        return objects({"items": (items, sizes)}, required=("items",))
    url = URL_FIELD[type_]
    return objects({url: urls, "title": text_field}, required=(url,))


def typed(type_: str, extra: dict[str, Field] | None = None) -> st.SearchStrategy[Any]:
    bad_types = st.sampled_from(["", "TEXT", "text ", "markdown", "card", *TYPES])
    spec = {"type": (st.just(type_), bad_types), "payload": (payloads(type_), json_values)}
    return objects(spec | (extra or {}), required=("type", "payload"))


simple_messages = st.sampled_from(TYPES).flatmap(typed)
message_bodies = st.sampled_from(TYPES).flatmap(lambda t: typed(t, {"userId": user_ids}))
sources: Field = (
    st.one_of(st.just({"type": "bot"}), st.just({"type": "user", "userId": "$USER"})),
    objects({"type": (st.sampled_from(["user", "bot"]), texts()), "userId": user_ids}),
)
history_entries = st.sampled_from(TYPES).flatmap(lambda t: typed(t, {"source": sources}))


def _nested(depth: int) -> dict[str, Any]:
    node: dict[str, Any] = {}
    for _ in range(depth - 1):
        node = {"a": node}
    return node


sessions: Field = (
    st.one_of(
        st.dictionaries(st.text(max_size=10), st.text(max_size=10), max_size=3),
        st.fixed_dictionaries({"queue": good_text}),
        st.just(_nested(32)),  # the limit is 32 levels
    ),
    st.one_of(
        st.dictionaries(keys, json_values, max_size=3),
        st.fixed_dictionaries({"queue": api_text}),
        st.just(_nested(33)),
        st.just({"queue": "\ud800"}),
    ),
)
histories: Field = (
    st.lists(history_entries, max_size=3),
    st.sampled_from([1000, 1001]).map(
        lambda n: [{"source": {"type": "bot"}, "type": "text", "payload": {"text": "."}}] * n
    ),
)
emails: Field = (
    st.sampled_from(["a@b", "erin@example.com", "<!channel>@evil.example", "a" * 250 + "@b.c"]),
    st.one_of(st.sampled_from(["no-at", "a@b@c", " @ ", "a" * 251 + "@b.c"]), texts()),
)
create_user_bodies = objects(
    {"name": text_field, "pictureUrl": urls, "email": emails}, required=("name",)
)
start_bodies = objects(
    {
        "userId": user_ids,
        "title": text_field,
        "description": text_field,
        "messageHistory": histories,
        "hitlSession": sessions,
    },
    required=("userId", "messageHistory"),
)

RAW_GARBAGE = [
    b"",
    b" \n",
    b"null",
    b"0",
    b'""',
    b"{",
    b"}",
    b"[]",
    b'{"a":1}{"b":2}',
    b'{"a":1,}',
    b"{'name': 'x'}",
    b"\xef\xbb\xbf{}",
    b"\xff\xfe{\x00}\x00",
    b"\x00\x00\x00{",
    b'{"name": "\xff"}',
    b'{"name": "\xed\xa0\x80"}',
    b'{"name": "\\ud800"}',
    b'{"name": "a\\u0000b"}',
    b'{"name": "x", "name": ""}',
    b"9" * 5000,  # past Python's 4300-digit limit for int()
    b'{"name": ' + b"9" * 5000 + b"}",
    b"[" * 100_000,
    b'{"a":' * 50_000,
    b"[" * 20_000 + b"]" * 20_000,
    b"NaN",
    b"-Infinity",
    b'{"name": 1e999}',
]


def _padded(size: int) -> bytes:
    """A JSON object of exactly `size` bytes."""
    return b'{"name": "' + b"a" * (size - 12) + b'"}'


sizes_near_limit = st.sampled_from([MAX_BODY - 1, MAX_BODY, MAX_BODY + 1, 2 * MAX_BODY]).map(
    _padded
)


def raw_bodies(bodies: st.SearchStrategy[Any]) -> st.SearchStrategy[bytes]:
    as_json = bodies.map(lambda body: json.dumps(body).encode())
    # Raw UTF-8 rather than \\u escapes: a lone surrogate becomes bytes that are not UTF-8.
    as_utf8 = bodies.map(
        lambda body: json.dumps(body, ensure_ascii=False).encode("utf-8", "surrogatepass")
    )
    garbage = st.one_of(st.sampled_from(RAW_GARBAGE), st.binary(max_size=64))
    return weighted((8, as_json), (1, as_utf8), (2, garbage), (1, sizes_near_limit))


IDEMPOTENCY_KEYS = ["k1", "k2", "K1", "", "a" * 255, "a" * 256, "é", "ключ", "a\tb", " k1 "]
idempotency_keys = weighted(
    (2, st.none()),
    (1, st.sampled_from(IDEMPOTENCY_KEYS)),
    (1, st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=40)),
)
CONTENT_TYPES = [
    "application/json",
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "application/json; charset=latin-1",
    "garbage",
]
content_types = st.one_of(st.none(), st.sampled_from(CONTENT_TYPES))


@st.composite
def request_headers(draw: st.DrawFn) -> dict[str, str]:
    headers = {}
    if (key := draw(idempotency_keys)) is not None:
        headers["Idempotency-Key"] = key
    if (content_type := draw(content_types)) is not None:
        headers["Content-Type"] = content_type
    return headers


# --- the world the examples share --------------------------------------------------------


@dataclass
class World:
    """A stage with some state in it, the ids that `$NAME` placeholders stand for, and a
    connection to the bridge's database for checking that nothing changed."""

    stage: Stage
    db: sqlite3.Connection
    ids: dict[str, str]
    conversations: set[str]
    users: set[str]
    remembered: dict[tuple[str, str], tuple[Any, Any]]

    def resolve(self, value: Any) -> Any:
        if isinstance(value, str):
            if value == "$TS":
                return _fresh_ts()
            return self.ids.get(value, value)
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        if isinstance(value, dict):
            return {self.resolve(k): self.resolve(v) for k, v in value.items()}
        return value

    def version(self) -> int:
        """Changes whenever another connection (the bridge) commits a change."""
        return int(self.db.execute("PRAGMA data_version").fetchone()[0])

    def count(self, table: str) -> int:
        return int(self.db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])

    def pending(self) -> list[tuple[Any, ...]]:
        return self.db.execute(
            "SELECT target, kind, attempts, last_error FROM outbox WHERE state = 'pending'"
        ).fetchall()

    async def settle(self) -> None:
        """Wait until the bridge has delivered everything, Slack has echoed it back, and
        nothing more is being written (a delivery can queue a follow-up, like a receipt)."""
        quiet, last = 0, -1
        for _ in range(1000):
            version = self.version()
            quiet = quiet + 1 if not self.pending() and version == last else 0
            if quiet >= 2:
                break
            last = version
            await asyncio.sleep(0.01)
        else:
            raise AssertionError(f"the outbox does not drain: {self.pending()}")
        await self.stage.slack.flush()

    async def call(
        self,
        method: str,
        path: str,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        """A bot API request; checks the status class, the error shape, and that a refused
        request changed nothing."""
        await self.settle()
        version, calls = self.version(), len(self.stage.slack.calls)
        status, body = await self.stage.api.call(method, path, raw=raw, headers=headers)
        what = f"{method} {path} {(raw or b'')[:300]!r} {headers} -> {status} {body!r:.300}"
        route = re.sub(r"^(/v1/(users|conversations)/)[^/]+", r"\1{id}", path.split("?")[0])
        hypothesis.event(f"{method} {route if len(route) < 40 else '(long path)'}: {status}")
        assert status < 500, what
        if status >= 400:
            assert_error(status, body, what)
            assert self.version() == version, f"a refused request changed the database: {what}"
            assert len(self.stage.slack.calls) == calls, f"a refused request reached Slack: {what}"
        return status, body

    async def slack_signed(self, body: bytes, content_type: str) -> int:
        status = await self.stage.slack.send_signed(body, content_type)
        assert 200 <= status < 300, f"signed {content_type} {body[:300]!r} -> {status}"
        hypothesis.event(f"{content_type}: {status}")
        return status


_ts = itertools.count(int(time.time() * 1_000_000))


def _fresh_ts() -> str:
    micros = next(_ts)
    return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"


def assert_error(status: int, body: Any, what: str) -> None:
    assert isinstance(body, dict) and set(body) == {"error"}, what
    error = body["error"]
    assert isinstance(error, dict) and set(error) == {"code", "message"}, what
    assert error["code"] in ERROR_CODES.get(status, set()), what
    assert isinstance(error["message"], str) and error["message"], what
    if status == 422:
        assert NAMES_A_FIELD.match(error["message"]), f"the message names no field: {what}"


def expect(status: int, early: int | None, allowed: tuple[int, ...], what: object) -> None:
    """`early` when the contract fixes the status; else one of `allowed`."""
    if early is not None:
        assert status == early, what
    else:
        assert status in allowed, what


def routable(ident: str) -> bool:
    """Whether a path with `ident` as a segment reaches a route at all: an empty segment does
    not, the client resolves "." and ".." away, and aiohttp's routes take no braces. No
    route is a 404 whatever the body."""
    return ident not in ("", ".", "..") and not re.search(r"[{}]", ident)


def decided_early(raw: bytes, *, empty_ok: bool = False, known: bool = True) -> int | None:
    """The status the contract fixes before the body's content matters: 413, 400, 404."""
    if len(raw) > MAX_BODY:
        return 413
    if not (empty_ok and not raw.strip()):
        try:
            json.loads(raw)
        except (ValueError, RecursionError):
            return 400
    return None if known else 404


@pytest.fixture
async def world(stage: Stage, caplog: pytest.LogCaptureFixture) -> AsyncIterator[World]:
    """The shared stage, seeded: end users, and conversations waiting, assigned (with a reply,
    so the events feed has two events) and stopped. At the end, whatever the examples did: no
    crash was logged, and a whole handoff still works."""
    api, slack, bot = stage.api, stage.slack, stage.bot
    assert bot is not None
    user = await api.create_user("Erin", email="erin@example.com")
    other = await api.create_user("Olga")
    history = [{"source": {"type": "bot"}, "type": "text", "payload": {"text": "hi"}}]
    waiting = await api.start(user, history, title="Fuzz")
    assigned = await api.start(user)
    stopped = await api.start(other)
    parents = {conv: await stage.parent_ts(conv) for conv in (waiting, assigned, stopped)}
    await slack.click(ALICE, CHANNEL, parents[assigned], "claim")
    await slack.user_says(ALICE, CHANNEL, "hello from Alice", thread_ts=parents[assigned])
    status, _ = await api.post(f"/v1/conversations/{stopped}/stop", {})
    assert status == 200
    await bot.wait_for(lambda: len(bot.events()) == 2)
    agent = bot.events()[0]["payload"]["userId"]
    ids = {
        "$USER": user,
        "$OTHER": other,
        "$AGENT": agent,
        "$WAITING": waiting,
        "$ASSIGNED": assigned,
        "$STOPPED": stopped,
        "$PARENT": parents[waiting],
        "$APARENT": parents[assigned],
        "$SPARENT": parents[stopped],
        "$CHANNEL": CHANNEL,
    }
    db = sqlite3.connect(stage.settings.database_path, isolation_level=None)
    world = World(stage, db, ids, {waiting, assigned, stopped}, {user, other, agent}, {})
    await world.settle()
    caplog.set_level(logging.ERROR)
    try:
        yield world
        await world.settle()
        await round_trip(stage)
        # In teardown, caplog.records holds teardown's records only: the call's are apart.
        logged = caplog.get_records("call") + caplog.records
        crashes = [r.getMessage() for r in logged if r.levelno >= logging.ERROR and not refused(r)]
        assert not crashes, crashes
    finally:
        db.close()


def refused(record: logging.LogRecord) -> bool:
    """Slack refused a call for good: forged ids and users earn that (a receipt on a ts Slack
    never had), and the outbox dead-letters it, as it should."""
    return any(isinstance(arg, Refused) for arg in record.args or ())


async def round_trip(stage: Stage) -> None:
    """A whole handoff: healthy, parent and transcript posted, messages both ways, resolved."""
    api, slack, bot = stage.api, stage.slack, stage.bot
    assert bot is not None
    status, _ = await api.get("/healthz")
    assert status == 200
    user = await api.create_user("After The Fuzz")
    history = [{"source": {"type": "bot"}, "type": "text", "payload": {"text": "earlier"}}]
    conv = await api.start(user, history)
    parent = await stage.parent_ts(conv)
    await api.say(conv, "still there?", user)
    await slack.wait_for(
        lambda: any("still there?" in m.text for m in slack.thread(CHANNEL, parent))
    )
    await slack.user_says(BOB, CHANNEL, "yes, here", thread_ts=parent)

    def of_conv(kind: str) -> list[dict[str, Any]]:
        return [e for e in bot.events(kind) if e["payload"]["conversationId"] == conv]

    await bot.wait_for(lambda: len(of_conv("message")) == 1)
    await stage.wait_buttons(parent, ["release", "resolve"])
    assert await slack.click(BOB, CHANNEL, parent, "resolve") == 200
    await bot.wait_for(lambda: len(of_conv("hitlStopped")) == 1)
    assert [e["type"] for e in bot.events() if e["payload"]["conversationId"] == conv] == [
        "hitlAssigned",
        "message",
        "hitlStopped",
    ]
    assert (await api.conversation(conv))["status"] == "stopped"


# --- the bot API ----------------------------------------------------------------------------


@fuzz(60)
@given(raw=raw_bodies(create_user_bodies), headers=request_headers())
async def test_create_user(world: World, raw: bytes, headers: dict[str, str]) -> None:
    status, body = await world.call("POST", "/v1/users", raw, headers)
    expect(status, decided_early(raw), (201, 409, 422), (raw[:300], status, body))
    if status == 201:
        sent = json.loads(raw)
        status, user = await world.call("GET", f"/v1/users/{body['userId']}")
        assert status == 200 and user["role"] == "end-user"
        if "Idempotency-Key" not in headers:  # a replay answers for an earlier body
            assert (user["name"], user["email"]) == (sent["name"], sent.get("email"))


@fuzz(50)
@given(raw=raw_bodies(start_bodies), headers=request_headers())
async def test_start_hitl(world: World, raw: bytes, headers: dict[str, str]) -> None:
    raw = _resolve_raw(world.ids, raw)
    status, body = await world.call("POST", "/v1/conversations", raw, headers)
    expect(status, decided_early(raw), (201, 409, 422), (raw[:300], status, body))
    if status == 201:
        world.conversations.add(body["conversationId"])
        status, conv = await world.call("GET", f"/v1/conversations/{body['conversationId']}")
        assert status == 200 and conv["userId"] in world.users


CONVERSATIONS = ["$WAITING", "$WAITING", "$ASSIGNED", "$STOPPED"]
conversation_targets = weighted((2, st.sampled_from(CONVERSATIONS)), (1, forged_ids))


@fuzz(60)
@given(
    target=conversation_targets,
    raw=raw_bodies(message_bodies),
    headers=request_headers(),
)
async def test_send_message(world: World, target: str, raw: bytes, headers: dict[str, str]) -> None:
    conv = world.resolve(target)
    hypothesis.event(f"target {target if target.startswith('$') else 'forged'}")
    raw = _resolve_raw(world.ids, raw)
    status, body = await world.call(
        "POST", _path("/v1/conversations/{}/messages", conv), raw, headers
    )
    early = decided_early(raw, known=conv in world.conversations)
    expect(status, early if routable(conv) else 404, (202, 409, 422), (raw[:300], status, body))
    if status == 202:
        assert set(body) == {"messageId"}


stop_bodies = st.one_of(
    st.sampled_from([b"", b"   ", b"{}", b" {} ", b"\n"]),
    raw_bodies(objects({"reason": (texts(), json_values)})),
)


@fuzz(40)
@given(target=conversation_targets, raw=stop_bodies, headers=request_headers())
async def test_stop_hitl(world: World, target: str, raw: bytes, headers: dict[str, str]) -> None:
    conv = world.resolve(target)
    status, body = await world.call("POST", _path("/v1/conversations/{}/stop", conv), raw, headers)
    early = decided_early(raw, empty_ok=True, known=conv in world.conversations)
    expect(status, early if routable(conv) else 404, (200, 409, 422), (raw[:300], status, body))
    if status == 200:
        assert body == {}


@fuzz(50)
@given(
    kind=st.sampled_from(["users", "conversations", "elsewhere"]),
    target=weighted(
        (1, st.sampled_from(["$USER", "$AGENT", "$WAITING", "$STOPPED", ".", "..", "%2F"])),
        (1, forged_ids),
    ),
)
async def test_get_by_id(world: World, kind: str, target: str) -> None:
    ident = world.resolve(target)
    if kind == "elsewhere":
        if ident in ("events", "users", "conversations", ".", ".."):
            return  # a real route, or a path the client normalizes out of /v1
        path = _path("/v1/{}", ident)
        known = False
    else:
        path = _path(f"/v1/{kind}/{{}}", ident)
        known = ident in (world.users if kind == "users" else world.conversations)
    status, body = await world.call("GET", path)
    if known:
        assert status == 200, (path, status, body)
    else:
        assert (status, body["error"]["code"]) == (404, "not_found"), (path, status, body)


query_text = texts(surrogates=False)
afters = weighted(
    (1, st.none()),
    (2, st.sampled_from(["$FIRST", "$LAST", "0", "1"])),
    (
        2,
        st.one_of(
            st.sampled_from(["", "-1", "1.5", " 1", "0x1", "1e3", "\uff10", "\u0661"]),
            st.sampled_from(["999999999999999999", "9999999999999999999", "0" * 19 + "1"]),
            st.integers(-5, 10).map(str),
            query_text,
        ),
    ),
)
waits = weighted(
    (1, st.none()),
    (2, st.sampled_from(["0", "0.0", "-0", "-5", "-1e999", "inf", "1e999", "30", "31", "1_0"])),
    (
        1,
        st.one_of(
            st.sampled_from(["nan", "NaN", "", " ", "0x1", "1e-300", "0.01"]),
            st.floats().map(repr),
            query_text,
        ),
    ),
)


@fuzz(50)
@given(after=afters, wait=waits)
async def test_events_feed(world: World, after: str | None, wait: str | None) -> None:
    seqs = [r[0] for r in world.db.execute("SELECT seq FROM events ORDER BY seq").fetchall()]
    first, last = seqs[0], seqs[-1]
    after = {"$FIRST": str(first), "$LAST": str(last)}.get(after or "", after)
    cursor_ok = after is None or re.fullmatch(r"[0-9]{1,18}", after) is not None
    if cursor_ok and after is not None and int(after) >= last:
        wait = "0"  # a positive wait at the end of the feed would just wait
    query = {k: v for k, v in (("after", after), ("wait", wait)) if v is not None}
    status, body = await world.call("GET", "/v1/events?" + urlencode(query))
    try:
        wait_ok = wait is None or float(wait) == float(wait)  # not NaN
    except ValueError:
        wait_ok = False
    if not wait_ok:
        assert status == 422 and body["error"]["message"].startswith("wait: "), (query, body)
    elif not cursor_ok or (after is not None and int(after) > last):
        assert status == 422 and body["error"]["message"].startswith("after: "), (query, body)
    else:
        assert status == 200, (query, body)
        assert set(body) == {"events", "cursor"} and isinstance(body["cursor"], str)
        assert len(body["events"]) == len([s for s in seqs if s > int(after or 0)][:100])


auth_values = st.one_of(
    st.none(),
    st.sampled_from(
        [
            "",
            "Bearer",
            "Bearer ",
            f"Bearer {API_TOKEN}",
            f"bearer {API_TOKEN}",
            f"BEARER  {API_TOKEN} ",
            f"Bearer {API_TOKEN}x",
            f"Bearer {API_TOKEN[:-1]}",
            f"Bearer {API_TOKEN.upper()}",
            f"Bearer\t{API_TOKEN}",
            f"Basic {API_TOKEN}",
            API_TOKEN,
            f"Bearer {API_TOKEN}, Bearer other",
            "Bearer \u00e9",
        ]
    ),
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f")),
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E)).map(lambda t: "Bearer " + t),
)
ANY_ROUTE = [
    ("POST", "/v1/users", b'{"name": "Auth"}'),
    ("GET", "/v1/users/$USER", None),
    ("POST", "/v1/conversations", b'{"userId": "$USER", "messageHistory": []}'),
    ("GET", "/v1/conversations/$WAITING", None),
    ("POST", "/v1/conversations/$WAITING/messages", b'{"type": "text", "payload": {"text": "a"}}'),
    ("POST", "/v1/conversations/$STOPPED/stop", b""),
    ("GET", "/v1/events?wait=0", None),
    ("GET", "/v1/nothing-here", None),
    ("POST", "/v1/users", b"{not json"),
    ("POST", "/v1/users", _padded(MAX_BODY + 1)),
]


@fuzz(50)
@given(value=auth_values, route=st.sampled_from(ANY_ROUTE))
async def test_authorization(
    world: World, value: str | None, route: tuple[str, str, bytes | None]
) -> None:
    method, path, raw = route
    path = _resolve_raw(world.ids, path.encode()).decode()
    if raw is not None:
        raw = _resolve_raw(world.ids, raw)
    # The header replaces the one Api.call would send; "" stands for none at all.
    status, body = await world.call(method, path, raw, {"Authorization": value or ""})
    scheme, _, token = (value or "").strip(" \t").partition(" ")
    authorized = scheme.lower() == "bearer" and token.strip() == API_TOKEN
    assert (status == 401) == (not authorized), (value, path, status, body)


@st.composite
def idempotent_calls(draw: st.DrawFn) -> list[tuple[str, str | None, bytes]]:
    """A sequence of POSTs sharing a few keys, with bodies that are JSON-equal or not."""
    user_bodies = [
        b'{"name": "A"}',
        b'{ "name" : "A" }',
        b'{"name": "A", "email": "a@x"}',
        b'{"email": "a@x", "name": "A"}',
        b'{"name": "B"}',
        b'{"name": ""}',
    ]
    message_bodies = [
        b'{"type": "text", "payload": {"text": "one"}}',
        b'{"payload": {"text": "one"}, "type": "text"}',
        b'{"type": "text", "payload": {"text": "two"}}',
    ]
    routes = {"/v1/users": user_bodies, "/v1/conversations/$WAITING/messages": message_bodies}
    calls = []
    for _ in range(draw(st.integers(1, 6))):
        path = draw(st.sampled_from(sorted(routes)))
        key = draw(weighted((2, st.sampled_from(["k1", "k2", "k3"])), (1, idempotency_keys)))
        calls.append((path, key, draw(st.sampled_from(routes[path]))))
    return calls


@fuzz(25)
@given(calls=idempotent_calls())
async def test_idempotency_keys(world: World, calls: list[tuple[str, str | None, bytes]]) -> None:
    """The model, kept across examples as the bridge keeps its keys: per (path, key) the first
    2xx is remembered with its body's JSON; a repeat with an equal body gets the same answer
    and changes nothing, a different body gets 409; a malformed key gets 422."""
    for template, key, raw in calls:
        path = _resolve_raw(world.ids, template.encode()).decode()
        headers = {} if key is None else {"Idempotency-Key": key}
        status, body = await world.call("POST", path, raw, headers)
        sent = json.loads(raw)
        if sent.get("name") == "":
            assert status == 422 and body["error"]["message"].startswith("name: ")
            continue
        if key is None:
            assert status in (201, 202), body
            continue
        key = key.strip(" \t")  # HTTP drops the outer spaces of a header's value
        if not re.fullmatch(r"[\x20-\x7e]{1,255}", key):
            assert status == 422, (key, body)
            assert body["error"]["message"].startswith("Idempotency-Key: "), (key, body)
            continue
        slot = (path, key)
        if slot not in world.remembered:
            assert status in (201, 202), (key, body)
            world.remembered[slot] = (sent, body)
        elif sent == world.remembered[slot][0]:
            assert status in (201, 202) and body == world.remembered[slot][1], (key, body)
        else:
            assert (status, body["error"]["code"]) == (409, "idempotency_conflict"), (key, body)


async def test_chunked_body_over_the_limit_is_refused(world: World) -> None:
    """Without a Content-Length the limit still holds, and nothing is stored."""

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"name": "'
        for _ in range(MAX_BODY // 65536 + 1):
            yield b"a" * 65536
        yield b'"}'

    await world.settle()
    version = world.version()
    stage = world.stage
    headers = {"Authorization": f"Bearer {API_TOKEN}"}
    async with (
        aiohttp.ClientSession() as session,
        session.post(stage.api.base + "/v1/users", data=chunks(), headers=headers) as resp,
    ):
        assert resp.status == 413
        assert (await resp.json())["error"]["code"] == "too_large"
    assert world.version() == version


# --- mrkdwn injection ---------------------------------------------------------------------

INJECTIONS = [
    "<!channel>",
    "<!here>",
    "<!everyone>",
    "<!subteam^S0ADMINS|@admins>",
    "<!date^1392734382^{date}|x>",
    "<@U123>",
    "<@U0ALICE|alice>",
    "<#C0HANDOFF>",
    "<https://evil.example|click>",
    "<http://evil.example>",
    "<mailto:x@evil.example|support>",
    "&lt;!channel&gt;",
    "&amp;",
    "<",
    ">",
    "|",
    "https://ok.example/p?a=1&b=<2>",
    "*",
    "`",
]


def injections(text: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """Markup Slack would act on, mixed with `text`."""
    pieces = st.lists(st.one_of(st.sampled_from(INJECTIONS), text), min_size=1, max_size=6)
    return pieces.map("".join).filter(lambda joined: joined.strip() != "")


injected = injections(st.text(max_size=8))
# For fields the API takes only without control characters, so every example gets checked.
injected_field = injections(st.text(st.characters(exclude_categories=("Cc", "Cs")), max_size=8))


def mrkdwn_texts(message: Any) -> list[str]:
    """Every string Slack would parse as mrkdwn in a posted message: the fallback `text` and
    every `mrkdwn` text object of its blocks (plain_text is never parsed)."""
    found = [message.text]
    stack: list[Any] = list(message.blocks or [])
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if node.get("type") == "mrkdwn" and isinstance(node.get("text"), str):
                found.append(node["text"])
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


def live_tokens(mrkdwn: str) -> list[str]:
    """The angle-bracket tokens of mrkdwn that are not a link showing its own http(s) URL
    (which is how the bridge turns a bare URL in someone's text into a link)."""
    return [
        token
        for token in re.findall(r"<([^<>]*)>", mrkdwn)
        if not re.fullmatch(r"https?://[^|]+", token, re.IGNORECASE)  # schemes: any case
    ]


def as_linked(text: str) -> str:
    """`text` with the control characters of its URLs %-encoded, as a link carries them."""

    def encoded(url: re.Match[str]) -> str:
        return re.sub(r"[\x00-\x1f]", lambda c: f"%{ord(c.group()):02X}", url.group())

    return re.sub(r"https?://[^\s<>\"|]+", encoded, text, flags=re.IGNORECASE)


@fuzz(25)
@given(text=injected)
@example(text="HTTPS://0")  # a scheme in capitals is a link all the same
@example(text="https://\x08")  # a control character, %-encoded in the link
async def test_end_user_text_is_inert_in_slack(world: World, text: str) -> None:
    stage = world.stage
    conv = world.ids["$WAITING"]
    message_id = await stage.api.say(conv, text, world.ids["$USER"])
    await stage.slack.wait_for(
        lambda: any(message_id in json.dumps(m.metadata) for m in stage.slack.messages(CHANNEL))
    )
    posted = next(m for m in stage.slack.messages(CHANNEL) if message_id in json.dumps(m.metadata))
    for mrkdwn in mrkdwn_texts(posted):
        assert not live_tokens(mrkdwn), (text, mrkdwn)
        for token in re.findall(r"<([^<>]*)>", mrkdwn):
            # A link only to what they wrote (its control characters %-encoded).
            target = unescape(token)
            assert target in text or unquote(target) in text, (text, mrkdwn)
    # What an agent reads is what the end user wrote (but a link's control characters).
    sections = [b["text"]["text"] for b in posted.blocks or [] if b.get("type") == "section"]
    assert to_plain("".join(sections), {}) == as_linked(text), (text, sections)


@fuzz(12)
@given(name=injected_field, title=injected_field, description=injected_field, email=injected_field)
async def test_parent_fields_are_inert_in_slack(
    world: World, name: str, title: str, description: str, email: str
) -> None:
    stage = world.stage
    email = (re.sub(r"[@\s]", "", email) or "x") + "@evil.example"
    status, body = await world.call(
        "POST", "/v1/users", json.dumps({"name": name[:255], "email": email}).encode()
    )
    assert status == 201, body
    start = {"userId": body["userId"], "messageHistory": [], "title": title[:500]}
    status, body = await world.call(
        "POST", "/v1/conversations", json.dumps(start | {"description": description}).encode()
    )
    assert status == 201, body
    parent = stage.slack.message(CHANNEL, await stage.parent_ts(body["conversationId"]))
    for mrkdwn in mrkdwn_texts(parent):
        for token in live_tokens(mrkdwn):
            # The bridge's own: dates, and the end user's address as a mailto link.
            ok = re.fullmatch(r"!date\^\d+\^\{date_short_pretty\} at \{time\}\|[0-9TZ:-]+", token)
            assert ok or token.startswith("mailto:"), (token, mrkdwn)
            if token.startswith("mailto:"):
                assert "<" not in unescape(token.split("|", 1)[0]), token
                label = email.replace("|", "\u2223")  # link() keeps "|" out of labels
                assert unescape(token.split("|", 1)[1]) == label, token


# --- Slack's door --------------------------------------------------------------------------

slack_text = texts(surrogates=False)  # surrogates: see test_malformed_slack_requests
slack_users = weighted(
    (3, st.sampled_from([ALICE, ALICE, BOB, "U0NOBODY", "UBRIDGE", "W0GRID", ""])), (1, slack_text)
)
SUBTYPES = [
    "thread_broadcast",
    "file_share",
    "bot_message",
    "message_changed",
    "message_deleted",
    "message_replied",
    "channel_join",
    "me_message",
    "",
    "THREAD_BROADCAST",
]
nested_message = st.fixed_dictionaries(
    {}, optional={"user": slack_users, "text": slack_text, "ts": st.just("$TS")}
)
words = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=30).filter(
    lambda text: text.strip() != "" and not re.match(r"\s*(note|private):", text, re.I)
)
reply_fields = {
    "channel": weighted(
        (4, st.just("$CHANNEL")), (1, st.sampled_from(["C0OTHER", "", "D0DM"])), (1, slack_text)
    ),
    "user": slack_users,
    "text": weighted((4, words), (3, slack_text), (1, near_limits), (1, st.none())),
    "ts": weighted((4, st.just("$TS")), (1, st.sampled_from(["", "0", "1.2.3"]))),
    "thread_ts": weighted(
        (4, st.sampled_from(["$PARENT", "$APARENT", "$SPARENT"])),
        (1, st.sampled_from(["$TS", "", "1.000001"])),
        (1, slack_text),
    ),
}
harmless_fields = {
    "hidden": st.booleans(),
    "edited": st.fixed_dictionaries({"user": slack_users, "ts": st.just("$TS")}),
    "files": st.lists(st.dictionaries(st.sampled_from(["id", "name", "url"]), slack_text)),
    "client_msg_id": slack_text,
    "parent_user_id": slack_users,
    "team": st.sampled_from(["T0FAKE", "T0OTHER"]),
}
echo_fields = {
    "subtype": weighted((2, st.sampled_from(SUBTYPES)), (1, slack_text)),
    "bot_id": st.sampled_from(["B0OTHER", "BBRIDGE", ""]),
    "message": nested_message,
    "previous_message": nested_message,
}
message_events = weighted(
    # Shaped like an agent's reply in a handoff thread...
    (
        3,
        st.fixed_dictionaries(
            {"type": st.just("message"), **reply_fields}, optional=harmless_fields
        ),
    ),
    # ...or like an edit, a deletion, a bot's or the bridge's own message...
    (
        1,
        st.fixed_dictionaries(
            {"type": st.just("message"), **reply_fields}, optional=harmless_fields | echo_fields
        ),
    ),
    # ...or any mix of the fields a message event may have.
    (
        1,
        st.fixed_dictionaries(
            {"type": st.just("message")}, optional=reply_fields | harmless_fields | echo_fields
        ),
    ),
)


@fuzz(80)
@given(
    event=message_events,
    event_id=weighted((4, st.none()), (1, st.sampled_from(["Ev0DUP", ""])), (1, slack_text)),
    retry=st.one_of(st.none(), st.integers(1, 3)),
)
async def test_signed_message_events_get_2xx(
    world: World, event: dict[str, Any], event_id: str | None, retry: int | None
) -> None:
    event = world.resolve(event)
    before = world.count("events")
    status = await world.stage.slack.send_event(event, event_id=event_id or None, retry_num=retry)
    assert 200 <= status < 300, (event, status)
    hypothesis.event("relayed to the bot" if world.count("events") > before else "not relayed")


actions = st.fixed_dictionaries(
    {
        "type": st.just("button"),
        "action_id": st.one_of(st.sampled_from(["claim", "release", "resolve"] * 3), slack_text),
    },
    optional={
        "value": st.one_of(
            st.sampled_from(["$WAITING", "$ASSIGNED", "$STOPPED", " $WAITING", ""]),
            st.sampled_from([f for f in FORGED_IDS if "\ud800" not in f]),
            slack_text,
        ),
        "block_id": slack_text,
        "action_ts": st.just("$TS"),
        "text": st.fixed_dictionaries({"type": st.just("plain_text"), "text": slack_text}),
    },
)
block_actions = st.fixed_dictionaries(
    {
        "type": st.just("block_actions"),
        "actions": st.lists(actions, min_size=1, max_size=2),
        "user": st.fixed_dictionaries({"id": slack_users}, optional={"username": slack_text}),
    },
    optional={
        "api_app_id": st.sampled_from(["A0FAKE", "A0OTHER"]),
        "team": st.fixed_dictionaries({"id": st.sampled_from(["T0FAKE", "T0OTHER"])}),
        "channel": st.fixed_dictionaries({"id": st.sampled_from(["$CHANNEL", "C0OTHER"])}),
        "container": st.fixed_dictionaries(
            {"type": st.just("message"), "message_ts": st.sampled_from(["$PARENT", "$APARENT"])}
        ),
        "trigger_id": slack_text,
        "message": st.fixed_dictionaries({"ts": st.sampled_from(["$PARENT", "$APARENT"])}),
    },
)


@fuzz(40)
@given(payload=block_actions)
async def test_signed_button_clicks_get_2xx(world: World, payload: dict[str, Any]) -> None:
    await world.slack_signed(_form(world.resolve(payload)), FORM)


other_events = st.fixed_dictionaries(
    {
        "type": st.one_of(
            st.sampled_from(["app_mention", "reaction_added", "member_joined_channel"]),
            st.sampled_from(["app_home_opened", "team_join", "channel_rename", "tokens_revoked"]),
            slack_text,
        )
    },
    optional={
        "user": slack_users,
        "channel": st.sampled_from(["$CHANNEL", "C0OTHER"]),
        "text": slack_text,
        "ts": st.just("$TS"),
        "reaction": slack_text,
    },
)
json_payloads = st.one_of(
    st.fixed_dictionaries(
        {"type": st.just("url_verification")},
        optional={"challenge": st.one_of(slack_text, st.integers()), "token": slack_text},
    ),
    st.fixed_dictionaries({"type": st.just("event_callback"), "event": other_events}),
    st.fixed_dictionaries({"type": st.just("event_callback")}, optional={"event_id": slack_text}),
    st.fixed_dictionaries(
        {"type": st.one_of(slack_text, st.sampled_from(["app_rate_limited", "ssl_check"]))},
        optional={"token": slack_text, "team_id": st.sampled_from(["T0FAKE", "T0OTHER"])},
    ),
)
interactive_payloads = st.fixed_dictionaries(
    {
        "type": st.one_of(
            st.sampled_from(["view_submission", "view_closed", "shortcut", "message_action"]),
            st.just("block_suggestion"),
            slack_text,
        ),
        "user": st.fixed_dictionaries({"id": slack_users}),
    },
    optional={
        "callback_id": slack_text,
        "view": st.fixed_dictionaries(
            {"type": st.just("modal")}, optional={"id": slack_text, "callback_id": slack_text}
        ),
        "action_id": slack_text,
        "value": slack_text,
        "block_id": slack_text,
        "trigger_id": slack_text,
    },
)
slash_commands = st.fixed_dictionaries(
    {"command": st.one_of(st.sampled_from(["/handoff", "/hitl"]), slack_text)},
    optional={
        "text": slack_text,
        "user_id": slack_users,
        "channel_id": st.sampled_from([CHANNEL, "C0OTHER"]),
        "team_id": st.just("T0FAKE"),
        "response_url": slack_text,
        "trigger_id": slack_text,
    },
)
# Form fields without a `payload` (a `payload` that is not a JSON object: known bug).
form_fields = st.dictionaries(
    slack_text.filter(lambda key: key != "payload"), slack_text, max_size=4
)


@st.composite
def other_slack_requests(draw: st.DrawFn) -> tuple[bytes, str]:
    kind = draw(st.sampled_from(["json", "interactive", "command", "form"]))
    if kind == "json":
        return json.dumps(draw(json_payloads)).encode(), JSON
    form: dict[str, Any]
    if kind == "interactive":
        form = {"payload": json.dumps(draw(interactive_payloads))}
    elif kind == "command":
        form = draw(slash_commands)
    else:
        form = draw(form_fields)
    return urlencode(form).encode(), FORM


@fuzz(40)
@given(request=other_slack_requests())
async def test_other_signed_slack_requests_get_2xx(
    world: World, request: tuple[bytes, str]
) -> None:
    body, content_type = request
    await world.slack_signed(_resolve_raw(world.ids, body), content_type)


FORGERIES = ["wrong secret", "stale", "future", "no signature", "garbage", "other body", "v1"]


RESOLVE = [{"type": "button", "action_id": "resolve", "value": "$ASSIGNED"}]
forged_requests = st.one_of(
    # A reply that would be relayed, and a click that would resolve, if they were accepted.
    slack_text.map(
        lambda text: {
            "type": "event_callback",
            "event_id": "Ev0FORGED",
            "event": _event(text=text or "x"),
        }
    ),
    st.just({"payload": {"type": "block_actions", "user": {"id": BOB}, "actions": RESOLVE}}),
)


@fuzz(25)
@given(request=forged_requests, forgery=st.sampled_from(FORGERIES))
async def test_unsigned_slack_requests_change_nothing(
    world: World, request: dict[str, Any], forgery: str
) -> None:
    request = world.resolve(request)
    if "payload" in request:
        body, content_type = _form(request["payload"]), FORM
    else:
        body, content_type = json.dumps(request).encode(), JSON
    slack = world.stage.slack
    await world.settle()  # first: a stamp taken before a slow settle could age into the window
    now = int(time.time())
    timestamp, signature = now, slack.signature(now, body)
    # Well outside the 300-second window, so no second ticking by can bring it back in (the
    # exact edge is tested on `edge.signed` itself).
    if forgery == "wrong secret":
        signature = "v0=" + "0" * 64
    elif forgery == "stale":
        timestamp = now - 330
        signature = slack.signature(timestamp, body)
    elif forgery == "future":
        timestamp = now + 330
        signature = slack.signature(timestamp, body)
    elif forgery == "no signature":
        signature = ""
    elif forgery == "garbage":
        signature = "v0=not-hex"
    elif forgery == "other body":
        signature = slack.signature(now, body + b" ")
    else:
        signature = signature.replace("v0=", "v1=")
    version, calls = world.version(), len(slack.calls)
    status = await slack.send_signed(body, content_type, timestamp=timestamp, signature=signature)
    assert status == 401, (forgery, status)
    assert world.version() == version and len(slack.calls) == calls, forgery


# --- malformed Slack requests that once got a 500 ------------------------------------------


def _event(**fields: Any) -> dict[str, Any]:
    """A reply in the waiting conversation's thread, with some fields replaced."""
    event = {
        "type": "message",
        "channel": "$CHANNEL",
        "user": ALICE,
        "text": "hello",
        "ts": "$TS",
        "thread_ts": "$PARENT",
    }
    return event | fields


def _click(**fields: Any) -> bytes:
    payload = {
        "type": "block_actions",
        "user": {"id": ALICE},
        "actions": [{"type": "button", "action_id": "claim", "value": "$WAITING"}],
    } | fields
    return _form(payload)


WORKFLOW_STEP_EDIT = {"type": "workflow_step_edit", "user": {"id": ALICE}, "callback_id": ""}
VIEW_WITHOUT_TYPE = {"type": "view_submission", "user": {"id": ALICE}, "view": {"callback_id": ""}}


def _envelope(event: Any) -> bytes:
    return json.dumps({"type": "event_callback", "event_id": "Ev0BUG", "event": event}).encode()


# Each of these made Bolt (or the listeners behind it) fail with a 500 until the door of
# /slack/events (bridge/slack/edge.py) learned to check requests before Bolt sees them.
MALFORMED_SLACK_REQUESTS = [
    # Bolt reads the envelope before any listener runs and trusts its shape.
    ("user that is not a string", True, _envelope(_event(user=5)), JSON),
    ("channel that is not a string", True, _envelope(_event(channel=5)), JSON),
    ("event that is not an object", True, _envelope(5), JSON),
    ("block_actions with no actions", True, _click(actions=[]), FORM),
    ("block_actions whose actions are a string", True, _click(actions="x"), FORM),
    ("block_actions with an action without action_id", True, _click(actions=[{}]), FORM),
    # Bolt builds every listener argument, `step` included, reading keys these may lack.
    ("workflow_step_edit without workflow_step", True, _form(WORKFLOW_STEP_EDIT), FORM),
    ("view_submission whose view has no type", True, _form(VIEW_WITHOUT_TYPE), FORM),
    # A lone surrogate (JSON "\ud800"): neither pydantic nor SQLite can take it.
    ("reply text with a lone surrogate", True, _envelope(_event(text="a\ud800")), JSON),
    ("user id with a lone surrogate", True, _envelope(_event(user="U\ud800")), JSON),
    (
        "button value with a lone surrogate",
        True,
        _click(actions=[{"action_id": "claim", "value": "\ud800"}]),
        FORM,
    ),
    # Bolt parses a body before it checks the signature: these were 500s even unsigned.
    ("body that is not JSON", True, b"{", JSON),
    ("JSON that is not an object", True, b"[1]", JSON),
    ("body that is not UTF-8", True, b"\xff\xfe", JSON),
    ("form payload that is not JSON", True, b"payload=notjson", FORM),
    ("form payload that is JSON but no object", True, b"payload=5", FORM),
    ("unsigned body that is not JSON", False, b"{", JSON),
    ("unsigned body that is not UTF-8", False, b"\xff\xfe", JSON),
    ("unsigned form payload that is not JSON", False, b"payload=notjson", FORM),
]


@pytest.mark.parametrize(
    ("signed", "body", "content_type"),
    [
        pytest.param(signed, body, content_type, id=name.replace(" ", "-"))
        for name, signed, body, content_type in MALFORMED_SLACK_REQUESTS
    ],
)
async def test_malformed_slack_requests(
    stage: Stage, signed: bool, body: bytes, content_type: str
) -> None:
    """Signed: Slack must get a 2xx. Unsigned: refused with a 4xx, not a 500."""
    slack = stage.slack
    conv, parent = await stage.handoff()
    body = _resolve_raw({"$CHANNEL": CHANNEL, "$PARENT": parent, "$WAITING": conv}, body)
    if signed:
        status = await slack.send_signed(body, content_type)
        assert 200 <= status < 300
    else:
        status = await slack.send_signed(body, content_type, signature="v0=" + "0" * 64)
        assert 400 <= status < 500


# --- helpers --------------------------------------------------------------------------------


def _path(template: str, ident: str) -> str:
    """A path with `ident` as one segment, percent-encoded (lone surrogates as their bytes)."""
    return template.format(quote(ident.encode("utf-8", "surrogatepass"), safe=""))


def _resolve_raw(ids: dict[str, str], raw: bytes) -> bytes:
    """Placeholders inside a raw body or path (they are plain ASCII wherever they occur)."""
    for name in sorted(ids, key=len, reverse=True):
        raw = raw.replace(name.encode(), ids[name].encode())
        raw = raw.replace(quote(name).encode(), ids[name].encode())  # in a form body
    while b"$TS" in raw:
        raw = raw.replace(b"$TS", _fresh_ts().encode(), 1)
    return raw
