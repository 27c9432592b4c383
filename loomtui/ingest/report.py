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

from loomtui.store import rollups

GROUPS = ("agent", "session", "model", "day", "block", "repo")
FIELDS = ("input_tokens", "output_tokens", "cache_write_tokens", "cache_read_tokens")

_KEY_SQL = {
    "agent": "coalesce(a.name, 'session ' || t.session_id)",
    "session": "t.session_id",
    "model": "CASE WHEN t.model = '' THEN '(unknown)' ELSE t.model END",
    "day": "date(t.bucket, 'unixepoch', 'localtime')",
    "repo": "coalesce(a.repo, '(no repository)')",
}
_AGENT_SQL = {
    "agent": "coalesce(a.name, '')",
    "session": "coalesce(max(a.name), '')",
}
# A group's figures from rollup rows (store/rollups.py): its tokens, rows per cost source
# and cost (None when no row had one, as sum() over raw rows gives). Rollup rows whose
# usage rows all moved to another key (n_rows 0) are left out, their names and kinds too.
_SUMS = (", ".join(f"sum(t.{f})" for f in FIELDS)
         + ", sum(t.n_table), sum(t.n_reported), sum(t.n_unpriced), "
           "CASE WHEN sum(t.costed) > 0 THEN sum(t.cost_usd) END")


def usage_rows(conn: sqlite3.Connection, by: str = "agent", since: float | None = None) -> dict:
    """{"rows": [...], "totals": {...}} as `loomtui usage --json` prints it.

    Read from the usage rollups, never the raw rows: per agent, session, model and
    repository from `usage_totals` (from `usage_quarters` with `since`), per day from
    the pod's 15-minute buckets, blocks from the same buckets (see `rollups.blocks`)."""
    if by not in GROUPS:
        raise ValueError(f"cannot group by {by!r}; choose one of {', '.join(GROUPS)}")
    if by == "block":
        raw = _block_rows(conn, since)
    else:
        table = "usage_pod_quarters" if by == "day" else "usage_totals"
        source, args = rollups.relation(table, since)
        join = "" if by == "day" else "LEFT JOIN agents a ON a.id = t.agent_id"
        agent = _AGENT_SQL.get(by, "''")
        sql = (f"SELECT {_KEY_SQL[by]} AS k, {agent}, group_concat(DISTINCT t.kind), {_SUMS} "
               f"FROM {source} t {join} WHERE t.n_rows > 0 GROUP BY k ORDER BY k")
        raw = conn.execute(sql, args).fetchall()
    rows = [_row(r) for r in raw]
    totals = {f: sum(r[f] for r in rows) for f in (*FIELDS, "total_tokens")}
    costs = [r["cost_usd"] for r in rows if r["cost_usd"] is not None]
    totals["cost_usd"] = round(sum(costs), 10) if costs else (0.0 if not rows else None)
    return {"by": by, "rows": rows, "totals": totals}


def _row(r) -> dict:
    key, agent, kinds, inp, out, cw, cr, n_table, n_reported, n_unpriced, cost = r
    # the kinds in a group, sorted (a rollup has no insertion order to keep)
    kinds = ",".join(sorted(set((kinds or "").split(",")) - {""}))
    row = {"key": str(key), "agent": agent or "", "kind": kinds,
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


def _block_rows(conn: sqlite3.Connection, since: float | None) -> list[tuple]:
    """Blocks depend on every entry's time in order (a block's start depends on the gaps
    before it), so they are computed over all of history's bucket parts (a few hundred
    rows a day, whatever the rows per day), then only entries from `since` on are summed.
    A `since` off a bucket edge takes its partial bucket from the raw rows."""
    lo = rollups.floor_quarter(since) if since is not None else None
    partial = None
    if since is not None and lo != since:
        partial = conn.execute(f"SELECT group_concat(DISTINCT kind), {rollups.RAW_SUMS} FROM usage "
                               "WHERE ts >= ? AND ts < ?", (since, lo + rollups.QUARTER)).fetchone()
    out = []
    for block in rollups.blocks(rollups.parts(conn)):
        kinds: set[str] = set()
        sums = [0] * len(rollups.FIGURES)
        for part in block.parts:
            if since is None or part.bucket >= since:
                figures, part_kinds = part.figures, part.kinds
            elif part.bucket == lo and not part.edge and partial is not None and partial[-1]:
                figures, part_kinds = partial[1:], set((partial[0] or "").split(","))
            else:
                continue
            kinds |= part_kinds
            sums = [a + b for a, b in zip(sums, figures, strict=True)]
        if not sums[-1]:  # n_rows: nothing in this block from `since` on
            continue
        inp, out_, cw, cr, cost, costed, n_table, n_reported, n_unpriced, _n = sums
        key = datetime.fromtimestamp(block.start, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        out.append((key, "", ",".join(kinds), inp, out_, cw, cr, n_table, n_reported, n_unpriced,
                    cost if costed else None))
    return out
