"""Worktree discovery on real repositories: agents mapped to worktrees, bases, and
every odd state (detached, no commits, missing, bare, submodule) without a crash."""

from __future__ import annotations

import os
import shutil
from types import SimpleNamespace

import pytest

from loomtui.git.discovery import (
    BARE,
    DETACHED,
    MISSING,
    NO_BASE,
    NO_COMMITS,
    OK,
    discover,
    list_worktrees,
    worktree_at,
)
from loomtui.git.run import GitError
from tests.gitrepos import add_worktree, git, isolate, make_repo


@pytest.fixture(autouse=True)
def _git_env(monkeypatch, tmp_path):
    isolate(monkeypatch, tmp_path / "home")


def agent(id: int, cwd, worktree=None, repo=None):
    return SimpleNamespace(id=id, cwd=str(cwd) if cwd else None,
                           worktree=str(worktree) if worktree else None, repo=str(repo) if repo else None)


def by_path(worktrees):
    return {w.path: w for w in worktrees}


def test_agents_map_to_their_worktrees_and_idle_worktrees_are_listed(tmp_path):
    repo = make_repo(tmp_path / "shop", {"src/app.py": "x = 1\n"})
    a = add_worktree(repo, tmp_path / "wt" / "a", "agent/a")
    b = add_worktree(repo, tmp_path / "wt" / "b", "agent/b")
    nowhere = tmp_path / "not-a-repo"
    nowhere.mkdir()
    found = discover([agent(1, a / "src"), agent(2, a), agent(3, nowhere)])
    paths = by_path(found)
    assert set(paths) == {str(repo), str(a), str(b)}  # b has no agent, still listed
    assert paths[str(a)].agents == (1, 2)
    assert paths[str(b)].agents == () and paths[str(repo)].agents == ()
    for w in found:
        assert w.repo == str(repo) and w.state == OK and w.base == "main"
        assert w.base_ref == "refs/heads/main"
    assert paths[str(a)].branch == "agent/a"
    assert found[0].path == str(repo)  # the main worktree first


def test_repositories_from_config_are_listed_without_agents(tmp_path):
    repo = make_repo(tmp_path / "docs")
    add_worktree(repo, tmp_path / "docs-wt", "setup")
    found = discover([], repos=[str(repo / "sub-that-does-not-exist"), str(repo)])
    assert {w.path for w in found} == {str(repo), str(tmp_path / "docs-wt")}


def test_base_is_origin_head_then_main_then_master_then_configured(tmp_path):
    upstream = make_repo(tmp_path / "upstream", branch="trunk")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(upstream), str(clone))
    assert worktree_at(str(clone)).base == "origin/trunk"  # origin/HEAD's target

    master = make_repo(tmp_path / "old", branch="master")
    assert worktree_at(str(master)).base == "master"

    none = make_repo(tmp_path / "trunk-only", branch="trunk")
    wt = worktree_at(str(none))
    assert wt.base is None and wt.state == NO_BASE

    # Configured wins, keyed by the repository's path (symlinks resolved).
    link = tmp_path / "link-to-old"
    link.symlink_to(master)
    git(master, "branch", "release")
    wt = worktree_at(str(master), bases={str(link): "release"})
    assert wt.base == "release" and wt.base_ref == "refs/heads/release"


def test_detached_head_no_commits_and_missing_worktrees(tmp_path):
    repo = make_repo(tmp_path / "r")
    git(repo, "commit", "-q", "--allow-empty", "-m", "two")
    detached = add_worktree(repo, tmp_path / "det", "tmp")
    git(detached, "checkout", "-q", "--detach", "HEAD~1")
    gone = add_worktree(repo, tmp_path / "gone", "gone")
    shutil.rmtree(gone)  # removed without `git worktree remove`: git calls it prunable
    empty = tmp_path / "empty"
    git(tmp_path, "init", "-q", "-b", "main", str(empty))

    found = by_path(discover([agent(1, detached), agent(2, empty), agent(3, None, worktree=gone, repo=repo)]))
    assert found[str(detached)].state == DETACHED and found[str(detached)].branch is None
    assert found[str(detached)].head == git(repo, "rev-parse", "HEAD~1")
    assert found[str(gone)].state == MISSING and found[str(gone)].agents == (3,)
    assert found[str(empty)].state == NO_COMMITS and found[str(empty)].head is None
    assert found[str(empty)].agents == (2,)


def test_bare_repository_and_its_worktrees(tmp_path):
    source = make_repo(tmp_path / "src")
    bare = tmp_path / "bare.git"
    git(tmp_path, "clone", "-q", "--bare", str(source), str(bare))
    wt = tmp_path / "bare-wt"
    git(bare, "worktree", "add", "-q", "-b", "feature", str(wt), "main")
    found = by_path(discover([agent(1, wt)], repos=[str(bare)]))
    assert found[str(bare)].state == BARE and found[str(bare)].agents == ()
    assert found[str(wt)].state == OK and found[str(wt)].repo == str(bare)
    assert found[str(wt)].base == "main" and found[str(wt)].agents == (1,)


def test_submodule_and_nested_worktree_map_to_the_innermost(tmp_path):
    lib = make_repo(tmp_path / "lib", {"lib.py": "A = 1\n"})
    app = make_repo(tmp_path / "app", {"app.py": "import lib\n"})
    git(app, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(lib), "vendor/lib")
    git(app, "commit", "-q", "-m", "add lib")
    nested = add_worktree(app, app / ".worktrees" / "n", "nested")
    found = by_path(discover([agent(1, app / "vendor" / "lib"), agent(2, app), agent(3, nested)]))
    sub = found[str(app / "vendor" / "lib")]
    assert sub.agents == (1,) and sub.repo == str(app / "vendor" / "lib")
    assert found[str(app)].agents == (2,)
    assert found[str(nested)].agents == (3,)


def test_places_that_are_not_repositories_fail_clearly(tmp_path):
    with pytest.raises(GitError, match="not a git repository"):
        list_worktrees(str(tmp_path))
    assert discover([agent(1, tmp_path / "missing"), agent(2, None)]) == []


def test_worktree_paths_that_are_not_utf8(tmp_path):
    repo = make_repo(tmp_path / "r")
    odd = os.fsdecode(bytes(tmp_path / "wt") + b"-\xff")
    git(repo, "worktree", "add", "-q", "-b", "odd", odd)
    found = by_path(discover([agent(1, odd)]))
    assert found[odd].agents == (1,) and found[odd].name.endswith("\\xff")
