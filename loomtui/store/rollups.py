"""Usage rollups: what budgets, `loomtui usage` and the Usage tab read instead of raw
`usage` rows (stdlib only).

Four tables, kept by the triggers of migration 5 -> 6 in the same transaction as the
usage rows that change them (the ingester's upsert, `_apply_reported`'s re-pricing, an
agent's deletion setting `agent_id` to NULL):

- `usage_totals`: per (agent_id or 0, session_id, model, kind), all of history;
- `usage_quarters`: the same per 15-minute bucket [Q, Q + 15 min), UTC;
- `usage_pod_quarters`: per bucket, kind and `edge` (1 for rows exactly at the
  bucket's start), with the earliest and latest entry time: enough to compute ccusage's
  5-hour billing blocks exactly without a row's time (see `blocks`);
- `usage_minutes`: tokens per agent and minute (the Usage tab's sparkline);
- `usage_agent_quarters`: tokens, cost and rows per bucket and agent (budgets' days: a
  third of `usage_quarters`' rows for a day, and narrow ones).

Each holds the token sums, the cost (`cost_usd`, with `costed`: how many rows had a cost),
the rows per cost source and the row count (`n_rows`; a group whose rows all moved
elsewhere keeps a row with n_rows 0, which readers skip).

Every real time zone's offset is a multiple of 15 minutes, so local midnights, `--since
DATE` and week starts fall on bucket edges and sums over buckets are exact. A boundary
that does not (a date before a zone's standard time, in local mean time) is handled by
reading the raw rows of its one partial bucket.

There is no DELETE trigger: retention deletes raw rows older than its horizon and the
rollups keep counting them. `rebuild` recomputes the rollups over the time the raw rows
still cover and keeps older buckets as they are.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

from loomtui.store.db import transaction

QUARTER = 900
BLOCK_SECONDS = 5 * 3600.0
TOKEN_FIELDS = ("input_tokens", "output_tokens", "cache_write_tokens", "cache_read_tokens")
COUNTS = ("costed", "n_table", "n_reported", "n_unpriced", "n_rows")
FIGURES = (*TOKEN_FIELDS, "cost_usd", *COUNTS)
TABLES = ("usage_totals", "usage_quarters", "usage_pod_quarters", "usage_minutes", "usage_agent_quarters")


def quarter_sql(t: str) -> str:
    """floor(t / 900) * 900 in SQL, exactly (as the triggers compute it)."""
    q = f"CAST({t} / 900 AS INTEGER) * 900"
    return f"({q} - 900 * ({q} > {t}))"


def edge_sql(t: str) -> str:
    return f"(CAST({t} / 900 AS INTEGER) * 900 = {t})"


MINUTE_SQL = "CAST(ts / 60 AS INTEGER) * 60.0"
RAW_TOKENS = "input_tokens + output_tokens + cache_write_tokens + cache_read_tokens"

# One raw row's figures, as the rollups hold them (for sums over raw rows).
RAW_FIGURES = (f"{', '.join(TOKEN_FIELDS)}, coalesce(cost_usd, 0) AS cost_usd, "
               "cost_usd IS NOT NULL AS costed, cost_source = 'table' AS n_table, "
               "cost_source = 'reported' AS n_reported, cost_source = 'unpriced' AS n_unpriced, "
               "1 AS n_rows")
# The same figures summed over a group.
RAW_SUMS = (", ".join(f"sum({f})" for f in TOKEN_FIELDS) + ", total(cost_usd), count(cost_usd), "
            "sum(cost_source = 'table'), sum(cost_source = 'reported'), "
            "sum(cost_source = 'unpriced'), count(*)")


def floor_quarter(t: float) -> float:
    return t - t % QUARTER


def relation(table: str, since: float | None) -> tuple[str, tuple]:
    """An SQL relation (a parenthesised SELECT) with `table`'s columns restricted to
    rows at or after `since`: `usage_totals` (from `usage_quarters` with `since`),
    `usage_quarters` or `usage_pod_quarters`. A `since` that is not on a bucket edge
    reads the raw rows of its partial bucket."""
    pod = table == "usage_pod_quarters"
    keys = "bucket, kind" if pod else "bucket, agent_id, session_id, model, kind"
    if since is None:
        return f"(SELECT * FROM {table})", ()
    totals = table == "usage_totals"
    if totals:
        table = "usage_quarters"
    figures = ", ".join(FIGURES)
    lo = floor_quarter(since)
    if lo == since:
        rel, args = f"(SELECT {keys}, {figures} FROM {table} WHERE bucket >= ?)", (since,)
    else:
        raw_keys = (f"{quarter_sql('ts')} AS bucket, kind" if pod else
                    f"{quarter_sql('ts')} AS bucket, coalesce(agent_id, 0) AS agent_id, session_id, model, kind")
        rel, args = (f"(SELECT {keys}, {figures} FROM {table} WHERE bucket >= ? UNION ALL "
                     f"SELECT {raw_keys}, {RAW_FIGURES} FROM usage WHERE ts >= ? AND ts < ?)",
                     (lo + QUARTER, since, lo + QUARTER))
    if totals:  # summed per key first: a report then joins agents once per key, not per bucket
        sums = ", ".join(f"sum({f}) AS {f}" for f in FIGURES)
        rel = f"(SELECT agent_id, session_id, model, kind, {sums} FROM {rel} GROUP BY 1, 2, 3, 4)"
    return rel, args


class Part(NamedTuple):
    """The entries of one bucket, either exactly at its start (edge) or after it, summed
    over kinds: (bucket, edge, first ts, last ts, kinds, figures...)."""

    bucket: int
    edge: int
    min_ts: float
    max_ts: float
    kinds: frozenset[str]
    figures: tuple  # FIGURES, in order


PARTS_SQL = f"""
    SELECT bucket, edge, min(min_ts), max(max_ts), group_concat(kind, char(31)),
           {', '.join(f'sum({f})' for f in FIGURES)}
    FROM usage_pod_quarters WHERE bucket >= ? AND n_rows > 0
    GROUP BY bucket, edge ORDER BY bucket, edge DESC
"""


def parts(conn: sqlite3.Connection, since: float = 0.0) -> list[Part]:
    """Buckets from `since` (floored to a bucket) on, in time order, each split into its
    edge part (entries exactly at its start) and the rest."""
    return [Part(r[0], r[1], r[2], r[3], frozenset(r[4].split("\x1f")), tuple(r[5:]))
            for r in conn.execute(PARTS_SQL, (floor_quarter(since),))]


class PartBlock(NamedTuple):
    start: float
    end: float
    first: float
    last: float
    parts: list[Part]


def blocks(parts: Iterable[Part]) -> Iterator[PartBlock]:
    """ccusage's 5-hour blocks (as `budgets.billing_blocks` computes them over every
    entry's time) over bucket parts. A block's start is a whole hour, so start + 5 h is
    a bucket edge: the entries exactly at it are the edge part of a bucket (they stay in
    the block, as `ts - start > 5 h` is false for them), and every other part lies wholly
    before or wholly after it. Gaps inside a part are under 15 minutes and never end a
    block. So deciding per part, by its first and last entry, is exact."""
    start = first = last = None
    members: list[Part] = []
    for part in parts:
        if start is None or part.min_ts - start > BLOCK_SECONDS or part.min_ts - last > BLOCK_SECONDS:
            if start is not None:
                yield PartBlock(start, start + BLOCK_SECONDS, first, last, members)
            start, first, members = part.min_ts - part.min_ts % 3600, part.min_ts, []
        last = part.max_ts
        members.append(part)
    if start is not None:
        yield PartBlock(start, start + BLOCK_SECONDS, first, last, members)


# -- rebuild ---------------------------------------------------------------------------


class Rebuilt(NamedTuple):
    raw_rows: int
    since: float | None  # the first bucket recomputed (None: none)
    rows: dict[str, int]  # rollup rows per table afterwards
    seconds: float

    def as_json(self) -> dict[str, Any]:
        return {"raw_rows": self.raw_rows, "recomputed_from": self.since, "rollup_rows": self.rows,
                "seconds": round(self.seconds, 3)}


def rebuild(conn: sqlite3.Connection, everything: bool = False) -> Rebuilt:
    """Recompute the rollups from the raw rows, in one transaction: the buckets and
    minutes from the first bucket edge at or after the oldest raw row are replaced by sums
    over the raw rows; older ones (whose raw rows retention deleted, wholly or, in the
    bucket where it cut, partly) are kept; the totals are then the sum of every bucket.
    `everything`: recompute all of it from the raw rows, forgetting history they no
    longer hold."""
    started = time.perf_counter()
    q = quarter_sql("ts")
    with transaction(conn):
        (oldest, raw_rows) = conn.execute("SELECT min(ts), count(*) FROM usage").fetchone()
        since = None
        if everything:
            since = float("-inf")
        elif oldest is not None:
            since = floor_quarter(oldest)
            if since != oldest:  # retention may have cut inside this bucket: keep it
                since += QUARTER
        if since is not None:
            conn.execute("DELETE FROM usage_quarters WHERE bucket >= ?", (since,))
            conn.execute("DELETE FROM usage_pod_quarters WHERE bucket >= ?", (since,))
            conn.execute("DELETE FROM usage_minutes WHERE minute >= ?", (since,))
            conn.execute("DELETE FROM usage_agent_quarters WHERE bucket >= ?", (since,))
            figures = ", ".join(FIGURES)
            conn.execute(
                f"INSERT INTO usage_quarters (bucket, agent_id, session_id, model, kind, {figures}) "
                f"SELECT {q}, coalesce(agent_id, 0), session_id, model, kind, {RAW_SUMS} "
                "FROM usage WHERE ts >= ? GROUP BY 1, 2, 3, 4, 5", (since,))
            conn.execute(
                f"INSERT INTO usage_pod_quarters (bucket, edge, kind, {figures}, min_ts, max_ts) "
                f"SELECT {q}, {edge_sql('ts')}, kind, {RAW_SUMS}, min(ts), max(ts) "
                "FROM usage WHERE ts >= ? GROUP BY 1, 2, 3", (since,))
            conn.execute(
                "INSERT INTO usage_minutes (agent_id, minute, tokens, n_rows) "
                f"SELECT agent_id, {MINUTE_SQL}, sum({RAW_TOKENS}), count(*) "
                "FROM usage WHERE agent_id IS NOT NULL AND ts >= ? GROUP BY 1, 2", (since,))
            conn.execute(
                "INSERT INTO usage_agent_quarters (bucket, agent_id, tokens, cost_usd, n_rows) "
                f"SELECT {q}, agent_id, sum({RAW_TOKENS}), total(cost_usd), count(*) "
                "FROM usage WHERE agent_id IS NOT NULL AND ts >= ? GROUP BY 1, 2", (since,))
            if everything:
                since = oldest
        conn.execute("DELETE FROM usage_totals")
        conn.execute(
            f"INSERT INTO usage_totals (agent_id, session_id, model, kind, {', '.join(FIGURES)}) "
            f"SELECT agent_id, session_id, model, kind, {', '.join(f'sum({f})' for f in FIGURES)} "
            "FROM usage_quarters WHERE n_rows > 0 GROUP BY 1, 2, 3, 4")
        for table in TABLES:  # groups whose rows all moved elsewhere
            conn.execute(f"DELETE FROM {table} WHERE n_rows = 0")
        rows = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}
    return Rebuilt(raw_rows, since, rows, time.perf_counter() - started)
