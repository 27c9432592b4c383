"""`loomtui hook claude|codex`: read one hook event on stdin, answer on stdout.

The exit status and output come from `loomtui.hooks.dispatch.Hook.run`, which
never raises: see loomtui/hooks/protocol.py for the fail-closed rules.
"""

from __future__ import annotations

import signal
import sys
from typing import TYPE_CHECKING

from loomtui.hooks.entry import answer

if TYPE_CHECKING:
    import argparse


def run(args: argparse.Namespace) -> int:
    return main(args.agent)


def main(agent: str) -> int:
    # cli.main installed these first thing; installed again for callers that come
    # here directly (tests, `python -c`).
    from loomtui.hooks.signals import interrupted

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, interrupted)
    try:
        raw = sys.stdin.buffer.read()
    except OSError as exc:
        raw = b""
        print(f"LoomTUI: cannot read hook input: {exc}", file=sys.stderr)
    return answer(agent, raw)
