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

With grants on (the demo, issue 14), sam also grants once: the first gate sam sees
whose agent already had SAM_GRANT_AFTER gates of the same rule and shape approved
(the demo's pusher) is approved with a grant for that agent, through the console's
own `PodActions.grant` as the simulated decider, a few seconds after it appears;
SAM_REVOKE_AFTER seconds later sam revokes the grant (`PodActions.revoke_grant`).
Its timing draws from a generator of its own.
"""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Callable
from pathlib import Path

from loomtui.memory.entries import EntryError, supervisor
from loomtui.memory.entries import accept as accept_entry
from loomtui.memory.entries import reject as reject_entry
from loomtui.sim.scenario import (
    APPROVE_REASONS,
    REJECT_REASONS,
    SAM,
    SAM_GRANT_AFTER,
    SAM_GRANT_DELAY,
    SAM_GRANT_REASON,
    SAM_GRANT_SECONDS,
    SAM_MEMORY_REASONS,
    SAM_REVOKE_AFTER,
    SAM_REVOKE_REASON,
)
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
                 speed: float = 1.0, grants: Path | None = None,
                 clock: Callable[[], float] | None = None) -> None:
        self.conn = conn
        self.rng = rng
        self.share = share  # of gates that sam decides
        self.speed = speed
        self.gate_plan: dict[int, tuple[float, bool, str]] = {}  # gate id -> (when, approve, reason)
        self.decided: list[int] = []  # gates sam decided
        self.review_plan: dict[int, tuple[float, bool, str]] = {}  # entry id -> (when, accept, reason)
        self.reviewed: list[int] = []  # entries sam accepted or rejected
        # Sam's one grant (the pod directory when on): its own generator, its plans.
        self.grants_pod = grants
        self.clock = clock
        self.grant_rng = random.Random("sam:grants")
        self.grant_plan: tuple[float, int] | None = None  # (when, gate id)
        self.revoke_plan: dict[int, float] = {}  # grant id -> when
        self.granted: list[int] = []  # grants sam made
        self.revoked: list[int] = []  # grants sam revoked
        self.refused: list[str] = []  # why a grant or revocation of sam's was refused
        self._actions = None

    def plan_gate(self, gate_id: int, now: float, own: bool = False) -> None:
        """Whether sam will decide this gate, when, and how. `own`: draw from sam's own
        generator (a gate of the demo's pusher), not the simulation's."""
        if self.grants_pod is not None and not self.granted and self.grant_plan is None \
                and self._earned(gate_id):
            self.grant_plan = (now + self.grant_rng.uniform(*SAM_GRANT_DELAY) / self.speed, gate_id)
            return
        rng = self.grant_rng if own else self.rng
        if rng.random() >= self.share:
            return
        approve = rng.random() < 0.75
        reason = rng.choice(APPROVE_REASONS if approve else REJECT_REASONS)
        self.gate_plan[gate_id] = (now + rng.uniform(30, 90) / self.speed, approve, reason)

    def _earned(self, gate_id: int) -> bool:
        """Whether this gate's agent had SAM_GRANT_AFTER gates of its rule and shape
        approved, and a grant may come from it (not critical, budget or protection)."""
        from loomtui.policy.shapes import shape
        from loomtui.store.grants import grantable

        gate = get_gate(self.conn, gate_id)
        if gate.agent_id is None or grantable(gate) is not None:
            return False
        mine = shape(gate.tool, gate.action)
        rows = self.conn.execute(
            "SELECT tool, action FROM gates WHERE agent_id = ? AND rule = ? AND status = 'approved' AND id != ?",
            (gate.agent_id, gate.rule, gate_id)).fetchall()
        return sum(shape(tool, _action(action)) == mine for tool, action in rows) >= SAM_GRANT_AFTER

    def approve_waiting(self, agent_id: int, now: float) -> None:
        """Sam approves the agent's pending gate at once (the demo pusher's history)."""
        row = self.conn.execute("SELECT id FROM gates WHERE agent_id = ? AND status = 'pending' "
                                "ORDER BY id DESC LIMIT 1", (agent_id,)).fetchone()
        if row is not None:
            decide(self.conn, row[0], approve=True, actor=SAM_DECIDER.account, display=SAM_DECIDER.display,
                   simulated=True, reason=self.grant_rng.choice(APPROVE_REASONS), now=now)

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
        if self.grant_plan is not None and self.grant_plan[0] <= now:
            self._grant(now)
        for grant_id in sorted(g for g, when in self.revoke_plan.items() if when <= now):
            del self.revoke_plan[grant_id]
            outcome = self.actions().revoke_grant(grant_id, SAM_REVOKE_REASON)
            if outcome.ok:
                self.revoked.append(grant_id)
            else:  # revoked at the console meanwhile, say
                self.refused.append(outcome.message)
        if self.review_plan:
            self._review(now)

    def actions(self):
        """The console's pod actions, as sam (simulated), on the simulation's clock."""
        if self._actions is None:
            from loomtui.actions import PodActions
            from loomtui.config import load_config

            class SamActions(PodActions):
                """Sam is no OS account and runs in the demo's own process: like sam's
                plain decisions (store.gates.decide), its grants are not authorised
                through supervisors.authorize; everything else is the console's path."""

                def refusal(self, gate=None) -> str | None:
                    return None

            assert self.grants_pod is not None
            self._actions = SamActions(self.grants_pod, load_config(self.grants_pod), SAM_DECIDER,
                                       clock=self.clock or (lambda: 0.0))
        return self._actions

    def _grant(self, now: float) -> None:
        """Sam approves the planned gate with a grant for its agent, on the gate's own
        shape, unless someone decided or claimed it first (then sam waits for the next)."""
        assert self.grant_plan is not None
        _, gate_id = self.grant_plan
        self.grant_plan = None
        try:
            gate = get_gate(self.conn, gate_id)
        except GateError:
            return
        if gate.status != "pending" or (gate.claimed_by and gate.claimed_by != SAM):
            return
        outcome = self.actions().grant(gate, scope="agent", pattern=None, duration=SAM_GRANT_SECONDS,
                                       reason=SAM_GRANT_REASON)
        if not outcome.ok:
            self.refused.append(outcome.message)
            self.granted.append(0)  # sam tries once
            return
        self.decided.append(gate_id)
        self.granted.append(outcome.grant.id)
        self.revoke_plan[outcome.grant.id] = now + SAM_REVOKE_AFTER / self.speed

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


def _action(text: str | None) -> dict:
    import json

    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
