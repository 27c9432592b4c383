"""One agent's token usage as the console's agent screen shows it: tokens per
minute, totals per model, and the size of its latest context (stdlib only).

The SQL and row builders here are shared by the synchronous functions below and
the console's async store (`aio.py`), like `agents.FLEET_SQL`.
"""

from __future__ import annotations

import sqlite3
from typing import NamedTuple

from loomtui.store.budgets import TOKENS

# Both read the rollups the usage triggers keep (store/rollups.py), not the raw rows:
# an agent's minutes and models cost the same on the first day and the ninetieth.
MINUTES_SQL = """
    SELECT minute, tokens FROM usage_minutes
    WHERE agent_id = ? AND n_rows > 0 ORDER BY minute
"""
BY_MODEL_SQL = f"""
    SELECT model, sum(input_tokens), sum(output_tokens), sum(cache_write_tokens),
           sum(cache_read_tokens), CASE WHEN sum(costed) > 0 THEN sum(cost_usd) END, sum(n_unpriced)
    FROM usage_totals WHERE agent_id = ? AND n_rows > 0 GROUP BY model
    ORDER BY sum({TOKENS}) DESC
"""
# The context of a response is its input with the cache reads and writes.
LAST_CONTEXT_SQL = """
    SELECT model, input_tokens + cache_write_tokens + cache_read_tokens FROM usage
    WHERE agent_id = ? ORDER BY ts DESC LIMIT 1
"""


class ModelUsage(NamedTuple):
    """An agent's totals for one model; `cost_usd` is None when no row was priced."""

    model: str
    input_tokens: int
    output_tokens: int
    cache_write_tokens: int
    cache_read_tokens: int
    cost_usd: float | None
    unpriced: int  # rows the price table had no price for


def minute_from_row(row: sqlite3.Row | tuple) -> tuple[float, int]:
    """(minute start, tokens)."""
    return float(row[0]), int(row[1])


def model_from_row(row: sqlite3.Row | tuple) -> ModelUsage:
    return ModelUsage(*row)


def context_from_row(row: sqlite3.Row | tuple | None) -> tuple[str, int] | None:
    """(model, tokens in the context), or None when the agent has no usage."""
    return (str(row[0]), int(row[1])) if row else None


def usage_minutes(conn: sqlite3.Connection, agent_id: int) -> list[tuple[float, int]]:
    """(minute start, tokens) over the agent's whole session, oldest first."""
    return [minute_from_row(r) for r in conn.execute(MINUTES_SQL, (agent_id,))]


def usage_by_model(conn: sqlite3.Connection, agent_id: int) -> list[ModelUsage]:
    """The agent's totals per model, the most tokens first."""
    return [model_from_row(r) for r in conn.execute(BY_MODEL_SQL, (agent_id,))]


def last_context(conn: sqlite3.Connection, agent_id: int) -> tuple[str, int] | None:
    """(model, tokens in the context) of the agent's latest response."""
    return context_from_row(conn.execute(LAST_CONTEXT_SQL, (agent_id,)).fetchone())
