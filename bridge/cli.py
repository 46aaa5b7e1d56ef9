"""`hitl-bridge` (and `python -m bridge`): the command line."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys

from bridge.config import ConfigError, load_settings


class _Formatter(logging.Formatter):
    """Plain lines, with the conversation id when a record carries one."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        conversation = getattr(record, "conversation", None)
        return f"{line} conversation={conversation}" if conversation else line


def _setup_logging(level: str) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(_Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    # These log every request or query at DEBUG, payloads included: keep them to warnings.
    for noisy in ("slack_bolt", "slack_sdk", "aiohttp.access", "aiosqlite"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="hitl-bridge",
        description="Hand chatbot conversations to humans in Slack threads.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="run the bridge (settings from the environment and .env)")
    commands.add_parser("check", help="validate the settings and exit")
    args = parser.parse_args(argv)

    try:
        settings = load_settings()
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"hitl-bridge: {problem}", file=sys.stderr)
        return 2
    if args.command == "check":
        print("settings are valid")
        return 0

    _setup_logging(settings.log_level)
    from bridge.server import serve

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(settings))
    return 0
