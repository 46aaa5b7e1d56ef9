"""py-spy, attached to a running process by pid for the length of one trial, and a short
summary of where the samples fell (`python -m bench.profile FILE` re-reads a saved one).

Optional: only used with `--profile`; py-spy is not a dependency of the project
(`.venv/bin/pip install py-spy`). `BENCH_PYSPY_FLAGS` adds flags (e.g. `--gil`, `--idle`).
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import sys
from collections import Counter
from pathlib import Path

from bench.procs import Proc, child_env

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^():]+)(?::\d+)?\)$")


class Spy:
    """`py-spy record --pid` until `stop()`; collapsed stacks land in `out`, its own output in
    `py-spy.log` under `work`."""

    def __init__(self, pid: int, out: Path, work: Path, rate: int = 250) -> None:
        self.pid = pid
        self.out = out
        self.work = work
        self.rate = rate
        self._proc: Proc | None = None

    @staticmethod
    def available() -> str | None:
        here = Path(sys.executable).parent / "py-spy"
        return str(here) if here.exists() else shutil.which("py-spy")

    async def start(self) -> None:
        exe = self.available()
        if exe is None:
            raise RuntimeError("py-spy is not installed (.venv/bin/pip install py-spy)")
        args = [
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
            str(self.out.resolve()),  # it runs in `work`
        ]
        self.out.unlink(missing_ok=True)  # so that stop() can tell it wrote one
        self._proc = Proc("py-spy", args, child_env({}), self.work)
        await self._proc.start()
        await asyncio.sleep(0.5)  # let it attach
        if self._proc.proc is not None and self._proc.proc.returncode is not None:
            raise RuntimeError(f"py-spy exited at start; {self._proc.tail()}")

    async def stop(self) -> None:
        if self._proc is not None:
            await self._proc.stop(20, signal.SIGINT)  # py-spy writes its output on Ctrl-C
            if not self.out.exists():
                raise RuntimeError(f"py-spy wrote no {self.out}; {self._proc.tail()}")


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
