"""The console's async view of the pod store (aiosqlite).

Every query here is a sync store module's SQL and row builder, run through
aiosqlite: the console and the synchronous paths (hook, CLI, ingester) never
disagree about what an agent, a gate, a budget or a worktree is, and no SQL is
written twice.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiosqlite

from loomtui.store import agents as q
from loomtui.store import budgets as b
from loomtui.store import forecasts as fc
from loomtui.store import gates as g
from loomtui.store import presence as pr
from loomtui.store import record as rec
from loomtui.store import usage as u
from loomtui.store import worktrees as w
from loomtui.store.db import PRAGMAS, StoreError, connect, describe_error

# The budget and diff tables' fingerprints in one row (one trip through aiosqlite's thread).
CHANGE_MARKS_SQL = f"SELECT * FROM ({b.CHANGE_MARK_SQL}), ({w.CHANGE_MARK_SQL}), ({fc.CHANGE_MARK_SQL})"


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
        # fetchall: one trip through aiosqlite's thread (iterating takes one per 64 rows,
        # and a big fleet is read four times a second).
        async with self._conn.execute(q.FLEET_SQL) as cursor:
            return [q.agent_from_row(r) for r in await cursor.fetchall()]

    async def fetch_events(self, agent_id: int, limit: int = 200) -> list[q.Event]:
        async with self._conn.execute(q.EVENTS_SQL, (agent_id, limit)) as cursor:
            return [q.event_from_row(r) async for r in cursor]

    async def fetch_pending_gates(self, now: float) -> list[g.Gate]:
        """Pending, unexpired gates, ranked like the inbox: risk, then age."""
        async with self._conn.execute(g.PENDING_SQL, (now,)) as cursor:
            return [g.gate_from_row(r) async for r in cursor]

    async def fetch_gates(self, ids: list[int]) -> list[g.Gate]:
        """These gates as they are now, whatever their status."""
        marks = ", ".join("?" * len(ids))
        async with self._conn.execute(g.GATE_SELECT + f" WHERE g.id IN ({marks})", ids) as cursor:
            return [g.gate_from_row(r) for r in await cursor.fetchall()]

    async def fetch_presence(self, now: float) -> list[pr.Presence]:
        """The consoles live at `now` (a small table: one row per open console)."""
        async with self._conn.execute(pr.LIVE_SQL, (pr.cutoff(now),)) as cursor:
            return [pr.Presence(*r) for r in await cursor.fetchall()]

    async def fetch_budget_states(self) -> list[b.BudgetState]:
        """Every budget's state as the ingester last computed it (a small table)."""
        async with self._conn.execute(b.STATE_SQL) as cursor:
            return [b.BudgetState(*r) async for r in cursor]

    async def fetch_usage_minutes(self, agent_id: int) -> list[tuple[float, int]]:
        """(minute start, tokens) for the agent's session, oldest first."""
        async with self._conn.execute(u.MINUTES_SQL, (agent_id,)) as cursor:
            return [u.minute_from_row(r) async for r in cursor]

    async def fetch_usage_by_model(self, agent_id: int) -> list[u.ModelUsage]:
        """The agent's totals per model, the most tokens first."""
        async with self._conn.execute(u.BY_MODEL_SQL, (agent_id,)) as cursor:
            return [u.model_from_row(r) async for r in cursor]

    async def fetch_last_context(self, agent_id: int) -> tuple[str, int] | None:
        """(model, tokens in the context) of the agent's latest response."""
        async with self._conn.execute(u.LAST_CONTEXT_SQL, (agent_id,)) as cursor:
            return u.context_from_row(await cursor.fetchone())

    async def fetch_worktrees(self) -> list[w.WorktreeRow]:
        """Every worktree's diff stats, as the diff watcher last wrote them."""
        async with self._conn.execute(w.WORKTREES_SQL) as cursor:
            return [w.WorktreeRow(*r) async for r in cursor]

    async def fetch_collisions(self) -> list[w.Collision]:
        """Files changed in two or more worktrees of one repository."""
        async with self._conn.execute(w.COLLISIONS_SQL) as cursor:
            return [w.collision_from_row(r) async for r in cursor]

    async def fetch_forecasts(self) -> list[fc.Forecast]:
        """The conflict forecast the console shows: the pairs of agent worktrees that would
        conflict or overlap, and each worktree against its base. Clean pairs are not read."""
        async with self._conn.execute(fc.SHOWN_SQL) as cursor:
            return [fc.forecast_from_row(r) async for r in cursor]

    async def fetch_worktree_files(self, worktree: str) -> list:
        """The changed files of one worktree, by path."""
        async with self._conn.execute(w.FILES_SQL, (worktree,)) as cursor:
            return [w.file_from_row(r) async for r in cursor]

    async def fetch_record(self, agent_id: int, now: float) -> tuple[rec.Record | None, set[str]]:
        """An agent's record (issue 14) and the rules an active grant covers for it."""
        async with self._conn.execute(rec.AGENT_SQL, (agent_id,)) as cursor:
            row = await cursor.fetchone()
        async with self._conn.execute(rec.RULES_SQL, (agent_id,)) as cursor:
            rules = [tuple(r) async for r in cursor]
        async with self._conn.execute(rec.COVERED_SQL, (now, agent_id, agent_id)) as cursor:
            covered = {r[0] async for r in cursor}
        return rec.record_from_rows(agent_id, tuple(row) if row else None, rules), covered

    async def change_marks(self) -> tuple:
        """A cheap fingerprint of the budget and diff tables: it changes when they do."""
        async with self._conn.execute(CHANGE_MARKS_SQL) as cursor:
            return tuple(await cursor.fetchone())
