"""The direct path of a hook call: one event's bytes in, the answer printed, the
exit status returned. `loomtui hook claude|codex` runs it after reading stdin; the
hook client (hooks/client.py) runs it when the pod service cannot answer.

`Hook.run` never raises; what could still fail here (no home directory to find the
pod in, a closed pipe) ends in a deny too: see loomtui/hooks/protocol.py.
"""

from __future__ import annotations

import os
import sys

from loomtui.hooks.dispatch import Hook
from loomtui.store.db import pod_dir


def answer(agent: str, raw: bytes) -> int:
    if sys.stdout is None or sys.stderr is None:  # started with fd 1 or 2 closed
        return 2  # nowhere to print an answer: block by the exit status alone
    try:
        found = Hook(agent, pod_dir()).run(raw)
    except BaseException as exc:  # e.g. no home directory to find the pod in
        print(f"LoomTUI: the hook cannot run ({type(exc).__name__}: {exc}); denied to be safe",
              file=sys.stderr)
        return 2
    try:
        if found.stdout:
            sys.stdout.write(found.stdout)
            sys.stdout.flush()
        if found.stderr:
            print(found.stderr, file=sys.stderr, flush=True)
    except BrokenPipeError:
        # Nobody reads the answer (the agent has gone). Point the streams at
        # /dev/null so the interpreter's final flush cannot fail and turn our
        # exit status into 1, which Claude Code would treat as "let it through".
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.dup2(devnull, sys.stderr.fileno())
    return found.exit_code
