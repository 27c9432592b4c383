"""`loomtui gate [--agent NAME] -- CMD ARGS...`: supervise agents without hooks
(Aider, scripts). The command is classified like a Bash tool call; allowed or
passed commands run, gated ones wait for a supervisor, denied ones do not run.

Exit status: the command's own, or 126 with the reason on stderr when it is not
allowed to run (policy deny, rejection, expiry, a broken store, bad input).
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import time

from loomtui.hooks.gatekeeper import Action, gatekeep
from loomtui.hooks.signals import HookInterrupted, interrupts_raise
from loomtui.places import locate
from loomtui.store.agents import record_event, upsert_agent
from loomtui.store.db import StoreError, connect, db_path, pod_dir

NOT_RUN = 126


def run(args: argparse.Namespace) -> int:
    argv = list(args.argv)
    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv:
        print("loomtui gate: no command given (loomtui gate -- CMD ARGS...)", file=sys.stderr)
        return NOT_RUN
    command = shlex.join(argv)
    try:
        with interrupts_raise():
            allowed, reason, agent_id = _decide(command, args.agent)
    except HookInterrupted as exc:
        allowed, reason, agent_id = False, f"interrupted while waiting ({exc})", None
    except (StoreError, OSError) as exc:
        allowed, reason, agent_id = False, f"the pod store cannot be used: {exc}", None
    except Exception as exc:  # fail closed: never run a command by accident
        allowed, reason, agent_id = False, f"internal error: {type(exc).__name__}: {exc}", None
    if not allowed:
        from loomtui.text import printable

        print(printable(f"loomtui gate: not running `{command}`: {reason}"), file=sys.stderr)
        return NOT_RUN
    # The command runs as the agent's session: a decision command run through
    # `loomtui gate` is refused by loomtui.supervisors.authorize.
    name = _agent_name(args.agent, os.getcwd())
    try:
        code = subprocess.call(argv, env={**os.environ, "LOOM_SESSION_ID": f"gate:{name}"})
    except OSError as exc:
        print(f"loomtui gate: cannot run {argv[0]}: {exc.strerror or exc}", file=sys.stderr)
        code = 127
    if agent_id is not None:
        _after(agent_id, command, code)
    return code


def _decide(command: str, agent_name: str | None) -> tuple[bool, str, int]:
    """The gatekeeper's verdict on `command` as a Bash call of the named agent:
    (allowed, reason, agent id). Passed counts as allowed: no agent's own
    permission flow sits behind this command."""
    pod = pod_dir()
    conn = connect(db_path(pod), create=False)
    try:
        cwd = os.getcwd()
        place = locate(cwd)
        name = _agent_name(agent_name, cwd)
        now = time.time()
        agent_id = upsert_agent(conn, kind="script", now=now, session_id=f"gate:{name}", name=name,
                                cwd=cwd, repo=place.repo, worktree=place.worktree, branch=place.branch)
        action = Action(agent_id=agent_id, tool="Bash", tool_input={"command": command}, summary=command,
                        cwd=cwd, repo=place.repo, agent_name=name)
        verdict = gatekeep(conn, pod, action, check_budgets=False, record_policy_as=None)
        if verdict.by == "policy":
            if verdict.action == "deny":
                return False, f"denied by policy ({verdict.rule}): {verdict.reason}", agent_id
            return True, "", agent_id
        return verdict.action == "allow", verdict.reason, agent_id
    finally:
        conn.close()


def _agent_name(agent_name: str | None, cwd: str) -> str:
    return agent_name or os.environ.get("LOOM_AGENT") or f"script-{os.path.basename(cwd)}"


def _after(agent_id: int, command: str, code: int) -> None:
    try:
        conn = connect(db_path(pod_dir()), create=False)
        try:
            record_event(conn, agent_id, kind="tool_done", now=time.time(), tool="Bash",
                         summary=f"{command} (exit {code})", status="idle" if code == 0 else "error",
                         status_reason="" if code == 0 else f"`{command}` exited {code}")
        finally:
            conn.close()
    except (StoreError, OSError) as exc:  # the command ran; a lost record is reported, not fatal
        print(f"loomtui gate: could not record the result: {exc}", file=sys.stderr)
