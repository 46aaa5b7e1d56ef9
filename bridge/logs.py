"""Logging: plain lines or JSON, each carrying the conversation id when there is one.

What may appear where: ids, statuses and Slack's error codes at INFO; message text only at
DEBUG; secrets never (settings hold them as `SecretStr`, and the libraries that log request
payloads are kept at WARNING).
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import IO, Any

# Libraries that log every request or query, payloads included, at DEBUG.
NOISY = ("slack_bolt", "slack_sdk", "aiohttp.access")
# Loggers whose own level (not the effective one) slack_sdk reads before it formats a debug
# line for every Web API call: left unset, it formats them all, only for them to be dropped.
BY_OWN_LEVEL = ("slack_sdk.web.async_base_client",)
# How often a condition that goes on (see `Notice`) is logged again.
REPORT_EVERY = 60.0


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        conversation = getattr(record, "conversation", None)
        return f"{line} conversation={conversation}" if conversation else line


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        conversation = getattr(record, "conversation", None)
        if conversation:
            entry["conversation"] = conversation
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def setup(level: str, fmt: str = "text", stream: IO[str] | None = None) -> None:
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    logging.basicConfig(level=level, handlers=[handler], force=True)
    quiet = max(logging.WARNING, logging.getLevelName(level))
    for name in (*NOISY, *BY_OWN_LEVEL):
        logging.getLogger(name).setLevel(quiet)


class Notice:
    """One condition's lines in `log`: one when it begins, then one each `REPORT_EVERY` seconds
    saying how many more times it happened, for as long as it goes on."""

    def __init__(self, what: str, log: logging.Logger) -> None:
        self._what = what
        self._log = log
        self._more = 0
        self._timer: asyncio.TimerHandle | None = None

    def happened(self) -> None:
        if self._timer is not None:
            self._more += 1
            return
        self._log.warning("%s", self._what)
        self._timer = asyncio.get_running_loop().call_later(REPORT_EVERY, self._report)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _report(self) -> None:
        self._timer = None
        if self._more:
            self._log.warning(
                "%s: %d more in the last %.0f s", self._what, self._more, REPORT_EVERY
            )
            self._more = 0
            self._timer = asyncio.get_running_loop().call_later(REPORT_EVERY, self._report)
