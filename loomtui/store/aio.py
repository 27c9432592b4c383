"""The console's async view of the pod store (aiosqlite).

It shares SQL and row mapping with the synchronous hook path in `agents.py`, so
the two never disagree about what an agent is.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiosqlite

from loomtui.store import agents as q
from loomtui.store import gates as g
from loomtui.store.db import PRAGMAS, StoreError, connect, describe_error


class AsyncStore:
    """One aiosqlite connection to the pod store."""

    def __init__(self, path: Path, conn: aiosqlite.Connection) -> None:
        self.path = path
        self._conn = conn

    @classmethod
    async def open(cls, path: Path, *, create: bool = True) -> AsyncStore:
        # Create, migrate and version-check with the synchronous path (one place
        # owns migrations), then keep an async connection for the console.
        await asyncio.to_thread(lambda: connect(path, create=create).close())
        try:
            conn = await aiosqlite.connect(path, isolation_level=None)
        except aiosqlite.Error as exc:
            raise StoreError(describe_error(path, exc)) from None
        try:
            for pragma in PRAGMAS:
                await conn.execute(pragma)
        except aiosqlite.Error as exc:
            await conn.close()
            raise StoreError(describe_error(path, exc)) from None
        return cls(path, conn)

    async def close(self) -> None:
        await self._conn.close()

    async def data_version(self) -> int:
        """Changes whenever another connection commits: a cheap "anything new?"."""
        async with self._conn.execute("PRAGMA data_version") as cursor:
            row = await cursor.fetchone()
        assert row is not None
        return int(row[0])

    async def fetch_agents(self) -> list[q.Agent]:
        async with self._conn.execute(q.FLEET_SQL) as cursor:
            return [q.agent_from_row(r) async for r in cursor]

    async def fetch_events(self, agent_id: int, limit: int = 200) -> list[q.Event]:
        async with self._conn.execute(q.EVENTS_SQL, (agent_id, limit)) as cursor:
            return [q.event_from_row(r) async for r in cursor]

    async def fetch_pending_gates(self, now: float) -> list[g.Gate]:
        """Pending, unexpired gates, ranked like the inbox: risk, then age."""
        async with self._conn.execute(g.PENDING_SQL, (now,)) as cursor:
            return [g.gate_from_row(r) async for r in cursor]

    async def fetch_budget_states(self) -> list:
        """Every budget's state as the ingester last computed it (a small table)."""
        from loomtui.store.budgets import STATE_SQL, BudgetState

        async with self._conn.execute(STATE_SQL) as cursor:
            return [BudgetState(*r) async for r in cursor]

    async def fetch_usage_minutes(self, agent_id: int) -> list[tuple[float, int]]:
        """(minute start, tokens) for the agent's session, oldest first."""
        sql = ("SELECT CAST(ts / 60 AS INTEGER) * 60.0 AS m, sum(input_tokens + output_tokens + "
               "cache_write_tokens + cache_read_tokens) FROM usage WHERE agent_id = ? GROUP BY m ORDER BY m")
        async with self._conn.execute(sql, (agent_id,)) as cursor:
            return [(float(m), int(t)) async for m, t in cursor]

    async def fetch_usage_by_model(self, agent_id: int) -> list[tuple]:
        """(model, input, output, cache write, cache read, cost or None, unpriced rows)."""
        sql = ("SELECT model, sum(input_tokens), sum(output_tokens), sum(cache_write_tokens), "
               "sum(cache_read_tokens), sum(cost_usd), sum(cost_source = 'unpriced') FROM usage "
               "WHERE agent_id = ? GROUP BY model ORDER BY sum(input_tokens + output_tokens + "
               "cache_write_tokens + cache_read_tokens) DESC")
        async with self._conn.execute(sql, (agent_id,)) as cursor:
            return [tuple(r) async for r in cursor]

    async def fetch_last_context(self, agent_id: int) -> tuple[str, int] | None:
        """(model, tokens in the context) of the agent's latest response: its input,
        cache reads and cache writes together."""
        sql = ("SELECT model, input_tokens + cache_write_tokens + cache_read_tokens FROM usage "
               "WHERE agent_id = ? ORDER BY ts DESC LIMIT 1")
        async with self._conn.execute(sql, (agent_id,)) as cursor:
            row = await cursor.fetchone()
        return (str(row[0]), int(row[1])) if row else None

    async def fetch_worktrees(self) -> list:
        """Every worktree's diff stats, as the diff watcher last wrote them."""
        from loomtui.store import worktrees as w

        async with self._conn.execute(w.WORKTREES_SQL) as cursor:
            return [w.WorktreeRow(*r) async for r in cursor]

    async def fetch_collisions(self) -> list:
        from loomtui.store import worktrees as w

        async with self._conn.execute(w.COLLISIONS_SQL) as cursor:
            return [w.collision_from_row(r) async for r in cursor]

    async def fetch_worktree_files(self, worktree: str) -> list:
        from loomtui.store import worktrees as w

        async with self._conn.execute(w.FILES_SQL, (worktree,)) as cursor:
            return [w.file_from_row(r) async for r in cursor]

    async def change_marks(self) -> tuple:
        """A cheap fingerprint of the budget and diff tables: it changes when they do."""
        sql = ("SELECT (SELECT max(updated_at) FROM budget_state), (SELECT count(*) FROM budget_state), "
               "(SELECT total(used_tokens) + total(used_usd) + total(max_usd) + total(max_tokens) "
               "        + total(burn_tokens_min) FROM budget_state), "
               "(SELECT max(updated_at) FROM worktrees), (SELECT count(*) FROM worktrees), "
               "(SELECT total(files) + total(added) + total(deleted) FROM worktrees), "
               "(SELECT count(*) FROM worktree_files)")
        async with self._conn.execute(sql) as cursor:
            return tuple(await cursor.fetchone())
