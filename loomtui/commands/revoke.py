"""`loomtui revoke ID --reason R [--json]`: end a grant now.

A decision like any other: it passes loomtui.supervisors.authorize (an agent cannot
revoke, nor keep, its own grants: the policy's protect-decisions denies the command to
agents too) and is audited as this process's OS account, through the console's own path
(loomtui.actions.PodActions.revoke_grant). The calls the grant allowed wait for a person
again from the next one on.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import time

from loomtui.commands.common import open_pod, read_config
from loomtui.commands.errors import CommandError
from loomtui.store.db import db_path, describe_error
from loomtui.text import printable


def run(args: argparse.Namespace) -> int:
    from loomtui.actions import PodActions
    from loomtui.supervisors import current_decider

    if not 0 < args.id < 2**63:
        raise CommandError(f"there is no grant {args.id}")
    if not args.reason.strip():
        raise CommandError("a reason is required to revoke a grant")
    pod, conn = open_pod(create=False)
    conn.close()
    config = read_config(pod)
    try:
        done = PodActions(pod, config, current_decider()).revoke_grant(args.id, args.reason)
    except sqlite3.DatabaseError as exc:
        raise CommandError(describe_error(db_path(pod), exc)) from None
    if not done.ok or done.grant is None:
        raise CommandError(done.message)
    if args.json:
        print(json.dumps(done.grant.to_json(time.time()), indent=2, ensure_ascii=False))
        return 0
    print(printable(done.message))
    return 0
