"""A channel's window: wide for a channel that answers at once, narrow for one that hangs."""

from __future__ import annotations

import asyncio

import pytest

from bridge.outbox import Retry
from bridge.slack import window
from bridge.slack.window import HIGH, LOW, Window


async def quick_calls(w: Window, n: int) -> None:
    for _ in range(n):
        async with w.call():
            pass


async def test_quick_answers_widen_it_up_to_the_ceiling() -> None:
    w = Window()
    assert w.limit == LOW
    await quick_calls(w, 3)
    assert w.limit == LOW + 3
    await quick_calls(w, 100)
    assert w.limit == HIGH


async def test_a_call_that_came_to_nothing_halves_it_down_to_the_floor() -> None:
    w = Window()
    await quick_calls(w, 100)
    with pytest.raises(Retry):
        async with w.call():
            raise Retry("timed out")
    assert w.limit == HIGH // 2
    for _ in range(5):
        with pytest.raises(Retry):
            async with w.call():
                raise Retry("timed out")
    assert w.limit == LOW
    assert w.under_way == 0


async def test_a_refusal_is_an_answer_but_a_slow_one_narrows_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    w = Window()
    with pytest.raises(ValueError):
        async with w.call():
            raise ValueError("channel_not_found")
    assert w.limit == LOW + 1
    monkeypatch.setattr(window, "QUICK", 0.0)
    await quick_calls(w, 1)  # took longer than no time at all
    assert w.limit == LOW


async def test_calls_past_the_limit_wait_their_turn_in_order() -> None:
    w = Window()
    release = asyncio.Event()
    started: list[int] = []

    async def call(n: int) -> None:
        async with w.call():
            started.append(n)
            await release.wait()

    tasks = [asyncio.create_task(call(n)) for n in range(LOW + 3)]
    await asyncio.sleep(0.01)
    assert started == list(range(LOW)) and w.under_way == LOW
    release.set()
    await asyncio.gather(*tasks)
    assert started == list(range(LOW + 3)) and w.under_way == 0


async def test_a_caller_cancelled_while_it_waits_takes_no_room() -> None:
    w = Window()
    release = asyncio.Event()

    async def call() -> None:
        async with w.call():
            await release.wait()

    holders = [asyncio.create_task(call()) for _ in range(LOW)]
    waiter = asyncio.create_task(call())
    await asyncio.sleep(0.01)
    waiter.cancel()
    await asyncio.gather(waiter, return_exceptions=True)
    release.set()
    await asyncio.gather(*holders)
    assert w.under_way == 0
    await quick_calls(w, 1)  # and the window still works
    assert w.under_way == 0


async def test_a_caller_cancelled_just_as_its_turn_came_hands_the_turn_on() -> None:
    w = Window()
    release, last_release = asyncio.Event(), asyncio.Event()
    waiters: list[asyncio.Task[None]] = []

    async def first() -> None:
        async with w.call():
            await release.wait()
        waiters[0].cancel()  # its turn was given as this call left: it has not run yet

    async def call(gate: asyncio.Event) -> None:
        async with w.call():
            await gate.wait()

    holders = [asyncio.create_task(first())]
    holders += [asyncio.create_task(call(last_release)) for _ in range(LOW - 1)]
    await asyncio.sleep(0.01)
    waiters += [asyncio.create_task(call(last_release)) for _ in range(2)]
    await asyncio.sleep(0.01)
    release.set()
    await asyncio.sleep(0.01)
    assert waiters[0].cancelled()
    assert w.under_way == LOW  # the second waiter has the turn the first could not use
    last_release.set()
    await asyncio.gather(*holders, waiters[1])
    assert w.under_way == 0
