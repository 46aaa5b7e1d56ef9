"""`hitl-bridge` as an admin runs it: a real process, real signals."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path

import aiohttp

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
