r"""Simulated agents that live realistic lifecycles, written through the same
store API that hooks and the ingester use (`upsert_agent`, `record_event`).

Each agent is a small state machine driven by a seeded random generator and a
clock, so a given seed replays the same pod (benchmarks and tests rely on it):

  working --burst of tool calls--> waiting (approval / question) --> working
                                 \-> idle (turn finished) --new prompt--> working
                                 \-> stalled (silent while working) --> working
                                 \-> error --> working
                                 \-> done (session ended); a new agent joins later
"""

from __future__ import annotations

import random
from collections import Counter
import sqlite3
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from loomtui.store.agents import record_event, upsert_agent

AREAS = {
    "auth": ["src/auth/login.py", "src/auth/session.py", "tests/test_login.py"],
    "billing": ["src/billing/invoice.py", "src/billing/tax.py", "tests/test_invoice.py"],
    "search": ["src/search/index.py", "src/api/routes.py"],
    "api": ["src/api/routes.py", "src/auth/session.py"],
    "db": ["migrations/0001_init.sql", "src/billing/invoice.py"],
    "docs": ["README.md"],
}
TASKS = {
    "auth": "make the login tests pass",
    "billing": "add VAT to invoices",
    "search": "speed up the search index",
    "api": "add pagination to the routes",
    "db": "add an orders table",
    "docs": "document the setup",
}
APPROVALS = [
    "approval: git push origin {branch}",
    "approval: rm -rf build/",
    "approval: alembic upgrade head",
    "approval: gh pr merge --squash",
    "question: which migration should run first?",
    "question: keep the old login endpoint?",
]
ERRORS = ["API error 529: overloaded", "tool crashed: pytest exited 137 (out of memory)"]


@dataclass
class SimAgent:
    agent_id: int
    name: str
    area: str
    worktree: Path
    branch: str
    state: str = "working"
    next_at: float = 0.0
    burst_left: int = 0


class Simulation:
    """A pod of simulated agents. Call `step()` often; it writes what is due."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        repo: Path,
        worktrees: Sequence[tuple[Path, str]],
        *,
        seed: int | None = None,
        clock: Callable[[], float],
        stall_seconds: float = 60.0,
        speed: float = 1.0,
    ) -> None:
        self.conn = conn
        self.repo = repo
        self.spare = list(worktrees)
        self.sessions: Counter[Path] = Counter()  # sessions started per worktree
        self.rng = random.Random(seed)
        self.clock = clock
        self.stall_seconds = stall_seconds
        self.speed = speed  # > 1 makes everything happen faster (benchmarks)
        self.agents: list[SimAgent] = []
        self.events_written = 0

    # -- setup ---------------------------------------------------------------

    def start(self, count: int) -> None:
        """Register `count` agents with a little history, in the mix of states
        a pod that has been running for a while is in."""
        now = self.clock()
        for _ in range(min(count, len(self.spare))):
            agent = self._join(now - self.rng.uniform(300, 3600))
            last = now - self.rng.uniform(2, 20)
            for when in sorted(last - self.rng.uniform(0, 300) for _ in range(self.rng.randint(2, 6))):
                self._tool_call(agent, when)
            self._tool_call(agent, last)
            agent.burst_left = self.rng.randint(2, 8)
            roll = self.rng.random()
            if roll < 0.15:
                self._ask(agent, last + 1)
            elif roll < 0.30:
                self._write(agent, last + 1, "stop", summary="turn finished", status="idle", reason="")
                self._later(agent, now, 5, 40)
            elif roll < 0.36:
                self._write(agent, now - self.stall_seconds - self.rng.uniform(5, 90), "tool",
                            tool="Bash", summary="npm run build -- --watch")
                agent.state = "stalled"
            elif roll < 0.40:
                self._fail(agent, last + 1)
            elif roll < 0.48:
                self._write(agent, last + 1, "session_end", summary="session ended",
                            status="done", reason="")
            if agent.state == "stalled":
                self._later(agent, now, 20, 60)
            elif agent.state == "working":
                self._later(agent, now, 0, 4)

    def _join(self, now: float) -> SimAgent:
        worktree, branch = self.spare.pop(0)
        self.sessions[worktree] += 1
        count = self.sessions[worktree]
        name = worktree.name if count == 1 else f"{worktree.name}#{count}"
        area = self.rng.choice(sorted(AREAS))
        session = str(uuid.UUID(int=self.rng.getrandbits(128)))
        agent_id = upsert_agent(
            self.conn, kind="sim", now=now, session_id=session, name=name,
            cwd=str(worktree), repo=str(self.repo), worktree=str(worktree), branch=branch,
            model=self.rng.choice(["claude-sonnet-4-5", "claude-opus-4-5", "gpt-5-codex"]),
        )
        agent = SimAgent(agent_id, name, area, worktree, branch)
        self._write(agent, now, "session_start", summary=f"task: {TASKS[area]}", status="working",
                    reason="")
        agent.burst_left = self.rng.randint(3, 12)
        return agent

    # -- running -------------------------------------------------------------

    def step(self) -> int:
        """Advance every agent that is due; returns how many events were written."""
        before = self.events_written
        now = self.clock()
        for agent in list(self.agents):
            if agent.next_at <= now and agent.state != "done":
                self._advance(agent, now)
        return self.events_written - before

    def _later(self, agent: SimAgent, now: float, low: float, high: float) -> None:
        agent.next_at = now + self.rng.uniform(low, high) / self.speed

    def _advance(self, agent: SimAgent, now: float) -> None:
        rng = self.rng
        if agent.state == "working" and agent.burst_left > 0:
            agent.burst_left -= 1
            self._tool_call(agent, now)
            self._later(agent, now, 0.4, 4.0)
            return
        if agent.state != "working":  # back to work after waiting, idling, stalling, erring
            how = {"waiting": "approved by supervisor", "idle": "new prompt",
                   "stalled": "resumed", "error": "retrying"}[agent.state]
            self._write(agent, now, "resume", summary=how, status="working", reason="")
            agent.burst_left = rng.randint(3, 12)
            self._later(agent, now, 0.5, 2.0)
            return
        roll = rng.random()
        if roll < 0.30:
            self._ask(agent, now)
        elif roll < 0.70:
            self._write(agent, now, "stop", summary="turn finished", status="idle", reason="")
            self._later(agent, now, 5, 40)
        elif roll < 0.80:
            # Silence while working: the console shows it as stalled once
            # stall_seconds pass without activity.
            agent.state = "stalled"
            self._later(agent, now, self.stall_seconds + 10, self.stall_seconds + 60)
            return
        elif roll < 0.86:
            self._fail(agent, now)
        elif roll < 0.88:
            # The session ends; its worktree goes back to the pool and a new
            # session starts in the next free one, so the pod stays busy.
            self._write(agent, now, "session_end", summary="session ended", status="done", reason="")
            self.spare.append((agent.worktree, agent.branch))
            joiner = self._join(now + 0.001)
            joiner.next_at = now + rng.uniform(5, 20) / self.speed
        else:
            agent.burst_left = rng.randint(2, 6)
            self._later(agent, now, 0.4, 3.0)

    def _ask(self, agent: SimAgent, now: float) -> None:
        ask = self.rng.choice(APPROVALS).format(branch=agent.branch)
        self._write(agent, now, "waiting", summary=ask, status="waiting", reason=ask)
        self._later(agent, now, 8, 45)

    def _fail(self, agent: SimAgent, now: float) -> None:
        error = self.rng.choice(ERRORS)
        self._write(agent, now, "error", summary=error, status="error", reason=error)
        self._later(agent, now, 10, 30)

    def _tool_call(self, agent: SimAgent, now: float) -> None:
        path = self.rng.choice(AREAS[agent.area])
        tool = self.rng.choices(["Read", "Edit", "Bash", "Grep", "Write"], [5, 4, 4, 2, 1])[0]
        if tool == "Bash":
            summary = self.rng.choice(
                [f"pytest -q {path if path.startswith('tests') else 'tests'}", "git status",
                 "git diff --stat", "ruff check src", f"git commit -am 'wip: {agent.area}'"])
        elif tool == "Grep":
            summary = f"grep -n 'def ' {path}"
        else:
            summary = path
        self._write(agent, now, "tool", tool=tool, summary=summary)

    def _write(self, agent: SimAgent, now: float, kind: str, *, tool: str = "", summary: str = "",
               status: str | None = None, reason: str | None = None) -> None:
        record_event(self.conn, agent.agent_id, kind=kind, now=now, tool=tool, summary=summary,
                     payload={"simulated": True}, status=status, status_reason=reason)
        if status is not None:
            agent.state = status
        if agent not in self.agents:
            self.agents.append(agent)
        self.events_written += 1
