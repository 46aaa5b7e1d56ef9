"""`hitl-bridge` (and `python -m bridge`): the command line."""

from __future__ import annotations

import argparse
import contextlib
import sys
from importlib import metadata
from pathlib import Path

from bridge import logs, loop
from bridge.config import ConfigError, load_settings, serving_problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="hitl-bridge",
        description="Hand chatbot conversations to humans in Slack threads.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser(
        "serve",
        help="run the bridge (settings from the environment and .env)",
        description="Run the bridge until SIGTERM or SIGINT. Settings come from the "
        "environment, then from .env in the working directory (the environment wins).",
        epilog=_settings_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands.add_parser(
        "check",
        help="check the settings, the database and Slack (the token, the channels), and exit",
    )
    commands.add_parser(
        "backup",
        help="copy the database to PATH, consistently, while the bridge runs (needs only"
        " BRIDGE_DATABASE_URL)",
    ).add_argument("path", metavar="PATH", help="the copy to make (must not exist yet)")
    copy = commands.add_parser(
        "copy-db",
        help="copy a SQLite bridge database into an empty PostgreSQL one (stop the bridge first)",
    )
    copy.add_argument("source", metavar="FROM_URL", help="sqlite:///bridge.db")
    copy.add_argument("target", metavar="TO_URL", help="postgresql://user:pw@host:5432/db")
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

    if args.command == "backup":
        return _backup(Path(args.path))
    if args.command == "copy-db":
        return _copy_db(args.source, args.target)
    try:
        settings = load_settings()
    except ConfigError as exc:
        return _refuse(exc.problems, 2)
    if problems := serving_problems(settings):
        return _refuse(problems, 2)
    from bridge.startup import StartupError, check

    if args.command == "check":
        print("settings: valid")
        return loop.run(check(settings))

    logs.setup(settings.log_level, settings.log_format)
    from bridge.server import serve

    try:
        with contextlib.suppress(KeyboardInterrupt):
            loop.run(serve(settings))
    except StartupError as exc:
        return _refuse(exc.lines, exc.code)
    return 0


def _backup(to: Path) -> int:
    """`hitl-bridge backup PATH`: it needs `BRIDGE_DATABASE_URL` alone."""
    from bridge.backup import BackupError, backup
    from bridge.config import load_database_settings

    try:
        settings = load_database_settings()
    except ConfigError as exc:
        return _refuse(exc.problems, 2)
    if settings.postgres_url:
        return _refuse(["backup copies a SQLite database; back PostgreSQL up with pg_dump"], 2)
    database = settings.database_path
    try:
        backup(database, to)
    except BackupError as exc:
        return _refuse([str(exc)], 1)
    print(f"backed up {database} to {to}")
    return 0


def _copy_db(source: str, target: str) -> int:
    """`hitl-bridge copy-db FROM_URL TO_URL`."""
    from bridge.copydb import CopyError, copy_db

    try:
        copied = copy_db(source, target)
    except CopyError as exc:
        return _refuse([str(exc)], 1)
    except Exception as exc:  # the target's driver: unreachable, refused, ...
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return _refuse([f"could not copy: {first}"], 1)
    rows = ", ".join(f"{n} {table}" for table, n in copied.items() if n)
    print(f"copied {sum(copied.values())} rows ({rows or 'none'})")
    return 0


def _version() -> str:
    try:
        return metadata.version("hitl-bridge")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def _settings_help() -> str:
    """Every setting with its default, from the settings model itself (so never stale); what
    each means is in docs/configuration.md."""
    from pydantic_core import PydanticUndefined

    from bridge.config import Settings

    lines = ["settings (environment variables), with their defaults:"]
    for field in Settings.model_fields.values():
        default = field.get_default(call_default_factory=True)
        if default is PydanticUndefined:
            shown = "required"
        elif default in (None, (), "", {}):
            shown = "unset"
        else:
            shown = str(default).lower() if isinstance(default, bool) else str(default)
        lines.append(f"  {field.validation_alias:<30} {shown}")
    lines.append("what each means, and its bounds: docs/configuration.md")
    return "\n".join(lines)


def _refuse(problems: list[str], code: int) -> int:
    """Say why, one line each (never a traceback), and give the exit code."""
    for problem in problems:
        print(f"hitl-bridge: {problem}", file=sys.stderr)
    return code
