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
    from loomtui.store.grants import Grant
    from loomtui.store.presence import Claim, Presence

T = TypeVar("T")


class Outcome(NamedTuple):
    """One decision's result, said for people: done (ok) or why not. `skipped`: not
    done because the gate was no longer pending (decided elsewhere, expired,
    cancelled): in a batch that is news, not an error."""

    ok: bool
    message: str
    skipped: bool = False


class GrantOutcome(NamedTuple):
    """A grant made or revoked (ok, with the grant as it is now), or why not. Read like
    an Outcome (ok, message, skipped)."""

    ok: bool
    message: str
    skipped: bool = False
    grant: Grant | None = None


class BudgetChange(NamedTuple):
    """A budget change: done (ok) or why not, the budget gates it released (their
    waiting calls go on), and the budget's state right after."""

    ok: bool
    message: str
    released: tuple[int, ...] = ()
    state: BudgetState | None = None


def limit_text(max_tokens: int | None, max_usd: float | None) -> str:
    """"$12 · 2,000,000 tokens", "" for no limit."""
    return " · ".join(x for x in (f"${max_usd:,.2f}".removesuffix(".00") if max_usd is not None else "",
                                  f"{max_tokens:,} tokens" if max_tokens is not None else "") if x)


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
        from loomtui.store.presence import new_id

        # This console's presence (loomtui/store/presence.py): its claims lapse with it.
        self.presence_id = new_id()
        self.decided_here: set[int] = set()  # gates this console decided (no "decided elsewhere" notice)

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

    def decide_gates(self, gates: Sequence[Gate], *, approve: bool, reason: str,
                     override_claims: bool = False) -> list[Outcome]:
        """Approve or reject gates as this supervisor, one outcome per gate. Conflicts
        (another supervisor was faster, the gate expired) and refusals (not an approver,
        an agent's own gate) are outcomes, never raised. A gate someone else claims is
        decided only with `override_claims` (the supervisor confirmed); else its outcome
        says who claims it."""
        from loomtui.store import presence
        from loomtui.store.gates import GateConflict, GateError, decide, get_gate

        outcomes = []
        with self.connection() as conn:
            live_ids = {p.id for p in presence.live(conn, now=self.clock())} | {self.presence_id}
            for gate in gates:
                if problem := self.refusal(gate):
                    outcomes.append(Outcome(False, problem))
                    continue
                try:
                    claim = presence.live_claim(get_gate(conn, gate.id), live_ids)
                    if claim is not None and not override_claims and not self.holds(claim):
                        outcomes.append(Outcome(False, f"gate {gate.id} was not decided: {claim.who} "
                                                       f"claimed it {presence.ago(self.clock() - claim.since)}"))
                        continue
                    # The approval records the content the supervisor saw on
                    # screen; if the action changed since, the hook voids it.
                    decide(conn, gate.id, approve=approve, actor=self.decider.account,
                           display=self.decider.display, reason=reason, now=self.clock(),
                           seen_hash=gate.content_hash)
                    self.decided_here.add(gate.id)
                    verb = "Approved" if approve else "Rejected"
                    outcomes.append(Outcome(True, f"{verb} gate {gate.id}: {gate.summary}"))
                except GateConflict as exc:
                    outcomes.append(Outcome(False, str(exc), skipped=True))
                except GateError as exc:
                    outcomes.append(Outcome(False, str(exc)))
        return outcomes

    def grant(self, gate: Gate, *, scope: str, pattern: str | None, duration: float,
              reason: str, override_claims: bool = False) -> GrantOutcome:
        """Approve `gate` and allow calls like it (its rule, its shape or the narrower
        `pattern`) for its agent (`scope` agent) or every agent in its repository (`repo`)
        for `duration` seconds: "approve and allow calls like this". Authorised like a
        decision; a gate that may not be granted from (critical, budget, protect-*, a
        dynamic command) or a bad pattern is refused before anything is decided, so the
        gate then still waits. Both the approval and the grant are audited. A gate someone
        else claims is decided only with `override_claims`, as in `decide_gates`."""
        from loomtui.store import presence
        from loomtui.store.gates import GateConflict, GateError, decide, get_gate
        from loomtui.store.grants import GrantRefused, check_grant, create_grant

        with self.connection() as conn:
            try:
                stored = get_gate(conn, gate.id)
            except GateError as exc:
                return GrantOutcome(False, str(exc))
            if problem := self.refusal(stored):
                return GrantOutcome(False, problem)
            live_ids = {p.id for p in presence.live(conn, now=self.clock())} | {self.presence_id}
            claim = presence.live_claim(stored, live_ids)
            if claim is not None and not override_claims and not self.holds(claim):
                return GrantOutcome(False, f"gate {gate.id} was not decided: {claim.who} "
                                           f"claimed it {presence.ago(self.clock() - claim.since)}")
            reason = " ".join((reason or "").split())
            try:
                if not reason:
                    raise ValueError("a reason is required to grant (it is shown with every call it allows)")
                check_grant(conn, gate=stored, scope=scope, pattern=pattern, duration=duration)
            except (GrantRefused, ValueError) as exc:
                return GrantOutcome(False, f"gate {gate.id} was not approved: {exc}")
            now = self.clock()
            try:
                decide(conn, gate.id, approve=True, actor=self.decider.account, display=self.decider.display,
                       reason=reason, now=now, seen_hash=gate.content_hash, simulated=self.decider.simulated)
            except GateConflict as exc:
                return GrantOutcome(False, str(exc), skipped=True)
            except GateError as exc:
                return GrantOutcome(False, str(exc))
            self.decided_here.add(gate.id)
            try:
                made = create_grant(conn, gate=stored, scope=scope, pattern=pattern, duration=duration,
                                    actor=self.decider.account, display=self.decider.display, reason=reason,
                                    now=now, simulated=self.decider.simulated)
            except (GrantRefused, ValueError) as exc:  # checked above: only a race gets here
                return GrantOutcome(False, f"approved gate {gate.id}, but no grant was made: {exc}")
        from loomtui.store.grants import until

        return GrantOutcome(True, f"Approved gate {gate.id} and granted {made.pattern!r} to {made.covers} "
                                  f"until {until(made.expires_at, now)} (grant {made.id})", grant=made)

    def revoke_grant(self, grant_id: int, reason: str) -> GrantOutcome:
        """Revoke a grant as this supervisor (authorised like a decision, audited): from
        now on the calls it allowed wait for a person again."""
        from loomtui.store.grants import GrantRefused, revoke_grant

        if problem := self.refusal():
            return GrantOutcome(False, problem)
        with self.connection() as conn:
            try:
                made = revoke_grant(conn, grant_id, actor=self.decider.account, display=self.decider.display,
                                    reason=reason, now=self.clock(), simulated=self.decider.simulated)
            except (GrantRefused, ValueError) as exc:
                return GrantOutcome(False, str(exc))
        return GrantOutcome(True, f"Revoked grant {grant_id} ({made.pattern!r} for {made.covers})", grant=made)

    def grants(self, *, active_only: bool = True) -> list[Grant]:
        """The grants (active ones, or all), as `loomtui grants` lists them."""
        from loomtui.store.grants import list_grants

        return self.run(lambda conn: list_grants(conn, now=self.clock(), active_only=active_only))

    def holds(self, claim: Claim) -> bool:
        """Is `claim` this supervisor's own (this console, or the same person at another)?"""
        from loomtui.store.presence import held_by

        return held_by(claim, self.presence_id, self.decider.account, self.decider.display)

    def toggle_claim(self, gate_id: int, *, take_over: bool = False) -> Outcome:
        """`c`: claim a gate ("I'm on it"), or give up one's own claim; both audited. A
        gate someone else claims is taken over only with `take_over` (confirmed)."""
        from loomtui.store import presence
        from loomtui.store.gates import GateError, claim, get_gate, unclaim

        with self.connection() as conn:
            try:
                gate = get_gate(conn, gate_id)
                if problem := self.refusal(gate):
                    return Outcome(False, problem)
                now = self.clock()
                live_ids = {p.id for p in presence.live(conn, now=now)} | {self.presence_id}
                held = presence.live_claim(gate, live_ids)
                if held is not None and self.holds(held):
                    unclaim(conn, gate_id, actor=self.decider.account, display=self.decider.display, now=now)
                    return Outcome(True, f"Unclaimed gate {gate_id}")
                if held is not None and not take_over:
                    return Outcome(False, f"gate {gate_id} is claimed by {held.who} "
                                          f"{presence.ago(now - held.since)}")
                claim(conn, gate_id, actor=self.decider.account, display=self.decider.display,
                      now=now, presence=self.presence_id)
                took = f" from {held.who}" if held is not None else ""
                return Outcome(True, f"Claimed gate {gate_id}{took}")
            except GateError as exc:
                return Outcome(False, str(exc))

    def cancel_orphans(self, waiting: Sequence[Gate]) -> list[int]:
        """Cancel the gates whose waiting hook on this host is gone (killed, even with
        SIGKILL): nobody would act on a decision. Reads /proc; writes only when one of
        `waiting` is dead. The ids cancelled."""
        from loomtui.store.gates import cancel_orphans, waiter_gone

        if not any([waiter_gone(g) for g in waiting]):
            return []
        return self.run(lambda conn: cancel_orphans(conn, now=self.clock()))

    # -- presence ------------------------------------------------------------------------

    def announce(self, screen: str, subject: str) -> list[Presence]:
        """This console's heartbeat (it is here, looking at `screen` `subject`), then a
        sweep of consoles that went away and their claims. The live consoles, this one too."""
        from loomtui.store import presence

        now = self.clock()
        with self.connection() as conn:
            presence.announce(conn, self.presence_id, account=self.decider.account,
                              display=self.decider.display, screen=screen, subject=subject, now=now)
            presence.sweep(conn, now=now)
            return presence.live(conn, now=now)

    def leave(self) -> None:
        """This console closes: its presence row goes, its claims lapse at once."""
        from loomtui.store import presence

        self.run(lambda conn: presence.leave(conn, self.presence_id, now=self.clock()))

    # -- budgets -------------------------------------------------------------------------

    def set_budget(self, scope: str, scope_ref: str, period: str, max_tokens: int | None,
                   max_usd: float | None, *, unset: bool = False) -> BudgetChange:
        """Change one budget's limit as this supervisor (audited; `unset` removes the
        store's limit so the config's applies again), recompute the budget state at once
        so the hook gates, or stops gating, from now on, and release the budget gates
        the change lifted (`release_budget_gates`). Not ok, with the refusal, when this
        console may not decide."""
        from loomtui.store import budgets

        if problem := self.refusal():
            return BudgetChange(False, problem)
        with self.connection() as conn:
            now = self.clock()
            if unset:
                budgets.unset_limit(conn, scope=scope, scope_ref=scope_ref, period=period,
                                    actor=self.decider.account, now=now)
            else:
                budgets.set_limit(conn, scope=scope, scope_ref=scope_ref, period=period,
                                  max_tokens=max_tokens, max_usd=max_usd, actor=self.decider.account,
                                  now=now)
            limits = self.config.budgets
            states = budgets.refresh(conn, limits.limits, now, self.tz, limits.week_starts)
            state = next((s for s in states if (s.scope, s.scope_ref, s.period) == (scope, scope_ref, period)),
                         None)
            if unset:
                max_tokens, max_usd = budgets.limit_for(conn, limits.limits, scope, scope_ref, period)
            unit = limit_text(max_tokens, max_usd)
            reason = (f"{period} {budgets.RELEASE_RAISED} {unit}" if unit
                      else f"{period} {budgets.RELEASE_REMOVED}")
            released, refused = self.release_budget_gates(conn, scope, scope_ref, reason)
        said = f"{scope} {period} budget " + ("back to the config's: " if unset else "set to ") + (unit or "no limit")
        if released:
            said += (f"; released {len(released)} waiting call{'s' if len(released) != 1 else ''} "
                     f"(gate{'s' if len(released) != 1 else ''} {', '.join(map(str, released))})")
        for gate_id, problem in refused:
            said += f"; gate {gate_id} still waits ({problem})"
        return BudgetChange(True, said, tuple(released), state)

    def release_budget_gates(self, conn: sqlite3.Connection, scope: str, scope_ref: str,
                             reason: str) -> tuple[list[int], list[tuple[int, str]]]:
        """Approve, as this supervisor and with `reason`, the pending budget gates of the
        agents budget (scope, scope_ref) applies to that no budget holds any more (read
        from `budget_state`, so refresh it first). Each is one audited, conditional
        decision: a gate someone else decided meanwhile, one of this process's own
        session, or one whose waiting hook is gone stays as it is. The ids approved, and
        the gates this process may not decide with why."""
        from loomtui.store import budgets
        from loomtui.store.gates import GateError, decide, get_gate

        released, refused = [], []
        for gate_id in budgets.releasable(conn, scope=scope, scope_ref=scope_ref, now=self.clock()):
            gate = get_gate(conn, gate_id)
            if problem := self.refusal(gate):
                refused.append((gate_id, problem))  # a gate of our own session: never decided by us
                continue
            try:
                decide(conn, gate_id, approve=True, actor=self.decider.account, display=self.decider.display,
                       reason=reason, now=self.clock(), seen_hash=gate.content_hash)
            except GateError:
                continue  # decided, expired or cancelled meanwhile: exactly one decision stands
            released.append(gate_id)
        return released, refused

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

    # -- grants, as the console shows them (issue 14, grantsui) ---------------------------

    def suggestions(self, gates: Sequence[Gate]) -> list[tuple[int, str, str, str, str]]:
        """(agent id, rule, why, scope, pattern) for each agent and rule of `gates` whose
        record suggests a grant: scope `agent` (pattern '': the gate's shape) or `repo`
        (the pattern the repository's approvals share). For each agent and rule of `gates` whose record suggests a
        grant (loomtui/store/record.suggestion, `[grants] suggest_after` approvals in a
        row). Never for a gate no grant may come from (critical, budget, protection).

        When the agent's own record suggests nothing, its repository's may
        (store/record.repo_suggestion, `[grants] suggest_repo_after`: one call approved
        for several agents there, never rejected); its why then says so ("... - for
        every agent in shop"). The agent's own wins: its scope is narrower."""
        from loomtui.store.grants import grantable
        from loomtui.store.record import repo_suggestion, suggestion

        streak = self.config.record.suggest_after
        repo_streak = self.config.record.suggest_repo_after
        pairs: dict[tuple[int, str], list[Gate]] = {}
        for g in gates:
            if g.agent_id is not None and grantable(g) is None:
                pairs.setdefault((g.agent_id, g.rule), []).append(g)
        if not pairs:
            return []
        found = []
        now = self.clock()
        with self.connection() as conn:
            for (agent_id, rule), of_pair in pairs.items():
                if why := suggestion(conn, agent_id, rule, streak=streak, now=now):
                    found.append((agent_id, rule, why, "agent", ""))
                    continue
                for gate in of_pair if repo_streak else ():
                    if wide := repo_suggestion(conn, gate, streak=repo_streak, now=now):
                        name = wide.repo.rstrip("/").rsplit("/", 1)[-1] or wide.repo
                        found.append((agent_id, rule, f"{wide.why}: allow {wide.pattern} - for every "
                                                       f"agent in {name}", "repo", wide.pattern))
                        break
        return found


def _fields(values: dict) -> dict:
    """The entry fields of a form's values."""
    return {"kind": values["kind"], "title": values["title"], "body": values["body"],
            "tags": values["tags"], "scope": values["scope"], "scope_ref": values["scope_ref"]}
