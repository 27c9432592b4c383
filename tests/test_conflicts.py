"""The conflict forecast against real repositories: git merge-tree decides, uncommitted
work counts, nothing of the user's (index, worktree, objects) is touched, and a pair is
merged again only when one of its commits moved."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

from loomtui.git import conflicts as conflictsmod
from loomtui.git import diff as diffmod
from loomtui.git.conflicts import ConflictForecaster
from loomtui.git.diff import compute_diff
from loomtui.git.discovery import list_worktrees
from loomtui.git.watch import WorktreeWatcher
from loomtui.store.db import connect, db_path
from loomtui.store.forecasts import fetch_forecasts
from tests.gitrepos import add_worktree, commit_all, git, gitb, index_file, isolate, make_repo, write
from tests.waiting import wait_for

LINES = "".join(f"line {i}\n" for i in range(1, 21))


@pytest.fixture(autouse=True)
def _git_env(monkeypatch, tmp_path):
    isolate(monkeypatch, tmp_path / "home")
    diffmod.clear_caches()


@pytest.fixture
def db(tmp_path):
    path = db_path(tmp_path / "pod")
    connect(path).close()
    return path


@pytest.fixture
def forecaster(db):
    fc = ConflictForecaster(db)
    yield fc
    fc.close()


@pytest.fixture
def repo(tmp_path):
    repo = make_repo(tmp_path / "shop", {"f.txt": LINES, "other.txt": "other\n"})
    for name in ("x", "y", "z"):
        add_worktree(repo, tmp_path / "wt" / name, f"agent/{name}")
    return repo


def edit_line(path: Path, number: int, text: str) -> None:
    lines = path.read_text().splitlines(keepends=True)
    lines[number - 1] = text + "\n"
    path.write_text("".join(lines))


def agent_worktrees(repo: Path) -> list:
    """The repository's worktrees but its main checkout, each with an agent in it."""
    found = list_worktrees(str(repo))
    return [replace(w, agents=(i,)) for i, w in enumerate(found) if w.path != str(repo.resolve())]


def forecast(fc: ConflictForecaster, repo: Path, only: str | None = None) -> dict:
    """Update the forecaster (every worktree, or the one named `only`) and read the store:
    {(name, other name or "base"): Forecast}."""
    for w in agent_worktrees(repo):
        if only is None or os.path.basename(w.path) == only:
            fc.update(w, compute_diff(w))
    assert not fc.errors
    conn = connect(fc.db)
    try:
        rows = fetch_forecasts(conn)
    finally:
        conn.close()
    return {(os.path.basename(f.worktree), os.path.basename(f.other) if f.other else "base"): f for f in rows}


def test_conflicting_hunks_conflict(forecaster, repo, tmp_path):
    wt = tmp_path / "wt"
    edit_line(wt / "x" / "f.txt", 3, "x was here")
    commit_all(wt / "x", "x")
    edit_line(wt / "y" / "f.txt", 3, "y was here")
    commit_all(wt / "y", "y")
    got = forecast(forecaster, repo)
    assert got[("x", "y")].state == "conflict"
    assert got[("x", "y")].files == ("f.txt",)
    assert got[("x", "z")].state == "clean" and got[("y", "z")].state == "clean"
    assert got[("x", "base")].state == "clean"  # the base has not moved: merges cleanly


def test_same_file_other_regions_is_overlap(forecaster, repo, tmp_path):
    wt = tmp_path / "wt"
    edit_line(wt / "x" / "f.txt", 2, "x top")
    commit_all(wt / "x", "x")
    edit_line(wt / "y" / "f.txt", 19, "y bottom")
    commit_all(wt / "y", "y")
    got = forecast(forecaster, repo)
    assert got[("x", "y")].state == "overlap"
    assert got[("x", "y")].files == ("f.txt",)
    # git agrees that it merges: both edits land
    tree = gitb(repo, "merge-tree", "--write-tree", "agent/x", "agent/y").split(b"\n")[0].decode()
    merged = git(repo, "cat-file", "-p", f"{tree}:f.txt")
    assert "x top" in merged and "y bottom" in merged


def test_renames(forecaster, repo, tmp_path):
    wt = tmp_path / "wt"
    git(wt / "x", "mv", "f.txt", "g.txt")
    commit_all(wt / "x", "x renames")
    edit_line(wt / "y" / "f.txt", 10, "y edits the old name")
    commit_all(wt / "y", "y edits")
    git(wt / "z", "mv", "f.txt", "h.txt")
    commit_all(wt / "z", "z renames elsewhere")
    got = forecast(forecaster, repo)
    # a rename and an edit of the renamed file merge (ort follows the rename)
    assert got[("x", "y")].state == "overlap" and got[("x", "y")].files == ("f.txt",)
    # two renames of one file to different names do not
    assert got[("x", "z")].state == "conflict"
    assert set(got[("x", "z")].files) >= {"g.txt", "h.txt"}


def test_branch_behind_its_base(forecaster, repo, tmp_path):
    wt = tmp_path / "wt"
    edit_line(wt / "x" / "f.txt", 5, "x changes five")
    commit_all(wt / "x", "x")
    edit_line(wt / "z" / "f.txt", 18, "z changes eighteen")
    commit_all(wt / "z", "z")
    edit_line(repo / "f.txt", 5, "main changes five")
    commit_all(repo, "main moves on")
    got = forecast(forecaster, repo)
    assert got[("x", "base")].state == "conflict" and got[("x", "base")].files == ("f.txt",)
    assert got[("x", "base")].base == "main"
    assert got[("y", "base")].state == "clean"  # behind, nothing of its own: merges
    assert got[("z", "base")].state == "overlap"  # same file, other region
    assert got[("x", "z")].state == "overlap"


def test_uncommitted_work_counts_and_nothing_is_touched(forecaster, repo, tmp_path):
    wt = tmp_path / "wt"
    edit_line(wt / "x" / "f.txt", 7, "x, not committed")
    git(wt / "x", "add", "f.txt")  # staged
    write(wt / "x" / "new.txt", "x's new file\n")  # untracked
    write(wt / "x" / "other.txt", "x edits, unstaged\n")
    edit_line(wt / "y" / "f.txt", 7, "y committed")
    commit_all(wt / "y", "y")
    write(wt / "z" / "new.txt", "z's own new file\n")  # untracked in both: add/add
    index = index_file(wt / "x")
    before = (index.read_bytes(), git(wt / "x", "status", "--porcelain"), git(repo, "count-objects"))
    got = forecast(forecaster, repo)
    assert got[("x", "y")].state == "conflict" and got[("x", "y")].files == ("f.txt",)
    assert got[("x", "z")].state == "conflict" and got[("x", "z")].files == ("new.txt",)
    assert got[("y", "z")].state == "clean"
    after = (index.read_bytes(), git(wt / "x", "status", "--porcelain"), git(repo, "count-objects"))
    assert after == before  # index, worktree and the repository's objects as they were


def test_cache_hit_then_recompute_after_one_commit(forecaster, repo, tmp_path, monkeypatch):
    wt = tmp_path / "wt"
    edit_line(wt / "x" / "f.txt", 3, "x")
    commit_all(wt / "x", "x")
    edit_line(wt / "y" / "f.txt", 12, "y")
    commit_all(wt / "y", "y")
    first = forecast(forecaster, repo)
    assert first[("x", "y")].state == "overlap"

    calls: list[tuple] = []
    real_run = conflictsmod.run

    def counting(cwd, *args, **kwargs):
        calls.append(args)
        return real_run(cwd, *args, **kwargs)

    monkeypatch.setattr(conflictsmod, "run", counting)
    again = forecast(forecaster, repo)
    assert calls == []  # nothing moved: no git at all
    assert again == first

    # A fresh forecaster (a restart) keeps the pairs' answers: only snapshots are made again.
    fresh = ConflictForecaster(forecaster.db)
    try:
        forecast(fresh, repo)
    finally:
        fresh.close()
    assert calls and all(args[0] != "merge-tree" for args in calls)

    calls.clear()
    skipped_before = forecaster.skipped
    edit_line(wt / "y" / "f.txt", 3, "y now clashes with x")
    commit_all(wt / "y", "y again")
    after = forecast(forecaster, repo, only="y")
    merges = [args for args in calls if args[0] == "merge-tree"]
    # y with x (both change f.txt) and y with its base; y-z change nothing in common from
    # one merge-base (clean without git); x-z did not move
    assert len(merges) == 2
    assert skipped_before < forecaster.skipped
    assert after[("x", "y")].state == "conflict"
    assert after[("x", "z")] == first[("x", "z")]

    # y changes a file nobody else changes: x-y is decided by f.txt alone, which did not
    # change on either side, so only y and its base are merged again.
    calls.clear()
    write(wt / "y" / "only-y.txt", "y's own\n")
    again = forecast(forecaster, repo, only="y")
    assert len([args for args in calls if args[0] == "merge-tree"]) == 1  # y with its base
    assert again[("x", "y")].state == "conflict" and again[("x", "y")].theirs != after[("x", "y")].theirs

    # Committing work already saved changes no snapshot: nothing is merged again.
    edit_line(wt / "x" / "f.txt", 8, "x saves more")
    forecast(forecaster, repo, only="x")
    calls.clear()
    commit_all(wt / "x", "x commits what it saved")
    assert forecast(forecaster, repo, only="x") == forecast(forecaster, repo)
    assert [args for args in calls if args[0] == "merge-tree"] == []


def test_watcher_keeps_the_forecast_current(db, repo, tmp_path):
    wt = tmp_path / "wt"
    fc = ConflictForecaster(db)
    watcher = WorktreeWatcher(db, agent_worktrees(repo), forecaster=fc, step_ms=20, debounce_ms=100)

    def state(a: str, b: str):
        conn = connect(db)
        try:
            rows = fetch_forecasts(conn)
        finally:
            conn.close()
        return next((f.state for f in rows if os.path.basename(f.worktree) == a
                     and os.path.basename(f.other) == b), None)

    watcher.start()
    try:
        wait_for(lambda: state("x", "y") == "clean", "a clean forecast for x and y")
        edit_line(wt / "x" / "f.txt", 4, "x")
        edit_line(wt / "y" / "f.txt", 4, "y")  # uncommitted in both
        wait_for(lambda: state("x", "y") == "conflict", "x and y forecast to conflict")
        git(wt / "y", "checkout", "--", "f.txt")
        wait_for(lambda: state("x", "y") == "clean", "the conflict gone after y's edit is undone")
    finally:
        watcher.stop()
        fc.close()
    assert not fc.errors and not watcher.errors


# -- `loomtui conflicts` ----------------------------------------------------------------


@pytest.fixture
def pod_with_agents(tmp_path, monkeypatch, repo):
    from loomtui.places import locate
    from loomtui.store.agents import upsert_agent

    monkeypatch.setenv("LOOM_HOME", str(tmp_path / "pod"))
    monkeypatch.delenv("LOOM_CONFIG", raising=False)
    conn = connect(db_path(tmp_path / "pod"))
    for i, name in enumerate(("x", "y", "z")):
        place = locate(str(tmp_path / "wt" / name))
        upsert_agent(conn, kind="claude", now=1.0, session_id=f"5e55104e-0000-4000-8000-00000000000{i}",
                     name=f"agent-{name}", cwd=str(tmp_path / "wt" / name), repo=place.repo,
                     worktree=place.worktree, branch=place.branch)
    conn.close()
    return tmp_path / "wt"


def test_cli_lists_pairs_with_state_and_files(pod_with_agents, capsys):
    import json

    from loomtui.cli import main

    wt = pod_with_agents
    edit_line(wt / "x" / "f.txt", 3, "x")
    commit_all(wt / "x", "x")
    edit_line(wt / "y" / "f.txt", 3, "y")  # uncommitted
    edit_line(wt / "z" / "f.txt", 15, "z")
    assert main(["conflicts", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    by_names = {(p["agents"][0], (p["other_agents"] or ["base"])[0]): p for p in doc["pairs"]}
    assert by_names[("agent-x", "agent-y")]["state"] == "conflict"
    assert by_names[("agent-x", "agent-y")]["files"] == ["f.txt"]
    assert by_names[("agent-x", "agent-z")]["state"] == "overlap"
    assert by_names[("agent-x", "base")]["state"] == "clean"
    assert doc["counts"] == {"conflict": 1, "overlap": 2, "clean": 3} and doc["errors"] == []

    assert main(["conflicts", "--cached", "--state", "conflict"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("1 conflict(s), 2 overlap(s)")
    assert out.splitlines()[1:] == ["✗ conflict  agent-x ↔ agent-y  f.txt"]


def test_cli_without_a_pod_says_so(tmp_path, monkeypatch, capsys):
    from loomtui.cli import main

    monkeypatch.setenv("LOOM_HOME", str(tmp_path / "nowhere"))
    assert main(["conflicts"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("loomtui conflicts:") and "Traceback" not in err


# -- the console: the fleet's mark and the Diff tab ------------------------------------


def _forecast_pod(pod: Path) -> None:
    """Diff stats and the forecast for the pod's agents, as the diff service writes them."""
    from loomtui.git.discovery import discover
    from loomtui.git.watch import refresh_worktree
    from loomtui.store.agents import fetch_agents

    conn = connect(db_path(pod))
    fc = ConflictForecaster(db_path(pod))
    try:
        for w in discover(fetch_agents(conn)):
            fc.update(w, refresh_worktree(conn, w))
    finally:
        fc.close()
        conn.close()
    assert not fc.errors


def _clash_cell(app, name: str) -> str:
    from loomtui.tui.widgets.fleet_table import FleetTable

    table = app.screen.query_one(FleetTable)
    keys = [c.key for c in table.column_layout]
    agent = next(a for a in app.pod_state.agents if a.name == name)
    return table.row_cells(agent.id)[keys.index("clash")].text


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
async def test_fleet_marks_conflicts_apart_from_overlaps(tmp_path, monkeypatch, size):
    from loomtui.tui.screens.diff_tab import FileList
    from tests.conftest import build_app
    from tests.test_diff_tab import CODE, make_pod, open_diff

    pod = make_pod(tmp_path, monkeypatch)  # one and two change src/app.py in other places
    _forecast_pod(pod)
    app = build_app(pod)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        assert _clash_cell(app, "one-agent") == "≈1" and _clash_cell(app, "two-agent") == "≈1"
        screen = await open_diff(pilot, "one-agent")
        head = str(screen.query_one("#diff-head").render())
        assert "≈ src/app.py is also changed by two-agent (merges cleanly)" in head
        assert "✗" not in head

    # two now rewrites the very line one changed: a real conflict (uncommitted)
    write(tmp_path / "wt" / "two" / "src" / "app.py", CODE.replace("return x + 3\n", "return x - 3\n"))
    _forecast_pod(pod)
    app = build_app(pod)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        assert _clash_cell(app, "one-agent") == "✗1" and _clash_cell(app, "two-agent") == "✗1"
        screen = await open_diff(pilot, "one-agent")
        head = str(screen.query_one("#diff-head").render())
        assert "✗ would conflict with two-agent: src/app.py" in head
        assert "≈" not in head
        files = screen.query_one(FileList)
        labels = [files.get_row_at(i)[1].plain for i in range(files.row_count)]
        assert "✗ src/app.py" in labels


def test_disjoint_pairs_skip_git_only_when_git_would_agree(forecaster, repo, tmp_path, monkeypatch):
    """Different files from one merge-base: clean without a merge. A rename or a file
    where the other has a folder: git is asked (and says conflict for the latter)."""
    wt = tmp_path / "wt"
    write(wt / "x" / "a.txt", "x's file\n")
    write(wt / "y" / "b.txt", "y's file\n")
    write(wt / "z" / "a.txt" / "inner.txt", "z's folder where x has a file\n")
    merged: list[tuple] = []
    real_run = conflictsmod.run

    def counting(cwd, *args, **kwargs):
        if args[0] == "merge-tree":
            merged.append(tuple(os.path.basename(str(a)) for a in (cwd,)))
        return real_run(cwd, *args, **kwargs)

    monkeypatch.setattr(conflictsmod, "run", counting)
    got = forecast(forecaster, repo)
    assert got[("x", "y")].state == "clean" and got[("y", "z")].state == "clean"
    assert got[("x", "z")].state == "conflict"  # file/folder: git decides
    assert forecaster.skipped == 2 and len(merged) == 1 + 3  # x-z, and each with its base
    # git agrees that a disjoint pair merges: commit x and y and ask it
    commit_all(wt / "x", "x")
    commit_all(wt / "y", "y")
    assert gitb(repo, "merge-tree", "--write-tree", "agent/x", "agent/y")  # exit 0: clean
    git(wt / "y", "mv", "other.txt", "renamed.txt")
    merged.clear()
    got = forecast(forecaster, repo, only="y")
    assert got[("x", "y")].state == "clean" and len(merged) == 3  # a rename: git asked each time


def test_an_old_git_is_said_once_and_nothing_runs(forecaster, repo, monkeypatch):
    monkeypatch.setattr(conflictsmod, "_version", (2, 37))
    w = agent_worktrees(repo)[0]
    assert forecaster.update(w, compute_diff(w)) == []
    assert not forecaster.available()
    assert forecaster.errors == ["the conflict forecast needs git 2.38 or newer "
                                 "(`git merge-tree --write-tree`); this is git 2.37"]


def test_the_console_reads_only_what_it_shows_and_notices_every_change(tmp_path):
    """The console's read skips clean pairs (most of the table at 200 agents) but keeps each
    worktree's row against its base; its change mark moves on a new write and on a delete,
    and reads an index, not the table."""
    from loomtui.store.forecasts import (
        CHANGE_MARK_SQL,
        SHOWN_SQL,
        Forecast,
        delete_forecasts,
        forecast_from_row,
        save_forecasts,
    )

    conn = connect(db_path(tmp_path), create=True)

    def row(a: str, b: str, state: str, at: float) -> Forecast:
        return Forecast(a, b, "/r", "main" if b == "" else None, "1" * 40, "2" * 40, state,
                        ("x.py",) if state != "clean" else (), at)

    save_forecasts(conn, [row("/w/a", "", "clean", 1.0), row("/w/b", "", "clean", 1.0),
                          row("/w/a", "/w/b", "clean", 1.0), row("/w/a", "/w/c", "conflict", 1.0),
                          row("/w/b", "/w/c", "overlap", 1.0)])
    shown = {(f.worktree, f.other, f.state) for f in map(forecast_from_row, conn.execute(SHOWN_SQL))}
    assert shown == {("/w/a", "", "clean"), ("/w/b", "", "clean"), ("/w/a", "/w/c", "conflict"),
                     ("/w/b", "/w/c", "overlap")}
    plan = " ".join(str(r) for r in conn.execute("EXPLAIN QUERY PLAN " + SHOWN_SQL))
    assert "merge_forecasts_shown" in plan
    mark = conn.execute(CHANGE_MARK_SQL).fetchone()
    save_forecasts(conn, [row("/w/a", "/w/b", "overlap", 2.0)])
    assert conn.execute(CHANGE_MARK_SQL).fetchone() != mark
    mark = conn.execute(CHANGE_MARK_SQL).fetchone()
    delete_forecasts(conn, ["/w/c"])  # rows with older writes go: max(updated_at) alone stays
    assert conn.execute(CHANGE_MARK_SQL).fetchone() != mark
    plan = " ".join(str(r) for r in conn.execute("EXPLAIN QUERY PLAN " + CHANGE_MARK_SQL))
    assert "SCAN merge_forecasts" not in plan
