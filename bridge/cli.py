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
