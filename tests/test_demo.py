"""`hitl-bridge demo` and `examples/minimal_bot.py`, run as people run them: real processes."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.conftest import ALICE, API_TOKEN, CHANNEL, Stage, StageFactory

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "minimal_bot.py"


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without the bridge's settings, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "BRIDGE_", "BOT_"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env | extra


async def run_demo(*args: str, cwd: Path, env: dict[str, str]) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bridge",
        "demo",
        *args,
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    return proc.returncode or 0, out.decode(), err.decode()


def assert_story(out: str) -> None:
    lines = out.splitlines()

    def first(text: str) -> int:
        found = [i for i, line in enumerate(lines) if text in line]
        assert found, f"{text!r} not in the story:\n{out}"
        return found[0]

    steps = [
        "end user > I want a refund for order 42",
        "[bot] startHitl",
        "opened in #handoffs (waiting)",
        "[Claim]",
        "[slack] in the thread, Erin > Is anybody there?",  # end user -> agent
        "[bot] hitlAssigned: Alice",
        "agent Alice (Slack) > Hi Erin",
        "bot > Alice: Hi Erin, I'm Alice. I see order 42 & I'm refunding it now.",  # and back
        "[slack] in the thread, Erin > Thank you so much!",
        "[bot] hitlStopped: resolved",
        "is now stopped",
        "bot > You're welcome, bye!",
        "end user > Can you extend my warranty too?",
        "requestApproval",
        "[Approve]  [Edit]  [Reject]",
        "[bot] approvalDecided: edited by Alice",
        "bot > Your warranty is extended by one year, free of charge.",  # what Alice wrote
        "Edited by @Alice",
        "[bot] approvalDecided: approved by Bob",
        "bot > Yes: the refund for order 42 is on its way.",  # the draft as it was
        "Approved by @Bob",
    ]
    positions = [first(step) for step in steps]
    assert positions == sorted(positions), out
    assert not any(line.startswith("[bot] message from Bob") for line in lines), out
    assert (
        "The bot received 6 events: hitlAssigned, message, message, hitlStopped, "
        "approvalDecided, approvalDecided." in out
    )


async def test_demo_plays_a_whole_handoff(tmp_path: Path) -> None:
    # Settings in the environment and a .env are ignored: the demo needs none.
    (tmp_path / ".env").write_text("SLACK_BOT_TOKEN=nonsense\nBRIDGE_PORT=99999\n")
    env = clean_env(SLACK_BOT_TOKEN="xoxp-wrong", BRIDGE_DATABASE_URL="postgres://nope")
    code, out, err = await run_demo(cwd=tmp_path, env=env)
    assert code == 0, out + err
    assert_story(out)
    assert "Traceback" not in err, err
    assert not (tmp_path / "bridge.db").exists()  # nothing left behind


async def test_demo_with_the_long_poll(tmp_path: Path) -> None:
    code, out, err = await run_demo(
        "--events", "poll", "--pace", "0", cwd=tmp_path, env=clean_env()
    )
    assert code == 0, out + err
    assert "GET /v1/events long-poll" in out
    assert_story(out)


# --- the example bot --------------------------------------------------------------------


class Example:
    """`examples/minimal_bot.py` running as a process; its output, line by line."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: list[str] = []

    async def expect(self, text: str, timeout: float = 10) -> str:
        """Read until a line containing `text`; that line."""
        for line in self.lines:
            if text in line:
                return line
        assert self.proc.stdout is not None
        try:
            async with asyncio.timeout(timeout):
                while raw := await self.proc.stdout.readline():
                    self.lines.append(raw.decode().rstrip("\n"))
                    if text in self.lines[-1]:
                        return self.lines[-1]
        except TimeoutError:
            pass
        raise AssertionError(f"{text!r} never came; the bot said:\n" + "\n".join(self.lines))


@pytest.fixture
def script(tmp_path: Path) -> Path:
    path = tmp_path / "end_user.txt"
    path.write_text("hello\n\nI need a human for my refund\nare you there?\n")
    return path


async def start_example(script: Path, env: dict[str, str]) -> AsyncIterator[Example]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(EXAMPLE),
        "--script",
        str(script),
        "--pause",
        "0.05",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        yield Example(proc)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def play_agent_side(stage: Stage, example: Example) -> None:
    line = await example.expect("[bridge] handoff conv_")
    conversation_id = line.split("handoff ", 1)[1].split()[0]
    ts = await stage.parent_ts(conversation_id)
    slack = stage.slack
    await slack.wait_for(
        lambda: any("are you there?" in str(m.blocks) for m in slack.thread(CHANNEL, ts))
    )
    transcript = str(slack.thread(CHANNEL, ts)[0].blocks)
    assert "hello" in transcript and "I need a human for my refund" in transcript
    await slack.user_says(ALICE, CHANNEL, "Hi, Alice here", thread_ts=ts)
    await example.expect("bot > Alice is here to help you.")
    await example.expect("Alice > Hi, Alice here")
    await stage.wait_buttons(ts, ["release", "resolve"])
    await slack.click(ALICE, CHANNEL, ts, "resolve")
    await example.expect("bot > You are back with the bot.")
    assert await asyncio.wait_for(example.proc.wait(), 10) == 0
    assert "Traceback" not in "\n".join(example.lines)


async def test_example_bot_with_the_long_poll(make_stage: StageFactory, script: Path) -> None:
    stage = await make_stage(webhook=False)
    # An old event the bot must not replay when it starts.
    conv = await stage.api.start(await stage.api.create_user("Old"))
    await stage.slack.user_says(ALICE, CHANNEL, "old news", thread_ts=await stage.parent_ts(conv))
    env = clean_env(BRIDGE_URL=stage.bridge.url, BRIDGE_API_TOKEN=API_TOKEN)
    async for example in start_example(script, env):
        await play_agent_side(stage, example)
        assert not any("old news" in line for line in example.lines)
        assert any(line.startswith("[event] hitlStopped") for line in example.lines)


async def test_example_bot_with_a_webhook(make_stage: StageFactory, script: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    secret = "whsec_" + base64.b64encode(b"example-bot-webhook-key!").decode()
    stage = await make_stage(
        webhook=False,
        BRIDGE_WEBHOOK_URL=f"http://127.0.0.1:{port}/webhook",
        BRIDGE_WEBHOOK_SECRET=secret,
    )
    env = clean_env(
        BRIDGE_URL=stage.bridge.url,
        BRIDGE_API_TOKEN=API_TOKEN,
        BOT_WEBHOOK_PORT=str(port),
        BRIDGE_WEBHOOK_SECRET=secret,
    )
    async for example in start_example(script, env):
        await play_agent_side(stage, example)
        assert any(line.startswith("[event] hitlAssigned") for line in example.lines)


async def test_example_bot_needs_its_settings(tmp_path: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(EXAMPLE),
        env=clean_env(),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2 and b"BRIDGE_URL" in out
