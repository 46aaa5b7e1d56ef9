"""The command line both directions share (`python -m bench.overhead --help`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.contestants import BRIDGE_SETTINGS
from bench.cpu import QUIET_WAIT


def parse_args(
    prog: str, description: str, unit: str, argv: list[str] | None
) -> argparse.Namespace:
    """The options both directions share; `unit` names what is counted (`message`: `--messages`).
    `--set` and `--quiet-wait` take effect here, for the whole run."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    # 3,000: at 1,000 the bare forwarder was done in 0.3 s here, too short for a steady median.
    parser.add_argument(f"--{unit}s", type=int, default=3000)
    parser.add_argument("--conversations", type=int, default=50)
    parser.add_argument(
        "--rounds",
        "--runs",
        type=int,
        default=4,
        help="interleaved rounds: each runs every trial once, contestants in rotating order;"
        " figures are medians over the rounds, with their range (default 4)",
    )
    parser.add_argument(
        "--rates",
        type=lambda v: [float(x) for x in v.split(",")],
        default=[100.0, 20.0],
        help=f"{unit}s/s of the latency tests (comma-separated)",
    )
    parser.add_argument("--latency-seconds", type=float, default=10.0)
    parser.add_argument("--profile", metavar="FILE", help="py-spy the bridge in one more trial")
    parser.add_argument(
        "--trace", action="store_true", help="count transactions etc. in one more trial"
    )
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=5.0,
        help="before each trial, wait up to this many seconds for an idle machine (0: never)",
    )
    parser.add_argument("--json", metavar="FILE", help="write the figures as JSON")
    parser.add_argument(
        "--baseline",
        metavar="DIR",
        help="also run the bridge of this source tree (e.g. a git worktree of an earlier"
        " commit) as the contestant `baseline`, interleaved with the others: `bridge/baseline`"
        " is what the change buys",
    )
    parser.add_argument(
        "--set",
        metavar="NAME=VALUE",
        action="append",
        default=[],
        help="a setting for the bridge, e.g. BRIDGE_RECEIPT_REACTION=off (repeatable)",
    )
    args = parser.parse_args(argv)
    if args.baseline:
        args.baseline = str(Path(args.baseline).resolve())  # its server runs elsewhere
    for setting in args.set:
        name, sep, value = setting.partition("=")
        if not sep or not name.startswith(("BRIDGE_", "SLACK_")):
            parser.error(f"--set {setting!r}: expected BRIDGE_NAME=VALUE")
        BRIDGE_SETTINGS[name] = value
    if min(getattr(args, f"{unit}s"), args.conversations, args.rounds) < 1:
        parser.error("counts must be positive")
    if min(args.rates) <= 0 or args.latency_seconds <= 0:
        parser.error("rates and seconds must be positive")
    QUIET_WAIT[0] = args.quiet_wait
    return args
