"""The simulated pod behind `loomtui demo` and the benchmarks: a real git repository
with real worktrees, a real store, and simulated agents whose every session start,
tool call and turn end goes through the real hook (`loomtui.hooks.dispatch.Hook`)
as Claude Code / Codex hook JSON, under the demo policy. Risky calls are gated and
wait for a supervisor: "sam" (simulated) decides some, the rest expire. Runs on a
fake clock so that twenty minutes of pod life take seconds, and replays exactly
for a given seed."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from loomtui.config import load_config
from loomtui.policy import load_policy
from loomtui.sim.engine import Simulation
from loomtui.sim.pod import DEMO_GATE_SECONDS, DEMO_STALL_SECONDS, SPARE_WORKTREES, DemoPod, create_demo_pod
from loomtui.sim.scenario import LONG_COMMANDS, SAM
from loomtui.store.agents import fetch_agents
from loomtui.store.db import DB_NAME, connect, db_path
from loomtui.store.gates import decide, list_gates
from loomtui.store.schema import SCHEMA_VERSION
from tests.waiting import wait_for

SEED = 7
AGENTS = 24
START = 1_700_000_000.0
STEP = 0.5
DURATION = 20 * 60.0
# The status each status-changing event kind leaves the agent in (the hook's
# events, and the two the simulator records itself: error, and a Codex session_end).
KIND_STATUS = {"session_start": "working", "prompt": "working", "tool": "working",
               "tool_done": "working", "notification": "waiting", "gate": "waiting",
               "approved": "working", "rejected": "working", "expired": "working",
               "denied": "working", "gate_cancelled": "working", "stop": "idle",
               "error": "error", "session_end": "done"}


def worktree_list(repo: Path) -> list[dict[str, str]]:
    out = subprocess.run(["git", "-C", str(repo), "worktree", "list", "--porcelain"],
                         capture_output=True, text=True, check=True).stdout
    entries = []
    for block in out.strip().split("\n\n"):
        entry = {}
        for line in block.splitlines():
            key, _, value = line.partition(" ")
            entry[key] = value
        entries.append(entry)
    return entries


# -- the pod on disk -------------------------------------------------------------


def test_create_demo_pod_makes_repo_worktrees_store_and_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The demo must exercise real git: one worktree per agent (plus spares for joiners),
    each on its own agent/<name> branch, beside a migrated store and the demo config."""
    monkeypatch.delenv("LOOM_CONFIG", raising=False)
    n = 3
    demo = create_demo_pod(n, root=tmp_path / "demo")
    assert demo.root == tmp_path / "demo"
    assert len(demo.worktrees) == n + SPARE_WORKTREES

    entries = worktree_list(demo.repo)
    assert len(entries) == n + SPARE_WORKTREES + 1
    main, others = entries[0], entries[1:]
    assert Path(main["worktree"]) == demo.repo.resolve()
    assert main["branch"] == "refs/heads/main"
    main_head = main["HEAD"]
    listed = {Path(e["worktree"]): e for e in others}
    assert set(listed) == {path.resolve() for path, _ in demo.worktrees}
    for path, branch in demo.worktrees:
        entry = listed[path.resolve()]
        assert branch == f"agent/{path.name}"
        assert entry["branch"] == f"refs/heads/{branch}"
        assert entry["HEAD"] == main_head  # branched from main
        assert (path / "README.md").is_file() and (path / ".git").is_file()
    assert len({b for _, b in demo.worktrees}) == len(demo.worktrees)

    store = db_path(demo.pod)
    assert store.is_file()
    conn = sqlite3.connect(store)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("SELECT count(*) FROM agents").fetchone()[0] == 0
    conn.close()

    config = load_config(demo.pod)
    assert config.warnings == ()
    assert config.console.stall_after == DEMO_STALL_SECONDS == 30.0

    # The demo policy: the defaults, every gate expiring after three minutes.
    policy = load_policy(demo.pod)
    assert policy.source == str(demo.pod / "policy.toml")
    gates = [rule for rule in policy.rules if rule.action == "gate"]
    assert len(gates) >= 10
    assert {rule.expires_after for rule in gates} == {DEMO_GATE_SECONDS}


# -- twenty minutes on a fake clock --------------------------------------------------


@dataclass
class Run:
    conn: sqlite3.Connection
    demo: DemoPod
    sim: Simulation
    agents_after_start: int
    events_after_start: int
    statuses_seen: set[str]
    stalled_seen: set[str]  # names of agents that read as stalled at some step
    events_per_minute: list[int]  # total events at the end of each simulated minute
    pending_per_minute: list[int]  # pending gates at the end of each simulated minute
    max_agents: int
    max_in_flight: int


def simulate(root: Path, seed: int = SEED) -> Run:
    """24 agents for 20 simulated minutes in steps of 0.5 s, as DemoPod.start wires them."""
    demo = create_demo_pod(AGENTS, root=root)
    now = [START]
    conn = connect(db_path(demo.pod))
    sim = Simulation(conn, demo.repo, demo.worktrees, seed=seed, clock=lambda: now[0],
                     stall_seconds=DEMO_STALL_SECONDS)
    sim.start(AGENTS)
    count = lambda sql: conn.execute(sql).fetchone()[0]  # noqa: E731
    run = Run(conn, demo, sim, count("SELECT count(*) FROM agents"), count("SELECT count(*) FROM events"),
              set(), set(), [], [], 0, 0)
    steps = int(DURATION / STEP)
    for i in range(1, steps + 1):
        now[0] = START + i * STEP
        sim.step()
        run.max_in_flight = max(run.max_in_flight, sim.in_flight())
        run.statuses_seen |= {r[0] for r in conn.execute("SELECT DISTINCT status FROM agents")}
        if i % 4 == 0:
            for agent in fetch_agents(conn):
                if agent.effective_status(now[0], DEMO_STALL_SECONDS) == "stalled":
                    run.stalled_seen.add(agent.name)
        run.max_agents = max(run.max_agents, count("SELECT count(*) FROM agents"))
        if i % int(60 / STEP) == 0:
            run.events_per_minute.append(count("SELECT count(*) FROM events"))
            run.pending_per_minute.append(len(list_gates(conn, now=now[0])))
    return run


def event_log(conn: sqlite3.Connection) -> list[tuple]:
    """What a run wrote, without ids or paths (which differ between pods: a gate's
    summary may name a file, and is cut at 200 characters)."""
    root = str(_pod_root(conn))
    return [(name, session, kind, tool, summary.replace(root, "<root>")[:120], ts)
            for name, session, kind, tool, summary, ts in conn.execute(
                """SELECT a.name, a.session_id, e.kind, e.tool, e.summary, e.ts
                   FROM events e JOIN agents a ON a.id = e.agent_id ORDER BY e.id""")]


def _pod_root(conn: sqlite3.Connection) -> Path:
    file = next(row[2] for row in conn.execute("PRAGMA database_list") if row[1] == "main")
    return Path(file).parent.parent


def agent_table(conn: sqlite3.Connection) -> list[tuple]:
    root = str(_pod_root(conn))
    return [row[:8] + (row[8].replace(root, "<root>")[:120],) + row[9:] for row in conn.execute(
        """SELECT kind, name, session_id, branch, model, status, status_reason, last_tool, last_summary,
                  started_at, last_activity_at, ended_at FROM agents ORDER BY id""")]


def gate_table(conn: sqlite3.Connection) -> list[tuple]:
    return conn.execute(
        """SELECT g.id, a.name, g.status, g.tool, g.summary, g.rule, g.risk, g.created_at,
                  g.expires_at, g.decided_by, g.decided_at, g.reason
           FROM gates g JOIN agents a ON a.id = g.agent_id ORDER BY g.id"""
    ).fetchall()


def events_of(conn: sqlite3.Connection, agent_id: int) -> list[tuple]:
    return conn.execute("SELECT kind, tool, summary, ts, payload FROM events WHERE agent_id = ? ORDER BY id",
                        (agent_id,)).fetchall()


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory):
    result = simulate(tmp_path_factory.mktemp("sim") / "demo")
    yield result
    result.sim.close()
    result.conn.close()


def test_start_registers_every_agent_through_the_hook(run: Run) -> None:
    """A demo that opens on an empty or uniform fleet shows nothing; start() registers
    all 24 with a few events each, every one through the real hook: the agents are
    Claude Code (a few Codex) sessions, keyed on their session ids."""
    assert run.agents_after_start == AGENTS
    assert run.events_after_start >= 3 * AGENTS
    rows = run.conn.execute("SELECT kind, session_id, cwd, worktree, transcript_path FROM agents").fetchall()
    assert {kind for kind, *_ in rows} <= {"claude", "codex"}
    assert any(kind == "claude" for kind, *_ in rows)
    sessions = [session for _, session, *_ in rows]
    assert all(sessions) and len(set(sessions)) == len(sessions)
    for _, _, cwd, worktree, transcript in rows:
        assert cwd == worktree and Path(worktree).is_dir()  # the hook found the git worktree
        assert transcript.endswith(".jsonl")
    assert run.conn.execute("SELECT count(*) FROM agents WHERE kind = 'sim'").fetchone()[0] == 0


def test_tool_calls_arrive_as_real_hook_json(run: Run) -> None:
    """Each tool call is a PreToolUse then a PostToolUse as Claude Code sends them
    (formats reference, section 1): session, cwd, permission mode, tool input with an
    absolute file path, tool_use_id; the stored payload is the hook's input."""
    row = run.conn.execute(
        """SELECT e.payload, a.session_id, a.worktree FROM events e JOIN agents a ON a.id = e.agent_id
           WHERE e.kind = 'tool' AND e.tool = 'Edit' AND a.kind = 'claude' LIMIT 1""").fetchone()
    payload, session, worktree = json.loads(row[0]), row[1], row[2]
    assert payload["hook_event_name"] == "PreToolUse"
    assert payload["session_id"] == session and payload["cwd"] == worktree
    assert payload["permission_mode"] == "default"
    assert payload["tool_use_id"].startswith("toolu_")
    assert payload["tool_input"]["file_path"].startswith(worktree + "/")
    assert {"old_string", "new_string"} <= set(payload["tool_input"])
    post = run.conn.execute("SELECT payload FROM events WHERE kind = 'tool_done' AND tool = 'Bash' LIMIT 1")
    post = json.loads(post.fetchone()[0])
    assert post["hook_event_name"] == "PostToolUse" and "tool_response" in post
    assert isinstance(post["tool_input"]["command"], str)


def test_every_status_appears(run: Run) -> None:
    """Over twenty minutes the pod goes through every stored status the console colours,
    and every kind of event the hook writes for it, gates and their outcomes included."""
    assert {"working", "waiting", "idle", "done", "error"} <= run.statuses_seen
    kinds = {r[0] for r in run.conn.execute("SELECT DISTINCT kind FROM events")}
    assert set(KIND_STATUS) - {"gate_cancelled"} <= kinds


def test_silent_working_agents_read_as_stalled(run: Run) -> None:
    """Stalls are derived, never stored: an agent in a long command goes silent past
    stall_after (30 s in the demo) and reads as stalled, then its command finishes."""
    assert run.stalled_seen
    assert "stalled" not in run.statuses_seen  # the store never holds 'stalled'
    finished = run.conn.execute(
        "SELECT summary FROM events WHERE kind = 'tool_done' AND tool = 'Bash'").fetchall()
    assert any(summary in LONG_COMMANDS for (summary,) in finished)


def test_the_demo_inbox_fills_and_gets_decided(run: Run) -> None:
    """Risky calls are gated by the demo policy and wait: most minutes the inbox holds
    a few gates; sam decides about half of them (approving most, rejecting some with a
    reason) and the rest expire after the demo's three minutes."""
    pending = run.pending_per_minute
    assert sum(1 for n in pending if n > 0) >= 0.8 * len(pending), pending
    assert max(pending) <= 15, pending
    assert run.max_in_flight >= 2
    gates = gate_table(run.conn)
    by_status: dict[str, list[tuple]] = {}
    for gate in gates:
        by_status.setdefault(gate[2], []).append(gate)
    assert {g[9] for g in by_status.get("approved", [])} == {SAM}
    assert {g[9] for g in by_status.get("rejected", [])} == {SAM}
    assert len(by_status["approved"]) > len(by_status["rejected"]) >= 1
    assert all(g[11] for g in by_status["rejected"])  # a rejection has a reason
    for gate in by_status["approved"] + by_status["rejected"]:
        assert 30 <= gate[10] - gate[7] <= 90 + STEP
    assert by_status["expired"]
    for gate in by_status["expired"]:
        assert gate[8] - gate[7] == DEMO_GATE_SECONDS
        assert gate[10] - gate[8] <= STEP  # expired by the waiting hook itself
    rules = {g[5] for g in gates}
    assert {"git-push", "db-migrate"} <= rules
    # Sam is recorded as a simulated supervisor, in the gate and in its audit entry.
    decided = run.conn.execute("SELECT DISTINCT decided_name FROM gates "
                               "WHERE status IN ('approved', 'rejected')").fetchall()
    assert decided == [("sam (simulated)",)]
    details = [json.loads(d) for (d,) in run.conn.execute(
        "SELECT detail FROM audit WHERE action IN ('gate.approved', 'gate.rejected')")]
    assert details and all(d["simulated"] is True and d["as"] == "sam (simulated)" for d in details)


def test_waiting_agents_react_to_decisions(run: Run) -> None:
    """The waiting hook answers its agent: a rejected agent's timeline shows sam's
    reason and nothing ran; an approved call runs (its PostToolUse follows); an
    expired gate is a deny; the agent goes on working either way."""
    conn = run.conn
    gates = conn.execute("SELECT id, agent_id, status, summary, reason FROM gates WHERE status != 'pending'"
                         " ORDER BY id").fetchall()
    seen = set()
    for gate_id, agent_id, status, summary, reason in gates:
        events = events_of(conn, agent_id)
        at = next(i for i, e in enumerate(events) if e[0] == "gate" and f"(gate {gate_id}," in e[2])
        outcome = events[at + 1]
        assert outcome[0] == status, (gate_id, outcome)
        later = [e for e in events[at + 2:] if e[0] in ("tool", "tool_done", "gate")]
        if status == "rejected":
            assert re.search(rf"Rejected by {SAM}\b.*: {re.escape(reason)}", outcome[2]), outcome
            assert later and later[0][0] != "tool_done"  # the rejected call never ran
        elif status == "approved":
            assert f"approved by {SAM}" in outcome[2]
            assert later[0][0] == "tool_done" and later[0][2] == summary  # the call ran
        elif status == "expired":
            assert "in time; denied" in outcome[2]
        seen.add(status)
    assert {"approved", "rejected", "expired"} <= seen


def test_policy_denies_secrets_at_once(run: Run) -> None:
    """The one risky action the policy denies outright never reaches the inbox."""
    denied = run.conn.execute("SELECT summary FROM events WHERE kind = 'denied'").fetchall()
    assert denied and all(".env" in s and "policy" in s for (s,) in denied)
    assert not [g for g in gate_table(run.conn) if ".env" in g[4]]


def test_new_agents_join_as_others_finish(run: Run) -> None:
    """Every session that ends during the run is followed by exactly one new one,
    in a free worktree, so the pod stays busy; no two live agents share a worktree.
    Names are the hook's: <worktree>-<session id prefix>."""
    total = run.conn.execute("SELECT count(*) FROM agents").fetchone()[0]
    ended_during_run = run.conn.execute(
        "SELECT count(*) FROM events WHERE kind = 'session_end' AND ts > ?", (START,)
    ).fetchone()[0]
    assert ended_during_run >= 1
    assert total == AGENTS + ended_during_run
    assert run.max_agents == total
    rows = run.conn.execute("SELECT name, session_id, worktree FROM agents ORDER BY id").fetchall()
    assert len({name for name, *_ in rows}) == len(rows)
    worktrees = {str(path) for path, _ in run.demo.worktrees}
    for name, session, worktree in rows:
        assert worktree in worktrees
        assert name == f"{Path(worktree).name}-{session[:4]}"
    live = run.conn.execute("SELECT worktree FROM agents WHERE status != 'done'").fetchall()
    assert len(live) == len(set(live))


def test_events_keep_coming(run: Run) -> None:
    """The pod is alive every simulated minute. Every hook call or direct record the
    simulation made wrote one event, and every gate that ended wrote one more (its
    outcome): nothing is lost or written twice."""
    counts = [run.events_after_start, *run.events_per_minute]
    assert len(run.events_per_minute) == DURATION / 60
    assert all(later > earlier for earlier, later in zip(counts, counts[1:], strict=False)), counts
    total = run.conn.execute("SELECT count(*) FROM events").fetchone()[0]
    ended = run.conn.execute("SELECT count(*) FROM gates WHERE status != 'pending'").fetchone()[0]
    assert total == counts[-1] == run.sim.sent + ended


def test_agent_rows_stay_consistent_with_their_events(run: Run) -> None:
    """Every event belongs to an agent, and each agent row says what its own timeline says:
    status from its last status event, activity time from its last event, ended_at iff done."""
    conn = run.conn
    orphans = conn.execute(
        "SELECT count(*) FROM events e LEFT JOIN agents a ON a.id = e.agent_id WHERE a.id IS NULL"
    ).fetchone()[0]
    assert orphans == 0
    assert conn.execute("SELECT count(*) FROM gates WHERE agent_id IS NULL").fetchone()[0] == 0
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"

    for agent in fetch_agents(conn):
        events = events_of(conn, agent.id)
        assert events[0][0] == "session_start", agent.name
        assert agent.started_at == events[0][3]
        assert sum(kind == "session_start" for kind, *_ in events) == 1
        status_kinds = [kind for kind, *_ in events if kind in KIND_STATUS]
        assert agent.status == KIND_STATUS[status_kinds[-1]], agent.name
        assert agent.last_activity_at == events[-1][3]
        assert (agent.ended_at is not None) == (agent.status == "done")
        if agent.status == "done":
            assert events[-1][0] == "session_end"  # nothing happens after a session ends
        assert agent.pending_gates == (1 if agent.status == "waiting" and events[-1][0] == "gate" else 0)
        assert agent.branch == f"agent/{Path(agent.worktree).name}"
        assert agent.kind in ("claude", "codex")


def test_same_seed_replays_the_same_pod(run: Run, tmp_path: Path) -> None:
    """Benchmarks and bug reports rely on `--seed`: a second pod with the same seed
    writes the same events in the same order, the same gates with the same outcomes,
    and ends with the same agent rows, although gated calls wait in threads."""
    again = simulate(tmp_path / "again")
    try:
        first, second = event_log(run.conn), event_log(again.conn)
        assert len(first) == len(second) > 1000
        assert first == second
        assert agent_table(run.conn) == agent_table(again.conn)
        assert gate_table(run.conn) == gate_table(again.conn)
        assert again.stalled_seen == run.stalled_seen
        assert again.pending_per_minute == run.pending_per_minute
    finally:
        again.sim.close()
        again.conn.close()


def test_another_seed_gives_another_pod(tmp_path: Path) -> None:
    """The seed actually drives the run (a constant generator would pass the replay test)."""
    logs = []
    for seed in (1, 2):
        demo = create_demo_pod(4, root=tmp_path / f"demo{seed}")
        pod_conn = connect(db_path(demo.pod))
        now = [START]
        sim = Simulation(pod_conn, demo.repo, list(demo.worktrees), seed=seed, clock=lambda now=now: now[0],
                         stall_seconds=DEMO_STALL_SECONDS)
        sim.start(4)
        for i in range(1, 241):
            now[0] = START + i * STEP
            sim.step()
        logs.append([row[2:] for row in event_log(pod_conn)])
        sim.close()
        pod_conn.close()
    assert logs[0] and logs[1]
    assert logs[0] != logs[1]


def test_a_decision_at_the_console_reaches_the_waiting_agent(tmp_path: Path) -> None:
    """The person at the console decides the gates sam leaves: an approval by "ana"
    is seen by the waiting hook at the next step, and the call runs."""
    demo = create_demo_pod(6, root=tmp_path / "demo")
    conn = connect(db_path(demo.pod))
    now = [START]
    sim = Simulation(conn, demo.repo, demo.worktrees, seed=SEED, clock=lambda: now[0],
                     stall_seconds=DEMO_STALL_SECONDS, sam_share=0.0, risky_share=0.2)
    try:
        sim.start(6)
        gate = None
        for i in range(1, 600):
            now[0] = START + i * STEP
            sim.step()
            gates = list_gates(conn, now=now[0])
            if gates:
                gate = gates[0]
                break
        assert gate is not None
        waiting = next(a for a in sim.agents if a.agent_id == gate.agent_id)
        assert waiting.call is not None and waiting.call.gate_id == gate.id
        before = sim.sent
        now[0] += STEP
        sim.step()
        assert waiting.call is not None  # still waiting: nobody decided
        decide(conn, gate.id, approve=True, actor="ana", reason="", now=now[0])
        now[0] += STEP
        sim.step()
        assert waiting.call is None
        events = events_of(conn, gate.agent_id)
        kinds = [e[0] for e in events]
        at = kinds.index("approved")
        assert "approved by ana" in events[at][2]
        assert events[at + 1][0] == "tool_done" and events[at + 1][2] == gate.summary
        assert sim.sent > before
    finally:
        sim.close()
        conn.close()


def test_start_works_without_worktrees_on_disk(tmp_path: Path) -> None:
    """bench/fleet.py registers agents in worktrees that do not exist: the hook finds no
    git checkout there, and the simulator fills in repo, worktree and branch; start()
    leaves no thread behind (nothing waits until step())."""
    pod = tmp_path / "pod"
    repo = tmp_path / "shop"
    worktrees = [(tmp_path / "worktrees" / f"wt-{i:03d}", f"agent/wt-{i:03d}") for i in range(12)]
    conn = connect(db_path(pod))
    try:
        sim = Simulation(conn, repo, worktrees, seed=3, clock=time.time, stall_seconds=300)
        sim.start(12)
        assert sim.in_flight() == 0
        rows = conn.execute("SELECT repo, worktree, branch FROM agents ORDER BY id").fetchall()
        assert len(rows) == 12
        assert rows == [(str(repo), str(path), branch) for path, branch in worktrees]
        assert conn.execute("SELECT count(*) FROM gates").fetchone()[0] == 0
    finally:
        conn.close()


# -- the real thing: a thread on the real clock --------------------------------------


def test_demo_pod_thread_runs_and_stops_cleanly(tmp_path: Path) -> None:
    """`loomtui demo` runs the simulation in a thread on the wall clock: it must write
    events while the console would be open, hold gates in the inbox, stop when asked
    without hanging on the hooks that wait (their gates are cancelled, the agents
    denied), and remove() cleans up."""
    demo = create_demo_pod(8, root=tmp_path / "live")
    store = db_path(demo.pod)
    demo.start(8, seed=6, speed=20)  # seed 6: three agents open with a risky call
    try:
        assert demo._thread is not None and demo._thread.is_alive()
        reader = sqlite3.connect(store)
        after_start = reader.execute("SELECT count(*) FROM events").fetchone()[0]
        assert reader.execute("SELECT count(*) FROM agents").fetchone()[0] == 8
        pending = wait_for(lambda: reader.execute(
            "SELECT count(*) FROM gates WHERE status = 'pending'").fetchone()[0], "a pending gate in the inbox")
        during = wait_for(lambda: (n := reader.execute("SELECT count(*) FROM events").fetchone()[0]) > after_start
                          and n, "the running demo to write more events")
        reader.close()
    finally:
        began = time.monotonic()
        demo.stop()
        stopping = time.monotonic() - began
    assert not demo._thread.is_alive()
    assert stopping < 5
    assert demo.error is None
    assert during > after_start
    assert pending >= 1
    assert demo.sim is not None
    ours = {f"loomtui-sim-{agent.name}" for agent in demo.sim.agents}
    assert not [t for t in threading.enumerate() if t.name in ours]  # the waiting hooks returned

    # Stopped means stopped: nothing more is written, and nothing is left pending.
    reader = sqlite3.connect(store)
    settled = reader.execute("SELECT count(*) FROM events").fetchone()[0]
    # Letting time pass is the point: no writer is left (checked above), so none may
    # show up now. There is no event to wait on for "nothing happens".
    time.sleep(0.3)
    assert reader.execute("SELECT count(*) FROM events").fetchone()[0] == settled >= during
    assert reader.execute("SELECT count(*) FROM gates WHERE status = 'pending'").fetchone()[0] == 0
    assert reader.execute("SELECT count(*) FROM gates WHERE status = 'cancelled'").fetchone()[0] >= 1
    assert reader.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    reader.close()

    demo.remove()
    assert not demo.root.exists()
    assert not (tmp_path / "live" / "demo" / DB_NAME).exists()
