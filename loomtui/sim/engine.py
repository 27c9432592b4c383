r"""The engine of the simulated pod: simulated agents that live realistic
lifecycles and report them through the real hook path. Every session start,
tool call, turn end and session end is a Claude Code (or Codex) hook JSON
document handed to `loomtui.hooks.dispatch.Hook`, exactly as `loomtui hook claude`
gets it on stdin. The pod's policy classifies each tool call; a gated one
creates a gate and *blocks* until a supervisor decides it or it expires, and the
agent reacts to the answer.

Each agent is a small state machine driven by a seeded random generator and a
clock, so a given seed replays the same pod (benchmarks and tests rely on it):

  working --burst of tool calls--> waiting (a question, or a gated call) --> working
                                 \-> idle (turn finished) --new prompt--> working
                                 \-> stalled (silent in a long command) --> working
                                 \-> error --> working
                                 \-> done (session ended); a new agent joins later

A gated call runs in a worker thread of its own (`gated_call.HookCall`), in
lockstep with the simulation. The teammate, "sam" (`teammate.py`), decides
about half of the gates; the rest wait for the person at the console, or expire
and the agent is denied.

What cannot go through a hook is written with the store API, as the transcript
ingester would: API errors (an agent's `error` status), and a Codex session's
end (Codex has no SessionEnd hook).

The engine owns the loop, the agents' states and the hook JSON; what the agents
call comes from `tool_calls.py`, and two behaviours that are off by default
draw from generators of each agent's own, so that the main generator and the
event stream stay the same with them on or off: real edits of the worktrees
(`edits=True`, `edits.py`) and notes in the pod's shared memory (`memory=True`,
`memory_notes.py`). The scripted material is in `scenario.py`.

With `autonomy=True` (the demo) three agents play a part (issue 14), the first
three Claude agents to join: the *drifter* runs another model and permission
mode than the rest of the pod (its hook payloads say so), the *hookless* one
works without its hooks for a spell (its transcript keeps growing, its hook
calls are skipped), and the *pusher* pushes its own branch again and again, so
that sam grants it once (`teammate.py`) and revokes the grant later. Their extra
timing draws from a generator of its own; a seed still replays the same pod.
"""

from __future__ import annotations

import json
import random
import sqlite3
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loomtui.hooks.dispatch import Hook
from loomtui.hooks.protocol import DECIDING_EVENTS, Answer
from loomtui.hooks.signals import HookInterrupted
from loomtui.places import locate
from loomtui.sim.edits import WorktreeEdits
from loomtui.sim.gated_call import HookCall
from loomtui.sim.memory_notes import MEMORY_SHARE, MemoryNotes, context_entries
from loomtui.sim.scenario import (
    ANSWERS,
    AREAS,
    CAST,
    DRIFT_MODE,
    DRIFT_MODEL,
    ERRORS,
    HOOKLESS_SPELL,
    LONG_COMMANDS,
    MODELS,
    POD_MODE,
    POD_MODEL,
    PROMPTS,
    PUSH_EVERY,
    PUSH_HISTORY,
    PUSH_UNTIL,
    QUESTIONS,
    TASKS,
)
from loomtui.sim.teammate import SAM_SHARE, Teammate
from loomtui.sim.tool_calls import RISKY_SHARE, ordinary_call, risky_call
from loomtui.sim.transcripts import Transcript, claude_path, codex_path
from loomtui.store.agents import record_event, upsert_agent

SPENDER_BACKLOG = 70  # past responses of the demo's big spender (about $5.7 on Opus, 94 % of $6: the sessions compact now, so a response costs less than before)


@dataclass
class SimAgent:
    """One simulated agent: who it is, where it works, and where it is in its lifecycle."""

    agent_id: int
    name: str
    area: str
    worktree: Path
    branch: str
    kind: str = "claude"
    session: str = ""
    model: str = ""
    transcript: str = ""
    state: str = "working"
    next_at: float = 0.0
    burst_left: int = 0
    calls: int = 0
    long_command: str = ""  # running while stalled; its PostToolUse comes on resume
    call: HookCall | None = None  # a gated call in flight
    call_input: tuple[str, dict] | None = None
    risky_next: bool = False
    log: Transcript | None = None  # its transcript, when the simulation writes them
    last_call_id: str = ""
    edit_rng: random.Random | None = None  # its own generator of edits (edits=True, worktree on disk)
    pending: tuple[str, str] | None = None  # (file, new text) its Edit/Write in flight writes
    memory_rng: random.Random | None = None  # its own generator of memory notes (memory=True)
    memory_ids: tuple[int, ...] = ()  # the entries its SessionStart hook injected (memory=True)
    role: str = ""  # its part with autonomy=True: "drifter", "hookless", "pusher" (scenario.CAST)
    push_at: float = 0.0  # the pusher: when it pushes its branch again
    push_next: bool = False  # it committed: its next call pushes its branch (push_after_commit)

    @property
    def memory_read(self) -> int:
        """How many memory entries it read at its session start."""
        return len(self.memory_ids)


def allowed(answer: Answer) -> bool:
    """Whether a PreToolUse answer lets the call run (nothing said = the agent's own flow)."""
    if answer.exit_code != 0:
        return False
    if not answer.stdout.strip():
        return True
    try:
        out = json.loads(answer.stdout).get("hookSpecificOutput", {})
    except (ValueError, AttributeError):
        return False
    return out.get("permissionDecision") != "deny"


class Simulation:
    """A pod of simulated agents. Call `step()` often; it sends what is due."""

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
        pod: Path | None = None,
        risky_share: float = RISKY_SHARE,
        sam_share: float = SAM_SHARE,
        transcripts: tuple[Path, Path] | None = None,
        spender: bool = False,
        edits: bool = False,
        memory: bool = False,
        autonomy: bool = False,
        push_after_commit: bool = False,
    ) -> None:
        self.conn = conn
        self.repo = repo
        self.pod = Path(pod) if pod is not None else _pod_of(conn)
        # Set by the demo when its pod service runs: (agent kind, hook JSON) -> the
        # service's answer, or None to answer here. Records only: a simulated agent
        # lives in this process, so a gate it waits on is held here (as `simulated`).
        self.via_service: Callable[[str, bytes], Answer | None] | None = None
        self.spare = list(worktrees)
        self.sessions: Counter[Path] = Counter()  # sessions started per worktree
        self.rng = random.Random(seed)
        self.clock = clock
        self.stall_seconds = stall_seconds
        self.speed = speed  # > 1 makes everything happen faster (benchmarks)
        self.risky_share = risky_share
        self.agents: list[SimAgent] = []
        self.sent = 0  # hook calls made and events recorded directly (memory writes not counted)
        # (Claude config dir, Codex home): write real transcripts there, for the ingester;
        # agents over their budget then wait for approval like a gated call.
        self.transcripts = transcripts
        self.spender = spender  # one agent starts close to its budget (the demo shows it cross)
        # Drift, a spell without hooks, sam's grant (issue 14; see the module's docstring).
        self.autonomy = autonomy
        self.cast_rng = random.Random(f"cast:{seed}")  # the cast's own timing: the main generator is untouched by it
        self.casting: list[str] = []  # the parts still to give, while start() registers agents
        self.hookless_spell = (float("inf"), float("inf"))  # [from, until) of the hookless agent
        self.push_until = float("-inf")  # the pusher pushes again and again until then
        # Every agent pushes its own branch right after each commit (bench/triage.py's
        # --workload pushes: repeated calls of one rule and shape per agent).
        self.push_after_commit = push_after_commit
        self.teammate = Teammate(conn, self.rng, share=sam_share, speed=speed,
                                 grants=self.pod if autonomy else None, clock=clock)
        # Really apply Edit/Write calls to the worktrees and run `git commit` (the demo).
        self.edits = WorktreeEdits() if edits else None
        # Use the pod's shared memory: read it at session start, write notes and handoffs.
        self._repo_ref: str | None = None
        self.memory = MemoryNotes(conn, self.pod, self.repo_ref) if memory else None

    # -- setup ---------------------------------------------------------------

    def start(self, count: int) -> None:
        """Register `count` agents with a little history, in the mix of states
        a pod that has been running for a while is in. Nothing here blocks: a
        few agents are due to try a risky action at their first step."""
        now = self.clock()
        if self.memory is not None:
            self.memory.seed(now)
        if self.autonomy:
            self.casting = list(CAST)
            self.hookless_spell = (now + HOOKLESS_SPELL[0] / self.speed, now + HOOKLESS_SPELL[1] / self.speed)
            self.push_until = now + PUSH_UNTIL / self.speed
        total = min(count, len(self.spare))
        claudes = 0
        for i in range(total):
            agent = self._join(now - self.rng.uniform(300, 3600))
            last = now - self.rng.uniform(2, 20)
            for when in sorted(last - self.rng.uniform(0, 300) for _ in range(self.rng.randint(2, 6))):
                self._tool_call(agent, when)
            if agent.edit_rng is not None and agent.kind == "claude":
                claudes += 1
                self._opening_edit(agent, last - 0.5, force=claudes >= 3 or i >= total - 2)
            if agent.role == "pusher":
                self._pushed_before(agent, last)
            self._tool_call(agent, last)
            agent.burst_left = self.rng.randint(2, 8)
            roll = self.rng.random()
            if agent.role:
                roll = 1.0  # the cast is at work when the pod starts (none has ended its session)
            if agent.role == "pusher":
                agent.push_at = now + self.cast_rng.uniform(1, 3) / self.speed  # its next push, within seconds
            if roll < 0.12:
                self._ask(agent, last + 1)
            elif roll < 0.27:
                self._stop_turn(agent, last + 1)
                self._later(agent, now, 5, 40)
            elif roll < 0.33:
                self._long_command(agent, now - self.stall_seconds - self.rng.uniform(5, 90))
                self._later(agent, now, 20, 60)
            elif roll < 0.37:
                self._fail(agent, last + 1)
            elif roll < 0.45:
                self._end(agent, last + 1)
            elif roll < 0.55:
                agent.risky_next = True  # the demo opens with gates in the inbox
                agent.next_at = now
            else:
                self._later(agent, now, 0, 4)
        self.casting = []

    def _join(self, now: float) -> SimAgent:
        worktree, branch = self.spare.pop(0)
        self.sessions[worktree] += 1
        area = self.rng.choice(sorted(AREAS))
        session = str(uuid.UUID(int=self.rng.getrandbits(128)))
        kind, model, _ = self.rng.choices(MODELS, [w for *_, w in MODELS])[0]
        spending = self.spender and self.transcripts is not None and kind == "claude"
        if spending:
            self.spender, model = False, "claude-opus-4-5"
        role = ""
        if self.autonomy and kind == "claude":
            role = self.casting.pop(0) if self.casting else ""
            # One model for the pod, so that the drifter stands out (the spender, when
            # there is one, is the drifter: the first Claude agent).
            model = DRIFT_MODEL if role == "drifter" else POD_MODEL
        config_dir, codex_home = self.transcripts or (self.repo.parent / ".claude", self.repo.parent / ".codex")
        if kind == "claude":
            transcript = claude_path(config_dir, worktree, session)
        else:
            transcript = codex_path(codex_home, session, now)
        agent = SimAgent(0, "", area, worktree, branch, kind=kind, session=session, model=model,
                         transcript=str(transcript), role=role)
        if self.transcripts is not None:
            agent.log = Transcript(kind, transcript, session=session, cwd=worktree, branch=branch,
                                   model=model, rng=random.Random(session))
            agent.log.start(now)
            if spending:  # forty busy minutes already behind it: close to its budget
                for i in range(SPENDER_BACKLOG):
                    agent.log.tool_use(now - 2400 + i * 2400 / SPENDER_BACKLOG, "Read",
                                       {"file_path": str(worktree / "src" / "app.py")}, f"toolu_old{i:04d}",
                                       scale=2.0)
        data = self._event(agent, "SessionStart", source="startup", model=model)
        answer = self._hook(agent, now, data)
        agent.agent_id, agent.name = self.conn.execute(
            "SELECT id, name FROM agents WHERE session_id = ?", (session,)).fetchone()
        if self.memory is not None:  # it reads what the hook injected
            agent.memory_ids = context_entries(answer)
            agent.memory_rng = random.Random(f"memory:{session}")
        if self.edits is not None and (worktree / ".git").exists():
            agent.edit_rng = random.Random(f"edits:{session}")
        if not (worktree / ".git").exists():
            # The hook found no git checkout there (the benchmark's pods have no
            # worktrees on disk): fill in where the agent works, as `loomtui
            # init` would know it.
            upsert_agent(self.conn, kind=kind, now=now, session_id=session, repo=str(self.repo),
                         worktree=str(worktree), branch=branch)
        self._prompt(agent, now, f"task: {TASKS[area]}")
        agent.burst_left = self.rng.randint(3, 12)
        self.agents.append(agent)
        return agent

    # -- running -------------------------------------------------------------

    def step(self) -> int:
        """Advance every agent that is due; returns how many hook calls and
        direct records it made. Agents whose call waits for a gate are left
        alone until their answer comes."""
        before = self.sent
        now = self.clock()
        self.teammate.act(now)  # sam decides and reviews what is due
        for agent in self.agents:
            if agent.call is not None:
                self._poll(agent, now)
            elif agent.role == "pusher" and agent.state == "working" and agent.push_at <= now < self.push_until:
                self._push(agent, now)
        for agent in list(self.agents):
            if agent.call is None and agent.next_at <= now and agent.state != "done":
                self._advance(agent, now)
        return self.sent - before

    def close(self, timeout: float = 2.0) -> None:
        """Stop the calls in flight: each hook cancels its gate and answers deny."""
        calls = [a.call for a in self.agents if a.call is not None]
        for call in calls:
            call.stop()
        for call in calls:
            if call.thread is not None:
                call.thread.join(timeout)

    def in_flight(self) -> int:
        return sum(a.call is not None for a in self.agents)

    def _later(self, agent: SimAgent, now: float, low: float, high: float) -> None:
        agent.next_at = now + self.rng.uniform(low, high) / self.speed

    def _advance(self, agent: SimAgent, now: float) -> None:
        rng = self.rng
        if agent.risky_next:
            agent.risky_next = False
            self._risky(agent, now)
            return
        if agent.push_next:
            agent.push_next = False
            if agent.state == "working":
                self._wait_call(agent, now, "Bash", _push_input(agent))
                return
        if agent.state == "working" and agent.burst_left > 0:
            agent.burst_left -= 1
            if rng.random() < self.risky_share:
                self._risky(agent, now)
            else:
                self._tool_call(agent, now)
                self._later(agent, now, 0.4, 4.0)
            return
        if agent.state != "working":  # back to work after a question, idling, stalling, erring
            if agent.state == "stalled":
                self._post(agent, now, "Bash", {"command": agent.long_command,
                                                "description": "Long-running command"})
                agent.long_command = ""
            elif agent.state == "waiting":
                self._prompt(agent, now, rng.choice(ANSWERS))
            elif agent.state == "idle":
                self._prompt(agent, now, rng.choice(PROMPTS))
            else:  # error: the person types "continue"
                self._prompt(agent, now, "continue")
            agent.state = "working"
            agent.burst_left = rng.randint(3, 12)
            self._later(agent, now, 0.5, 2.0)
            return
        roll = rng.random()
        if self._playing(agent, now):
            roll = 1.0  # no question, pause or stall while it plays its part: another burst
        if roll < 0.25:
            self._ask(agent, now)
        elif roll < 0.65:
            self._stop_turn(agent, now)
            self._later(agent, now, 5, 40)
        elif roll < 0.75:
            # A command that runs on silently: the console shows the agent as
            # stalled once stall_seconds pass without activity.
            self._long_command(agent, now)
            self._later(agent, now, self.stall_seconds + 10, self.stall_seconds + 60)
        elif roll < 0.81:
            self._fail(agent, now)
        elif roll < 0.83:
            # The session ends; its worktree goes back to the pool and a new
            # session starts in the next free one, so the pod stays busy.
            self._end(agent, now)
            self.spare.append((agent.worktree, agent.branch))
            joiner = self._join(now + 0.001)
            joiner.next_at = now + rng.uniform(5, 20) / self.speed
        else:
            agent.burst_left = rng.randint(2, 6)
            self._later(agent, now, 0.4, 3.0)

    # -- what agents do ------------------------------------------------------

    def _tool_call(self, agent: SimAgent, now: float) -> None:
        """An ordinary tool call: PreToolUse (the policy lets it through), then PostToolUse."""
        tool, tool_input, path = ordinary_call(self.rng, agent)
        if self.edits is not None and agent.edit_rng is not None and tool in ("Edit", "Write"):
            tool_input = self.edits.plan(agent, tool, path)  # what it really changes
        if self._over_budget(agent, now):
            self._wait_call(agent, now, tool, tool_input)  # the budget gate waits for someone
            return
        answer = self._pre(agent, now, tool, tool_input)
        if answer is not None and allowed(answer):
            self._post(agent, now, tool, tool_input)
            if self.push_after_commit and tool == "Bash" and tool_input["command"].startswith("git commit"):
                agent.push_next = True
            if agent.memory_rng is not None and agent.memory_rng.random() < MEMORY_SHARE:
                self._note(agent, now)

    def _opening_edit(self, agent: SimAgent, now: float, force: bool) -> None:
        """An Edit in a Claude agent's history before the pod runs: two worktrees
        change the same file from the start (`WorktreeEdits.opening_path`)."""
        assert self.edits is not None and agent.edit_rng is not None
        tool_input = self.edits.opening_plan(agent, force)
        answer = self._pre(agent, now, "Edit", tool_input)
        if answer is not None and allowed(answer):
            self._post(agent, now, "Edit", tool_input, rng=agent.edit_rng)
        else:
            agent.pending = None

    def _over_budget(self, agent: SimAgent, now: float) -> bool:
        if self.transcripts is None:
            return False
        if self.conn.execute("SELECT 1 FROM budget_state WHERE fraction >= 1.0 LIMIT 1").fetchone() is None:
            return False
        from loomtui.store.budgets import over_budget

        return bool(over_budget(self.conn, agent.agent_id, str(self.repo), now))

    def _risky(self, agent: SimAgent, now: float) -> None:
        """A risky action: the policy gates it, so the call waits in a worker
        thread for a supervisor (or is denied at once)."""
        if agent.role == "hookless" and now < self.hookless_spell[0]:
            # Before its spell: no gate that could hold it through the spell, when it must be
            # seen working without its hooks (a gate made at 10 s, undecided, hid the spell).
            self._tool_call(agent, now)
            return
        tool, tool_input = risky_call(self.rng, agent)
        self._wait_call(agent, now, tool, tool_input)

    def _wait_call(self, agent: SimAgent, now: float, tool: str, tool_input: dict[str, Any],
                   extra: bool = False) -> None:
        """A call that waits for a supervisor, in a worker thread (see gated_call.HookCall).
        `extra`: one of the pusher's own pushes (drawn from the cast's generator)."""
        call_id = self._tool_use_id(agent)
        if agent.log is not None:
            agent.log.tool_use(now, tool, tool_input, call_id)
        agent.last_call_id = call_id
        if self._hookless(agent, now):
            # No hook asks anyone: the call simply runs (what makes an agent ungoverned).
            self._post(agent, now, tool, tool_input)
            if not extra:
                agent.burst_left = max(agent.burst_left, self.rng.randint(1, 4))
                self._later(agent, now, 1.0, 5.0)
            return
        data = self._event(agent, "PreToolUse", tool_name=tool, tool_input=tool_input,
                           tool_use_id=call_id)
        hook = Hook(agent=agent.kind, pod=self.pod, clock=self.clock, simulated=True)
        call = HookCall(hook, json.dumps(data).encode(), extra=extra)
        agent.call, agent.call_input = call, (tool, tool_input)
        agent.state = "waiting"
        self.sent += 1
        call.start(f"loomtui-sim-{agent.name}")
        self._poll(agent, now)

    def _poll(self, agent: SimAgent, now: float) -> None:
        """Let the agent's waiting call look at its gate once; react to its answer."""
        call = agent.call
        assert call is not None and agent.call_input is not None
        first = not call.looked
        done = call.resume()
        if first:
            call.looked = True
            row = None if done else self.conn.execute(
                "SELECT id FROM gates WHERE agent_id = ? AND status = 'pending' ORDER BY id DESC LIMIT 1",
                (agent.agent_id,)).fetchone()
            if row is not None:
                call.gate_id = row[0]
                self.teammate.plan_gate(row[0], now, own=call.extra)
        if not done:
            return
        agent.call = None
        tool, tool_input = agent.call_input
        agent.call_input = None
        agent.state = "working"
        if call.answer is not None and allowed(call.answer):
            self._post(agent, now, tool, tool_input)
        # Denied: the hook recorded why; the agent goes on with other work.
        if call.extra:  # the pusher's own push: its timing comes from the cast's generator
            agent.next_at = max(agent.next_at, now + self.cast_rng.uniform(1.0, 5.0) / self.speed)
            return
        agent.burst_left = max(agent.burst_left, self.rng.randint(1, 4))
        self._later(agent, now, 1.0, 5.0)

    # -- the cast (autonomy=True) --------------------------------------------

    def _hookless(self, agent: SimAgent, now: float) -> bool:
        """Whether this agent's hooks are off now (the hookless agent's spell): its
        calls run and its transcript grows, but no hook reports them."""
        return agent.role == "hookless" and self.hookless_spell[0] <= now < self.hookless_spell[1]

    def _playing(self, agent: SimAgent, now: float) -> bool:
        """Whether this agent is playing its part now: the hookless one until its spell
        ends, the pusher while it pushes (they keep working meanwhile, so it shows)."""
        return ((agent.role == "hookless" and now < self.hookless_spell[1])
                or (agent.role == "pusher" and now < self.push_until))

    def _push(self, agent: SimAgent, now: float) -> None:
        """The pusher pushes its own branch again (after each small commit, say): the
        same rule and shape every time, so sam grants it and the grant answers."""
        agent.push_at = now + self.cast_rng.uniform(*PUSH_EVERY) / self.speed
        self._wait_call(agent, now, "Bash", _push_input(agent), extra=True)

    def _pushed_before(self, agent: SimAgent, when: float) -> None:
        """The pusher's history: PUSH_HISTORY pushes of its branch in the minutes
        before the pod starts, each gated by the real hook and approved by sam, so
        that its next one is the "few approvals of the same rule and shape" sam
        grants on."""
        for i in range(PUSH_HISTORY, 0, -1):
            at = [when - 120.0 * i]
            tool_input = _push_input(agent)
            call_id = self._tool_use_id(agent)
            if agent.log is not None:
                agent.log.tool_use(at[0], "Bash", tool_input, call_id)
            agent.last_call_id = call_id

            def sam_approves(seconds: float, agent_id: int = agent.agent_id, at: list[float] = at) -> None:
                at[0] += min(seconds, 1.0) + 8.0  # sam reads it for a few seconds
                self.teammate.approve_waiting(agent_id, at[0])

            data = self._event(agent, "PreToolUse", tool_name="Bash", tool_input=tool_input,
                               tool_use_id=call_id)
            hook = Hook(agent=agent.kind, pod=self.pod, clock=lambda at=at: at[0], sleep=sam_approves,
                        simulated=True)
            self.sent += 1
            if allowed(hook.run(json.dumps(data).encode())):
                self._post(agent, at[0], "Bash", tool_input, rng=self.cast_rng)

    def _ask(self, agent: SimAgent, now: float) -> None:
        question = self.rng.choice(QUESTIONS)
        if agent.kind == "claude":
            self._hook(agent, now, self._event(agent, "Notification", message=question,
                                               title="Claude Code", notification_type="permission_prompt"))
            agent.state = "waiting"
            self._later(agent, now, 8, 45)
        else:  # Codex has no Notification hook: it ends its turn with the question
            self._stop_turn(agent, now, question)
            self._later(agent, now, 8, 45)

    def _stop_turn(self, agent: SimAgent, now: float, message: str = "turn finished") -> None:
        self._hook(agent, now, self._event(agent, "Stop", stop_hook_active=False,
                                           last_assistant_message=message))
        agent.state = "idle"

    def _long_command(self, agent: SimAgent, now: float) -> None:
        agent.long_command = self.rng.choice(LONG_COMMANDS)
        self._pre(agent, now, "Bash", {"command": agent.long_command, "description": "Long-running command"})
        agent.state = "stalled"  # the store says working; the console derives stalled

    def _fail(self, agent: SimAgent, now: float) -> None:
        error = self.rng.choice(ERRORS)
        self._record(agent, now, "error", summary=error, status="error", reason=error)

    def _end(self, agent: SimAgent, now: float) -> None:
        if self.memory is not None and agent.memory_rng is not None:
            self.memory.handoff(agent, now)
        if agent.kind == "claude":
            self._hook(agent, now, self._event(agent, "SessionEnd", reason="prompt_input_exit"))
        else:  # Codex has no SessionEnd hook: its rollout ends, and the ingester says so
            self._record(agent, now, "session_end", summary="session ended (exit)", status="done", reason="")
        agent.state = "done"

    def _prompt(self, agent: SimAgent, now: float, prompt: str) -> None:
        self._hook(agent, now, self._event(agent, "UserPromptSubmit", prompt=prompt))
        if agent.log is not None:
            agent.log.prompt(now, prompt)
        agent.state = "working"

    # -- shared memory (memory=True) -----------------------------------------

    def repo_ref(self) -> str:
        """The repository as the hook records it on the agents (the scope_ref of
        "repo" entries, so that SessionStart finds them): the main tree a worktree
        points to, else the repository path the simulation was given."""
        if self._repo_ref is None:
            ref = None
            for worktree, _ in [*self.spare, *((a.worktree, a.branch) for a in self.agents)]:
                if (worktree / ".git").exists():
                    ref = locate(str(worktree)).repo
                    break
            self._repo_ref = ref or str(self.repo)
        return self._repo_ref

    def _note(self, agent: SimAgent, now: float) -> None:
        """A note in memory about the agent's area (`MemoryNotes.note`); sam may
        review it if it waits for review."""
        assert self.memory is not None and agent.memory_rng is not None
        entry = self.memory.note(agent, now)
        if entry is not None and entry.status == "proposed":
            self.teammate.plan_review(entry.id, agent.memory_rng, now)

    # -- the hook JSON -------------------------------------------------------

    def _event(self, agent: SimAgent, name: str, **fields: Any) -> dict[str, Any]:
        """The common fields of a hook event (formats reference, section 1)."""
        data: dict[str, Any] = {"session_id": agent.session, "transcript_path": agent.transcript,
                                "cwd": str(agent.worktree), "hook_event_name": name}
        if agent.kind == "claude":
            data["permission_mode"] = DRIFT_MODE if agent.role == "drifter" else POD_MODE
        else:
            data["model"] = agent.model
            data["turn_id"] = f"turn-{agent.calls // 8 + 1}"
        data.update(fields)
        return data

    def _tool_use_id(self, agent: SimAgent) -> str:
        agent.calls += 1
        prefix = "toolu_01" if agent.kind == "claude" else "call_"
        return f"{prefix}{agent.session.replace('-', '')[:12]}{agent.calls:05d}"

    def _pre(self, agent: SimAgent, now: float, tool: str, tool_input: dict) -> Answer | None:
        call_id = self._tool_use_id(agent)
        if agent.log is not None:  # the model's response asking for the tool comes first
            agent.log.tool_use(now, tool, tool_input, call_id)
        agent.last_call_id = call_id
        data = self._event(agent, "PreToolUse", tool_name=tool, tool_input=tool_input,
                           tool_use_id=call_id)
        return self._hook(agent, now, data)

    def _post(self, agent: SimAgent, now: float, tool: str, tool_input: dict,
              rng: random.Random | None = None) -> None:
        if self.edits is not None and agent.edit_rng is not None:
            self.edits.apply(agent, now, tool, tool_input)  # the call runs: the file changes, or git commits
        if tool == "Bash":
            response: dict[str, Any] = {"stdout": "", "stderr": "", "interrupted": False, "isImage": False}
        else:
            response = {"filePath": tool_input.get("file_path", ""), "success": True}
        data = self._event(agent, "PostToolUse", tool_name=tool, tool_input=tool_input,
                           tool_response=response, tool_use_id=agent.last_call_id,
                           duration_ms=(rng or self.rng).randint(20, 4000))
        self._hook(agent, now, data)
        if agent.log is not None:
            agent.log.tool_result(now, agent.last_call_id)

    def _hook(self, agent: SimAgent, now: float, data: dict[str, Any]) -> Answer:
        """One hook call, inline, stamped `now`. A call that the policy gates
        does not wait here: its nap cancels the gate and it is denied (the sim
        sends gated calls through `_risky`, in a worker)."""

        def no_wait(_seconds: float) -> None:
            raise HookInterrupted("an unexpected gate in an inline simulated call")

        if self._hookless(agent, now):
            return Answer()  # no hook ran: nothing recorded, and the agent's own flow goes on
        raw = json.dumps(data).encode()
        self.sent += 1
        if self.via_service is not None and data["hook_event_name"] not in DECIDING_EVENTS:
            # The demo's pod service runs: the call goes through its socket as a real
            # agent's hook client's would (decisions stay here: see `via_service`).
            answered = self.via_service(agent.kind, raw)
            if answered is not None:
                return answered
        hook = Hook(agent=agent.kind, pod=self.pod, clock=lambda: now, sleep=no_wait, simulated=True)
        return hook.run(raw)

    def _record(self, agent: SimAgent, now: float, kind: str, *, summary: str,
                status: str | None = None, reason: str | None = None) -> None:
        """What no hook reports, written as the transcript ingester would."""
        record_event(self.conn, agent.agent_id, kind=kind, now=now, summary=summary,
                     payload={"simulated": True, "source": "transcript"}, status=status,
                     status_reason=reason)
        if status is not None:
            agent.state = status
        self.sent += 1


    # -- what the behaviours did (read by the tests and the demo) -------------

    @property
    def sam_decided(self) -> list[int]:
        """The gates sam decided, in order."""
        return self.teammate.decided

    @property
    def sam_reviewed(self) -> list[int]:
        """The memory entries sam accepted or rejected, in order."""
        return self.teammate.reviewed

    @property
    def files_written(self) -> int:
        """How many times an Edit or Write changed a file (0 with edits off)."""
        return self.edits.files_written if self.edits is not None else 0

    @property
    def commits(self) -> int:
        """How many `git commit` commands committed (0 with edits off)."""
        return self.edits.commits if self.edits is not None else 0

    @property
    def hot(self) -> str | None:
        """The file the first two editing agents both change (None with edits off)."""
        return self.edits.hot if self.edits is not None else None

    @property
    def collided(self) -> bool:
        """Whether a second agent changed the hot file before the pod ran."""
        return self.edits.collided if self.edits is not None else False

    @property
    def memory_written(self) -> list[int]:
        """The memory entries the agents wrote, in order ([] with memory off)."""
        return self.memory.written if self.memory is not None else []


def _push_input(agent: SimAgent) -> dict[str, Any]:
    return {"command": f"git push origin {agent.branch}", "description": "Push the branch"}


def _pod_of(conn: sqlite3.Connection) -> Path:
    """The pod directory of the store `conn` is open on."""
    for _seq, name, file in conn.execute("PRAGMA database_list"):
        if name == "main" and file:
            return Path(file).parent
    raise ValueError("the simulation needs a store on disk (its hooks open their own connections)")

