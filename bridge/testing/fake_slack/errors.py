"""The Web API's refusal, raised by a method and answered by the door (``web_api``)."""

from __future__ import annotations

from typing import Any


class SlackError(Exception):
    """A Web API error: answered as ``{"ok": false, "error": code, **extra}``."""

    def __init__(self, code: str, **extra: Any) -> None:
        super().__init__(code)
        self.code = code
        self.extra = extra
