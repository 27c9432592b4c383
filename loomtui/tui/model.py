"""What the fleet shows, as plain functions: filtering, ordering, ages, counts.

Kept free of widgets so the rules can be read and tested on their own.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import NamedTuple

from loomtui.config import BaselineConfig
from loomtui.hooks.governance import governance_note, is_ungoverned
from loomtui.store import fingerprint
from loomtui.store.agents import STATUS_RANK, STATUSES, Agent
from loomtui.store.budgets import BudgetState
from loomtui.store.gates import Gate
from loomtui.text import printable

# `s` cycles through these in this order; `S` reverses the one in force.
SORT_MODES = ("triage", "recent", "name", "repo", "cost", "tokens", "budget", "status")
SORT_LABELS = {
    "triage": "needs a human (by cause, longest wait first)",
    "recent": "most recent activity",
    "name": "name",
    "repo": "repo and branch",
    "cost": "cost, highest first",
    "tokens": "tokens, most first",
    "budget": "budget used, fullest first",
    "status": "status, most recent first",
}

# Why an agent needs a human, most urgent group first (the triage order): an agent shown
# ungoverned by evidence (its transcript has calls its hooks never reported: nothing of
# what it does is checked), a gate by its risk, a question, a budget gate (or an agent
# over its budget), an error, a stall, then an agent whose governance is off by its
# settings (no or weak sandbox, a bypass mode, hooks missing), and last an agent whose
# configuration drifted from the pod's baseline (store/fingerprint.py).
CAUSES = ("unreported", "critical", "high", "medium", "low", "question", "budget", "error", "stalled", "ungoverned",
          "drift")
CAUSE_RANK = {cause: rank for rank, cause in enumerate(CAUSES)}
# The header's mark per cause; the risks share the gate's flag.
CAUSE_SYMBOLS = {"unreported": "!", "critical": "⚑", "high": "⚑", "medium": "⚑", "low": "⚑", "question": "?",
                 "budget": "$", "error": "✗", "stalled": "◌", "ungoverned": "!", "drift": "≠"}
# Every agent in these statuses needs a human: the header counts them by cause instead.
COUNTED_AS_CAUSES = frozenset({"waiting", "error", "stalled", "ungoverned"})
CAUSE_WORDS = {"budget": "over budget", "drift": "drifted"}  # where the header says more than the key
# The theme colour of each cause (the risks' own, then the statuses').
CAUSE_STYLES = {"unreported": "$agent-ungoverned", "critical": "$risk-critical", "high": "$risk-high", "medium": "$risk-medium",
                "low": "$risk-low", "question": "$agent-waiting", "budget": "$budget-critical",
                "error": "$agent-error", "stalled": "$agent-stalled", "ungoverned": "$risk-high",
                "drift": "$risk-medium"}


class Need(NamedTuple):
    """Why an agent needs a human now: the cause (one of CAUSES), its subject (the
    command that waits, the question, the error...) and since when it has waited."""

    cause: str
    subject: str
    since: float


@dataclass(frozen=True)
class PodState:
    """One consistent reading of the pod, taken off the event loop."""

    agents: tuple[Agent, ...]
    now: float
    stall_after: float
    gates: tuple[Gate, ...] = ()  # pending and unexpired, in inbox order
    budgets: tuple[BudgetState, ...] = ()  # as the ingester last computed them
    worktrees: tuple = ()  # WorktreeRow: diff stats as the diff watcher last wrote them
    collisions: tuple = ()  # Collision: files changed in two or more worktrees of a repo
    forecasts: tuple = ()  # Forecast: would two agents' worktrees (or one and its base) merge?
    presence: tuple = ()  # Presence: the consoles live on the pod, this one too
    pinned: BaselineConfig | None = None  # config.toml's [baseline]
    # Issue 14 (grantsui): every grant, active or not (store/grants.Grant), and the grants the
    # record suggests for the pending gates: (agent id, rule, why, scope, pattern)
    # (PodActions.suggestions: store/record.suggestion and repo_suggestion).
    grants: tuple = ()
    suggestions: tuple = ()

    @cached_property
    def _suggested(self) -> dict[tuple[int, str], str]:
        return {(agent_id, rule): why for agent_id, rule, why, *_ in self.suggestions}

    def suggested_grant(self, gate: Gate) -> tuple[str, str] | None:
        """(scope, pattern) of the grant suggested for `gate`'s agent and rule, when it
        covers this gate's call ('' pattern: its shape); None otherwise. A repository's
        suggestion is made from the calls approved there, which another call of that agent
        and rule need not match."""
        if self.suggestion_for(gate) is None:
            return None
        found = next(((scope, pattern) for agent_id, rule, _, scope, pattern in self.suggestions
                      if (agent_id, rule) == (gate.agent_id, gate.rule)), None)
        if found is None or not found[1]:
            return found
        from loomtui.policy.shapes import matches, shape

        form = shape(gate.tool, gate.action or {})
        return found if matches(found[1], form, gate.tool, gate.action or {}) else None

    def suggestion_for(self, gate: Gate) -> str | None:
        """Why the record suggests a grant for calls like `gate`'s (its agent and rule), or
        None; never for a gate no grant may come from (a critical call of that rule)."""
        why = self._suggested.get((gate.agent_id, gate.rule)) if gate.agent_id is not None else None
        if why is None:
            return None
        from loomtui.store.grants import grantable

        return why if grantable(gate) is None else None

    @cached_property
    def baseline(self) -> fingerprint.Baseline:
        """The pod's configuration baseline: per kind, each field's most common value among
        the live agents, or its pinned one. Worked out again only when an agent's kind,
        liveness or fingerprint changed since the last reading (most readings: none did)."""
        global _BASELINE
        key = (tuple((a.kind, self.status_of(a) != "done", a.fingerprint) for a in self.agents), self.pinned)
        if _BASELINE is None or _BASELINE[0] != key:
            fps = self._fingerprints
            base = fingerprint.Baseline.of(((kind, live, fps[a.id]) for (kind, live, _), a
                                            in zip(key[0], self.agents, strict=True)), self.pinned)
            _BASELINE = (key, base)
        return _BASELINE[1]

    @cached_property
    def _fingerprints(self) -> dict[int, dict]:
        return {a.id: _parsed(a.fingerprint) for a in self.agents}

    @cached_property
    def _drift(self) -> dict[int, tuple[str, ...]]:
        base = self.baseline
        if _DRIFT.get("base") is not base:  # kept from reading to reading while the baseline holds
            _DRIFT.clear()
            _DRIFT["base"] = base
        out = {}
        for a in self.agents:
            if self.status_of(a) == "done":
                continue  # a finished session drifts no more: no mark
            fields = _DRIFT.get((a.kind, a.fingerprint))
            if fields is None:
                fields = _DRIFT[(a.kind, a.fingerprint)] = tuple(base.drift(a.kind, self._fingerprints[a.id]))
            if fields:
                out[a.id] = fields
        return out

    def drift_of(self, agent: Agent) -> tuple[str, ...]:
        """The fields where the agent's configuration differs from the pod's baseline
        (none for a finished agent)."""
        return self._drift.get(agent.id, ())

    def drift_details(self, agent: Agent) -> list[tuple[str, str, str]]:
        """(field, the agent's value, the baseline's) for each field it drifts on; the
        baseline's value says "(pinned)" when config.toml pins it."""
        mine = self._fingerprints.get(agent.id, {})
        out = []
        for field in self.drift_of(agent):
            base = self.baseline.value(agent.kind, field)
            value, pinned = base if base is not None else ("", False)
            out.append((field, printable(mine.get(field, "")) or "none",
                        (printable(value) or "none") + (" (pinned)" if pinned else "")))
        return out

    @cached_property
    def live_consoles(self) -> frozenset[str]:
        """The presence ids of the live consoles: a claim from any other has lapsed."""
        return frozenset(p.id for p in self.presence)

    @cached_property
    def _worktrees(self) -> dict:
        return {w.path: w for w in self.worktrees}

    def worktree_of(self, agent: Agent):
        return self._worktrees.get(agent.worktree) if agent.worktree else None

    @cached_property
    def _colliding(self) -> dict[str, dict[str, tuple[str, ...]]]:
        out: dict[str, dict[str, tuple[str, ...]]] = {}
        for c in self.collisions:
            for w in c.worktrees:
                out.setdefault(w, {})[c.path] = tuple(x for x in c.worktrees if x != w)
        return out

    def collisions_of(self, agent: Agent) -> dict[str, tuple[str, ...]]:
        """{file: the other worktrees changing it too} for the agent's worktree."""
        return self._colliding.get(agent.worktree or "", {})

    @cached_property
    def _forecasts(self) -> dict[str, dict[str, tuple[str, tuple[str, ...]]]]:
        out: dict[str, dict[str, tuple[str, tuple[str, ...]]]] = {}
        for f in self.forecasts:
            out.setdefault(f.worktree, {})[f.other] = (f.state, f.files)
            if f.other:
                out.setdefault(f.other, {})[f.worktree] = (f.state, f.files)
        return out

    def forecast_of(self, agent: Agent) -> dict[str, tuple[str, tuple[str, ...]]] | None:
        """{other worktree, or '' for the base: (conflict | overlap | clean, files)} for the
        agent's worktree; None when no forecast was made for it (yet)."""
        return self._forecasts.get(agent.worktree or "")

    def conflicts_of(self, agent: Agent) -> dict[str, tuple[str, ...]]:
        """{other worktree or '' for the base: the files that would conflict}."""
        found = self.forecast_of(agent) or {}
        return {other: files for other, (state, files) in found.items() if state == "conflict"}

    def overlaps_of(self, agent: Agent) -> int:
        """How many others (worktrees, its base) change the same files and merge cleanly;
        without a forecast, how many files another worktree changes too."""
        found = self.forecast_of(agent)
        if found is None:
            return len(self.collisions_of(agent))
        return sum(1 for state, _ in found.values() if state == "overlap")

    def agents_in(self, worktree: str) -> list[Agent]:
        return [a for a in self.agents if a.worktree == worktree]

    @cached_property
    def _budgets(self) -> dict[tuple[str, str, str], BudgetState]:
        return {(b.scope, b.scope_ref, b.period): b for b in self.budgets}

    def budget(self, scope: str, ref: str, period: str) -> BudgetState | None:
        return self._budgets.get((scope, ref, period))

    def usage_of(self, agent_id: int) -> BudgetState | None:
        """The agent's whole-session figures (tokens, cost, burn)."""
        return self._budgets.get(("agent", str(agent_id), "session"))

    @cached_property
    def _tightest(self) -> dict[str, BudgetState]:
        # One pass over the budgets per reading, not one search per agent and row.
        out: dict[str, BudgetState] = {}
        for b in self.budgets:
            if b.scope == "agent" and b.period in ("session", "day") and b.limited:
                held = out.get(b.scope_ref)
                if held is None or b.fraction > held.fraction or (
                        b.fraction == held.fraction and b.period == "session"):
                    out[b.scope_ref] = b
        return out

    def tightest(self, agent_id: int) -> BudgetState | None:
        """The agent's most-used budget that has a limit (its own, or its day's; its own
        when both are as full)."""
        return self._tightest.get(str(agent_id))

    @cached_property
    def _statuses(self) -> dict[int, str]:
        # Worked out once per reading: the sort, the counts and every row ask for it.
        now, stall_after = self.now, self.stall_after
        return {a.id: a.effective_status(now, stall_after) for a in self.agents}

    def status_of(self, agent: Agent) -> str:
        status = self._statuses.get(agent.id)
        return status if status is not None else agent.effective_status(self.now, self.stall_after)

    def counts(self) -> dict[str, int]:
        counted = Counter(self._statuses.values())
        return {status: counted.get(status, 0) for status in STATUSES}

    @property
    def pending_gates(self) -> int:
        return len(self.gates)

    @cached_property
    def _gates_per_agent(self) -> Counter[int | None]:
        return Counter(gate.agent_id for gate in self.gates)

    def gates_of(self, agent_id: int) -> int:
        """Pending, unexpired gates of one agent (the same gates the inbox shows)."""
        return self._gates_per_agent[agent_id]

    @cached_property
    def _by_id(self) -> dict[int, Agent]:
        return {a.id: a for a in self.agents}

    def agent(self, agent_id: int) -> Agent | None:
        return self._by_id.get(agent_id)

    @cached_property
    def _gates_by_agent(self) -> dict[int, list[Gate]]:
        out: dict[int, list[Gate]] = {}
        for gate in self.gates:  # in inbox order: the most urgent risk first
            if gate.agent_id is not None:
                out.setdefault(gate.agent_id, []).append(gate)
        return out

    @cached_property
    def _needs(self) -> dict[int, Need]:
        # Worked out once per reading: the order, the header and every row ask for it.
        out = {}
        for agent in self.agents:
            need = _need(agent, self)
            if need is not None:
                out[agent.id] = need
        return out

    def need_of(self, agent: Agent) -> Need | None:
        """Why the agent needs a human now, or None."""
        return self._needs.get(agent.id)

    def cause_counts(self) -> dict[str, int]:
        """Agents per cause, for the causes present, in triage order."""
        counted = Counter(need.cause for need in self._needs.values())
        return {cause: counted[cause] for cause in CAUSES if counted[cause]}

    def needing(self) -> list[Agent]:
        """The agents that need a human, in triage order."""
        by_id = self._by_id
        return [by_id[i] for i in sorted(self._needs, key=lambda i: _triage_key(self._needs[i], i))]


def _triage_key(need: Need, agent_id: int) -> tuple:
    return CAUSE_RANK[need.cause], need.since, agent_id


def _need(agent: Agent, state: PodState) -> Need | None:
    """The agent's most pressing cause: a pending gate (by risk; a budget gate is the
    `budget` cause, its subject the call that waits), a question (waiting with no gate),
    an error, a stall, being over budget with no call waiting yet, governance off. A
    finished agent needs nobody."""
    status = state.status_of(agent)
    if status == "done":
        return None
    if status == "ungoverned":  # before its gates: what it does unseen matters more
        return Need("unreported", unreported(agent), agent.ungoverned_at or agent.started_at)
    gates = state._gates_by_agent.get(agent.id)
    if gates:
        first = gates[0]
        cause = first.risk if first.risk in CAUSE_RANK else "high"
        return Need(cause, printable(first.summary), min(g.created_at for g in gates))
    if status == "waiting":
        return Need("question", printable(agent.status_reason or agent.last_summary), agent.last_activity_at)
    if status == "error":
        return Need("error", printable(agent.status_reason or agent.last_summary), agent.last_activity_at)
    if status == "stalled":
        return Need("stalled", doing(agent), agent.last_activity_at)
    tight = state.tightest(agent.id)
    if tight is not None and tight.over:
        return Need("budget", printable(tight.describe()), agent.last_activity_at)
    if ungoverned(agent):
        return Need("ungoverned", governance(agent), agent.started_at)
    drifted = state.drift_of(agent)
    if drifted:
        return Need("drift", "config differs: " + ", ".join(drifted), agent.started_at)
    return None


def repo_name(agent: Agent) -> str:
    return agent.repo.rstrip("/").rsplit("/", 1)[-1] if agent.repo else ""


def place(agent: Agent) -> str:
    """`repo · branch`, or whichever of them is known (escaped: shown as it is)."""
    return printable(" · ".join(p for p in (repo_name(agent), agent.branch or "") if p))


def doing(agent: Agent) -> str:
    """What the agent is doing now: the status reason when it needs someone,
    else its last tool and summary. The agent wrote it: control characters
    come back escaped."""
    if agent.status in ("waiting", "error") and agent.status_reason:
        return printable(agent.status_reason)
    if agent.last_tool and agent.last_summary:
        return printable(f"{agent.last_tool}: {agent.last_summary}")
    return printable(agent.last_summary or agent.last_tool or agent.status_reason)


def matches(agent: Agent, status: str, query: str, need: Need | None = None) -> bool:
    """The `/` filter: every word must appear in the name, kind, repo, branch or status,
    or in what the agent does (its last tool and summary, its status reason) or why it
    needs a human (the cause and its subject: `/push` finds the pushes waiting)."""
    if not query.strip():
        return True
    haystack = " ".join(
        (agent.name, agent.kind, agent.repo or "", agent.branch or "", status,
         agent.last_tool, agent.last_summary, agent.status_reason,
         *((need.cause, CAUSE_WORDS.get(need.cause, ""), need.subject) if need is not None else ()))
    ).lower()
    return all(word in haystack for word in query.lower().split())


def ordered(state: PodState, mode: str, query: str = "", reverse: bool = False) -> list[Agent]:
    """The agents the fleet shows, in display order (`reverse`: the other way round)."""
    if query.strip():
        shown = [a for a in state.agents if matches(a, state.status_of(a), query, state.need_of(a))]
    else:
        shown = list(state.agents)
    status_of = state.status_of
    if mode == "triage":
        # Those who need a human first, by cause and longest wait; then the rest as the
        # status sort has them.
        needs = state._needs
        last = len(CAUSES)
        shown.sort(key=lambda a: _triage_key(needs[a.id], a.id) if a.id in needs else
                   (last, STATUS_RANK[status_of(a)], -a.last_activity_at, a.id))
    elif mode == "status":
        shown.sort(key=lambda a: (STATUS_RANK[status_of(a)], -a.last_activity_at, a.id))
    elif mode == "recent":
        shown.sort(key=lambda a: (-a.last_activity_at, a.id))
    elif mode == "name":
        shown.sort(key=lambda a: (a.name.lower(), a.id))
    elif mode == "repo":
        shown.sort(key=lambda a: (repo_name(a).lower(), (a.branch or "").lower(), a.name.lower(), a.id))
    elif mode in ("cost", "tokens"):
        # Agents with no usage ingested go last.
        def spent(a: Agent) -> tuple:
            used = state.usage_of(a.id)
            if used is None:
                return (1, 0.0, a.id)
            return (0, -(used.used_usd or 0.0) if mode == "cost" else -used.used_tokens, a.id)
        shown.sort(key=spent)
    elif mode == "budget":
        def fill(a: Agent) -> tuple:
            tight = state.tightest(a.id)
            return (1, 0.0, a.id) if tight is None else (0, -tight.fraction, a.id)
        shown.sort(key=fill)
    else:
        raise ValueError(f"unknown sort mode {mode!r}")
    if reverse:
        shown.reverse()
    return shown


def next_sort(mode: str) -> str:
    return SORT_MODES[(SORT_MODES.index(mode) + 1) % len(SORT_MODES)]


def age(seconds: float) -> str:
    """A compact age: 5s, 3m, 2h, 4d."""
    seconds = max(0, int(seconds))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def status_line(counts: dict[str, int], symbols: dict[str, str]) -> Sequence[tuple[str, str, int]]:
    """(status, symbol, count) for the statuses present, in a fixed order."""
    return [(s, symbols[s], counts[s]) for s in STATUSES if counts.get(s)]


def countdown(seconds: float) -> str:
    """Time left before a gate expires: 9m12s, 45s, or "expired"."""
    if seconds <= 0:
        return "expired"
    seconds = int(seconds)
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"




def tokens(n: int) -> str:
    """Token counts the way people read them: 950, 12k, 3.4M."""
    if n < 1000:
        return str(n)
    if n < 100_000:
        return f"{n / 1000:.1f}k".replace(".0k", "k")
    if n < 1_000_000:
        return f"{n // 1000}k"
    return f"{n / 1_000_000:.1f}M"


def money(usd: float | None) -> str:
    if usd is None:
        return "?"
    return f"${usd:,.2f}" if usd < 1000 else f"${usd:,.0f}"


def budget_level(fraction: float) -> str:
    """The theme variable for a budget's fill: the colour changes at 50, 80 and 100 %."""
    if fraction >= 1.0:
        return "budget-critical"
    if fraction >= 0.8:
        return "risk-high"
    if fraction >= 0.5:
        return "budget-warn"
    return "budget-ok"


def gauge(fraction: float, width: int) -> str:
    """`▰▰▰▱▱ 62%` in `width` cells (just the percentage when narrow)."""
    pct = f"{min(fraction, 9.99) * 100:.0f}%"
    bars = width - 5  # the percentage takes up to four cells: bars line up down a column
    if bars < 4:
        return pct
    filled = min(bars, round(fraction * bars))
    return "▰" * filled + "▱" * (bars - filled) + " " + pct.rjust(4)


def ungoverned(agent: Agent) -> bool:
    """The fleet's `!` mark: the agent's sandbox is off or weak, it runs in a bypass
    mode, or LoomTUI's hooks are not all in place (nothing when not known yet)."""
    return is_ungoverned(agent.permission_mode, agent.sandbox, agent.hooks)


def governance(agent: Agent) -> str:
    """What is off in the agent's governance ("no sandbox · bypassPermissions"), or
    '' when all is well or nothing is known yet."""
    return printable(governance_note(agent.permission_mode, agent.sandbox, agent.hooks))


def unreported(agent: Agent) -> str:
    """Why the agent is marked ungoverned by evidence ("tool calls its hooks never
    reported (3)"), or ''."""
    if agent.ungoverned_at is None:
        return ""
    why = agent.ungoverned_why or "tool calls its hooks never reported"
    return printable(why + (f" ({agent.unreported})" if agent.unreported else ""))


_PARSED: dict[str, dict] = {}
_BASELINE: tuple | None = None  # (what it was worked out from, the Baseline)
_DRIFT: dict = {}  # (kind, fingerprint) -> its drift from _DRIFT["base"]


def _parsed(text: str) -> dict:
    """A fingerprint's JSON as a dict, kept while the text is the same (most rows of a
    reading are as they were the last time)."""
    found = _PARSED.get(text)
    if found is None:
        if len(_PARSED) > 4096:
            _PARSED.clear()
        found = _PARSED[text] = fingerprint.parse(text)
    return found
