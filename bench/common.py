"""What both benchmarks share: the processes under test, the fakes' control API, markers,
percentiles, the machine description and the tables.

Clocks: every timestamp, in every process, is ``time.monotonic()``. On Linux that is
``CLOCK_MONOTONIC``, one clock for the whole machine, so a time taken in the fakes' process
can be subtracted from one taken in the load generator.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import platform
import re
import signal
import socket
import sqlite3
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from importlib import metadata
from pathlib import Path
from statistics import median
from typing import Any, Generic, Protocol, TypeVar

import aiohttp
from slack_sdk.web.async_client import AsyncWebClient

ROOT = Path(__file__).resolve().parent.parent
CHANNEL = "C0BENCH"
API_TOKEN = "bench-api-token-0123456789"
AGENTS = [f"U0AGENT{i:02d}" for i in range(5)]
HOST = "127.0.0.1"

# `bench-<tag>-<conversation>-<index>`: what the fakes look for in every stored message or
# received webhook; the tag names one trial.
MARKER = re.compile(r"bench-([a-z0-9]+)-(\d+)-(\d+)")

T = TypeVar("T")
TargetT = TypeVar("TargetT", bound="Target")


def now() -> float:
    return time.monotonic()


def marker(tag: str, conversation: int, index: int) -> str:
    return f"bench-{tag}-{conversation}-{index}"


def split(total: int, parts: int) -> list[int]:
    """`total` messages over `parts` conversations, as even as it goes."""
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def percentile(values: Iterable[float], p: float) -> float:
    """The `p`-th percentile (0-100), linear between the closest ranks."""
    data = sorted(values)
    if not data:
        return float("nan")
    pos = (len(data) - 1) * p / 100
    low = int(pos)
    high = min(low + 1, len(data) - 1)
    return data[low] + (data[high] - data[low]) * (pos - low)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


async def bounded_gather(limit: int, jobs: Iterable[Awaitable[T]]) -> list[T]:
    """Run `jobs` with at most `limit` at a time; results in order."""
    gate = asyncio.Semaphore(limit)

    async def one(job: Awaitable[T]) -> T:
        async with gate:
            return await job

    return await asyncio.gather(*(one(job) for job in jobs))


# --------------------------------------------------------------------------- processes


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


# --------------------------------------------------------------------------- the fakes


@dataclass
class Fakes:
    """The fake Slack and fake bot, running in their own process (`python -m bench.fakes`)."""

    proc: Proc
    session: aiohttp.ClientSession
    slack_api_url: str = ""
    bot_url: str = ""
    bot_secret: str = ""
    bot_token: str = ""
    signing_secret: str = ""
    control: str = ""

    async def start(self) -> None:
        await self.proc.start(pipe_stdout=True)
        info = json.loads(await self.proc.first_line())
        self.slack_api_url = info["slack_api_url"]
        self.bot_url = info["bot_url"]
        self.bot_secret = info["bot_secret"]
        self.bot_token = info["bot_token"]
        self.signing_secret = info["signing_secret"]
        self.control = info["control_url"]

    async def _wait(self, side: str, tag: str, count: int, timeout: float) -> dict[str, float]:
        params = {"tag": tag, "count": str(count), "timeout": str(timeout)}
        client_timeout = aiohttp.ClientTimeout(total=timeout + 10)
        async with self.session.get(
            f"{self.control}/{side}/wait", params=params, timeout=client_timeout
        ) as resp:
            body = await resp.json()
        times: dict[str, float] = body["times"]
        if len(times) < count:
            raise RuntimeError(
                f"only {len(times)} of {count} marked messages reached the fake {side} "
                f"(tag {tag}) within {timeout} s"
            )
        return times

    async def wait_slack(self, tag: str, count: int, timeout: float = 120.0) -> dict[str, float]:
        """When each message marked with `tag` was stored by the fake Slack (at least
        `count` of them), waiting up to `timeout` seconds."""
        return await self._wait("slack", tag, count, timeout)

    async def wait_bot(self, tag: str, count: int, timeout: float = 120.0) -> dict[str, float]:
        """When each webhook marked with `tag` was received by the fake bot."""
        return await self._wait("bot", tag, count, timeout)

    async def store_messages(self, items: list[dict[str, str]]) -> list[bytes]:
        """People's messages stored in the fake Slack without any event delivery (``user``,
        ``channel``, ``thread_ts``, ``text`` each): the body of each one's event, in order."""
        out: list[bytes] = []
        for i in range(0, len(items), 500):
            body = {"messages": items[i : i + 500]}
            async with self.session.post(f"{self.control}/slack/store", json=body) as resp:
                out += [event.encode() for event in (await expect(resp, 200))["events"]]
        return out

    async def stats(self) -> dict[str, Any]:
        async with self.session.get(f"{self.control}/stats") as resp:
            return dict(await resp.json())


async def start_fakes(session: aiohttp.ClientSession, workdir: Path) -> Fakes:
    proc = Proc("fakes", [sys.executable, "-m", "bench.fakes"], child_env({}), workdir)
    fakes = Fakes(proc, session)
    await fakes.start()
    return fakes


def bridge_env(fakes: Fakes, db: Path, *, webhook: bool) -> dict[str, str]:
    """The bridge's settings against the fakes (as in tests/conftest.py), no self-pacing."""
    env = {
        "SLACK_BOT_TOKEN": fakes.bot_token,
        "SLACK_SIGNING_SECRET": fakes.signing_secret,
        "SLACK_API_URL": fakes.slack_api_url,
        "BRIDGE_CHANNEL": CHANNEL,
        "BRIDGE_API_TOKEN": API_TOKEN,
        "BRIDGE_DATABASE_URL": f"sqlite:///{db}",
        "BRIDGE_HOST": HOST,
        "BRIDGE_SLACK_RATE": "0",
        "BRIDGE_SLACK_TIERS": "0",  # the fake Slack enforces no tiers either
        "BRIDGE_RETRY_BASE": "0.05",
        "BRIDGE_RETRY_MAX": "0.5",
    }
    if webhook:
        env |= {"BRIDGE_WEBHOOK_URL": fakes.bot_url, "BRIDGE_WEBHOOK_SECRET": fakes.bot_secret}
    return env | BRIDGE_SETTINGS


BRIDGE_SETTINGS: dict[str, str] = {}  # `--set NAME=VALUE`: more settings for the bridge


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


# --------------------------------------------------------------------------- reporting


@dataclass
class Contestants:
    """The fakes, the bridge and the bare forwarder, running, on one client session."""

    session: aiohttp.ClientSession
    work: Path
    fakes: Fakes
    bridge: Proc
    bridge_url: str
    bare_url: str
    pids: dict[str, int]  # the processes besides the servers whose CPU is counted
    servers: dict[str, int]  # each contestant's server process


@contextlib.asynccontextmanager
async def contestants(*, webhook: bool) -> AsyncIterator[Contestants]:
    """Start the fakes and both servers in a scratch directory; stop them all at the end
    (printing each one's last output if something failed)."""
    with tempfile.TemporaryDirectory(prefix="hitl-bench-") as tmp:
        work = Path(tmp)
        connector = aiohttp.TCPConnector(limit=200)
        async with aiohttp.ClientSession(connector=connector) as session:
            fakes = await start_fakes(session, work)
            procs = [fakes.proc]
            try:
                env = bridge_env(fakes, work / "bridge.db", webhook=webhook)
                bridge, bridge_url = await start_server(session, "bridge", "bridge", env, work)
                procs.append(bridge)
                bare, bare_url = await start_server(session, "bare", "bench.bare", env, work)
                procs.append(bare)
                yield Contestants(
                    session,
                    work,
                    fakes,
                    bridge,
                    bridge_url,
                    bare_url,
                    {"fakes": fakes.proc.pid, "loadgen": os.getpid()},
                    {"bridge": bridge.pid, "bare": bare.pid},
                )
            except BaseException:
                for proc in procs:
                    print(f"--- {proc.name}: {proc.tail()}", file=sys.stderr)
                raise
            finally:
                for proc in reversed(procs):
                    await proc.stop()


async def wrap_up(c: Contestants) -> dict[str, Any]:
    """What a run reports at its end: the fakes' counters, the load, the bridge's log."""
    loadavg = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\nload average at the end: {loadavg}")
    count, first = log_problems(c.bridge)
    print(f"\nbridge log: {count} WARNING/ERROR lines", *first, sep="\n  ")
    return {
        "fake_stats": await c.fakes.stats(),
        "loadavg_at_end": loadavg,
        "bridge_log_problems": count,
    }


def machine() -> dict[str, str]:
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    versions = {}
    for dist in ("aiohttp", "slack_sdk", "slack_bolt", "aiosqlite", "pydantic"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[dist] = metadata.version(dist)
    digest = hashlib.sha256()
    for path in sorted((ROOT / "bridge").rglob("*.py")):
        digest.update(path.relative_to(ROOT).as_posix().encode() + b"\0" + path.read_bytes())
    return {
        "date": datetime.now().astimezone().isoformat(timespec="seconds"),
        # The tree under test is being edited; this names the exact sources measured.
        "bridge_sources_sha256": digest.hexdigest()[:16],
        "nproc": str(len(os.sched_getaffinity(0))),
        "loadavg_at_start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "cpu": model,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "packages": ", ".join(f"{k} {v}" for k, v in versions.items()),
        "bridge_settings": " ".join(f"{k}={v}" for k, v in BRIDGE_SETTINGS.items()) or "default",
    }


def announce() -> dict[str, str]:
    """Print the machine and the sources measured (and a warning if the machine is busy);
    return them for the JSON output."""
    info = machine()
    print(
        f"# {info['date']}  {info['nproc']} cpus  {info['cpu']}  Python {info['python']}"
        f"  SQLite {info['sqlite']}  bridge sources {info['bridge_sources_sha256']}"
        f"  load average {info['loadavg_at_start']}"
    )
    if os.getloadavg()[0] > 0.5:
        print("# warning: the machine is busy; other processes will skew these figures")
    return info


def latency_figures(lat: list[float], late: list[float], cpu: dict[str, float]) -> dict[str, float]:
    """One latency trial's figures: percentiles of `lat` (ms), how late the sender was (its
    p99, ms), and what the rest of the machine used meanwhile."""
    return {
        "cpu_others": cpu["others"],
        "cpu_steal": cpu["steal"],
        "p50_ms": percentile(lat, 50),
        "p99_ms": percentile(lat, 99),
        "max_ms": max(lat),
        "late_p99_ms": percentile(late, 99) * 1000,
    }


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows, strict=True)]
    lines = [
        "| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |",
        "|" + "|".join("-" * (w + 2) for w in widths) + "|",
    ]
    lines += [
        "| " + " | ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) + " |"
        for row in rows
    ]
    return "\n".join(lines)


def write_json(path: str | None, data: dict[str, Any]) -> None:
    if path:
        Path(path).write_text(json.dumps(data, indent=2) + "\n")


async def sleep_until(moment: float) -> None:
    delay = moment - now()
    if delay > 0:
        await asyncio.sleep(delay)


def cpu_seconds(pid: int, thread: int | None = None) -> tuple[float, float]:
    """User and system CPU seconds a process (all its threads), or one of its threads, has
    used so far."""
    stat = Path(f"/proc/{pid}/stat" if thread is None else f"/proc/{pid}/task/{thread}/stat")
    fields = stat.read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / ticks, int(fields[12]) / ticks


def context_switches(pid: int) -> int:
    """Voluntary + involuntary context switches of all a process's threads so far."""
    total = 0
    for status in Path(f"/proc/{pid}/task").glob("*/status"):
        with contextlib.suppress(OSError):
            for line in status.read_text().splitlines():
                if "ctxt_switches:" in line:
                    total += int(line.split(":")[1])
    return total


def machine_busy() -> tuple[float, float]:
    """CPU seconds the whole machine has spent busy so far (all cores, /proc/stat), and
    how many of them were stolen by the hypervisor (a VM's cores are shared too)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    tick = os.sysconf("SC_CLK_TCK")
    return (user + nice + system + irq + softirq) / tick, steal / tick


QUIET_WAIT = [5.0]  # seconds; `--quiet-wait` sets it


async def quiet(limit: float = 0.25) -> None:
    """Before a trial: wait (at most `--quiet-wait` s, default 5) for half a second in which
    the machine used less than `limit` of a core, since other people's jobs may share it."""
    if QUIET_WAIT[0] <= 0:
        return
    deadline = now() + QUIET_WAIT[0]
    while True:
        before = sum(machine_busy())
        await asyncio.sleep(0.5)
        load = (sum(machine_busy()) - before) / 0.5
        if load < limit or now() >= deadline:
            return


@dataclass
class CpuMeter:
    """CPU seconds (user + system) used by some processes between `start()` and `stop()`;
    for `server`, also its system seconds, its main thread's seconds (the event loop; the
    rest are SQLite's threads) and context switches; `others`: what the rest
    of the machine used meanwhile (other people's jobs, interrupts); `steal`: CPU time the
    hypervisor took from this VM while it wanted to run."""

    pids: dict[str, int]
    _start: dict[str, tuple[float, float]] = field(default_factory=dict)
    _switches: int = 0
    _main: float = 0.0  # the server's main thread (its event loop)
    _machine: tuple[float, float] = (0.0, 0.0)

    def start(self) -> None:
        self._start = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        if "server" in self.pids:
            self._switches = context_switches(self.pids["server"])
            self._main = sum(cpu_seconds(self.pids["server"], self.pids["server"]))
        self._machine = machine_busy()

    def stop(self) -> dict[str, float]:
        busy, steal = machine_busy()
        machine = busy - self._machine[0]
        used: dict[str, float] = {"steal": steal - self._machine[1]}
        for name, pid in self.pids.items():
            user, system = cpu_seconds(pid)
            used[name] = user + system - sum(self._start[name])
            if name == "server":
                used["server_sys"] = system - self._start[name][1]
                used["server_switches"] = context_switches(pid) - self._switches
                used["server_main"] = sum(cpu_seconds(pid, pid)) - self._main
        used["others"] = max(0.0, machine - sum(used[name] for name in self.pids))
        return used


# --------------------------------------------------------------------------- trials

TRIAL_TIMEOUT = 180.0


class Target(Protocol):
    """One contestant, as the load generator sees it."""

    async def open(self, conversations: int) -> None:
        """Create the conversations (not timed)."""

    async def send(self, conversation: int, text: str) -> None:
        """One message into `conversation`, returning once the contestant answered."""


async def closed_loop(
    target: Target, tag: str, n: int, m: int, text: Callable[[str], str]
) -> float:
    """`n` messages over `m` conversations, each conversation sending its next message as
    soon as the previous one was answered, all conversations at once. Returns the time all
    were answered."""
    plan = split(n, m)

    async def conversation(j: int) -> None:
        for i in range(plan[j]):
            await target.send(j, text(marker(tag, j, i)))

    await asyncio.wait_for(asyncio.gather(*(conversation(j) for j in range(m))), TRIAL_TIMEOUT)
    return now()


async def paced(
    target: Target, tag: str, n: int, m: int, rate: float, text: Callable[[str], str]
) -> tuple[dict[str, float], list[float]]:
    """Message k (conversation k % m) leaves at start + k / rate, unless its conversation's
    previous message is still unanswered. Returns when each left (by marker) and how late."""
    plan = split(n, m)
    sent: dict[str, float] = {}
    late: list[float] = []
    start = now() + 0.2

    async def conversation(j: int) -> None:
        for i in range(plan[j]):
            due = start + (i * m + j) / rate
            await sleep_until(due)
            mark = marker(tag, j, i)
            sent[mark] = now()
            late.append(sent[mark] - due)
            await target.send(j, text(mark))

    await asyncio.wait_for(asyncio.gather(*(conversation(j) for j in range(m))), TRIAL_TIMEOUT)
    return sent, late


def latencies(sent: dict[str, float], arrived: dict[str, float]) -> list[float]:
    """Milliseconds from leaving the load generator to arriving at the fake, per marker."""
    return [(arrived[k] - t) * 1000 for k, t in sent.items()]


# --------------------------------------------------------------------------- set-up calls


async def expect(resp: aiohttp.ClientResponse, status: int) -> Any:
    """The JSON answer, or RuntimeError if the status is not `status`."""
    body = await resp.json(content_type=None)
    if resp.status != status:
        raise RuntimeError(f"{resp.method} {resp.url}: HTTP {resp.status} {body}")
    return body


@dataclass
class BotApi:
    """The bot's calls to the bridge, for setting up conversations."""

    session: aiohttp.ClientSession
    url: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {API_TOKEN}"}

    async def post(self, path: str, body: dict[str, Any], status: int) -> Any:
        async with self.session.post(self.url + path, json=body, headers=self.headers) as resp:
            return await expect(resp, status)

    async def _one(self, j: int) -> tuple[str, str]:
        user = (await self.post("/v1/users", {"name": f"Bench User {j:03d}"}, 201))["userId"]
        body = {"userId": user, "title": f"bench {j}", "messageHistory": []}
        conv = (await self.post("/v1/conversations", body, 201))["conversationId"]
        return str(conv), str(user)

    async def thread_ts(self, conversation_id: str, timeout: float = 60.0) -> str:
        """The parent's ts, once the bridge has posted it."""
        deadline = now() + timeout
        url = f"{self.url}/v1/conversations/{conversation_id}"
        while True:
            async with self.session.get(url, headers=self.headers) as resp:
                body = await expect(resp, 200)
            if body["slack"]["threadTs"]:
                return str(body["slack"]["threadTs"])
            if now() > deadline:
                raise RuntimeError(f"the parent of {conversation_id} was never posted")
            await asyncio.sleep(0.02)

    async def conversations(self, m: int) -> list[tuple[str, str, str]]:
        """`m` new handoffs, parents posted: (conversation id, end user id, thread ts)."""
        made = await bounded_gather(10, (self._one(j) for j in range(m)))
        return [(conv, user, await self.thread_ts(conv)) for conv, user in made]


async def parents(client: AsyncWebClient, m: int) -> list[str]:
    """`m` parent messages posted straight to the fake Slack (for contestants that store
    nothing): their ts."""

    async def one(j: int) -> str:
        resp = await client.chat_postMessage(channel=CHANNEL, text=f"bench parent {j}")
        return str(resp["ts"])

    return await bounded_gather(10, (one(j) for j in range(m)))


def log_problems(proc: Proc, limit: int = 5) -> tuple[int, list[str]]:
    """How many WARNING/ERROR lines a process logged, and the first few."""
    try:
        lines = proc.log_path.read_text(errors="replace").splitlines()
    except OSError:
        return 0, []
    bad = [line for line in lines if " WARNING " in line or " ERROR " in line]
    return len(bad), bad[:limit]


Trials = dict[str, list[dict[str, float]]]  # contestant -> one dict of figures per run


@dataclass(frozen=True)
class Load(Generic[TargetT]):
    """What one benchmark sends through a target of type `TargetT`, and how it sees it arrive."""

    # Set a target up for a tag's `n` messages, before any clock runs (warm-up included).
    prepare: Callable[[TargetT, str, int], Awaitable[None]]
    # When each message marked with the tag arrived at the receiver (at least `n` of them).
    arrivals: Callable[[str, int], Awaitable[dict[str, float]]]
    text: Callable[[str], str]  # a message's text, around its marker
    count: int  # messages in a throughput trial
    conversations: int
    unit: str  # "message" or "event"


async def throughput(
    load: Load[TargetT], target: TargetT, tag: str, meter: CpuMeter
) -> dict[str, float]:
    """One throughput trial: `load.count` messages in a closed loop, timed from the first
    POST until the last arrives."""
    await load.prepare(target, tag, load.count)
    await quiet()
    meter.start()
    start = now()
    acked = await closed_loop(target, tag, load.count, load.conversations, load.text)
    end = max((await load.arrivals(tag, load.count)).values())
    cpu = meter.stop()
    return {
        "seconds": end - start,
        "rate": load.count / (end - start),
        "acked_seconds": acked - start,
        **{f"cpu_{k}": v for k, v in cpu.items()},
    }


async def latency(
    load: Load[TargetT], target: TargetT, tag: str, n: int, rate: float, meter: CpuMeter
) -> dict[str, float]:
    """One latency trial: `n` messages paced at `rate` per second."""
    await load.prepare(target, tag, n)
    await quiet()
    meter.start()
    sent, late = await paced(target, tag, n, load.conversations, rate, load.text)
    lat = latencies(sent, await load.arrivals(tag, n))
    return latency_figures(lat, late, meter.stop())


async def throughputs(
    args: argparse.Namespace,
    c: Contestants,
    makers: dict[str, Callable[[], TargetT]],
    load: Load[TargetT],
) -> Trials:
    """`args.runs` throughput trials of each contestant, interleaved so that drift hits all
    alike."""
    per = f"{load.unit}s/s"
    out: Trials = {name: [] for name in makers}
    for r in range(args.runs):
        for name, make in makers.items():
            server = {"server": c.servers[name]} if name in c.servers else {}
            figures = await throughput(load, make(), f"t{r}{name}", CpuMeter(c.pids | server))
            out[name].append(figures)
            print(
                f"  run {r + 1} {name:6s} {figures['seconds']:6.2f} s {figures['rate']:6.0f} {per}"
                f"  (all POSTs answered at {figures['acked_seconds']:.2f} s;"
                f" others used {figures['cpu_others']:.2f} CPU s,"
                f" steal {figures['cpu_steal']:.2f} s)",
                flush=True,
            )
    return out


async def latency_trials(
    args: argparse.Namespace,
    c: Contestants,
    makers: dict[str, Callable[[], TargetT]],
    load: Load[TargetT],
) -> dict[str, Trials]:
    """For each of `args.rates`: `args.latency_runs` paced trials of the bridge and the bare
    forwarder, interleaved."""
    out: dict[str, Trials] = {}
    for rate in args.rates:
        n = max(args.conversations, round(rate * args.latency_seconds))
        trials: Trials = {"bridge": [], "bare": []}
        out[f"{rate:g}"] = trials
        for r in range(args.latency_runs):
            for name, runs in trials.items():
                tag = f"l{r}{name}{round(rate)}"
                figures = await latency(load, makers[name](), tag, n, rate, CpuMeter(c.pids))
                runs.append(figures)
                print(
                    f"  {rate:g}/s run {r + 1} {name:6s} p50 {figures['p50_ms']:8.2f} ms"
                    f"  p99 {figures['p99_ms']:8.2f} ms"
                    f"  (others used {figures['cpu_others']:.2f} CPU s,"
                    f" steal {figures['cpu_steal']:.2f} s)",
                    flush=True,
                )
    return out


CPU_COLUMNS = ("cpu_fakes", "cpu_loadgen", "cpu_others", "cpu_steal")  # after the server's


def print_throughput(res: Trials, n: int, heading: str, unit: str) -> dict[str, float]:
    """The throughput table of `n` of `unit` under `heading`; the median seconds of each
    contestant."""
    print(f"\n## {heading}\n")
    med = {name: median(t["seconds"] for t in trials) for name, trials in res.items()}
    rows = [
        [
            name,
            f"{med[name]:.2f}",
            f"{n / med[name]:.0f}",
            ", ".join(f"{t['seconds']:.2f}" for t in trials),
            f"{median(t['acked_seconds'] for t in trials):.2f}",
            *server_cells(trials, n),
            *(f"{median(t[k] for t in trials):.2f}" for k in CPU_COLUMNS),
        ]
        for name, trials in res.items()
    ]
    headers = [
        "contestant",
        "seconds",
        f"{unit}s/s",
        "runs (s)",
        "POSTs answered (s)",
        "CPU s server (sys; main thread)",
        f"ctx switches/{unit}",
        "CPU s fakes",
        "CPU s loadgen",
        "CPU s others",
        "steal s",
    ]
    print(table(headers, rows))
    return med


def server_cells(trials: list[dict[str, float]], n: int) -> list[str]:
    """Table cells for a server process: median CPU seconds (system part; main thread),
    context switches per message; dashes when the contestant has no server."""
    if "cpu_server" not in trials[0]:
        return ["-", "-"]
    cpu = median(t["cpu_server"] for t in trials)
    system = median(t["cpu_server_sys"] for t in trials)
    main = median(t["cpu_server_main"] for t in trials)
    switches = median(t["cpu_server_switches"] for t in trials) / n
    return [f"{cpu:.2f} ({system:.2f}; {main:.2f})", f"{switches:.1f}"]


def print_latency(res: dict[str, Any], args: argparse.Namespace, unit: str) -> None:
    """The latency tables: per rate, the median of the runs per contestant, bridge - bare."""
    for rate, trials in res.items():
        n = len(trials["bridge"])
        print(
            f"\n## Latency at {rate} {unit}s/s for {args.latency_seconds:g} s over "
            f"{args.conversations} conversations (median of {n} run{'s' if n > 1 else ''})\n"
        )
        meds = {
            name: {k: median(t[k] for t in runs) for k in runs[0]} for name, runs in trials.items()
        }
        rows = [
            [
                name,
                f"{m['p50_ms']:.2f}",
                f"{m['p99_ms']:.2f}",
                f"{m['max_ms']:.2f}",
                f"{m['late_p99_ms']:.2f}",
            ]
            for name, m in meds.items()
        ]
        diff50 = meds["bridge"]["p50_ms"] - meds["bare"]["p50_ms"]
        diff99 = meds["bridge"]["p99_ms"] - meds["bare"]["p99_ms"]
        rows.append(["bridge - bare", f"{diff50:.2f}", f"{diff99:.2f}", "", ""])
        print(table(["contestant", "p50 ms", "p99 ms", "max ms", "send lag p99 ms"], rows))


def parse_args(
    prog: str, description: str, unit: str, argv: list[str] | None
) -> argparse.Namespace:
    """The options both directions share; `unit` names what is counted (`message`: `--messages`)."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument(f"--{unit}s", type=int, default=1000)
    parser.add_argument("--conversations", type=int, default=50)
    parser.add_argument("--runs", type=int, default=3, help="throughput runs per contestant")
    parser.add_argument(
        "--rates",
        type=lambda v: [float(x) for x in v.split(",")],
        default=[100.0, 20.0],
        help=f"{unit}s/s of the latency tests (comma-separated)",
    )
    parser.add_argument("--latency-seconds", type=float, default=10.0)
    parser.add_argument("--latency-runs", type=int, default=1)
    parser.add_argument("--profile", metavar="FILE", help="py-spy the bridge in one more trial")
    parser.add_argument(
        "--trace", action="store_true", help="count transactions etc. in one more trial"
    )
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=5.0,
        help="before each trial, wait up to this many seconds for an idle machine (0: never)",
    )
    parser.add_argument("--json", metavar="FILE", help="write the figures as JSON")
    parser.add_argument(
        "--set",
        metavar="NAME=VALUE",
        action="append",
        default=[],
        help="a setting for the bridge, e.g. BRIDGE_RECEIPT_REACTION=off (repeatable)",
    )
    args = parser.parse_args(argv)
    for setting in args.set:
        name, sep, value = setting.partition("=")
        if not sep or not name.startswith(("BRIDGE_", "SLACK_")):
            parser.error(f"--set {setting!r}: expected BRIDGE_NAME=VALUE")
        BRIDGE_SETTINGS[name] = value
    if min(getattr(args, f"{unit}s"), args.conversations, args.runs, args.latency_runs) < 1:
        parser.error("counts must be positive")
    if min(args.rates) <= 0 or args.latency_seconds <= 0:
        parser.error("rates and seconds must be positive")
    QUIET_WAIT[0] = args.quiet_wait
    return args
