"""`loomtui budget set|unset (--agent NAME|--repo PATH|--pod) --period P [--limit USD] [--tokens N]`.

`set` writes the limit (`none` for no limit in that unit; the unit not given keeps the
limit that applies now), `unset` removes the store's limit so the config's applies again.
Both are decisions: they pass loomtui.supervisors.authorize (an agent cannot raise its own
budget), are audited as this process's OS account, recompute the budget state at once,
and release the budget gates the change lifted (their waiting hooks answer allow), all
through the console's own path (loomtui.actions.PodActions.set_budget).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sqlite3

from loomtui.commands.common import open_pod, read_config
from loomtui.commands.errors import CommandError
from loomtui.config import BUDGET_PERIODS
from loomtui.store.db import db_path, describe_error
from loomtui.text import printable


def parse_usd(text: str | None) -> tuple[bool, float | None]:
    """(given, value): `none` is no limit; anything else a positive number of dollars."""
    if text is None:
        return False, None
    if text.strip().lower() == "none":
        return True, None
    try:
        value = float(text.strip().lstrip("$").replace(",", ""))
    except ValueError:
        raise CommandError(f"--limit {text!r} is not an amount of dollars (e.g. 25 or 12.50, or none)") from None
    if not math.isfinite(value) or value <= 0:
        raise CommandError(f"--limit {text} must be above zero (or none for no limit)")
    return True, value


def parse_tokens(text: str | None) -> tuple[bool, int | None]:
    if text is None:
        return False, None
    if text.strip().lower() == "none":
        return True, None
    cleaned = text.strip().replace(",", "").replace("_", "")
    if not cleaned.lstrip("-").isdigit():
        raise CommandError(f"--tokens {text!r} is not a whole number of tokens (e.g. 2000000, or none)")
    value = int(cleaned)
    if value <= 0:
        raise CommandError(f"--tokens {text} must be above zero (or none for no limit)")
    return True, value


def target(conn: sqlite3.Connection, args: argparse.Namespace) -> tuple[str, str, str]:
    """(scope, scope_ref, its name: the agent's, the repository's path, or "pod") from
    --agent, --repo or --pod."""
    from loomtui.store.agents import find_agent, names_like

    if args.pod:
        return "pod", "", "pod"
    if args.agent is not None:
        agent = find_agent(conn, args.agent)
        if agent is None:
            like = names_like(conn, args.agent) if args.agent else []
            hint = f"; did you mean {', '.join(like)}?" if like else " (give its name or session id; `loomtui agents` lists them)"
            raise CommandError(f"no agent {args.agent!r} in this pod{hint}")
        return "agent", str(agent.id), agent.name
    known = [r for (r,) in conn.execute("SELECT DISTINCT repo FROM agents WHERE repo IS NOT NULL ORDER BY repo")]
    path = args.repo
    if path not in known:
        from loomtui.places import locate

        found = locate(os.path.abspath(path)).repo
        if found is None:
            hint = f" (repositories agents work in: {', '.join(known)})" if known else ""
            raise CommandError(f"{path} is not inside a git repository{hint}")
        path = found
    return "repo", path, path


def run(args: argparse.Namespace) -> int:
    from loomtui.actions import PodActions
    from loomtui.supervisors import current_decider

    scope = "pod" if args.pod else ("agent" if args.agent is not None else "repo")
    if args.period not in BUDGET_PERIODS[scope]:
        raise CommandError(f"{'an' if scope == 'agent' else 'a'} {scope} budget's period is {' or '.join(BUDGET_PERIODS[scope])}, "
                           f"not {args.period}")
    unset = args.budget_command == "unset"
    usd_given, usd = (False, None) if unset else parse_usd(args.limit)
    tokens_given, tokens = (False, None) if unset else parse_tokens(args.tokens)
    if not unset and not (usd_given or tokens_given):
        raise CommandError("say the new limit: --limit USD and/or --tokens N (none for no limit)")
    pod, conn = open_pod(create=False)
    try:
        config = read_config(pod)
        scope, ref, what = target(conn, args)
        if not unset:
            from loomtui.store.budgets import limit_for

            now_tokens, now_usd = limit_for(conn, config.budgets.limits, scope, ref, args.period)
            tokens = tokens if tokens_given else now_tokens
            usd = usd if usd_given else now_usd
    except sqlite3.DatabaseError as exc:
        raise CommandError(describe_error(db_path(pod), exc)) from None
    finally:
        conn.close()
    try:
        change = PodActions(pod, config, current_decider()).set_budget(scope, ref, args.period, tokens, usd,
                                                                        unset=unset)
    except sqlite3.DatabaseError as exc:
        raise CommandError(describe_error(db_path(pod), exc)) from None
    if not change.ok:
        raise CommandError(change.message)
    if args.json:
        from loomtui.commands.budgets import describe

        state = change.state
        print(json.dumps({
            "scope": scope, "ref": ref, "period": args.period,
            "limit_usd": usd if not unset else (state.max_usd if state else None),
            "limit_tokens": tokens if not unset else (state.max_tokens if state else None),
            "unset": unset,
            "message": change.message,
            "state": describe(state, what, None, False) if state else None,
            "released_gates": list(change.released),
        }, indent=2, ensure_ascii=False))
        return 0
    print(f"{scope} {printable(what)}: {change.message}" if scope != "pod" else change.message)
    return 0
