"""Conflict forecast: would two agents' branches merge cleanly? Asked of git itself.

For each pair of agent worktrees of one repository, and for each against its base,
`git merge-tree --write-tree` (git >= 2.38) merges the two commits in memory and names
the files that would conflict. No worktree and no index is touched, and nothing is
written into the repository:

* **Uncommitted work counts.** Each worktree is first turned into a *snapshot commit*:
  a copy of its index in a temporary file (`GIT_INDEX_FILE`), `git add -A` into that
  copy (tracked changes and untracked files, `.gitignore` respected), `git write-tree`,
  `git commit-tree -p <merge-base>`. The user's index is only read. (`git stash create`
  was not used: it leaves untracked files out.) The parent is the worktree's merge-base
  with its base, not HEAD: the branch squashed, as a squash merge brings it in. The
  author, committer and dates are fixed, so the same content from the same merge-base
  is the same commit id: a commit that records work already saved moves nothing, and
  no merge runs again. (Squashing differs from merging the branches as they are only
  when two branches share commits past their merge-base with the base and one of them
  reverts a file the other changes again.)
* **Objects go elsewhere.** The snapshots' blobs, trees and commits go to a temporary
  object directory of the forecaster (`GIT_OBJECT_DIRECTORY`, the repository's own
  objects as an alternate); what merge-tree writes goes to a throwaway one per update.
  Both are removed with the forecaster.

States: `conflict` (the files git reports), `overlap` (both change the same files, as
the diff stats say, and git merges them cleanly), `clean`.

Cached twice: a worktree's snapshot by the stat of its index and of its changed files
(and HEAD), so a recompute that changed nothing runs no git; a pair's answer by the two
commit ids merged (the store's `merge_forecasts` rows, so it survives restarts), so
after one agent commits only the pairs it is part of are merged again.

Blocking (it runs git): the diff watcher calls `update()` from its worker threads after
each worktree's recompute.
"""

from __future__ import annotations

import atexit
import logging
import os
import re
import shutil
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from loomtui.git import refs
from loomtui.git.diff import DiffResult, base_commit
from loomtui.git.discovery import DETACHED, OK, Worktree
from loomtui.git.run import GitError, display, git_env, run
from loomtui.store.db import StoreError, connect
from loomtui.store.forecasts import (
    BASE,
    CLEAN,
    CONFLICT,
    OVERLAP,
    Forecast,
    delete_forecasts,
    fetch_forecasts,
    save_forecasts,
)

log = logging.getLogger(__name__)

NEEDS = (2, 38)  # git merge-tree --write-tree
MERGES_AT_ONCE = 2  # merges are CPU work in git: more than the cores buys nothing
# A snapshot's identity: fixed, so equal content on an equal HEAD is an equal commit id.
SNAPSHOT_IDENTITY = {
    "GIT_AUTHOR_NAME": "loomtui", "GIT_AUTHOR_EMAIL": "loomtui@localhost",
    "GIT_COMMITTER_NAME": "loomtui", "GIT_COMMITTER_EMAIL": "loomtui@localhost",
    "GIT_AUTHOR_DATE": "@0 +0000", "GIT_COMMITTER_DATE": "@0 +0000",
}
_version: tuple[int, ...] | None = None
# Every temporary object directory made and not yet removed: a recompute still running when
# the forecaster is closed may make one again; whatever is left goes when the process ends.
_made: set[str] = set()


@atexit.register
def _remove_left_over() -> None:
    for path in list(_made):
        shutil.rmtree(path, ignore_errors=True)


def git_version() -> tuple[int, ...]:
    global _version
    if _version is None:
        out = run(os.getcwd() if os.path.isdir(os.getcwd()) else "/", "--version").decode()
        found = re.search(r"(\d+)\.(\d+)", out)
        _version = (int(found.group(1)), int(found.group(2))) if found else (0, 0)
    return _version


def check_git() -> None:
    """GitError unless the installed git has `merge-tree --write-tree`."""
    have = git_version()
    if have < NEEDS:
        raise GitError(f"the conflict forecast needs git {NEEDS[0]}.{NEEDS[1]} or newer "
                       f"(`git merge-tree --write-tree`); this is git {have[0]}.{have[1]}")


@dataclass(frozen=True)
class Side:
    """One agent worktree as the forecast sees it."""

    path: str
    repo: str
    commondir: str
    snapshot: str  # commit id: HEAD plus the uncommitted work
    files: frozenset[str]  # paths it changes against its base (renames: both names)
    only_edits: bool  # every change adds or modifies a file (no deletion, no rename)
    base: str | None
    base_sha: str | None
    merge_base: str | None
    key: tuple  # what the snapshot was made from: HEAD, merge-base, stat of the index,
    # ((path, stat) of each changed file)


def touched(result: DiffResult) -> frozenset[str]:
    """The files a worktree changes, a rename counting under both names."""
    return frozenset([f.path for f in result.files] + [f.old_path for f in result.files if f.old_path])


def disjoint(a: Side, b: Side) -> bool:
    """True when the two surely merge cleanly without asking git: both start from the
    same merge-base with the base, change only different files (added or modified,
    nothing deleted or renamed, so no rename or directory-rename detection can tie
    them together) and no path of one is a folder of a path of the other. Each side of
    the three-way merge of their snapshots (both children of that merge-base) then
    changes paths the other leaves alone."""
    if a.merge_base is None or a.merge_base != b.merge_base or not (a.only_edits and b.only_edits):
        return False
    if a.files & b.files:
        return False
    folders = {p[:i] for p in a.files for i in range(len(p)) if p[i] == "/"}
    if any(p in folders for p in b.files):
        return False
    folders = {p[:i] for p in b.files for i in range(len(p)) if p[i] == "/"}
    return not any(p in folders for p in a.files)


def shared_key(a: Side, b: Side) -> tuple | None:
    """What decides the merge of two sides with only added or modified files from one
    merge-base: the files both change, as each side has them (their stat: the snapshot is
    the worktree's content). Equal keys, equal answers: the rest of each side merges
    without touching the other. None when the shape is not that simple."""
    if a.merge_base is None or a.merge_base != b.merge_base or not (a.only_edits and b.only_edits):
        return None
    stats_a, stats_b = dict(a.key[3]), dict(b.key[3])
    shared = tuple((p, stats_a.get(p), stats_b.get(p)) for p in sorted(a.files & b.files))
    if any(sa is None or sb is None for _, sa, sb in shared):
        return None  # a file that vanished meanwhile: ask git
    return (a.merge_base, shared)


def merge_files(cwd: str, ours: str, theirs: str, env: dict[str, str]) -> tuple[str, ...]:
    """The files `git merge-tree` says would conflict; () when the merge is clean."""
    out = run(cwd, "merge-tree", "--write-tree", "--name-only", "--no-messages", "-z", ours, theirs,
              env=env, ok=(0, 1))
    names = out.split(b"\0")[1:]
    return tuple(sorted({display(n) for n in names if n}))


class ConflictForecaster:
    """Keeps the store's `merge_forecasts` current, one worktree recompute at a time.

    `db`: the pod store's file. `agents_only`: only worktrees some agent works in are
    compared (a repository's main checkout with nobody in it is not an agent's branch).
    `calls` counts the git processes run (tests, benchmark)."""

    def __init__(self, db: Path | str, *, clock: Callable[[], float] = time.time,
                 agents_only: bool = True) -> None:
        self.db = Path(db)
        self.clock = clock
        self.agents_only = agents_only
        self.calls = 0
        self.errors: list[str] = []
        self._lock = threading.Lock()
        self._sides: dict[str, Side] = {}
        self._stored: dict[tuple[str, str], Forecast] | None = None
        self._objects: dict[str, str] = {}  # commondir -> temporary object directory
        self._base_changes: dict[tuple[str, str, str], frozenset[str]] = {}
        # (worktree, other) -> (shared_key, conflicting files) of the last merge
        self._shared: dict[tuple[str, str], tuple[tuple, tuple[str, ...]]] = {}
        self._pool = ThreadPoolExecutor(MERGES_AT_ONCE, thread_name_prefix="loomtui-merge")
        self.skipped = 0  # pairs known clean without git (see `disjoint`)
        self._available: bool | None = None  # asked of git on first use, off the event loop

    def available(self) -> bool:
        """Whether the installed git can forecast (once; the reason is in `errors`)."""
        if self._available is None:
            try:
                check_git()
                self._available = True
            except GitError as exc:
                self._available = False
                self._error(str(exc))
        return self._available

    # -- control ---------------------------------------------------------------------

    def close(self) -> None:
        """Remove the temporary object directories."""
        with self._lock:
            dirs, self._objects = list(self._objects.values()), {}
            self._sides.clear()
        for path in dirs:
            shutil.rmtree(path, ignore_errors=True)
            _made.discard(path)
        self._pool.shutdown(wait=False)
        self._pool = ThreadPoolExecutor(MERGES_AT_ONCE, thread_name_prefix="loomtui-merge")

    def forget(self, paths: Iterable[str]) -> None:
        """These worktrees are gone: drop them and their rows."""
        paths = list(paths)
        with self._lock:
            for path in paths:
                self._sides.pop(path, None)
            if self._stored is not None:
                for key in [k for k in self._stored if k[0] in paths or k[1] in paths]:
                    del self._stored[key]
            for key in [k for k in self._shared if k[0] in paths or k[1] in paths]:
                del self._shared[key]
        self._write(delete=paths)

    def retain(self, paths: Iterable[str]) -> None:
        """Only these worktrees are compared now (a new discovery): forget the others of
        their repositories, in memory and in the store."""
        keep = set(paths)
        if not keep:
            return
        self._load()
        with self._lock:
            gone = {s.path for s in self._sides.values() if s.path not in keep}
            repos = {s.repo for s in self._sides.values() if s.path in keep}
            for (worktree, other), row in (self._stored or {}).items():
                if row.repo in repos or worktree in keep or other in keep:
                    gone.update(p for p in (worktree, other) if p and p not in keep)
        if gone:
            self.forget(gone)

    def sides(self) -> list[Side]:
        with self._lock:
            return list(self._sides.values())

    # -- the work --------------------------------------------------------------------

    def update(self, worktree: Worktree, result: DiffResult) -> list[Forecast]:
        """After `result` was computed for `worktree`: snapshot it if it moved, and merge it
        again with each other side (and its base) whose pair moved. Returns the rows
        written. Never raises for a repository or store problem (see `errors`)."""
        if not self.available():
            return []
        eligible = (not self.agents_only or worktree.agents) and result.state in (OK, DETACHED) \
            and result.head is not None
        if not eligible:
            with self._lock:
                had = self._sides.pop(worktree.path, None)
            if had is not None:
                self.forget([worktree.path])
            return []
        try:
            side = self._side(worktree, result)
        except GitError as exc:
            self._error(f"cannot snapshot {display(worktree.path)}: {exc}")
            return []
        self._load()
        with self._lock:
            self._sides[side.path] = side
            others = [s for s in self._sides.values() if s.commondir == side.commondir and s.path != side.path]
        scratch = tempfile.mkdtemp(prefix="loomtui-merge-")
        try:
            env = self._env(side.commondir, scratch)
            pairs = [(side, other) if side.path < other.path else (other, side) for other in others]
            # Each merge is a git process: a few at a time (most of their time is spent
            # starting up, not on the CPU).
            rows = [row for row in self._pool.map(lambda pair: self._pair(*pair, env), pairs)
                    if row is not None]
            row = self._against_base(side, env)
            if row is not None:
                rows.append(row)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        return self._write(rows)

    def _side(self, worktree: Worktree, result: DiffResult) -> Side:
        dirs = (refs.GitDirs(worktree.gitdir, worktree.commondir) if worktree.gitdir and worktree.commondir
                else refs.git_dirs(worktree.path))
        if dirs is None:
            raise GitError("not a git worktree")
        key = (result.head, result.merge_base, _stat(os.path.join(dirs.gitdir, "index")),
               tuple((f.path, _stat(os.path.join(worktree.path, f.path))) for f in result.files))
        with self._lock:
            held = self._sides.get(worktree.path)
        if held is not None and held.key == key:
            snapshot = held.snapshot
        else:
            snapshot = self._snapshot(worktree.path, dirs, result.merge_base)
        base_sha = base_commit(worktree.path, dirs, worktree.base) if result.merge_base else None
        only_edits = all(f.status in ("added", "modified") and not f.old_path for f in result.files)
        return Side(worktree.path, worktree.repo, dirs.commondir, snapshot, touched(result), only_edits,
                    worktree.base, base_sha, result.merge_base, key)

    def _snapshot(self, path: str, dirs: refs.GitDirs, parent: str) -> str:
        tmp = tempfile.mkdtemp(prefix="loomtui-snapshot-")
        try:
            index = os.path.join(tmp, "index")
            try:
                # copy2 keeps the mtime: git judges "racily clean" entries by it
                shutil.copy2(os.path.join(dirs.gitdir, "index"), index)
            except FileNotFoundError:
                pass
            env = self._env(dirs.commondir, None)
            env["GIT_INDEX_FILE"] = index
            self.calls += 3
            run(path, "-c", "core.splitIndex=false", "add", "-A", env=env)
            tree = run(path, "write-tree", env=env).strip().decode()
            env.update(SNAPSHOT_IDENTITY)
            return run(path, "commit-tree", tree, "-p", parent, "-m", "loomtui snapshot",
                       env=env).strip().decode()
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def _env(self, commondir: str, scratch: str | None) -> dict[str, str]:
        """Objects are read from the repository and our snapshots, written to our
        snapshot directory (`scratch` None) or to `scratch`."""
        with self._lock:
            snaps = self._objects.get(commondir)
            if snaps is None:
                snaps = self._objects[commondir] = tempfile.mkdtemp(prefix="loomtui-snapshots-")
                _made.add(snaps)
        repo_objects = os.path.join(commondir, "objects")
        if scratch is None:
            return git_env({"GIT_OBJECT_DIRECTORY": snaps, "GIT_ALTERNATE_OBJECT_DIRECTORIES": repo_objects})
        return git_env({"GIT_OBJECT_DIRECTORY": scratch,
                        "GIT_ALTERNATE_OBJECT_DIRECTORIES": os.pathsep.join((repo_objects, snaps))})

    def _pair(self, a: Side, b: Side, env: dict[str, str]) -> Forecast | None:
        key = (a.path, b.path)
        stored = self._stored.get(key) if self._stored is not None else None
        if stored is not None and (stored.ours, stored.theirs) == (a.snapshot, b.snapshot):
            conflicts = stored.files if stored.state == CONFLICT else ()
        elif disjoint(a, b):
            with self._lock:
                self.skipped += 1
            conflicts = ()
        elif (shared := shared_key(a, b)) is not None and self._shared.get(key, (None,))[0] == shared:
            # Only the files both change decide, and those did not change on either side.
            with self._lock:
                self.skipped += 1
            conflicts = self._shared[key][1]
        else:
            try:
                with self._lock:
                    self.calls += 1
                conflicts = merge_files(a.path, a.snapshot, b.snapshot, env)
                if shared is not None:
                    with self._lock:
                        self._shared[key] = (shared, conflicts)
            except GitError as exc:
                self._error(f"cannot merge {display(a.path)} with {display(b.path)}: {exc}")
                return None
        shared = tuple(sorted(a.files & b.files))
        return self._row(a, b.path, a.snapshot, b.snapshot, conflicts, shared, stored)

    def _against_base(self, side: Side, env: dict[str, str]) -> Forecast | None:
        key = (side.path, BASE)
        stored = self._stored.get(key) if self._stored is not None else None
        if side.base_sha is None or side.merge_base is None:
            if stored is not None:
                self.forget_base(side.path)
            return None
        try:
            if stored is not None and (stored.ours, stored.theirs) == (side.snapshot, side.base_sha):
                conflicts = stored.files if stored.state == CONFLICT else ()
            else:
                self.calls += 1
                conflicts = merge_files(side.path, side.snapshot, side.base_sha, env)
            theirs = self._changed_on_base(side)
        except GitError as exc:
            self._error(f"cannot merge {display(side.path)} with its base: {exc}")
            return None
        shared = tuple(sorted(side.files & theirs))
        return self._row(side, BASE, side.snapshot, side.base_sha, conflicts, shared, stored)

    def forget_base(self, path: str) -> None:
        with self._lock:
            if self._stored is not None:
                self._stored.pop((path, BASE), None)
        try:
            conn = connect(self.db)
            try:
                with conn:
                    conn.execute("DELETE FROM merge_forecasts WHERE worktree = ? AND other = ?", (path, BASE))
            finally:
                conn.close()
        except (StoreError, sqlite3.Error) as exc:
            self._error(f"cannot write the conflict forecast: {exc}")

    def _changed_on_base(self, side: Side) -> frozenset[str]:
        """Files the base changed since the worktree's merge-base (cached by both ids)."""
        key = (side.commondir, side.merge_base or "", side.base_sha or "")
        with self._lock:
            hit = self._base_changes.get(key)
        if hit is not None:
            return hit
        self.calls += 1
        out = run(side.path, "diff", "--name-only", "--no-renames", "-z", side.merge_base or "",
                  side.base_sha or "", "--")
        found = frozenset(display(p) for p in out.split(b"\0") if p)
        with self._lock:
            if len(self._base_changes) > 1024:
                self._base_changes.clear()
            self._base_changes[key] = found
        return found

    def _row(self, a: Side, other: str, ours: str, theirs: str, conflicts: tuple[str, ...],
             shared: tuple[str, ...], stored: Forecast | None) -> Forecast | None:
        state, files = (CONFLICT, conflicts) if conflicts else (OVERLAP, shared) if shared else (CLEAN, ())
        row = Forecast(a.path, other, a.repo, a.base if other == BASE else None, ours, theirs, state,
                       files, self.clock())
        if stored is not None and stored[:8] == row[:8]:
            return None  # nothing new to write
        return row

    # -- the store -------------------------------------------------------------------

    def _load(self) -> None:
        if self._stored is not None:
            return
        try:
            conn = connect(self.db)
            try:
                rows = fetch_forecasts(conn)
            finally:
                conn.close()
        except (StoreError, sqlite3.Error) as exc:
            self._error(f"cannot read the conflict forecast: {exc}")
            rows = []
        with self._lock:
            if self._stored is None:
                self._stored = {(f.worktree, f.other): f for f in rows}

    def _write(self, rows: list[Forecast] = (), delete: Iterable[str] = ()) -> list[Forecast]:
        with self._lock:
            # A row made from a side that moved meanwhile is stale: the thread that
            # moved it writes the fresh one.
            current = []
            for row in rows:
                ours = self._sides.get(row.worktree)
                theirs = self._sides.get(row.other) if row.other != BASE else None
                if ours is None or ours.snapshot != row.ours:
                    continue
                if row.other != BASE and (theirs is None or theirs.snapshot != row.theirs):
                    continue
                current.append(row)
                if self._stored is not None:
                    self._stored[(row.worktree, row.other)] = row
        delete = list(delete)
        if not current and not delete:
            return []
        try:
            conn = connect(self.db)
            try:
                if delete:
                    delete_forecasts(conn, delete)
                save_forecasts(conn, current)
            finally:
                conn.close()
        except (StoreError, sqlite3.Error) as exc:
            self._error(f"cannot write the conflict forecast: {exc}")
            return []
        return current

    def _error(self, message: str) -> None:
        log.warning("%s", message)
        self.errors.append(message)
        del self.errors[:-100]


def _stat(path: str) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)
