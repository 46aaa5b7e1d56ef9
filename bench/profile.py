"""py-spy, attached to a running process by pid for the length of one trial, and a short
summary of where the samples fell (`python -m bench.profile FILE` re-reads a saved one).

Optional: only used with `--profile`; py-spy is not a dependency of the project
(`.venv/bin/pip install py-spy`). `BENCH_PYSPY_FLAGS` adds flags (e.g. `--gil`, `--idle`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import sys
from collections import Counter
from pathlib import Path

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^():]+)(?::\d+)?\)$")


class Spy:
    """`py-spy record --pid` until `stop()`; collapsed stacks land in `out`."""

    def __init__(self, pid: int, out: Path, rate: int = 250) -> None:
        self.pid = pid
        self.out = out
        self.rate = rate
        self._proc: asyncio.subprocess.Process | None = None

    @staticmethod
    def available() -> str | None:
        here = Path(sys.executable).parent / "py-spy"
        return str(here) if here.exists() else shutil.which("py-spy")

    async def start(self) -> None:
        exe = self.available()
        if exe is None:
            raise RuntimeError("py-spy is not installed (.venv/bin/pip install py-spy)")
        self._proc = await asyncio.create_subprocess_exec(
            exe,
            "record",
            "--pid",
            str(self.pid),
            "--rate",
            str(self.rate),
            "--format",
            "raw",
            "--threads",
            "--nonblocking",
            *os.environ.get("BENCH_PYSPY_FLAGS", "").split(),
            "--output",
            str(self.out),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        await asyncio.sleep(0.5)  # let it attach

    async def stop(self) -> None:
        proc = self._proc
        if proc is None or proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGINT)  # py-spy writes its output on Ctrl-C
        try:
            await asyncio.wait_for(proc.wait(), 20)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()


def _name(frame: str) -> str:
    found = _FRAME.match(frame.strip())
    if not found:
        return frame.strip()
    file = found.group("file")
    for marker in ("site-packages/", "/work/main/", "lib/python3"):
        if marker in file:
            file = file.split(marker, 1)[1]
    return f"{found.group('func')} ({file})"


def summarize(path: Path, top: int = 25) -> str:
    """Samples per thread, then the functions with the most samples on the stack
    (inclusive) and at the top of it (self)."""
    threads: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        thread, frames = frames[0], frames[1:]
        if not frames:
            continue
        total += count
        threads[thread] += count
        names = [_name(f) for f in frames]
        for name in set(names):
            inclusive[name] += count
        own[names[-1]] += count
    if not total:
        return "(no samples)"
    lines = [f"{total} samples (active threads only)", "", "per thread:"]
    lines += [f"  {n / total:6.1%}  {t}" for t, n in threads.most_common()]
    lines += ["", "inclusive (on the stack):"]
    lines += [f"  {n / total:6.1%}  {f}" for f, n in inclusive.most_common(top)]
    lines += ["", "self (top of the stack):"]
    lines += [f"  {n / total:6.1%}  {f}" for f, n in own.most_common(top)]
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m bench.profile COLLAPSED_STACKS_FILE")
    print(summarize(Path(sys.argv[1])))
