"""`hitl-bridge` (and `python -m bridge`): the command line."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys

from bridge import logs
from bridge.config import ConfigError, load_settings


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

    logs.setup(settings.log_level, settings.log_format)
    from bridge.server import serve

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(settings))
    return 0
