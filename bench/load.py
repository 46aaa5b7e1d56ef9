"""Load shapes: what a benchmark sends (`Load`), to whom (`Target`), and how: a closed loop
for throughput, messages paced at a rate for latency."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from bench.marks import marker, now, sleep_until

TRIAL_TIMEOUT = 180.0

TargetT = TypeVar("TargetT", bound="Target")


class Target(Protocol):
    """One contestant, as the load generator sees it."""

    async def open(self, conversations: int) -> None:
        """Create the conversations (not timed)."""

    async def send(self, conversation: int, text: str) -> None:
        """One message into `conversation`, returning once the contestant answered."""


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


def split(total: int, parts: int) -> list[int]:
    """`total` messages over `parts` conversations, as even as it goes."""
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


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
