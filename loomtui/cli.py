"""The `loomtui` command line: argument parsing and dispatch only.

Each command imports what it needs when it runs, so `loomtui hook ...` (on
every tool call of every agent) never pays for the console's imports.
Errors go to stderr as one sentence with a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

EXIT_ERROR = 1
EXIT_USAGE = 2


class CommandError(Exception):
    """A failure to report to the user as one clear sentence."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="loomtui",
        description="A terminal console for supervising a pod of coding agents.",
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    console = commands.add_parser("console", help="open the console (the default command)")
    _console_options(console)

    demo = commands.add_parser("demo", help="a simulated pod in a temporary directory, then the console")
    demo.add_argument("--agents", type=int, default=24, metavar="N", help="simulated agents (default 24)")
    demo.add_argument("--seed", type=int, default=None, metavar="S", help="random seed, for a repeatable demo")
    demo.add_argument("--keep", action="store_true", help="keep the temporary pod and repository afterwards")
    _console_options(demo)

    init = commands.add_parser("init", help="create the pod directory with a commented config")
    init.add_argument("agent", nargs="?", choices=["claude", "codex"],
                      help="also configure this agent's hooks (arrives with the gates feature)")

    status = commands.add_parser("status", help="one-shot summary of the pod")
    status.add_argument("--json", action="store_true", help="one JSON document on stdout")
    return parser


def _console_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--theme", metavar="NAME", help="theme to start with (loom-dark, loom-light, loom-contrast, ...)")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        from loomtui import __version__

        print(f"loomtui {__version__}")
        return 0
    command = args.command or "console"
    if command == "console" and not hasattr(args, "theme"):
        args.theme = None
    try:
        if command == "console":
            from loomtui.commands import console

            return console.run(args)
        if command == "demo":
            from loomtui.commands import demo

            return demo.run(args)
        if command == "init":
            from loomtui.commands import init

            return init.run(args)
        if command == "status":
            from loomtui.commands import status

            return status.run(args)
    except CommandError as exc:
        print(f"loomtui {command}: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130
    parser.error(f"unknown command {command}")
    return EXIT_USAGE
