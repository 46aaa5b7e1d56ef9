"""The stage for end-to-end tests: a fake Slack, a fake bot, and the real bridge between them,
all over HTTP on 127.0.0.1.

The stage's database is SQLite (a file in the test's `tmp_path`) unless the test is marked
`both_databases`; then it runs twice, as `test_x[sqlite]` and `test_x[postgresql]`, the second
on a fresh PostgreSQL database of its own (`postgres_url`, skipped, saying why, when there is no
server). A story module opts in with one line,

    pytestmark = pytest.mark.both_databases

or a single test with the decorator; a test of such a module that must stay on SQLite says
why with `@pytest.mark.sqlite_only("reason")`. The choice is the `database` fixture (the
stage's `BRIDGE_DATABASE_URL`), which `make_stage` takes; a `BRIDGE_DATABASE_URL=` given to
`make_stage` still wins, and `Stage.restart()` comes back on the same database. A test that
starts a bridge of its own (a subprocess) takes `database` too to follow the mark; one that
does not take it (a store of its own, `environ()` with a file) is not affected. Tests of SQLite
itself (its file, WAL, backups, `synchronous`) are not marked.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest

from bridge import loop
from bridge.client import BridgeClient
from bridge.config import Settings, load_settings
from bridge.connections import Limits
from bridge.server import Bridge
from bridge.slack import home
from bridge.store.sqlite import SqliteStore
from bridge.testing import postgres
from bridge.testing.fake_bot import FakeBot
from bridge.testing.fake_slack import FakeSlack

CHANNEL = "C0HANDOFF"
ALICE = "U0ALICE"
BOB = "U0BOB"
API_TOKEN = "test-api-token-0123456789"


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as fake:
        fake.add_channel(CHANNEL, "handoffs")
        fake.add_user(
            ALICE,
            "alice",
            display_name="Alice",
            real_name="Alice Agent",
            email="alice@example.com",
            image="https://img.example.com/alice.png",
        )
        fake.add_user(BOB, "bob", display_name="", real_name="Bob Builder")
        yield fake


@pytest.fixture
async def bot() -> AsyncIterator[FakeBot]:
    async with FakeBot() as fake:
        yield fake


def environ(slack: FakeSlack, bot: FakeBot | None, db: Path | str, **extra: str) -> dict[str, str]:
    """The bridge's environment on the fakes; `db` is a SQLite file, or a database's URL
    (`database`)."""
    env = {
        "SLACK_BOT_TOKEN": slack.bot_token,
        "SLACK_SIGNING_SECRET": slack.signing_secret,
        "SLACK_API_URL": slack.api_url,
        "BRIDGE_CHANNEL": CHANNEL,
        "BRIDGE_API_TOKEN": API_TOKEN,
        "BRIDGE_DATABASE_URL": db if isinstance(db, str) else f"sqlite:///{db}",
        "BRIDGE_SLACK_RATE": "0",
        "BRIDGE_SLACK_TIERS": "0",
        "BRIDGE_RETRY_BASE": "0.05",
        "BRIDGE_RETRY_MAX": "0.5",
    }
    if bot is not None:
        env |= {"BRIDGE_WEBHOOK_URL": bot.url, "BRIDGE_WEBHOOK_SECRET": bot.secret}
    return env | extra


@dataclass
class Api:
    """The bot's side of the bridge. `call`, `post` and `get` are raw JSON calls with the
    bearer token, answering (status, body), for tests of the HTTP surface itself; the story's
    steps (`create_user`, `start`, `say`, `conversation`) are made with `bridge.client`, as a
    bot makes them, and raise `BridgeError` on any answer but a success."""

    base: str
    session: aiohttp.ClientSession
    token: str = API_TOKEN

    async def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
    ) -> tuple[int, Any]:
        hdrs = {"Authorization": f"Bearer {self.token}", **(headers or {})}
        if raw is None and body is not None:
            raw = json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        async with self.session.request(method, self.base + path, data=raw, headers=hdrs) as resp:
            text = await resp.text()
            try:
                return resp.status, json.loads(text) if text else None
            except ValueError:
                return resp.status, text

    async def post(self, path: str, body: Any = None, **kw: Any) -> tuple[int, Any]:
        return await self.call("POST", path, body, **kw)

    async def get(self, path: str, **kw: Any) -> tuple[int, Any]:
        return await self.call("GET", path, **kw)

    @property
    def client(self) -> BridgeClient:
        """The project's client on this session, made anew each time so that it follows
        `base` (a restarted bridge) and `token` (a test may change it)."""
        return BridgeClient(self.base, self.token, session=self.session)

    # The keywords are the wire's names, as the tests' bodies are written.

    async def create_user(
        self,
        name: str = "Erin End-User",
        *,
        pictureUrl: str | None = None,
        email: str | None = None,
    ) -> str:
        return await self.client.create_user(name, picture_url=pictureUrl, email=email)

    async def start(
        self,
        user_id: str,
        history: list[dict[str, Any]] | None = None,
        *,
        title: str | None = None,
        description: str | None = None,
        hitlSession: dict[str, Any] | None = None,
    ) -> str:
        return await self.client.start_hitl(
            user_id,
            title=title,
            description=description,
            message_history=history or [],
            hitl_session=hitlSession,
        )

    async def say(self, conversation_id: str, text: str, user_id: str | None = None) -> str:
        return await self.client.send_text(conversation_id, text, user_id=user_id)

    async def conversation(self, conversation_id: str) -> dict[str, Any]:
        """`GET /v1/conversations/{id}`'s answer, as JSON (read through its model)."""
        return (await self.client.get_conversation(conversation_id)).model_dump(mode="json")


@dataclass
class Stage:
    """Everything a story needs; `restart()` brings the bridge back on the same database and
    port."""

    slack: FakeSlack
    bot: FakeBot | None
    settings: Settings
    bridge: Bridge
    api: Api
    limits: Limits | None = None

    async def restart(self) -> None:
        """Stop the bridge and start it again where it was, as a restarted process would. On
        a port of its own it would be another instance: on PostgreSQL, a row its predecessor
        still held as it stopped would wait out its lease (60 s) rather than be taken back at
        once (`Drainer`'s holder is the address)."""
        port = urlsplit(self.bridge.url).port
        await self.bridge.stop()
        self.bridge = Bridge(self.settings, port=port, limits=self.limits)
        await self.bridge.start()
        self.slack.events_url = self.bridge.url + "/slack/events"
        self.api.base = self.bridge.url

    async def handoff(self) -> tuple[str, str]:
        """A new end user hands off: the conversation id and its thread's parent ts."""
        conversation = await self.api.start(await self.api.create_user())
        return conversation, await self.parent_ts(conversation)

    def buttons(self, ts: str) -> list[str]:
        """The action ids of the buttons on a message, in order."""
        return [
            str(element["action_id"])
            for block in self.slack.message(CHANNEL, ts).blocks or []
            if block.get("type") == "actions"
            for element in block["elements"]
        ]

    def said(self, parent: str, username: str | None) -> str:
        """The section text of the replies in `parent`'s thread posted under `username`
        (None: the bridge's own), in order, however many posts it took."""
        return "".join(
            block["text"]["text"]
            for m in self.slack.thread(CHANNEL, parent)
            if m.username == username
            for block in m.blocks or []
            if block["type"] == "section"
        )

    async def wait_buttons(self, ts: str, action_ids: list[str]) -> None:
        await self.slack.wait_for(lambda: self.buttons(ts) == action_ids)

    async def parent_ts(self, conversation_id: str) -> str:
        """Wait until the parent is posted; its ts."""
        for _ in range(500):
            body = await self.api.conversation(conversation_id)
            if body["slack"]["threadTs"]:
                return str(body["slack"]["threadTs"])
            await asyncio.sleep(0.01)
        raise AssertionError(f"the parent of {conversation_id} was never posted")


StageFactory = Callable[..., Coroutine[Any, Any, Stage]]


BACKENDS = ("sqlite", "postgresql")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "both_databases: run the test's stage on SQLite and on PostgreSQL"
    )
    config.addinivalue_line(
        "markers", "sqlite_only(reason): keep this test of a both_databases module on SQLite"
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test marked `both_databases` whose stage takes `database` runs on each backend,
    unless it is marked `sqlite_only` (which must say why)."""
    test = metafunc.definition
    if "database" not in metafunc.fixturenames or not test.get_closest_marker("both_databases"):
        return
    only = test.get_closest_marker("sqlite_only")
    if only is None:
        metafunc.parametrize("database", BACKENDS, indirect=True)
    elif not only.args:
        raise pytest.UsageError(f"{test.nodeid}: sqlite_only needs a reason")


@pytest.fixture
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The stage's `BRIDGE_DATABASE_URL`: `bridge.db` in the test's directory, or, for the
    `postgresql` run of a test marked `both_databases`, a fresh PostgreSQL database."""
    if getattr(request, "param", "sqlite") == "postgresql":
        return str(request.getfixturevalue("postgres_url"))
    return f"sqlite:///{tmp_path / 'bridge.db'}"


@pytest.fixture
async def make_stage(slack: FakeSlack, bot: FakeBot, database: str) -> AsyncIterator[StageFactory]:
    """Build a stage with extra settings (`make_stage(BRIDGE_ASSIGN_TIMEOUT="1")`), and
    `limits` on its clients other than the defaults, on `database`."""
    stages: list[Stage] = []
    session = aiohttp.ClientSession()

    async def make(*, webhook: bool = True, limits: Limits | None = None, **extra: str) -> Stage:
        env = environ(slack, bot if webhook else None, database, **extra)
        settings = load_settings(env, env_file=None)
        bridge = Bridge(settings, port=0, limits=limits)
        await bridge.start()
        slack.events_url = bridge.url + "/slack/events"
        api = Api(bridge.url, session)
        stage = Stage(slack, bot if webhook else None, settings, bridge, api, limits)
        stages.append(stage)
        return stage

    heard = _DatabaseErrors()
    logging.getLogger().addHandler(heard)
    try:
        yield make
        for stage in stages:
            await stage.bridge.stop()
    finally:
        logging.getLogger().removeHandler(heard)
        await session.close()
    if heard.errors:
        pytest.fail(f"the bridge logged PostgreSQL's error: {heard.errors[0]}")


class _DatabaseErrors(logging.Handler):
    """The errors PostgreSQL raised that the bridge logged and carried on from (a task
    restarted, a delivery retried): a story may pass all the same, on a statement
    PostgreSQL refuses every time."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.errors: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        exc = record.exc_info[1] if record.exc_info else None
        if exc is not None and type(exc).__module__.startswith("psycopg"):
            self.errors.append(f"{record.getMessage()}: {type(exc).__name__}: {exc}")


@pytest.fixture
async def stage(make_stage: StageFactory) -> Stage:
    return await make_stage()


@pytest.fixture
def quick_home(monkeypatch: pytest.MonkeyPatch) -> float:
    """The App Home's least time between two publishes of a tab, short: a story that waits
    for the tab to catch up with a change waits half a second, not the bridge's five. A test
    takes it before its stage (the bridge reads it as it starts)."""
    monkeypatch.setattr(home, "EVERY", 0.5)
    return home.EVERY


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A PostgreSQL server's superuser URL for the whole run, each test worker its own
    (`bridge/testing/postgres.py`).
    Two of the bridge's transactions that deadlock (as a sender's take and an approval's
    decision did, until the sender's read stopped locking) are told so after 0.1 s rather
    than the server's default 1 s: the one undone runs again (`PgStore`) as it would, and the
    test does not wait a second for it."""
    with postgres.server(settings={"deadlock_timeout": "100ms"}) as url:
        if url is None:
            pytest.skip(
                f"no PostgreSQL: install Debian's postgresql package, or set {postgres.ENV}"
            )
        yield url


@pytest.fixture(scope="session")
def postgres_databases(postgres_server: str) -> Iterator[list[str]]:
    """The databases made for tests so far and not yet dropped: the last one, while its test
    runs; at the end of the run, none."""
    made: list[str] = []
    yield made
    _drop(postgres_server, made)


def _drop(server: str, made: list[str]) -> None:
    while made:
        postgres.drop_database(server, made.pop())


@pytest.fixture
def postgres_url(postgres_server: str, postgres_databases: list[str]) -> str:
    """A new, empty database of the test's own. The one before it is dropped now: the server
    holds one test's database at a time (many would fill its disk, or memory), and by now
    whatever used that one has stopped (a test's bridges may stop after its database
    fixture's teardown, so that is no time to drop it)."""
    _drop(postgres_server, postgres_databases)
    postgres_databases.append(postgres.fresh_database(postgres_server))
    return postgres_databases[-1]


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    """A fresh store of its own (`b.db` in the test's directory), closed after."""
    store = await SqliteStore.open(tmp_path / "b.db")
    yield store
    await store.close()


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    """The tests run on the loop the bridge runs on (`bridge.loop`)."""
    return {"loop": loop.factory()}
