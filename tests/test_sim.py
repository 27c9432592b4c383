"""The simulated pod behind `loomtui demo` and the benchmarks: a real git repository
with real worktrees, a real store, and simulated agents written through the same
store API as the hooks. Runs on a fake clock so that half an hour of pod life takes
well under a second, and replays exactly for a given seed."""

from __future__ import annotations

import sqlite3
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from loomtui.config import load_config
from loomtui.sim.agents import Simulation
from loomtui.sim.pod import DEMO_STALL_SECONDS, SPARE_WORKTREES, DemoPod, create_demo_pod
from loomtui.store.agents import fetch_agents
from loomtui.store.db import DB_NAME, connect, db_path
from loomtui.store.schema import SCHEMA_VERSION

SEED = 7
AGENTS = 24
START = 1_700_000_000.0
STEP = 0.5
DURATION = 30 * 60.0
# The status each status-changing event kind leaves the agent in.
KIND_STATUS = {"session_start": "working", "resume": "working", "waiting": "waiting",
               "stop": "idle", "error": "error", "session_end": "done"}


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


# -- half an hour on a fake clock --------------------------------------------------


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
    max_agents: int


def simulate(root: Path, seed: int = SEED) -> Run:
    """24 agents for 30 simulated minutes in steps of 0.5 s, as DemoPod.start wires them."""
    demo = create_demo_pod(AGENTS, root=root)
    now = [START]
    conn = connect(db_path(demo.pod))
    sim = Simulation(conn, demo.repo, demo.worktrees, seed=seed, clock=lambda: now[0],
                     stall_seconds=DEMO_STALL_SECONDS)
    sim.start(AGENTS)
    count = lambda sql: conn.execute(sql).fetchone()[0]  # noqa: E731
    run = Run(conn, demo, sim, count("SELECT count(*) FROM agents"), count("SELECT count(*) FROM events"),
              set(), set(), [], 0)
    steps = int(DURATION / STEP)
    for i in range(1, steps + 1):
        now[0] = START + i * STEP
        sim.step()
        run.statuses_seen |= {r[0] for r in conn.execute("SELECT DISTINCT status FROM agents")}
        for agent in fetch_agents(conn):
            if agent.effective_status(now[0], DEMO_STALL_SECONDS) == "stalled":
                run.stalled_seen.add(agent.name)
        run.max_agents = max(run.max_agents, count("SELECT count(*) FROM agents"))
        if i % int(60 / STEP) == 0:
            run.events_per_minute.append(count("SELECT count(*) FROM events"))
    return run


def event_log(conn: sqlite3.Connection) -> list[tuple]:
    """What a run wrote, without ids or paths (which differ between pods)."""
    return conn.execute(
        """SELECT a.name, a.session_id, e.kind, e.tool, e.summary, e.ts
           FROM events e JOIN agents a ON a.id = e.agent_id ORDER BY e.id"""
    ).fetchall()


def agent_table(conn: sqlite3.Connection) -> list[tuple]:
    return conn.execute(
        """SELECT name, session_id, branch, model, status, status_reason, last_tool, last_summary,
                  started_at, last_activity_at, ended_at FROM agents ORDER BY id"""
    ).fetchall()


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory):
    result = simulate(tmp_path_factory.mktemp("sim") / "demo")
    yield result
    result.conn.close()


def test_start_registers_every_agent_with_history(run: Run) -> None:
    """A demo that opens on an empty or uniform fleet shows nothing; start() registers
    all 24 with a few events each."""
    assert run.agents_after_start == AGENTS
    assert run.events_after_start >= 3 * AGENTS


def test_every_status_appears(run: Run) -> None:
    """Over half an hour the pod goes through every stored status the console colours."""
    assert {"working", "waiting", "idle", "done", "error"} <= run.statuses_seen
    kinds = {r[0] for r in run.conn.execute("SELECT DISTINCT kind FROM events")}
    assert set(KIND_STATUS) | {"tool"} <= kinds


def test_silent_working_agents_read_as_stalled(run: Run) -> None:
    """Stalls are derived, never stored: some working agent goes silent past stall_after
    (30 s in the demo) and reads as stalled, then resumes."""
    assert run.stalled_seen
    assert "stalled" not in run.statuses_seen  # the store never holds 'stalled'
    resumed = run.conn.execute("SELECT count(*) FROM events WHERE kind = 'resume' AND summary = 'resumed'")
    assert resumed.fetchone()[0] >= 1


def test_new_agents_join_as_others_finish(run: Run) -> None:
    """Every session that ends during the run is followed by exactly one new one,
    in a free worktree, so the pod stays busy; no two live agents share a worktree,
    and a worktree's later sessions are named <worktree>#<n>."""
    total = run.conn.execute("SELECT count(*) FROM agents").fetchone()[0]
    ended_during_run = run.conn.execute(
        "SELECT count(*) FROM events WHERE kind = 'session_end' AND ts > ?", (START,)
    ).fetchone()[0]
    assert ended_during_run >= 1
    assert total == AGENTS + ended_during_run
    assert run.max_agents == total
    names = [r[0] for r in run.conn.execute("SELECT name FROM agents ORDER BY id")]
    assert len(set(names)) == len(names)
    worktree_names = {path.name for path, _ in run.demo.worktrees}
    assert {name.split("#")[0] for name in names} <= worktree_names
    assert any("#" in name for name in names) or total <= AGENTS + SPARE_WORKTREES
    live = run.conn.execute("SELECT worktree FROM agents WHERE status != 'done'").fetchall()
    assert len(live) == len(set(live))


def test_events_keep_coming(run: Run) -> None:
    """The pod is alive every simulated minute, and the simulation's own count matches the store."""
    counts = [run.events_after_start, *run.events_per_minute]
    assert len(run.events_per_minute) == 30
    assert all(later > earlier for earlier, later in zip(counts, counts[1:])), counts
    total = run.conn.execute("SELECT count(*) FROM events").fetchone()[0]
    assert total == counts[-1] == run.sim.events_written


def test_agent_rows_stay_consistent_with_their_events(run: Run) -> None:
    """Every event belongs to an agent, and each agent row says what its own timeline says:
    status from its last status event, activity time from its last event, ended_at iff done."""
    conn = run.conn
    orphans = conn.execute(
        "SELECT count(*) FROM events e LEFT JOIN agents a ON a.id = e.agent_id WHERE a.id IS NULL"
    ).fetchone()[0]
    assert orphans == 0
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"

    for agent in fetch_agents(conn):
        events = conn.execute("SELECT kind, ts, tool, summary FROM events WHERE agent_id = ? ORDER BY id",
                              (agent.id,)).fetchall()
        assert events[0][0] == "session_start", agent.name
        assert sum(kind == "session_start" for kind, *_ in events) == 1
        status_kinds = [kind for kind, *_ in events if kind in KIND_STATUS]
        assert agent.status == KIND_STATUS[status_kinds[-1]], agent.name
        assert agent.last_activity_at == events[-1][1]
        assert (agent.ended_at is not None) == (agent.status == "done")
        if agent.status == "done":
            assert events[-1][0] == "session_end"  # nothing happens after a session ends
        last_with_summary = [e for e in events if e[3]][-1]
        assert agent.last_summary == last_with_summary[3]
        assert agent.branch == f"agent/{agent.name.split('#')[0]}"  # later sessions: <worktree>#<n>
        assert agent.kind == "sim"


def test_same_seed_replays_the_same_pod(run: Run, tmp_path: Path) -> None:
    """Benchmarks and bug reports rely on `--seed`: a second pod with the same seed
    writes the same events in the same order, and ends with the same agent rows."""
    again = simulate(tmp_path / "again")
    try:
        first, second = event_log(run.conn), event_log(again.conn)
        assert len(first) == len(second) > 1000
        assert first == second
        assert agent_table(run.conn) == agent_table(again.conn)
        assert again.stalled_seen == run.stalled_seen
    finally:
        again.conn.close()


def test_another_seed_gives_another_pod(tmp_path: Path) -> None:
    """The seed actually drives the run (a constant generator would pass the replay test)."""
    demo = create_demo_pod(4, root=tmp_path / "demo")
    logs = []
    for seed in (1, 2):
        pod_conn = connect(db_path(demo.pod))
        pod_conn.execute("DELETE FROM events")
        pod_conn.execute("DELETE FROM agents")
        now = [START]
        sim = Simulation(pod_conn, demo.repo, list(demo.worktrees), seed=seed, clock=lambda: now[0],
                         stall_seconds=DEMO_STALL_SECONDS)
        sim.start(4)
        for i in range(1, 241):
            now[0] = START + i * STEP
            sim.step()
        logs.append(event_log(pod_conn))
        pod_conn.close()
    assert logs[0] and logs[1]
    assert logs[0] != logs[1]


# -- the real thing: a thread on the real clock --------------------------------------


def test_demo_pod_thread_runs_and_stops_cleanly(tmp_path: Path) -> None:
    """`loomtui demo` runs the simulation in a thread on the wall clock: it must write
    events while the console would be open, stop when asked, and remove() cleans up."""
    demo = create_demo_pod(8, root=tmp_path / "live")
    store = db_path(demo.pod)
    demo.start(8, seed=3, speed=20)
    try:
        assert demo._thread is not None and demo._thread.is_alive()
        reader = sqlite3.connect(store)
        after_start = reader.execute("SELECT count(*) FROM events").fetchone()[0]
        assert reader.execute("SELECT count(*) FROM agents").fetchone()[0] == 8
        time.sleep(2.0)
        during = reader.execute("SELECT count(*) FROM events").fetchone()[0]
        reader.close()
    finally:
        demo.stop()
    assert not demo._thread.is_alive()
    assert demo.error is None
    assert during > after_start

    # Stopped means stopped: nothing more is written.
    reader = sqlite3.connect(store)
    settled = reader.execute("SELECT count(*) FROM events").fetchone()[0]
    time.sleep(0.3)
    assert reader.execute("SELECT count(*) FROM events").fetchone()[0] == settled >= during
    assert reader.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    reader.close()

    demo.remove()
    assert not demo.root.exists()
    assert not (tmp_path / "live" / "demo" / DB_NAME).exists()
