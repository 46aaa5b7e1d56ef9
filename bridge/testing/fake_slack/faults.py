"""Faults a test injects into the Web API: error answers queued per method, and calls left
unanswered until healed."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass


@dataclass(frozen=True)
class Fault:
    """An error answer: given instead of the call's own, or after it took effect."""

    error: str
    status: int
    headers: dict[str, str]
    applied: bool  # the call takes effect, then the error is answered: the answer was lost


class Faults:
    """The faults waiting for the next calls, and the (method, channel) pairs left hanging."""

    def __init__(self) -> None:
        self.hung: set[tuple[str, str | None]] = set()  # (method, channel) never answered
        self._queued: dict[str, list[Fault]] = {}
        self._unhang = asyncio.Event()

    def fail(
        self,
        method: str,
        error: str = "internal_error",
        *,
        times: int = 1,
        status: int = 200,
        headers: dict[str, str] | None = None,
        applied: bool = False,
    ) -> None:
        """Answer the next ``times`` calls of ``method`` with ``error``."""
        fault = Fault(error, status, dict(headers or {}), applied)
        self._queued.setdefault(method, []).extend([fault] * times)

    def hang(self, method: str, channel: str) -> None:
        """Never answer calls of ``method`` for ``channel`` (until ``heal``)."""
        self.hung.add((method, channel))

    def heal(self, method: str | None = None) -> None:
        """Drop the faults still queued for ``method`` (all methods when None)."""
        if method is None:
            self._queued.clear()
            self.hung.clear()
        else:
            self._queued.pop(method, None)
            self.hung = {(m, c) for m, c in self.hung if m != method}
        self._unhang.set()  # what hung is answered now (with an error)
        self._unhang = asyncio.Event()

    def next(self, method: str) -> Fault | None:
        """The fault this call of ``method`` meets, if one is queued (it is used up)."""
        queued = self._queued.get(method)
        return queued.pop(0) if queued else None

    def is_hung(self, method: str, channel: str | None) -> bool:
        """Whether calls of ``method`` for ``channel`` are left unanswered."""
        return (method, channel) in self.hung

    async def healed(self) -> None:
        """Wait for the next ``heal``."""
        await self._unhang.wait()
