"""The Web API's refusal, raised by a method and answered by the door (``web_api``), and
what a person's client refuses to do."""

from __future__ import annotations

from typing import Any


class SlackError(Exception):
    """A Web API error: answered as ``{"ok": false, "error": code, **extra}``."""

    def __init__(self, code: str, **extra: Any) -> None:
        super().__init__(code)
        self.code = code
        self.extra = extra


class ClientRefused(Exception):
    """What a person's Slack client would not let them do: submit a view without a required
    input or with text of the wrong length, or act on a view they cannot see. Raised by the
    helpers that act as people, before anything is sent."""
