"""`hitl-bridge` as an admin runs it: a real process, real signals."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from bridge import startup
from bridge.config import load_settings
from bridge.testing.fake_slack import FakeSlack
from tests.conftest import API_TOKEN, environ


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def run(*args: str, env: dict[str, str], cwd: Path) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bridge",
        *args,
        env=env,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 30)
    return proc.returncode or 0, out.decode()


def base_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "BRIDGE_"))}


async def test_bad_settings_exit_2_naming_each_variable(tmp_path: Path) -> None:
    env = base_env() | {"SLACK_BOT_TOKEN": "xoxp-not-a-bot-token", "BRIDGE_PORT": "0"}
    code, out = await run("serve", env=env, cwd=tmp_path)
    assert code == 2
    lines = out.strip().splitlines()
    for name in ("SLACK_BOT_TOKEN", "BRIDGE_PORT", "BRIDGE_CHANNEL", "BRIDGE_API_TOKEN"):
        assert any(name in line for line in lines), out
    assert "xoxp-not-a-bot-token" not in out and "Traceback" not in out


async def test_serve_answers_then_stops_cleanly_on_sigterm(
    slack: FakeSlack, tmp_path: Path
) -> None:
    port = free_port()
    env = base_env() | environ(slack, None, tmp_path / "bridge.db") | {"BRIDGE_PORT": str(port)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bridge",
        "serve",
        env=env,
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(300):
                try:
                    async with http.get(f"{base}/healthz") as resp:
                        if resp.status == 200:
                            break
                except aiohttp.ClientConnectionError:
                    pass
                await asyncio.sleep(0.05)
            else:
                raise AssertionError("the bridge never became healthy")
            headers = {"Authorization": f"Bearer {API_TOKEN}"}
            async with http.post(f"{base}/v1/users", json={"name": "E"}, headers=headers) as resp:
                assert resp.status == 201
        proc.send_signal(signal.SIGTERM)
        out, _ = await asyncio.wait_for(proc.communicate(), 20)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, out.decode()
    text = out.decode()
    assert "stopped" in text and "Traceback" not in text
    assert slack.bot_token not in text and API_TOKEN not in text
    assert "will be unused" not in text  # Bolt's warning about the client given on purpose


async def test_check_passes_when_all_would_start(slack: FakeSlack, tmp_path: Path) -> None:
    env = base_env() | environ(slack, None, tmp_path / "bridge.db")
    code, out = await run("check", env=env, cwd=tmp_path)
    assert code == 0, out
    assert out.strip().splitlines()[-1] == "all checks passed"
    assert "@hitl-bridge" in out and not (tmp_path / "bridge.db").exists()  # changes nothing


async def test_check_refuses_numbers_and_files_it_once_accepted(tmp_path: Path) -> None:
    env = base_env() | {
        "SLACK_BOT_TOKEN": "xoxb-secret",
        "SLACK_SIGNING_SECRET": "signing-secret",
        "BRIDGE_CHANNEL": "C0HANDOFF",
        "BRIDGE_API_TOKEN": "an-api-token-long-enough",
        "BRIDGE_ASSIGN_TIMEOUT": "inf",
        "BRIDGE_REMIND_AFTER": "1e-9",
        "BRIDGE_MAX_BODY": "1e12",
        "BRIDGE_SLACK_RATE": "nan",
        "BRIDGE_DATABASE_URL": "sqlite:///:memory:",
    }
    code, out = await run("check", env=env, cwd=tmp_path)
    assert code == 2
    named = sorted(line.split(":")[1].strip() for line in out.strip().splitlines())
    assert named == sorted(
        [
            "BRIDGE_ASSIGN_TIMEOUT",
            "BRIDGE_REMIND_AFTER",
            "BRIDGE_MAX_BODY",
            "BRIDGE_SLACK_RATE",
            "BRIDGE_DATABASE_URL",
        ]
    ), out


async def test_check_refuses_a_short_api_token_without_showing_it(
    slack: FakeSlack, tmp_path: Path
) -> None:
    env = base_env() | environ(slack, None, tmp_path / "b.db") | {"BRIDGE_API_TOKEN": "guessable"}
    code, out = await run("check", env=env, cwd=tmp_path)
    assert code == 2
    assert out.strip().splitlines() == [
        "hitl-bridge: BRIDGE_API_TOKEN: each token must be at least 16 characters "
        "(make one with: openssl rand -hex 32)"
    ]


async def test_check_asks_slack_about_the_token_and_the_channels(
    slack: FakeSlack, tmp_path: Path
) -> None:
    slack.add_channel("C0BILLING", "billing", member=False)
    env = base_env() | environ(slack, None, tmp_path / "b.db", BRIDGE_QUEUES="billing=C0BILLING")
    code, out = await run("check", env=env, cwd=tmp_path)
    assert code == 2
    assert (
        "hitl-bridge: BRIDGE_QUEUES: the app is not a member of #billing (C0BILLING, queue "
        "billing): type /invite @hitl-bridge in it"
    ) in out.splitlines()
    code, out = await run("check", env=env | {"SLACK_BOT_TOKEN": "xoxb-revoked"}, cwd=tmp_path)
    assert code == 2
    assert "hitl-bridge: SLACK_BOT_TOKEN: Slack refused the token (invalid_auth)" in out
    assert "xoxb-revoked" not in out


async def test_check_says_slack_is_unreachable_rather_than_hang(
    slack: FakeSlack, tmp_path: Path
) -> None:
    nobody = f"http://127.0.0.1:{free_port()}/api/"
    env = base_env() | environ(slack, None, tmp_path / "b.db") | {"SLACK_API_URL": nobody}
    code, out = await run("check", env=env, cwd=tmp_path)
    assert code == 1
    assert f"hitl-bridge: Slack unreachable at {nobody} (auth.test: Cannot connect" in out


async def test_check_gives_a_silent_slack_a_bounded_time(
    slack: FakeSlack,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # takes the request, never answers

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/api/"
    monkeypatch.setattr(startup, "CHECK_TIMEOUT", 0.5)
    settings = load_settings(
        environ(slack, None, tmp_path / "b.db", SLACK_API_URL=url), env_file=None
    )
    try:
        started = time.monotonic()
        assert await startup.check(settings) == 1
        assert time.monotonic() - started < 3
    finally:
        server.close()
    [said] = capsys.readouterr().err.splitlines()
    assert said.startswith(f"hitl-bridge: Slack unreachable at {url} (") and "0.5 s" in said


async def test_check_opens_the_database_without_changing_it(
    slack: FakeSlack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "b.db"
    db.write_bytes(b"\x00" * 4096)
    settings = load_settings(environ(slack, None, db), env_file=None)
    assert await startup.check(settings) == 1
    assert f"hitl-bridge: BRIDGE_DATABASE_URL: {db} is not a SQLite database" in (
        capsys.readouterr().err
    )
    assert db.read_bytes() == b"\x00" * 4096


def test_version_and_the_settings_in_serve_help(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib import metadata

    from bridge.cli import main
    from bridge.config import Settings

    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == f"hitl-bridge {metadata.version('hitl-bridge')}"

    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    listed = capsys.readouterr().out
    for field in Settings.model_fields.values():
        assert f"  {field.validation_alias} " in listed
    assert "  SLACK_BOT_TOKEN                required" in listed
    assert "  BRIDGE_PORT                    3000" in listed
    assert "  BRIDGE_QUEUES                  unset" in listed
