"""A start that cannot succeed: one line naming the cause, the right exit code, nothing left
open, and a process that really ends. A Slack that cannot be reached is waited out."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path

import aiohttp
import pytest

from bridge.config import load_settings
from bridge.server import Bridge
from bridge.slack import preflight
from bridge.startup import StartupError
from bridge.store.sqlite import SqliteStore
from bridge.testing.fake_slack import FakeSlack
from tests.conftest import CHANNEL, environ
from tests.test_cli import base_env, free_port, run


def bridge_for(slack: FakeSlack, db: Path, **extra: str) -> Bridge:
    return Bridge(load_settings(environ(slack, None, db, **extra), env_file=None), port=0)


async def failed_start(bridge: Bridge, *, check_slack: bool = False) -> StartupError:
    """The error a start raised; every thread it started (the store's) has ended."""
    threads = threading.active_count()
    with pytest.raises(StartupError) as caught:
        await bridge.start(check_slack=check_slack)
    for _ in range(100):
        if threading.active_count() < threads + 1:
            break
        await asyncio.sleep(0.01)
    assert threading.active_count() <= threads, "a thread was left running"
    return caught.value


async def a_bridge_database(path: Path) -> None:
    store = await SqliteStore.open(path)
    await store.close()


async def wait_status(url: str, status: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            try:
                async with http.get(url) as resp:
                    if resp.status == status:
                        return
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.05)
    raise AssertionError(f"{url} never answered {status}")


# --- the database -------------------------------------------------------------------------


async def test_a_file_that_is_no_database_ends_the_process_at_once(
    slack: FakeSlack, tmp_path: Path
) -> None:
    db = tmp_path / "bridge.db"
    db.write_text("these are somebody's notes, not a database\n" * 10)
    env = base_env() | environ(slack, None, db) | {"BRIDGE_PORT": str(free_port())}
    started = time.monotonic()
    code, out = await run("serve", env=env, cwd=tmp_path)  # once hung here, on a database thread
    assert time.monotonic() - started < 10
    assert code == 1, out
    line = f"hitl-bridge: BRIDGE_DATABASE_URL: {db} is not a SQLite database"
    assert out.strip().splitlines() == [line]


@pytest.mark.parametrize(
    ("make", "says"),
    [
        ("missing directory", "cannot be created: the directory {dir}/gone does not exist"),
        ("directory", "is a directory"),
        ("half", "is damaged (truncated or corrupt): restore it from a backup"),
        ("header only", "is damaged (truncated or corrupt): restore it from a backup"),
    ],
)
async def test_a_database_that_cannot_be_opened_is_named(
    slack: FakeSlack, tmp_path: Path, make: str, says: str
) -> None:
    db = tmp_path / "bridge.db"
    if make == "missing directory":
        db = tmp_path / "gone" / "bridge.db"
    elif make == "directory":
        db.mkdir()
    else:
        await a_bridge_database(db)
        os.truncate(db, db.stat().st_size // 2 if make == "half" else 100)
    error = await failed_start(bridge_for(slack, db))
    assert error.code == 1
    assert error.lines == [f"BRIDGE_DATABASE_URL: {db} {says.format(dir=tmp_path)}"]


def drops_write_access() -> bool:
    """Whether a child process can be denied writing a file: root writes anything, unless
    (on Linux) it gives up the capabilities that let it."""
    return os.geteuid() != 0 or sys.platform == "linux"


# As root, permissions are not checked: this runs the bridge without that power.
WITHOUT_OVERRIDE = """
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
for cap in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
    if os.geteuid() == 0 and libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
        sys.exit(99)
os.execv(sys.executable, [sys.executable, "-m", "bridge", "serve"])
"""


@pytest.mark.skipif(not drops_write_access(), reason="cannot deny this user writing a file")
async def test_a_read_only_database_is_named(slack: FakeSlack, tmp_path: Path) -> None:
    db = tmp_path / "bridge.db"
    await a_bridge_database(db)
    db.chmod(0o444)
    env = base_env() | environ(slack, None, db) | {"BRIDGE_PORT": str(free_port())}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", WITHOUT_OVERRIDE, env=env, cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), 30)
    if proc.returncode == 99:
        pytest.skip("root cannot give up its power to write anything here")
    assert proc.returncode == 1, out.decode()
    assert out.decode().strip().splitlines() == [
        f"hitl-bridge: BRIDGE_DATABASE_URL: {db} is read-only: the bridge must be able to "
        "write it and its directory"
    ]


# --- the port -----------------------------------------------------------------------------


async def test_a_port_in_use_ends_the_process_naming_it(slack: FakeSlack, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = base_env() | environ(slack, None, tmp_path / "b.db") | {"BRIDGE_PORT": str(port)}
        started = time.monotonic()
        code, out = await run("serve", env=env, cwd=tmp_path)
    assert time.monotonic() - started < 10
    assert code == 1, out
    line = f"hitl-bridge: BRIDGE_PORT: 127.0.0.1:{port} is in use already"
    assert [x for x in out.splitlines() if x.startswith("hitl-bridge:")] == [
        f"{line} (another bridge, or another program)"
    ]
    assert "Traceback" not in out


# --- Slack --------------------------------------------------------------------------------


async def test_a_token_slack_refuses_ends_the_process_with_code_2(
    slack: FakeSlack, tmp_path: Path
) -> None:
    env = base_env() | environ(slack, None, tmp_path / "bridge.db")
    env |= {"BRIDGE_PORT": str(free_port()), "SLACK_BOT_TOKEN": "xoxb-not-the-right-one"}
    code, out = await run("serve", env=env, cwd=tmp_path)
    assert code == 2, out
    problems = [x for x in out.splitlines() if x.startswith("hitl-bridge:")]
    assert problems == [
        "hitl-bridge: SLACK_BOT_TOKEN: Slack refused the token (invalid_auth): it is not a "
        "valid token for this workspace; copy it again from the app's settings"
    ]
    assert "xoxb-not-the-right-one" not in out and "Traceback" not in out


async def test_every_channel_the_app_is_not_in_gets_a_line(
    slack: FakeSlack, tmp_path: Path
) -> None:
    slack.channels[CHANNEL].member = False
    slack.add_channel("C0BILLING", "billing", member=False)
    slack.add_channel("C0OLD", "old", archived=True)
    slack.add_channel("C0FINE", "fine")
    queues = "billing=C0BILLING,old=C0OLD,fine=C0FINE,typo=C0NOWHERE,home=" + CHANNEL
    error = await failed_start(
        bridge_for(slack, tmp_path / "b.db", BRIDGE_QUEUES=queues), check_slack=True
    )
    assert error.code == 2
    assert error.lines == [
        f"BRIDGE_CHANNEL: the app is not a member of #handoffs ({CHANNEL}): "
        "type /invite @hitl-bridge in it",
        "BRIDGE_QUEUES: the app is not a member of #billing (C0BILLING, queue billing): "
        "type /invite @hitl-bridge in it",
        "BRIDGE_QUEUES: #old (C0OLD, queue old) is archived: unarchive it or choose another",
        "BRIDGE_QUEUES: the app can see no channel C0NOWHERE (queue typo): check the id; "
        "if the channel is private, type /invite @hitl-bridge in it",
    ]


async def test_socket_mode_with_an_app_token_slack_refuses_ends_the_start(
    slack: FakeSlack, tmp_path: Path
) -> None:
    bridge = bridge_for(slack, tmp_path / "b.db", SLACK_APP_TOKEN="xapp-1-A0FAKE-revoked")
    error = await failed_start(bridge, check_slack=True)
    assert (error.code, len(error.lines)) == (2, 1)
    assert error.lines[0].startswith("SLACK_APP_TOKEN: Slack refused the token (invalid_auth)")
    assert "revoked" not in error.lines[0]
    assert not slack.socket_connected


async def test_what_cannot_be_checked_is_said_and_does_not_stop_the_start(
    slack: FakeSlack, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    slack.fail("conversations.info", "missing_scope")
    bridge = bridge_for(slack, tmp_path / "b.db")
    await bridge.start(check_slack=True)
    try:
        assert f"cannot check that the app is in {CHANNEL}" in caplog.text
    finally:
        await bridge.stop()


async def test_while_slack_is_unreachable_the_bridge_waits_and_is_not_healthy(
    slack: FakeSlack,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=preflight.__name__)
    monkeypatch.setattr(preflight, "FIRST_WAIT", 0.05)
    monkeypatch.setattr(preflight, "LONGEST_WAIT", 0.1)
    slack.fail("auth.test", "service_unavailable", status=503, times=1000)
    port = free_port()
    settings = load_settings(environ(slack, None, tmp_path / "b.db"), env_file=None)
    bridge = Bridge(settings, port=port)
    starting = asyncio.create_task(bridge.start(check_slack=True))
    try:
        await wait_status(f"http://127.0.0.1:{port}/healthz", 503)
        assert not starting.done()
        assert "Slack unreachable (auth.test: service_unavailable)" in caplog.text
        slack.heal()
        await asyncio.wait_for(starting, 5)
        await wait_status(f"http://127.0.0.1:{port}/healthz", 200)
        assert "Slack answers again" in caplog.text
    finally:
        starting.cancel()
        await asyncio.gather(starting, return_exceptions=True)
        await bridge.stop()


async def test_a_signal_while_waiting_for_slack_ends_the_process_cleanly(
    slack: FakeSlack, tmp_path: Path
) -> None:
    port = free_port()
    env = base_env() | environ(slack, None, tmp_path / "bridge.db")
    env |= {"BRIDGE_PORT": str(port), "SLACK_API_URL": f"http://127.0.0.1:{free_port()}/api/"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bridge", "serve", env=env, cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    assert proc.stdout is not None
    said = b""
    try:
        while b"Slack unreachable" not in said:
            line = await asyncio.wait_for(proc.stdout.readline(), 10)
            assert line, said.decode()  # it ended before it said so
            said += line
        await wait_status(f"http://127.0.0.1:{port}/healthz", 503)
        proc.send_signal(signal.SIGTERM)
        out, _ = await asyncio.wait_for(proc.communicate(), 10)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    text = (said + out).decode()
    assert proc.returncode == 0, text
    assert "stopped before serving" in text and "Traceback" not in text
