"""The clock and the markers: when, and which, benchmark message arrived, in any process.

Clocks: every timestamp, in every process, is ``time.monotonic()``. On Linux that is
``CLOCK_MONOTONIC``, one clock for the whole machine, so a time taken in the fakes' process
can be subtracted from one taken in the load generator.
"""

from __future__ import annotations

import asyncio
import re
import time

# `bench-<tag>-<conversation>-<index>`: what the fakes look for in every stored message or
# received webhook; the tag names one trial.
MARKER = re.compile(r"bench-([a-z0-9]+)-(\d+)-(\d+)")


def now() -> float:
    return time.monotonic()


async def sleep_until(moment: float) -> None:
    delay = moment - now()
    if delay > 0:
        await asyncio.sleep(delay)


def marker(tag: str, conversation: int, index: int) -> str:
    return f"bench-{tag}-{conversation}-{index}"
