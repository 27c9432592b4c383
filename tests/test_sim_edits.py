"""The demo's git side: with `edits=True` the simulated agents really
change the files of their worktrees when the hook lets an Edit or Write run, really
commit on `git commit -am`, and two of them change the same file from the start, so
the diff engine sees real changes and a collision. With edits off (the default, which
the benchmarks and tests/test_sim.py use) no file changes, and edits never consume the
simulation's main random generator: the event stream after start() is the same."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from loomtui.git import diff as diffmod
from loomtui.git.discovery import discover
from loomtui.git.watch import refresh_all
from loomtui.sim.engine import Simulation
from loomtui.sim.pod import DEMO_STALL_SECONDS, DemoPod, create_demo_pod
from loomtui.store.db import connect, db_path
from loomtui.store.worktrees import Collision, collisions
from tests.gitrepos import isolate, ours, reference
from tests.waiting import wait_for

SEED = 11
AGENTS = 8
START = 1_700_000_000.0
STEP = 0.5
MINUTES = 4


@dataclass
class Run:
    demo: DemoPod
    sim: Simulation
    conn: object
    at_start: list[Collision]  # collisions right after start(), before any step


def simulate(root: Path, *, edits: bool, seed: int = SEED, agents: int = AGENTS,
             minutes: float = MINUTES) -> Run:
    demo = create_demo_pod(agents, root=root)
    now = [START]
    conn = connect(db_path(demo.pod))
    sim = Simulation(conn, demo.repo, demo.worktrees, seed=seed, clock=lambda: now[0],
                     stall_seconds=DEMO_STALL_SECONDS, edits=edits)
    sim.start(agents)
    refresh_all(conn, discover(repos=[str(demo.repo)]), now=now[0])
    at_start = collisions(conn)
    for i in range(1, int(minutes * 60 / STEP) + 1):
        now[0] = START + i * STEP
        sim.step()
    sim.close()
    return Run(demo, sim, conn, at_start)


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout


def tree(demo: DemoPod) -> dict[str, str]:
    """Every file of every worktree (not .git), by path under the demo root."""
    return {str(p.relative_to(demo.root)): p.read_text() for p in sorted((demo.root / "wt").rglob("*"))
            if p.is_file() and ".git" not in p.parts}


def later_events(conn) -> list[tuple]:
    """What happened after start(): who, what kind, which tool, when (the gates that
    close() cancels at the end in no particular order, sorted)."""
    rows = conn.execute("""SELECT a.session_id, e.kind, e.tool, e.ts FROM events e
                           JOIN agents a ON a.id = e.agent_id WHERE e.ts > ? ORDER BY e.id""",
                        (START,)).fetchall()
    cancelled = sorted(r for r in rows if r[1] == "gate_cancelled")
    return [r for r in rows if r[1] != "gate_cancelled"] + cancelled


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("edits")
    with pytest.MonkeyPatch.context() as mp:
        isolate(mp, root / "home")
        diffmod.clear_caches()
        result = simulate(root / "demo", edits=True)
        yield result
    result.conn.close()


def test_edits_show_in_the_diff_engine_as_git_counts_them(run: Run) -> None:
    """Several worktrees have real changes (modified tracked files with added and
    deleted lines, new files), and the diff engine's numbers are git's own."""
    results = refresh_all(run.conn, discover(repos=[str(run.demo.repo)]))
    changed = [r for r in results if r.files]
    assert len(changed) >= 4, [(r.worktree, r.files) for r in results]
    statuses = {f.status for r in changed for f in r.files}
    assert {"modified", "added"} <= statuses
    assert sum(r.added for r in changed) > 50 and sum(r.deleted for r in changed) > 0
    for r in changed:
        assert r.state == "ok" and r.merge_base
        assert ours(r) == reference(Path(r.worktree), r.merge_base), r.worktree
    assert run.sim.files_written > 0
    # the main checkout is never touched
    assert git(run.demo.repo, "status", "--porcelain") == ""


def test_two_agents_collide_from_the_start(run: Run) -> None:
    """Before the pod even runs, the first two editing agents changed one file (a file
    two areas share); as it runs, more files collide."""
    assert run.sim.hot and run.sim.collided
    hot = [c for c in run.at_start if c.path == run.sim.hot]
    assert hot and len(hot[0].worktrees) >= 2, run.at_start
    refresh_all(run.conn, discover(repos=[str(run.demo.repo)]))
    assert len(collisions(run.conn)) >= len(run.at_start) >= 1


def test_agents_commit_on_their_branches(run: Run) -> None:
    """`git commit -am` really commits, on the agent's own branch, as the agent, at
    the simulation's time; main never moves."""
    assert run.sim.commits >= 1
    logged = {}
    for _path, branch in run.demo.worktrees:
        out = git(run.demo.repo, "log", "--format=%an|%ae|%at|%s", f"main..{branch}")
        if out.strip():
            logged[branch] = [line.split("|") for line in out.splitlines()]
    assert sum(len(v) for v in logged.values()) == run.sim.commits
    names = {name for (name,) in run.conn.execute("SELECT name FROM agents")}
    for commits in logged.values():
        for author, email, at, subject in commits:
            assert author in names and email == f"{author}@agents.loomtui.invalid"
            assert START - 3600 <= int(at) <= START + MINUTES * 60
            assert subject.startswith("wip: ")
    assert len(git(run.demo.repo, "log", "--format=%H", "main").split()) == 2


def test_same_seed_same_edits(run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    isolate(monkeypatch, tmp_path / "home")
    again = simulate(tmp_path / "demo", edits=True)
    try:
        first = {k.split("/", 1)[1]: v for k, v in tree(run.demo).items()}
        second = {k.split("/", 1)[1]: v for k, v in tree(again.demo).items()}
        assert first == second
        assert again.sim.commits == run.sim.commits
    finally:
        again.conn.close()


def test_edits_off_change_nothing_and_leave_the_main_sequence_alone(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The default changes no file and commits nothing; and turning edits on adds the
    opening edits to the history but leaves everything after start() as it was."""
    isolate(monkeypatch, tmp_path / "home")
    off = simulate(tmp_path / "demo", edits=False)
    try:
        assert off.sim.files_written == off.sim.commits == 0 and off.at_start == []
        for path, branch in off.demo.worktrees:
            assert git(path, "status", "--porcelain") == ""
            assert git(off.demo.repo, "log", "--oneline", f"main..{branch}") == ""
        assert later_events(off.conn) == later_events(run.conn)
    finally:
        off.conn.close()


def test_the_demo_pod_edits_and_collides_on_the_real_clock(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """`DemoPod.start` turns edits on: within seconds of the demo's start two
    worktrees change the same file."""
    isolate(monkeypatch, tmp_path / "home")
    demo = create_demo_pod(6, root=tmp_path / "demo")
    conn = connect(db_path(demo.pod))

    def hot_collision() -> bool:
        """What git says now: two worktrees or more change the sim's hot file."""
        refresh_all(conn, discover(repos=[str(demo.repo)]))
        return any(c.path == demo.sim.hot and len(c.worktrees) >= 2 for c in collisions(conn))

    try:
        demo.start(6, seed=3, speed=4)
        try:
            # "within seconds": ten, where an idle machine needs one or two
            wait_for(lambda: demo.error is not None or (demo.sim.files_written > 0 and hot_collision()),
                     "two worktrees of the running demo to change the same file", timeout=10, interval=0.2)
        finally:
            demo.stop()
        assert demo.error is None
        assert demo.sim is not None and demo.sim.files_written > 0
        refresh_all(conn, discover(repos=[str(demo.repo)]))
        found = collisions(conn)
        assert any(c.path == demo.sim.hot and len(c.worktrees) >= 2 for c in found), found
    finally:
        conn.close()
        demo.remove()
