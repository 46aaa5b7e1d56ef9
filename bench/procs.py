"""The processes under test: starting one on a free port, its log, stopping it by its pid."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from bench.marks import now

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def child_env(extra: dict[str, str]) -> dict[str, str]:
    """The parent's environment without any bridge setting, plus `extra`."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "BRIDGE_", "BOTPRESS_", "PYTHON"))
    }
    env["PYTHONPATH"] = str(ROOT)
    return env | extra


@dataclass
class Proc:
    """A child process we started; stopped by its own pid, SIGTERM (or `sig`) first."""

    name: str
    args: list[str]
    env: dict[str, str]
    cwd: Path
    proc: asyncio.subprocess.Process | None = None
    log_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log_path = self.cwd / f"{self.name}.log"

    async def start(self, *, pipe_stdout: bool = False) -> None:
        log = self.log_path.open("ab")
        try:
            self.proc = await asyncio.create_subprocess_exec(
                *self.args,
                env=self.env,
                cwd=self.cwd,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE if pipe_stdout else log,
                stderr=log,
            )
        finally:
            log.close()

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def first_line(self, timeout: float = 20.0) -> str:
        assert self.proc is not None and self.proc.stdout is not None
        try:
            line = await asyncio.wait_for(self.proc.stdout.readline(), timeout)
        except TimeoutError:
            raise RuntimeError(f"{self.name} said nothing in {timeout} s; {self.tail()}") from None
        if not line:
            raise RuntimeError(f"{self.name} exited at start; {self.tail()}")
        return line.decode()

    def tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return "(no log)"
        return "log tail:\n" + "\n".join(text)

    def problems(self, limit: int = 5) -> tuple[int, list[str]]:
        """How many WARNING/ERROR lines the process logged, and the first few."""
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return 0, []
        bad = [line for line in lines if " WARNING " in line or " ERROR " in line]
        return len(bad), bad[:limit]

    async def stop(self, timeout: float = 15.0, sig: signal.Signals = signal.SIGTERM) -> None:
        proc = self.proc
        if proc is None or proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(sig)
        try:
            await asyncio.wait_for(proc.wait(), timeout)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()


async def wait_healthy(
    session: aiohttp.ClientSession, url: str, proc: Proc, timeout: float
) -> None:
    """Poll `url` until it answers 200 (bounded by `timeout`)."""
    deadline = now() + timeout
    while now() < deadline:
        if proc.proc is not None and proc.proc.returncode is not None:
            raise RuntimeError(f"{proc.name} exited with {proc.proc.returncode}; {proc.tail()}")
        with contextlib.suppress(aiohttp.ClientError, TimeoutError):
            async with session.get(url, timeout=aiohttp.ClientTimeout(total=2)) as resp:
                if resp.status == 200:
                    return
        await asyncio.sleep(0.05)
    raise RuntimeError(f"{proc.name} not healthy after {timeout} s; {proc.tail()}")


async def start_server(
    session: aiohttp.ClientSession,
    name: str,
    module: str,
    env: dict[str, str],
    workdir: Path,
    *,
    wrap: list[str] | None = None,
) -> tuple[Proc, str]:
    """Start `python -m module serve` (the bridge or the bare forwarder) on a free port and
    wait for its /healthz. `wrap` prefixes the command (e.g. a profiler)."""
    port = free_port()
    args = [*(wrap or []), sys.executable, "-m", module, "serve"]
    proc = Proc(name, args, child_env(env | {"BRIDGE_PORT": str(port)}), workdir)
    await proc.start()
    url = f"http://{HOST}:{port}"
    await wait_healthy(session, url + "/healthz", proc, timeout=30)
    return proc, url
