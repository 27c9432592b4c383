"""Sam, the simulated second supervisor.

Sam decides about half of the gates after 30 to 90 seconds (three in four
approved); the rest wait for the person at the console, or expire and the agent
is denied. With shared memory on, sam also accepts or rejects about half of the
agents' proposals after 30 to 90 seconds; the rest wait for the console. Sam
never overrides the console: a gate someone else claimed or decided, or an
entry someone reviewed or edited meanwhile, is left alone.

Sam decides in-process through the store (not through
`loomtui.supervisors.authorize`), recorded as a simulated supervisor:
decided_by "sam", decided_name "sam (simulated)".
"""

from __future__ import annotations

import random
import sqlite3

from loomtui.memory.entries import EntryError, supervisor
from loomtui.memory.entries import accept as accept_entry
from loomtui.memory.entries import reject as reject_entry
from loomtui.sim.scenario import APPROVE_REASONS, REJECT_REASONS, SAM, SAM_MEMORY_REASONS
from loomtui.store.gates import GateError, decide, get_gate
from loomtui.supervisors import simulated_decider

SAM_DECIDER = simulated_decider(SAM)
SAM_SHARE = 0.5  # of gates that sam decides
SAM_MEMORY_SHARE = 0.5  # of proposals that sam reviews (30 to 90 s later); the rest wait


class Teammate:
    """Sam's plans and what sam did. `rng` is the simulation's main generator
    (gate plans draw from it); `speed` > 1 makes sam answer sooner, like
    everything else in a fast simulation."""

    def __init__(self, conn: sqlite3.Connection, rng: random.Random, *, share: float = SAM_SHARE,
                 speed: float = 1.0) -> None:
        self.conn = conn
        self.rng = rng
        self.share = share  # of gates that sam decides
        self.speed = speed
        self.gate_plan: dict[int, tuple[float, bool, str]] = {}  # gate id -> (when, approve, reason)
        self.decided: list[int] = []  # gates sam decided
        self.review_plan: dict[int, tuple[float, bool, str]] = {}  # entry id -> (when, accept, reason)
        self.reviewed: list[int] = []  # entries sam accepted or rejected

    def plan_gate(self, gate_id: int, now: float) -> None:
        """Whether sam will decide this gate, when, and how."""
        if self.rng.random() >= self.share:
            return
        approve = self.rng.random() < 0.75
        reason = self.rng.choice(APPROVE_REASONS if approve else REJECT_REASONS)
        self.gate_plan[gate_id] = (now + self.rng.uniform(30, 90) / self.speed, approve, reason)

    def plan_review(self, entry_id: int, rng: random.Random, now: float) -> None:
        """Whether sam will review this proposal, when, and how; `rng` is the
        proposing agent's own memory generator, so the main one is untouched."""
        if rng.random() < SAM_MEMORY_SHARE:  # sam reviews it; otherwise it waits for the console
            approve = rng.random() < 0.7
            reason = "" if approve else rng.choice(SAM_MEMORY_REASONS)
            self.review_plan[entry_id] = (now + rng.uniform(30, 90) / self.speed, approve, reason)

    def act(self, now: float) -> None:
        """Sam decides the gates that are due, unless someone claimed or decided them
        first; then reviews the proposals that are due."""
        for gate_id in sorted(g for g, plan in self.gate_plan.items() if plan[0] <= now):
            _, approve, reason = self.gate_plan.pop(gate_id)
            try:
                gate = get_gate(self.conn, gate_id)
                if gate.status != "pending" or (gate.claimed_by and gate.claimed_by != SAM):
                    continue
                decide(self.conn, gate_id, approve=approve, actor=SAM_DECIDER.account,
                       display=SAM_DECIDER.display, simulated=True, reason=reason, now=now)
                self.decided.append(gate_id)
            except GateError:
                continue  # decided at the console meanwhile, or expired
        if self.review_plan:
            self._review(now)

    def _review(self, now: float) -> None:
        """Sam accepts or rejects the proposals that are due, unless someone at the
        console reviewed them first (then the version moved on and sam leaves it)."""
        for entry_id in sorted(e for e, plan in self.review_plan.items() if plan[0] <= now):
            _, approve, reason = self.review_plan.pop(entry_id)
            try:
                if approve:
                    accept_entry(self.conn, entry_id, author=supervisor(SAM), expected_version=1, now=now)
                else:
                    reject_entry(self.conn, entry_id, author=supervisor(SAM), reason=reason,
                                 expected_version=1, now=now)
                self.reviewed.append(entry_id)
            except (EntryError, sqlite3.OperationalError):
                continue  # reviewed or edited at the console meanwhile (or the store was busy)
