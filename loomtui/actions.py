"""PodActions: everything the console does to (and reads from) the pod besides the live
fleet picture, as plain synchronous Python: decide and claim gates, change a budget's
limit, read and change the shared memory, read the audit log.

No textual, no rich: the console runs these off its event loop (loomtui/tui/pod.py is
the one bridge), and a test can call them directly. Each command opens a short-lived
store connection, the same functions the CLI uses; a failing store raises StoreError or
sqlite3.Error for the caller to report. Every decision passes
loomtui.supervisors.authorize first and is recorded as this process's OS account.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, TypeVar

from loomtui.config import Config
from loomtui.store.db import connect, db_path
from loomtui.supervisors import Decider

if TYPE_CHECKING:
    from loomtui.memory.entries import Author, Change, Entry, EntryError
    from loomtui.store.budgets import BudgetState
    from loomtui.store.gates import Gate

T = TypeVar("T")


class Outcome(NamedTuple):
    """One decision's result, said for people: done (ok) or why not."""

    ok: bool
    message: str


class MemoryOutcome(NamedTuple):
    """A memory change: the entry as it is now, or the problem (a version conflict, a
    refusal, an invalid entry) that stopped it."""

    entry: Entry | None
    problem: EntryError | None


class AuditLog(NamedTuple):
    """The audit log as the console shows it: its head (to tell when it grew), every
    entry, and what verification found wrong."""

    head: tuple
    entries: list[dict]
    problems: list[str]


class PodActions:
    """The pod's commands for one console: who decides (`decider`), the pod's config, and
    the clock and time zone its decisions and budgets are computed with."""

    def __init__(self, pod: Path, config: Config, decider: Decider, *,
                 clock: Callable[[], float] = time.time, tz: tzinfo | None = None) -> None:
        self.pod = pod
        self.config = config
        self.decider = decider
        self.clock = clock
        self.tz = tz

    @contextmanager
    def connection(self) -> Iterator[sqlite3.Connection]:
        """A short-lived connection to an existing pod store (never creates one)."""
        conn = connect(db_path(self.pod), create=False)
        try:
            yield conn
        finally:
            conn.close()

    def run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """`work(conn)` on a short-lived connection."""
        with self.connection() as conn:
            return work(conn)

    # -- who may decide ------------------------------------------------------------------

    def refusal(self, gate: Gate | None = None) -> str | None:
        """Why this console may not decide (on `gate`), or None; see
        loomtui.supervisors.authorize. Reads /proc and the pod."""
        from loomtui.supervisors import NotAllowed, authorize

        try:
            authorize(self.pod, self.config, self.decider, gate)
        except NotAllowed as exc:
            return str(exc)
        return None

    # -- gates ---------------------------------------------------------------------------

    def decide_gates(self, gates: Sequence[Gate], *, approve: bool, reason: str) -> list[Outcome]:
        """Approve or reject gates as this supervisor, one outcome per gate. Conflicts
        (another supervisor was faster, the gate expired) and refusals (not an approver,
        an agent's own gate) are outcomes, never raised."""
        from loomtui.store.gates import GateError, decide

        outcomes = []
        with self.connection() as conn:
            for gate in gates:
                if problem := self.refusal(gate):
                    outcomes.append(Outcome(False, problem))
                    continue
                try:
                    # The approval records the content the supervisor saw on
                    # screen; if the action changed since, the hook voids it.
                    decide(conn, gate.id, approve=approve, actor=self.decider.account,
                           display=self.decider.display, reason=reason, now=self.clock(),
                           seen_hash=gate.content_hash)
                    verb = "Approved" if approve else "Rejected"
                    outcomes.append(Outcome(True, f"{verb} gate {gate.id}: {gate.summary}"))
                except GateError as exc:
                    outcomes.append(Outcome(False, str(exc)))
        return outcomes

    def claim_gate(self, gate_id: int) -> str:
        """Claim a gate ("I'm on it"); the problem when that is refused, else ""."""
        from loomtui.store.gates import GateError, claim, get_gate

        with self.connection() as conn:
            try:
                if problem := self.refusal(get_gate(conn, gate_id)):
                    return problem
                claim(conn, gate_id, actor=self.decider.account, display=self.decider.display,
                      now=self.clock())
                return ""
            except GateError as exc:
                return str(exc)

    def cancel_orphans(self, waiting: Sequence[Gate]) -> list[int]:
        """Cancel the gates whose waiting hook on this host is gone (killed, even with
        SIGKILL): nobody would act on a decision. Reads /proc; writes only when one of
        `waiting` is dead. The ids cancelled."""
        from loomtui.store.gates import cancel_orphans, waiter_gone

        if not any([waiter_gone(g) for g in waiting]):
            return []
        return self.run(lambda conn: cancel_orphans(conn, now=self.clock()))

    # -- budgets -------------------------------------------------------------------------

    def set_budget(self, state: BudgetState, max_tokens: int | None, max_usd: float | None) -> Outcome:
        """Change one budget's limit as this supervisor (audited), then recompute the
        budget state at once so the hook gates, or stops gating, from now on. Not ok,
        with the refusal, when this console may not decide."""
        from loomtui.store import budgets

        if problem := self.refusal():
            return Outcome(False, problem)
        with self.connection() as conn:
            now = self.clock()
            budgets.set_limit(conn, scope=state.scope, scope_ref=state.scope_ref, period=state.period,
                              max_tokens=max_tokens, max_usd=max_usd, actor=self.decider.account, now=now)
            limits = self.config.budgets
            budgets.refresh(conn, limits.limits, now, self.tz, limits.week_starts)
        unit = " · ".join(x for x in (f"${max_usd:g}" if max_usd is not None else "",
                                      f"{max_tokens:,} tokens" if max_tokens is not None else "") if x)
        return Outcome(True, f"{state.scope} {state.period} budget set to {unit or 'no limit'}")

    # -- memory --------------------------------------------------------------------------

    def memory_entries(self, query: str, statuses: tuple[str, ...] | None,
                       agent_id: int | None = None) -> tuple[list[Entry], dict[str, int]]:
        """The entries to list (ranked as agents get them when `query` is given, else
        newest first) with `statuses` (None: all), only `agent_id`'s when given, and
        the counts per status."""
        from loomtui.memory import entries as mem

        now = self.clock()
        with self.connection() as conn:
            if query:
                from loomtui.memory.retrieval import rank

                found = [h.entry for h in rank(conn, query, now=now,
                                               statuses=statuses or mem.STATUSES, limit=200)]
            else:
                found = mem.list_entries(conn, statuses=statuses, limit=500)
            if agent_id is not None:
                found = [e for e in found if e.agent_id == agent_id]
            return found, mem.counts(conn)

    def agent_memory(self, agent_id: int) -> list[Entry]:
        """Every entry `agent_id` wrote, whatever its status, newest first."""
        from loomtui.memory import entries as mem

        return self.run(lambda conn: [e for e in mem.list_entries(conn, statuses=None, limit=2000)
                                      if e.agent_id == agent_id])

    def memory_history(self, entry_id: int) -> list[Change]:
        from loomtui.memory import entries as mem

        return self.run(lambda conn: mem.history(conn, entry_id))

    def memory_entry(self, entry_id: int) -> tuple[Entry | None, Change | None]:
        """The entry as it is now and its latest change (who made it, when), e.g. to show
        what someone else saved while this supervisor was editing it."""
        from loomtui.memory import entries as mem

        def read(conn: sqlite3.Connection) -> tuple[Entry | None, Change | None]:
            changes = mem.history(conn, entry_id)
            return mem.get(conn, entry_id), max(changes, key=lambda c: c.version, default=None)

        return self.run(read)

    def add_memory(self, values: dict) -> MemoryOutcome:
        """A new entry as this supervisor (kinds the config sends to review are proposed)."""
        from loomtui.memory import entries as mem

        review_kinds = tuple(self.config.memory.review_kinds)
        return self._change_memory(lambda conn, author, now: mem.add(
            conn, author=author, now=now, review_kinds=review_kinds, **_fields(values)))

    def edit_memory(self, entry: Entry, values: dict) -> MemoryOutcome:
        from loomtui.memory import entries as mem

        return self._change_memory(lambda conn, author, now: mem.edit(
            conn, entry.id, author=author, now=now, expected_version=entry.version, **_fields(values)))

    def pin_memory(self, entry: Entry) -> MemoryOutcome:
        """Pin the entry, or unpin it when pinned."""
        from loomtui.memory import entries as mem

        return self._change_memory(lambda conn, author, now: mem.set_pinned(
            conn, entry.id, not entry.pinned, author=author, now=now, expected_version=entry.version),
            decision=True)

    def accept_memory(self, entry: Entry) -> MemoryOutcome:
        from loomtui.memory import entries as mem

        return self._change_memory(lambda conn, author, now: mem.accept(
            conn, entry.id, author=author, now=now, expected_version=entry.version), decision=True)

    def reject_memory(self, entry: Entry, reason: str) -> MemoryOutcome:
        from loomtui.memory import entries as mem

        return self._change_memory(lambda conn, author, now: mem.reject(
            conn, entry.id, author=author, reason=reason, now=now, expected_version=entry.version),
            decision=True)

    def retire_memory(self, entry: Entry, reason: str) -> MemoryOutcome:
        from loomtui.memory import entries as mem

        return self._change_memory(lambda conn, author, now: mem.retire(
            conn, entry.id, author=author, reason=reason, now=now, expected_version=entry.version),
            decision=True)

    def _change_memory(self, work: Callable[[sqlite3.Connection, Author, float], Entry], *,
                       decision: bool = False) -> MemoryOutcome:
        """One change compare-and-swap style. A `decision` (accept, reject, pin, retire)
        passes authorize first and is recorded as the OS account; an edit or an addition
        names the supervisor's display name."""
        from loomtui.memory import entries as mem

        author = mem.supervisor(self.decider.account if decision else self.decider.display)
        with self.connection() as conn:
            if decision and (refused := self.refusal()):
                return MemoryOutcome(None, mem.EntryError(refused))
            try:
                return MemoryOutcome(work(conn, author, self.clock()), None)
            except mem.EntryError as exc:
                return MemoryOutcome(None, exc)

    # -- the audit log -------------------------------------------------------------------

    def audit_log(self, seen: tuple | None = None) -> AuditLog | None:
        """The log and every check `loomtui audit verify` makes (the chain, this user's
        witness, the triggers, decided gates and budgets against their entries); None
        when its head is still `seen` (nothing appended since)."""
        from loomtui.store import audit, witness

        with self.connection() as conn:
            head = audit.head(conn)
            if head == seen:
                return None
            return AuditLog(head, audit.export(conn), audit.inspect(conn, witness.own_heads(self.pod)).problems)


def _fields(values: dict) -> dict:
    """The entry fields of a form's values."""
    return {"kind": values["kind"], "title": values["title"], "body": values["body"],
            "tags": values["tags"], "scope": values["scope"], "scope_ref": values["scope_ref"]}
