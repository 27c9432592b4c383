"""`loomtui approve ID [--reason R] [--json] [--take-over]`: decide a pending gate (shared with `reject`).

`loomtui approve ID --grant DURATION [--scope agent|repo] [--pattern P] --reason R` also
allows calls like it for that long (loomtui/store/grants.py), through the console's own
path (loomtui.actions.PodActions.grant); a gate no grant may come from (critical, budget,
protect-*, a dynamic command) is refused with the reason, and then is not approved either.

The decider is this process's OS account; $LOOM_USER is recorded beside it as a
display name. `loomtui.supervisors.authorize` refuses an agent's environment, a
gate of the deciding process's own session, and an account that is not an approver.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager

from loomtui.commands.common import open_pod, read_config
from loomtui.commands.errors import CommandError
from loomtui.store.db import db_path, describe_error
from loomtui.store.gates import GateError, decide, get_gate
from loomtui.supervisors import NotAllowed, authorize, current_decider


def decide_command(args: argparse.Namespace, *, approve: bool) -> int:
    """Approve or reject gate `args.id` as this process's account. A refusal, losing
    a race, or an expired, cancelled or missing gate is a one-line error with exit 1."""
    if not 0 < args.id < 2**63:
        raise CommandError(f"there is no gate {args.id}")
    if approve and getattr(args, "grant", None) is not None:
        return grant_command(args)
    for option in ("scope", "pattern"):
        if getattr(args, option, None) is not None:
            raise CommandError(f"--{option} goes with --grant DURATION")
    decider = current_decider()
    pod, conn = open_pod(create=False)
    try:
        with _as_command_errors(pod):
            _authorized_gate(conn, pod, read_config(pod), decider, args)
            gate = decide(conn, args.id, approve=approve, actor=decider.account, display=decider.display,
                          reason=args.reason or "", now=time.time())
    finally:
        conn.close()
    if getattr(args, "json", False):
        print(json.dumps(gate.to_json(), indent=2, ensure_ascii=False))
        return 0
    from loomtui.text import printable  # the summary is the agent's text: shown escaped

    verb = "approved" if approve else "rejected"
    because = f": {printable(gate.reason)}" if gate.reason else ""
    print(f"{verb} gate {gate.id} ({printable(gate.summary)}){because}")
    return 0


@contextmanager
def _as_command_errors(pod) -> Iterator[None]:
    """A refusal, a gate that cannot be decided, or a store error: one line, exit 1."""
    try:
        yield
    except (NotAllowed, GateError, ValueError) as exc:
        raise CommandError(str(exc)) from None
    except sqlite3.DatabaseError as exc:
        raise CommandError(describe_error(db_path(pod), exc)) from None


def _authorized_gate(conn: sqlite3.Connection, pod, config, decider, args: argparse.Namespace):
    """Gate `args.id`, once this decider may decide it (supervisors.authorize) and no
    console holds a claim on it (unless --take-over)."""
    found = get_gate(conn, args.id)
    authorize(pod, config, decider, found)
    if found is not None and not getattr(args, "take_over", False):
        _refuse_others_claim(conn, found, decider)
    return found


def _refuse_others_claim(conn: sqlite3.Connection, gate, decider) -> None:
    """A gate another supervisor has claimed (from a console that is still open) is not
    decided from the command line unless --take-over says so: the console asks the same
    question before deciding it."""
    from loomtui.store import presence
    from loomtui.text import printable

    now = time.time()
    claim = presence.live_claim(gate, {p.id for p in presence.live(conn, now=now)})
    if claim is None or claim.presence is None or presence.held_by(claim, "", decider.account, decider.display):
        return  # unclaimed, lapsed, one's own, or a claim no console holds (made before presence)
    raise CommandError(f"gate {gate.id} is claimed by {printable(claim.who)} "
                       f"{presence.ago(now - claim.since)}; pass --take-over to decide it anyway")


def grant_command(args: argparse.Namespace) -> int:
    """`approve ID --grant DURATION ...`: approve the gate and grant, or neither."""
    from loomtui.actions import PodActions
    from loomtui.store.grants import parse_duration
    from loomtui.text import printable

    try:
        seconds = parse_duration(args.grant)
    except ValueError as exc:
        raise CommandError(f"--grant: {exc}") from None
    if not (args.reason or "").strip():
        raise CommandError("--grant needs --reason R: it is shown with every call the grant allows")
    decider = current_decider()
    pod, conn = open_pod(create=False)
    try:
        with _as_command_errors(pod):
            config = read_config(pod)
            found = _authorized_gate(conn, pod, config, decider, args)
    finally:
        conn.close()
    try:
        done = PodActions(pod, config, decider).grant(found, scope=args.scope or "agent", pattern=args.pattern,
                                                      duration=seconds, reason=args.reason, override_claims=True)
    except sqlite3.DatabaseError as exc:
        raise CommandError(describe_error(db_path(pod), exc)) from None
    if not done.ok or done.grant is None:
        raise CommandError(done.message)
    if args.json:
        conn = open_pod(create=False)[1]
        try:
            gate = get_gate(conn, args.id)
        finally:
            conn.close()
        print(json.dumps({"gate": gate.to_json(), "grant": done.grant.to_json(time.time())}, indent=2,
                         ensure_ascii=False))
        return 0
    print(printable(done.message))
    return 0


def run(args: argparse.Namespace) -> int:
    return decide_command(args, approve=True)
