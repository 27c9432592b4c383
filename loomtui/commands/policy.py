"""`loomtui policy check [--tool T] [--json] -- COMMAND`: classify an action without a gate.

For people writing policies, and for tests. Reads only the pod's policy.toml (or the
defaults); the store is not opened, so it works before `loomtui init`.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
from pathlib import Path

from loomtui.commands.errors import CommandError
from loomtui.policy import FILE_TOOLS, PolicyError, classify, load_policy, protection_context
from loomtui.store.db import pod_dir
from loomtui.text import printable


def run(args: argparse.Namespace) -> int:
    if args.policy_command != "check":  # pragma: no cover - argparse allows only check
        raise CommandError(f"unknown subcommand {args.policy_command}")
    return check(args)


def check(args: argparse.Namespace) -> int:
    argv = list(args.argv or [])
    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv:
        raise CommandError("nothing to check: give the action after --, e.g. `loomtui policy check -- git push`")
    # One argument is a command line as written; several are the words the shell
    # split, joined back with quoting so their boundaries survive.
    text = argv[0] if len(argv) == 1 else shlex.join(argv)
    pod = pod_dir()
    try:
        policy = load_policy(pod)
    except PolicyError as exc:
        raise CommandError(str(exc)) from None
    tool = args.tool
    if tool == "Bash":
        tool_input: dict = {"command": text}
    elif tool in FILE_TOOLS:
        key = "notebook_path" if tool == "NotebookEdit" else "file_path"
        tool_input = {key: " ".join(argv)}
    else:
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
        tool_input = parsed if isinstance(parsed, dict) else {}
    cwd = os.getcwd()
    decision = classify(policy, tool, tool_input, cwd=cwd, repo=_repository(cwd), agent=None,
                        **protection_context(pod, os.environ))  # the built-in protect-* rules too
    if args.json:
        print(json.dumps(decision.to_json()))
    else:
        rule = f"rule {decision.rule}" if decision.rule else "no rule"
        # The reason may quote the command, which an agent may have written.
        print(printable(f"{decision.action} ({decision.risk} risk, {rule}): {decision.reason}"))
    return EXIT_FOR[decision.action]


# For scripts: 0 when the action would go ahead without a supervisor (allow, or pass to the
# agent's own permissions), 3 when a supervisor would decide (gate), 4 when it is denied;
# 1 stays "the check itself failed", 2 argparse's usage error.
EXIT_FOR = {"allow": 0, "pass": 0, "gate": 3, "deny": 4}


def _repository(cwd: str) -> str | None:
    """The enclosing git worktree (a directory holding .git), found without running git."""
    here = Path(cwd)
    for directory in (here, *here.parents):
        if (directory / ".git").exists():
            return str(directory)
    return None
