"""`loomtui budgets [--json] [--all]`: every budget of the pod and its state, over-budget first.

A budget is a limit on one scope and period: the pod's 5-hour block and week, a
repository's day, an agent's session and day. The figures are computed now from the usage
rollups (what the hook reads, `budget_state`, is refreshed by the ingester every few
seconds); nothing is written. Without `--all`, periods with no limit are left out.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import time
from typing import Any

from loomtui.commands.common import open_pod, read_config
from loomtui.commands.errors import CommandError
from loomtui.store.budgets import BudgetState, compute
from loomtui.store.db import db_path, describe_error
from loomtui.store.gates import iso
from loomtui.text import printable

SCOPE_ORDER = {"pod": 0, "repo": 1, "agent": 2}
PERIOD_ORDER = {"block": 0, "week": 1, "session": 2, "day": 3}


def order(b: BudgetState, who: str) -> tuple:
    """Over budget first (the most over on top), then limited ones by how much is used,
    then the rest by scope and name."""
    return (not b.over, not b.limited, -b.fraction, SCOPE_ORDER.get(b.scope, 9), who.lower(),
            PERIOD_ORDER.get(b.period, 9))


def collect(*, include_unlimited: bool = False, now: float | None = None) -> list[dict[str, Any]]:
    """Every budget as one JSON-ready dict, in `order`."""
    pod, conn = open_pod(create=False)
    try:
        config = read_config(pod)
        now = time.time() if now is None else now
        limits = config.budgets
        states = compute(conn, limits.limits, now, None, limits.week_starts)
        names = dict(conn.execute("SELECT id, name FROM agents"))
        stored = {(s, r, p): (by, at) for s, r, p, by, at in conn.execute(
            "SELECT scope, scope_ref, period, set_by, set_at FROM budgets")}
    except sqlite3.DatabaseError as exc:  # damage past the header shows only on reading
        raise CommandError(describe_error(db_path(pod), exc)) from None
    finally:
        conn.close()
    rows = []
    for b in states:
        if not include_unlimited and not b.limited:
            continue
        who = describe_who(b, names)
        rows.append((order(b, who), describe(b, who, stored.get((b.scope, b.scope_ref, b.period)),
                                             (b.scope, b.period) in limits.limits)))
    return [row for _key, row in sorted(rows, key=lambda r: r[0])]


def describe_who(b: BudgetState, names: dict[int, str]) -> str:
    if b.scope == "pod":
        return "pod"
    if b.scope == "agent":
        return names.get(int(b.scope_ref), f"agent {b.scope_ref}") if b.scope_ref.isdigit() else b.scope_ref
    return b.scope_ref


def describe(b: BudgetState, who: str, stored: tuple[str, float] | None, configured: bool) -> dict[str, Any]:
    return {
        "scope": b.scope,
        "ref": b.scope_ref,
        "name": who,
        "period": b.period,
        "limit_usd": b.max_usd,
        "limit_tokens": b.max_tokens,
        "used_usd": round(b.used_usd, 6),
        "used_tokens": b.used_tokens,
        "fraction": round(b.fraction, 6),
        "over": b.over,
        "burn_usd_hour": round(b.burn_usd_hour, 6),
        "burn_tokens_min": round(b.burn_tokens_min, 3),
        "projection": iso(b.exhausts_at),  # when this burn reaches the limit, if before it resets
        "starts_at": iso(b.starts_at),
        "resets_at": iso(b.resets_at),
        # where the limit comes from: set with `budget set` / the console, or config.toml
        "source": "store" if stored else ("config" if configured else None),
        "set_by": stored[0] if stored else None,
        "set_at": iso(stored[1]) if stored else None,
    }


def _local_time(iso_time: str | None) -> str:
    """"14:05" (local) for an ISO time today, "Tue 14:05" for another day."""
    if not iso_time:
        return ""
    from datetime import datetime

    when = datetime.fromisoformat(iso_time).astimezone()
    return when.strftime("%H:%M") if when.date() == datetime.now().astimezone().date() else when.strftime("%a %H:%M")


def _money(usd: float | None) -> str:
    return "" if usd is None else f"${usd:,.2f}"


def _limit(row: dict[str, Any]) -> str:
    parts = [_money(row["limit_usd"])] if row["limit_usd"] is not None else []
    if row["limit_tokens"] is not None:
        parts.append(f"{row['limit_tokens']:,} tok")
    return " · ".join(parts) or "none"


def run(args: argparse.Namespace) -> int:
    rows = collect(include_unlimited=args.all)
    if args.json:
        print(json.dumps({"budgets": rows}, indent=2, ensure_ascii=False))
        return 0
    if not rows:
        print("no budgets with a limit (set one with `loomtui budget set`, or see them all with --all)")
        return 0
    table = [("", "SCOPE", "FOR", "PERIOD", "USED", "LIMIT", "%", "RUNS OUT")]
    for r in rows:
        used = f"{_money(r['used_usd'])} {r['used_tokens']:,} tok"
        share = f"{r['fraction'] * 100:.0f}" if r["limit_usd"] is not None or r["limit_tokens"] is not None else ""
        out = _local_time(r["projection"])
        table.append(("OVER" if r["over"] else "", r["scope"], printable(r["name"])[:40], r["period"], used,
                      _limit(r), share, out))
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for row in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    return 0
