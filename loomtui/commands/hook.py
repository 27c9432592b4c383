"""`loomtui hook claude|codex`: read one hook event on stdin, answer on stdout.

The exit status and output come from `loomtui.hooks.dispatch.Hook.run`, which
never raises: see loomtui/hooks/protocol.py for the fail-closed rules.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import TYPE_CHECKING

from loomtui.hooks.dispatch import Hook
from loomtui.store.db import pod_dir

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
        try:
            raw = sys.stdin.buffer.read()
        except OSError as exc:
            raw = b""
            print(f"LoomTUI: cannot read hook input: {exc}", file=sys.stderr)
        answer = Hook(agent, pod_dir()).run(raw)
    except BaseException as exc:  # e.g. no home directory to find the pod in
        print(f"LoomTUI: the hook cannot run ({type(exc).__name__}: {exc}); denied to be safe",
              file=sys.stderr)
        return 2
    try:
        if answer.stdout:
            sys.stdout.write(answer.stdout)
            sys.stdout.flush()
        if answer.stderr:
            print(answer.stderr, file=sys.stderr, flush=True)
    except BrokenPipeError:
        # Nobody reads the answer (the agent has gone). Point the streams at
        # /dev/null so the interpreter's final flush cannot fail and turn our
        # exit status into 1, which Claude Code would treat as "let it through".
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.dup2(devnull, sys.stderr.fileno())
    return answer.exit_code
