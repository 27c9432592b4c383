"""The live part: a watcher over real worktrees writes diff stats to a real store;
only the worktree that changed is recomputed; a removed worktree becomes missing;
files changed in two worktrees of one repository are collisions."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from loomtui.git import diff as diffmod
from loomtui.git.discovery import discover
from loomtui.git.watch import WorktreeWatcher, refresh_all, refresh_worktree
from loomtui.store.db import connect, db_path
from loomtui.store.worktrees import (
    colliding_files,
    collisions,
    fetch_files,
    fetch_worktree,
    fetch_worktrees,
    save_worktree,
)
from tests.gitrepos import (
    add_worktree,
    commit_all,
    git,
    isolate,
    make_repo,
    ours,
    reference,
    write,
)
from tests.waiting import wait_for


@pytest.fixture(autouse=True)
def _git_env(monkeypatch, tmp_path):
    isolate(monkeypatch, tmp_path / "home")
    diffmod.clear_caches()


@pytest.fixture
def pod(tmp_path):
    db = db_path(tmp_path / "pod")
    conn = connect(db)
    yield db, conn
    conn.close()


@pytest.fixture
def repo3(tmp_path):
    repo = make_repo(tmp_path / "shop", {"a.txt": "a\n", "shared.py": "s = 1\n"})
    worktrees = [add_worktree(repo, tmp_path / "wt" / name, f"agent/{name}") for name in "xyz"]
    return repo, worktrees


def flush(watcher, worktree):
    """Wait until the watcher has handled every file change made so far.

    Rewrites `worktree`'s HEAD with the same content, the way git does (HEAD.lock
    renamed over HEAD): that costs the worktree one recompute and changes none of
    its stats. File events arrive in order, so once that recompute has run and
    nothing is queued, every earlier change has been routed and recomputed."""
    head = Path(git(worktree, "rev-parse", "--path-format=absolute", "--git-path", "HEAD"))
    before = watcher.refreshes[str(worktree)]
    lock = head.with_name("HEAD.lock")
    lock.write_bytes(head.read_bytes())
    os.replace(lock, head)
    wait_for(lambda: watcher.refreshes[str(worktree)] > before and not watcher.busy(),
             f"the watcher to recompute {worktree.name} after its HEAD was rewritten")


def settle(watcher, worktree):
    """The watches are in place, the first recomputes done, and the file events
    of the set-up (if any) handled; `worktree` is one the watcher watches."""
    wait_for(lambda: watcher.watching.is_set() and not watcher.busy(), "the watcher to start")
    flush(watcher, worktree)


def test_only_the_changed_worktree_is_recomputed(pod, repo3):
    db, conn = pod
    repo, (x, y, z) = repo3
    watcher = WorktreeWatcher(db, discover(repos=[str(repo)]))
    watcher.start()
    try:
        settle(watcher, repo)
        assert {w.path for w in fetch_worktrees(conn)} == {str(repo), str(x), str(y), str(z)}
        before = dict(watcher.refreshes)
        start = time.monotonic()
        write(y / "a.txt", "a\nmore\n")
        row = wait_for(lambda: (r := fetch_worktree(conn, str(y))) and r.added == 1 and r,
                       "y's edit in the store")
        latency = time.monotonic() - start
        flush(watcher, repo)  # any stray recompute the edit caused has run by now
        changed = {p: n - before.get(p, 0) for p, n in watcher.refreshes.items() if n != before.get(p, 0)}
        assert changed == {str(y): 1, str(repo): 1}  # repo: the flush's own recompute
        assert row.files == 1 and row.state == "ok" and row.base == "main"
        assert latency < 2.0  # generous for a loaded CI box; the benchmark measures it properly
        files = fetch_files(conn, str(y))
        assert [(f.path, f.status, f.added, f.deleted) for f in files] == [("a.txt", "modified", 1, 0)]

        # A commit (HEAD, index, the branch ref) recomputes that worktree only.
        before = dict(watcher.refreshes)
        write(x / "new.py", "n = 1\n")
        commit_all(x, "x works")
        wait_for(lambda: (r := fetch_worktree(conn, str(x))) and r.files == 1, "x's commit in the store")
        flush(watcher, repo)
        changed = {p: n - before.get(p, 0) for p, n in watcher.refreshes.items() if n != before.get(p, 0)}
        assert set(changed) == {str(x), str(repo)} and changed[str(repo)] == 1  # repo: the flush
        assert watcher.errors == []
    finally:
        watcher.stop()


def test_moving_the_base_recomputes_the_worktrees_on_it(pod, repo3):
    db, conn = pod
    repo, (x, y, z) = repo3
    watcher = WorktreeWatcher(db, discover(repos=[str(repo)]))
    watcher.start()
    try:
        settle(watcher, repo)
        before = dict(watcher.refreshes)
        write(repo / "a.txt", "a\nmain moves\n")
        commit_all(repo, "main moves")  # main is every worktree's base
        wait_for(lambda: all(watcher.refreshes[str(w)] > before[str(w)] for w in (x, y, z)),
                 "a recompute of x, y and z after main moved")
        # A rebase of y onto the new main moves y's merge-base; the store follows.
        git(y, "rebase", "-q", "main")
        main = git(repo, "rev-parse", "main")
        wait_for(lambda: (r := fetch_worktree(conn, str(y))) and r.merge_base == main,
                 "y's new merge-base in the store")
    finally:
        watcher.stop()


def test_a_worktree_removed_while_watched_becomes_missing(pod, repo3):
    db, conn = pod
    repo, (x, y, z) = repo3
    write(z / "shared.py", "s = 2\n")
    write(y / "shared.py", "s = 3\n")
    watcher = WorktreeWatcher(db, discover(repos=[str(repo)]))
    watcher.start()
    try:
        settle(watcher, repo)
        assert [c.path for c in collisions(conn)] == ["shared.py"]
        git(repo, "worktree", "remove", "--force", str(z))
        row = wait_for(lambda: (r := fetch_worktree(conn, str(z))) and r.state == "missing" and r,
                       "z stored as missing")
        assert row.files == 0 and fetch_files(conn, str(z)) == []
        assert collisions(conn) == []  # a gone worktree no longer collides
        # The others are still watched.
        write(x / "a.txt", "x\n")
        wait_for(lambda: (r := fetch_worktree(conn, str(x))) and r.files == 1, "x's edit in the store")
        shutil.rmtree(y)  # removed behind git's back
        wait_for(lambda: (r := fetch_worktree(conn, str(y))) and r.state == "missing", "y stored as missing")
        assert watcher.errors == []
    finally:
        watcher.stop()


def test_new_worktrees_join_with_set_worktrees(pod, repo3, tmp_path):
    db, conn = pod
    repo, _ = repo3
    watcher = WorktreeWatcher(db, discover(repos=[str(repo)]))
    watcher.start()
    try:
        settle(watcher, repo)
        late = add_worktree(repo, tmp_path / "wt" / "late", "agent/late")
        watcher.set_worktrees(discover(repos=[str(repo)]))
        wait_for(lambda: fetch_worktree(conn, str(late)) is not None, "the new worktree in the store")
        settle(watcher, late)
        write(late / "late.txt", "1\n2\n")
        wait_for(lambda: (r := fetch_worktree(conn, str(late))) and r.added == 2, "the new worktree's edit")
    finally:
        watcher.stop()


def test_untracked_files_follow_edits_adds_staging_and_ignore_rules(pod, repo3):
    """In-place edits reuse the last untracked list; anything else lists again."""
    db, conn = pod
    repo, (x, _, _) = repo3
    write(x / "notes.txt", "1\n")
    watcher = WorktreeWatcher(db, [w for w in discover(repos=[str(repo)]) if w.path == str(x)])
    watcher.start()

    def stored():
        return {f.path: f.added for f in fetch_files(conn, str(x))}

    try:
        settle(watcher, x)
        assert stored() == {"notes.txt": 1}
        write(x / "notes.txt", "1\n2\n3\n")  # in place
        wait_for(lambda: stored() == {"notes.txt": 3}, "the in-place edit in the store")
        write(x / "todo.md", "a\nb\n")  # a new file
        wait_for(lambda: stored() == {"notes.txt": 3, "todo.md": 2}, "the new file in the store")
        git(x, "add", "todo.md")  # staged: tracked now, counted once
        write(x / "todo.md", "a\nb\nc\n")
        wait_for(lambda: stored() == {"notes.txt": 3, "todo.md": 3}, "the staged file's edit in the store")
        write(x / ".gitignore", "notes.txt\n")  # ignored from now on
        wait_for(lambda: stored() == {".gitignore": 1, "todo.md": 3}, "the ignore rule in the store")
        wait_for(lambda: not watcher.busy(), "the last recompute to end")
        merge_base = fetch_worktree(conn, str(x)).merge_base
        assert {f.path: (f.added, f.deleted, f.old_path) for f in fetch_files(conn, str(x))} \
            == reference(x, merge_base)
    finally:
        watcher.stop()


def test_refresh_worktree_writes_what_git_says(pod, repo3):
    _, conn = pod
    repo, (x, _, _) = repo3
    git(x, "mv", "a.txt", "b.txt")
    write(x / "c.txt", "c\n")
    found = {w.path: w for w in discover(repos=[str(repo)])}
    result = refresh_worktree(conn, found[str(x)], now=100.0)
    row = fetch_worktree(conn, str(x))
    assert row.updated_at == 100.0 and row.files == 2 and row.merge_base == result.merge_base
    stored = {f.path: (f.added, f.deleted, f.old_path) for f in fetch_files(conn, str(x))}
    assert stored == ours(result) == reference(x, result.merge_base)
    assert len(refresh_all(conn, found.values(), now=101.0)) == 4


def test_collisions_are_per_repository_and_include_renames(pod):
    _, conn = pod
    def files(*rows):
        return [(p, old, st, 1, 0, False) for p, old, st in rows]

    common = {"branch": "b", "base": "main", "merge_base": "0" * 40, "state": "ok", "now": 1.0}
    save_worktree(conn, path="/r/a", repo="/r", files=files(("x.py", None, "modified"),
                                                               ("y.py", None, "modified")), **common)
    save_worktree(conn, path="/r/b", repo="/r", files=files(("x.py", None, "modified"),
                                                               ("z.py", "y.py", "renamed")), **common)
    save_worktree(conn, path="/s/c", repo="/s", files=files(("x.py", None, "modified")), **common)
    found = [(c.repo, c.path, c.worktrees) for c in collisions(conn)]
    assert found == [("/r", "x.py", ("/r/a", "/r/b")), ("/r", "y.py", ("/r/a", "/r/b"))]
    assert colliding_files(conn, "/r/a") == {"x.py": ("/r/b",), "y.py": ("/r/b",)}
    assert collisions(conn, repo="/s") == []
