"""`hitl-bridge` (and `python -m bridge`): the command line."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys

from bridge import logs
from bridge.config import ConfigError, load_settings, serving_problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="hitl-bridge",
        description="Hand chatbot conversations to humans in Slack threads.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="run the bridge (settings from the environment and .env)")
    commands.add_parser(
        "check",
        help="check the settings, the database and Slack (the token, the channels), and exit",
    )
    demo = commands.add_parser(
        "demo",
        help="play a whole handoff against a fake Slack, in this terminal (needs no settings)",
    )
    demo.add_argument(
        "--events",
        choices=["webhook", "poll"],
        default="webhook",
        help="how the demo bot gets its events: a signed webhook or the GET /v1/events long-poll",
    )
    demo.add_argument(
        "--pace", type=float, default=0.2, metavar="SECONDS", help="pause between the steps"
    )
    args = parser.parse_args(argv)

    if args.command == "demo":
        from bridge.demo import main as demo_main

        return demo_main(events=args.events, pace=max(args.pace, 0.0))

    try:
        settings = load_settings()
    except ConfigError as exc:
        return _refuse(exc.problems, 2)
    if problems := serving_problems(settings):
        return _refuse(problems, 2)
    from bridge.startup import StartupError, check

    if args.command == "check":
        print("settings: valid")
        return asyncio.run(check(settings))

    logs.setup(settings.log_level, settings.log_format)
    from bridge.server import serve

    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve(settings))
    except StartupError as exc:
        return _refuse(exc.lines, exc.code)
    return 0


def _refuse(problems: list[str], code: int) -> int:
    """Say why, one line each (never a traceback), and give the exit code."""
    for problem in problems:
        print(f"hitl-bridge: {problem}", file=sys.stderr)
    return code
