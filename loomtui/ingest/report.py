"""Usage reports from the store (what `loomtui usage` prints), stdlib only.

Rows are grouped by agent, session, model, day (local), 5-hour billing block or repository.
Token fields are as ccusage reports them: for Codex, `input_tokens` is the non-cached
input and `cache_read_tokens` the cached input. `cost_usd` is the sum of the priced rows;
`priced` says whether every row had a price ("table"; "reported" where the agent's own
figure was used for some rows; "partial" when some rows are unpriced; "unpriced" when none
had one).
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

from loomtui.store.budgets import billing_blocks

GROUPS = ("agent", "session", "model", "day", "block", "repo")
FIELDS = ("input_tokens", "output_tokens", "cache_write_tokens", "cache_read_tokens")

_KEY_SQL = {
    "agent": "coalesce(a.name, 'session ' || u.session_id)",
    "session": "u.session_id",
    "model": "CASE WHEN u.model = '' THEN '(unknown)' ELSE u.model END",
    "day": "date(u.ts, 'unixepoch', 'localtime')",
    "repo": "coalesce(a.repo, '(no repository)')",
}
_AGENT_SQL = {
    "agent": "coalesce(a.name, '')",
    "session": "coalesce(max(a.name), '')",
}


def _sums(prefix: str = "u.") -> str:
    return ", ".join(f"sum({prefix}{f})" for f in FIELDS)


def usage_rows(conn: sqlite3.Connection, by: str = "agent", since: float | None = None) -> dict:
    """{"rows": [...], "totals": {...}} as `loomtui usage --json` prints it."""
    if by not in GROUPS:
        raise ValueError(f"cannot group by {by!r}; choose one of {', '.join(GROUPS)}")
    where, args = ("WHERE u.ts >= ?", (since,)) if since is not None else ("", ())
    priced = ("sum(u.cost_source = 'table'), sum(u.cost_source = 'reported'), "
              "sum(u.cost_source = 'unpriced'), sum(u.cost_usd)")
    if by == "block":
        raw = _block_rows(conn, where, args, priced)
    else:
        agent = _AGENT_SQL.get(by, "''")
        kind = "group_concat(DISTINCT u.kind)"
        sql = (f"SELECT {_KEY_SQL[by]} AS k, {agent}, {kind}, {_sums()}, {priced} "
               f"FROM usage u LEFT JOIN agents a ON a.id = u.agent_id {where} "
               f"GROUP BY k ORDER BY k")
        raw = conn.execute(sql, args).fetchall()
    rows = [_row(r) for r in raw]
    totals = {f: sum(r[f] for r in rows) for f in (*FIELDS, "total_tokens")}
    costs = [r["cost_usd"] for r in rows if r["cost_usd"] is not None]
    totals["cost_usd"] = round(sum(costs), 10) if costs else (0.0 if not rows else None)
    return {"by": by, "rows": rows, "totals": totals}


def _row(r) -> dict:
    key, agent, kinds, inp, out, cw, cr, n_table, n_reported, n_unpriced, cost = r
    row = {"key": str(key), "agent": agent or "", "kind": kinds or "",
           "input_tokens": inp or 0, "output_tokens": out or 0,
           "cache_write_tokens": cw or 0, "cache_read_tokens": cr or 0}
    row["total_tokens"] = sum(row[f] for f in FIELDS)
    row["cost_usd"] = round(cost, 10) if cost is not None else None
    if n_unpriced and (n_table or n_reported):
        row["priced"] = "partial"
    elif n_unpriced:
        row["priced"] = "unpriced"
    elif n_reported:
        row["priced"] = "reported"  # some or all of the cost is the agent's own figure
    else:
        row["priced"] = "table"
    return row


def _block_rows(conn, where, args, priced):
    """Blocks need every entry's time in order (a block's start depends on the gaps before
    it), so they are computed over all rows and then filtered."""
    times = [t for (t,) in conn.execute("SELECT ts FROM usage ORDER BY ts")]
    out = []
    for block in billing_blocks(times):
        if args and block.last < args[0]:
            continue
        lo = max(block.start, args[0]) if args else block.start
        r = conn.execute(
            f"SELECT '', group_concat(DISTINCT u.kind), {_sums()}, {priced} FROM usage u "
            "WHERE u.ts >= ? AND u.ts <= ?", (lo, block.last)).fetchone()
        key = datetime.fromtimestamp(block.start, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        out.append((key, *r))
    return out
