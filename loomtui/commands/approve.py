"""`loomtui approve ID [--reason R]`: decide a pending gate (shared with `reject`)."""

from __future__ import annotations

import argparse
import sqlite3
import time

from loomtui.cli import CommandError
from loomtui.commands.common import open_pod
from loomtui.config import supervisor_name
from loomtui.store.db import db_path, describe_error
from loomtui.store.gates import GateError, decide


def decide_command(args: argparse.Namespace, *, approve: bool) -> int:
    """Approve or reject gate `args.id` as the supervisor (LOOM_USER). Losing a race,
    or an expired, cancelled or missing gate, is a one-line error with exit 1."""
    if not 0 < args.id < 2**63:
        raise CommandError(f"there is no gate {args.id}")
    pod, conn = open_pod(create=False)
    try:
        gate = decide(conn, args.id, approve=approve, actor=supervisor_name(),
                      reason=args.reason or "", now=time.time())
    except (GateError, ValueError) as exc:
        raise CommandError(str(exc)) from None
    except sqlite3.DatabaseError as exc:
        raise CommandError(describe_error(db_path(pod), exc)) from None
    finally:
        conn.close()
    verb = "approved" if approve else "rejected"
    because = f": {gate.reason}" if gate.reason else ""
    from loomtui.text import printable  # the summary and reason are agents' and people's text

    print(printable(f"{verb} gate {gate.id} ({gate.summary}){because}"))
    return 0


def run(args: argparse.Namespace) -> int:
    return decide_command(args, approve=True)
