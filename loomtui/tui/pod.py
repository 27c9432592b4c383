"""ConsolePod: the screens' one handle on the pod.

Every command of loomtui.actions.PodActions, run off the event loop in a thread; a store
that fails (locked past the busy timeout, gone, corrupt) is reported here, once per
call, and the command gives None: the console stays up. Commands that write make the
console read the pod again at once (`after_write`), so a decision shows without waiting
for the live loop.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import TYPE_CHECKING, TypeVar

from loomtui.actions import AuditLog, BudgetChange, MemoryOutcome, Outcome, PodActions
from loomtui.store.db import StoreError, db_path, describe_error

if TYPE_CHECKING:
    from loomtui.memory.entries import Change, Entry
    from loomtui.store.budgets import BudgetState
    from loomtui.store.gates import Gate

T = TypeVar("T")


class ConsolePod:
    """PodActions for the event loop: `report(text)` shows a store failure,
    `after_write()` re-reads the pod after a change."""

    def __init__(self, actions: PodActions, *, report: Callable[[str], None],
                 after_write: Callable[[], Awaitable[None]]) -> None:
        self.actions = actions
        self._report = report
        self._after_write = after_write

    async def call(self, command: Callable[..., T], *args, **kwargs) -> T | None:
        """`command(*args, **kwargs)` in a thread; a store failure is reported and gives None."""
        try:
            return await asyncio.to_thread(partial(command, *args, **kwargs))
        except (StoreError, sqlite3.Error) as exc:
            path = db_path(self.actions.pod)
            self._report(str(exc) if isinstance(exc, StoreError) else describe_error(path, exc))
            return None

    async def _write(self, command: Callable[..., T], *args, **kwargs) -> T | None:
        result = await self.call(command, *args, **kwargs)
        await self._after_write()
        return result

    # -- commands, typed -------------------------------------------------------------

    async def decide_gates(self, gates: Sequence[Gate], *, approve: bool, reason: str,
                           override_claims: bool = False) -> list[Outcome]:
        return await self._write(self.actions.decide_gates, gates, approve=approve, reason=reason,
                                 override_claims=override_claims) or []

    async def toggle_claim(self, gate_id: int, *, take_over: bool = False) -> Outcome | None:
        return await self._write(self.actions.toggle_claim, gate_id, take_over=take_over)

    async def cancel_orphans(self, waiting: Sequence[Gate]) -> list[int] | None:
        return await self.call(self.actions.cancel_orphans, waiting)

    async def set_budget(self, state: BudgetState, max_tokens: int | None,
                         max_usd: float | None) -> BudgetChange | None:
        return await self._write(self.actions.set_budget, state.scope, state.scope_ref, state.period,
                                 max_tokens, max_usd)

    async def unset_budget(self, state: BudgetState) -> BudgetChange | None:
        return await self._write(self.actions.set_budget, state.scope, state.scope_ref, state.period,
                                 None, None, unset=True)

    async def memory_entries(self, query: str, statuses: tuple[str, ...] | None,
                             agent_id: int | None = None) -> tuple[list[Entry], dict[str, int]] | None:
        return await self.call(self.actions.memory_entries, query, statuses, agent_id)

    async def agent_memory(self, agent_id: int) -> list[Entry] | None:
        return await self.call(self.actions.agent_memory, agent_id)

    async def memory_history(self, entry_id: int) -> list[Change] | None:
        return await self.call(self.actions.memory_history, entry_id)

    async def memory_entry(self, entry_id: int) -> tuple[Entry | None, Change | None] | None:
        return await self.call(self.actions.memory_entry, entry_id)

    # A memory change gives the entry as it is now, or the problem (a version conflict, a
    # refusal) that stopped it; None when the store failed.

    async def add_memory(self, values: dict) -> MemoryOutcome | None:
        return await self.call(self.actions.add_memory, values)

    async def edit_memory(self, entry: Entry, values: dict) -> MemoryOutcome | None:
        return await self.call(self.actions.edit_memory, entry, values)

    async def pin_memory(self, entry: Entry) -> MemoryOutcome | None:
        return await self.call(self.actions.pin_memory, entry)

    async def accept_memory(self, entry: Entry) -> MemoryOutcome | None:
        return await self.call(self.actions.accept_memory, entry)

    async def reject_memory(self, entry: Entry, reason: str) -> MemoryOutcome | None:
        return await self.call(self.actions.reject_memory, entry, reason)

    async def retire_memory(self, entry: Entry, reason: str) -> MemoryOutcome | None:
        return await self.call(self.actions.retire_memory, entry, reason)

    async def audit_log(self, seen: tuple | None) -> AuditLog | None:
        return await self.call(self.actions.audit_log, seen)

    # Grants (issue 14): approving a gate and allowing calls like it; revoking.

    async def grant(self, gate: Gate, *, scope: str, pattern: str, duration: float, reason: str,
                    override_claims: bool = False) -> Outcome | None:
        return await self._write(self.actions.grant, gate, scope=scope, pattern=pattern, duration=duration,
                                 reason=reason, override_claims=override_claims)

    async def revoke_grant(self, grant_id: int, reason: str) -> Outcome | None:
        return await self._write(self.actions.revoke_grant, grant_id, reason)
