"""Live diff stats: watch the worktrees, recompute only the one that changed,
write its stats to the store (so every console sees them).

One `watchfiles.awatch` covers every worktree (and, where it lies outside them,
each repository's shared git directory). Each batch of changed paths is routed:

* a file in a worktree -> that worktree;
* `.git` internals only where they change a diff: a worktree's own `HEAD` and
  `index` -> that worktree; `refs/...` -> the worktrees on that branch, or all
  of the repository's worktrees when it is their base; `packed-refs` -> all of
  the repository's worktrees. Objects, logs, lock files and the rest: nothing.

watchfiles debounces (a batch ends `step_ms` after the last change, at most
`debounce_ms` after the first); per worktree, at most one recompute runs at a
time and changes that arrive meanwhile cause exactly one more. Recomputes run in
a small thread pool (they run git); a result equal to the last one written is
not written again. A worktree that disappears is written as `missing` (no
files, so it no longer collides) and dropped from the watch.

Use it from asyncio (`await watcher.run()`, e.g. in a Textual worker) or from a
thread (`watcher.start()` / `watcher.stop()`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

from loomtui.git.conflicts import ConflictForecaster
from loomtui.git.diff import DiffResult, compute_diff
from loomtui.git.discovery import BARE, MISSING, Worktree
from loomtui.store.db import StoreError, connect
from loomtui.store.fingerprint import CONFIG_NAMES
from loomtui.store.worktrees import file_tuples, save_worktree

log = logging.getLogger(__name__)

STEP_MS = 50
DEBOUNCE_MS = 400


def save_result(conn: sqlite3.Connection, result: DiffResult, now: float) -> None:
    """Write one worktree's diff stats (row and files) to the store."""
    save_worktree(conn, path=result.worktree, repo=result.repo, branch=result.branch,
                  base=result.base, merge_base=result.merge_base, state=result.state,
                  files=file_tuples(result.files), now=now)


def refresh_worktree(conn: sqlite3.Connection, worktree: Worktree, *,
                     now: float | None = None) -> DiffResult:
    """Recompute one worktree's diff stats and write them to the store."""
    result = compute_diff(worktree)
    save_result(conn, result, time.time() if now is None else now)
    return result


def refresh_all(conn: sqlite3.Connection, worktrees: Iterable[Worktree], *,
                now: float | None = None) -> list[DiffResult]:
    """`refresh_worktree` for each (one at a time; for a one-shot command)."""
    return [refresh_worktree(conn, w, now=now) for w in worktrees]


class WorktreeWatcher:
    """Keeps the store's diff stats of `worktrees` current while it runs.

    `db`: the pod store's file (each write opens a short-lived connection in the
    worker thread). `on_refresh(result, written)` is called in a worker thread
    after each recompute. `refreshes` counts recomputes per worktree path.
    """

    def __init__(self, db: Path | str, worktrees: Iterable[Worktree] = (), *,
                 step_ms: int = STEP_MS, debounce_ms: int = DEBOUNCE_MS, workers: int = 4,
                 clock: Callable[[], float] = time.time, force_polling: bool | None = None,
                 on_refresh: Callable[[DiffResult, bool], None] | None = None,
                 forecaster: ConflictForecaster | None = None,
                 on_config: Callable[[sqlite3.Connection, list[str]], None] | None = None) -> None:
        self.db = Path(db)
        # Called (in a worker thread, with a connection of its own) with the changed files
        # an agent's configuration fingerprint may read (store/fingerprint.CONFIG_NAMES).
        self.on_config = on_config
        # The conflict forecast (git/conflicts.py), brought up to date after each recompute.
        self.forecaster = forecaster
        self.step_ms = step_ms
        self.debounce_ms = debounce_ms
        self.clock = clock
        self.force_polling = force_polling
        self.on_refresh = on_refresh
        self.refreshes: Counter[str] = Counter()
        self.errors: list[str] = []
        self.watching = threading.Event()  # set once the file watches are in place
        self._workers = workers
        self._lock = threading.Lock()
        self._worktrees: dict[str, Worktree] = {}
        self._pending_initial: set[str] = set()
        self._last: dict[str, tuple] = {}
        self._branch_refs: dict[str, str | None] = {}
        self._wake = threading.Event()
        self._stopping = False
        self._running: set[str] = set()
        self._dirty: set[str] = set()
        # Worktrees whose set of untracked files may have changed (anything but an
        # in-place edit); the others reuse their last `git ls-files` answer.
        self._relist: set[str] = set()
        self._untracked: dict[str, tuple[bytes, ...]] = {}
        self._tasks: set[asyncio.Task] = set()
        self._thread: threading.Thread | None = None
        self.set_worktrees(worktrees)

    # -- control ---------------------------------------------------------------------

    def set_worktrees(self, worktrees: Iterable[Worktree]) -> None:
        """Watch exactly these (after a new discovery). New or changed ones are
        recomputed; the watch restarts if the set of places changed. Thread-safe."""
        wanted = {w.path: w for w in worktrees}
        with self._lock:
            for path, wt in wanted.items():
                if self._worktrees.get(path) != wt:
                    self._pending_initial.add(path)
                    self._branch_refs[path] = f"refs/heads/{wt.branch}" if wt.branch else None
            for path in set(self._last) - set(wanted):
                # Dropped (or the lease went to another console, which may write other
                # stats meanwhile): when it comes back, its stats are written again.
                self._last.pop(path, None)
            self._worktrees = wanted
        if wanted and self.forecaster is not None:
            # Pairs of worktrees that are no longer there (or no longer have an agent) go.
            self.forecaster.retain(w.path for w in wanted.values()
                                   if w.agents or not self.forecaster.agents_only)
        self._wake.set()

    def worktrees(self) -> list[Worktree]:
        with self._lock:
            return list(self._worktrees.values())

    def start(self) -> None:
        """Run in a background thread with its own event loop."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=lambda: asyncio.run(self.run()),
                                        name="loomtui-worktree-watch", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop watching; waits for the thread (if `start` was used). Thread-safe."""
        self._stopping = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def busy(self) -> bool:
        """True while a recompute is running or queued."""
        with self._lock:
            return bool(self._running or self._pending_initial)

    # -- the loop --------------------------------------------------------------------

    async def run(self) -> None:
        """Watch until `stop()`. Never raises for a repository or store problem."""
        import watchfiles

        self._loop = asyncio.get_running_loop()
        self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix="loomtui-diff")
        first = True
        try:
            while not self._stopping:
                self._wake.clear()
                with self._lock:
                    snapshot = dict(self._worktrees)
                    initial, self._pending_initial = self._pending_initial, set()
                    if not first:
                        # Changes during the restart would be lost: look at everything
                        # again (unchanged results are not written).
                        initial |= set(snapshot)
                first = False
                routes = _Routes(snapshot, self._branch_refs)
                if not routes.roots:
                    self.watching.set()
                    self._schedule_all(initial)
                    # nothing to watch: sleep until set_worktrees or stop wakes us
                    await self._loop.run_in_executor(None, self._wake.wait)
                    continue
                try:
                    await self._watch(watchfiles, routes, initial)
                except (OSError, RuntimeError) as exc:  # e.g. out of inotify watches
                    if self.force_polling:
                        self._error(f"watching worktrees failed: {exc}")
                        await asyncio.sleep(1)
                    else:
                        self._error(f"file watching failed ({exc}); polling instead")
                        self.force_polling = True
                    with self._lock:
                        self._pending_initial |= initial
        finally:
            self.watching.clear()
            if self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)
            self._pool.shutdown(wait=True)

    async def _watch(self, watchfiles, routes: _Routes, initial: set[str]) -> None:
        changes_of = watchfiles.awatch(
            *routes.roots, watch_filter=None, step=self.step_ms, debounce=self.debounce_ms,
            stop_event=self._wake, ignore_permission_denied=True, force_polling=self.force_polling,
            yield_on_timeout=False,
        )
        next_batch = asyncio.ensure_future(changes_of.__anext__())
        try:
            # The generator's body runs up to its first real wait: the watches are
            # registered before anything is computed, so no change can slip between.
            for _ in range(3):
                await asyncio.sleep(0)
            if next_batch.done() and next_batch.exception() is not None:
                raise next_batch.exception()  # type: ignore[misc]
            self.watching.set()
            self._schedule_all(initial)
            while True:
                try:
                    changes = await next_batch
                except StopAsyncIteration:
                    return
                targets: set[str] = set()
                configs: list[str] = []
                for change, changed in changes:
                    hit, internal = routes.route(changed)
                    if not hit:
                        continue
                    targets.update(hit)
                    if not internal and os.path.basename(changed) in CONFIG_NAMES:
                        configs.append(changed)
                    edit = (change == watchfiles.Change.modified and not internal
                            and os.path.basename(changed) != ".gitignore")
                    if not edit:
                        with self._lock:
                            self._relist.update(hit)
                for path in targets:
                    self._schedule(path)
                if configs and self.on_config is not None:
                    self._loop.run_in_executor(self._pool, self._config_changed, configs)
                next_batch = asyncio.ensure_future(changes_of.__anext__())
        finally:
            if not next_batch.done():
                next_batch.cancel()
            with contextlib.suppress(BaseException):
                await changes_of.aclose()

    def _schedule_all(self, paths: Iterable[str]) -> None:
        paths = list(paths)
        with self._lock:
            self._relist.update(paths)  # changes may have gone unseen
        for path in paths:
            self._schedule(path)

    def _schedule(self, path: str) -> None:
        with self._lock:
            if path in self._running:
                self._dirty.add(path)
                return
            self._running.add(path)
        task = asyncio.ensure_future(self._refresh_loop(path))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _refresh_loop(self, path: str) -> None:
        try:
            while True:
                with self._lock:
                    self._dirty.discard(path)
                    relist = path in self._relist
                    self._relist.discard(path)
                await self._loop.run_in_executor(self._pool, self._refresh, path, relist)
                with self._lock:
                    if path not in self._dirty or self._stopping:
                        self._running.discard(path)
                        return
        except BaseException:
            with self._lock:
                self._running.discard(path)
            raise

    def _refresh(self, path: str, relist: bool = True) -> None:
        """One recompute (in a worker thread); writes only what changed."""
        with self._lock:
            worktree = self._worktrees.get(path)
            known = None if relist else self._untracked.get(path)
        if worktree is None:
            return
        try:
            result = compute_diff(worktree, untracked=known)
        except Exception as exc:  # noqa: BLE001 - a bug, not a repository state: report, keep watching
            self._error(f"diff of {path} failed: {exc!r}")
            return
        with self._lock:
            self.refreshes[path] += 1
            if result.diffable:
                self._untracked[path] = result.untracked
            else:
                self._untracked.pop(path, None)
        self._branch_refs[path] = f"refs/heads/{result.branch}" if result.branch else None
        signature = result.signature()
        written = False
        if self._last.get(path) != signature:
            try:
                conn = connect(self.db)
                try:
                    save_result(conn, result, self.clock())
                finally:
                    conn.close()
                self._last[path] = signature
                written = True
            except (StoreError, sqlite3.Error) as exc:
                self._error(f"cannot write diff stats of {path}: {exc}")
        if self.forecaster is not None:
            try:
                self.forecaster.update(worktree, result)
            except Exception as exc:  # noqa: BLE001 - a bug: report, keep watching
                self._error(f"conflict forecast of {path} failed: {exc!r}")
        if result.state == MISSING and worktree.state != MISSING:
            # Gone: stop watching it (a new discovery brings it back if it returns).
            with self._lock:
                if path in self._worktrees:
                    self._worktrees[path] = replace(worktree, state=MISSING)
            self._wake.set()
        if self.on_refresh is not None:
            try:
                self.on_refresh(result, written)
            except Exception as exc:  # noqa: BLE001 - the caller's bug must not stop the watch
                self._error(f"on_refresh failed: {exc!r}")

    def _config_changed(self, paths: list[str]) -> None:
        """Tell `on_config` (a worker thread) that files agents' fingerprints read changed."""
        try:
            conn = connect(self.db)
            try:
                self.on_config(conn, sorted(set(paths)))  # type: ignore[misc]
            finally:
                conn.close()
        except Exception as exc:  # noqa: BLE001 - a bug or a busy store: report, keep watching
            self._error(f"fingerprint recompute failed: {exc!r}")

    def _error(self, message: str) -> None:
        log.warning("%s", message)
        self.errors.append(message)
        del self.errors[:-100]


class _Routes:
    """Which worktrees a changed path concerns (see the module's docstring)."""

    def __init__(self, worktrees: dict[str, Worktree], branch_refs: dict[str, str | None]) -> None:
        live = [w for w in worktrees.values() if w.state not in (BARE, MISSING)
                and os.path.isdir(w.path)]
        self.branch_refs = branch_refs
        self.by_root = sorted(((w.path.rstrip(os.sep) + os.sep, w) for w in live),
                              key=lambda item: -len(item[0]))
        self.by_gitdir = {w.gitdir: w for w in live if w.gitdir}
        repos: dict[str, list[Worktree]] = {}
        for w in live:
            if w.commondir:
                repos.setdefault(w.commondir, []).append(w)
        self.repos = sorted(((c.rstrip(os.sep) + os.sep, ws) for c, ws in repos.items()),
                            key=lambda item: -len(item[0]))
        places = sorted({w.path for w in live} | {c for c in repos if os.path.isdir(c)})
        roots: list[str] = []
        for place in places:  # drop places inside another one: one watch each
            if not any(place.startswith(r.rstrip(os.sep) + os.sep) for r in roots):
                roots.append(place)
        self.roots = roots

    def route(self, path: str) -> tuple[list[str], bool]:
        """(worktrees to recompute, whether the path is inside a git directory)."""
        for common, worktrees in self.repos:
            if path.startswith(common):
                return self._git_internal(common, path[len(common):], worktrees), True
        for root, worktree in self.by_root:
            if path.startswith(root) or path == root[:-1]:
                return [worktree.path], False
        return [], False

    def _git_internal(self, common: str, rel: str, worktrees: list[Worktree]) -> list[str]:
        if rel.endswith(".lock"):
            return []  # git writes X.lock, then renames it to X: X is what counts
        parts = rel.split(os.sep)
        if rel in ("HEAD", "index"):
            owner = self.by_gitdir.get(common[:-1])
            return [owner.path] if owner else []
        if parts[0] == "worktrees" and len(parts) == 3 and parts[2] in ("HEAD", "index"):
            owner = self.by_gitdir.get(os.path.join(common, "worktrees", parts[1]))
            return [owner.path] if owner else []
        if rel == "packed-refs":
            return [w.path for w in worktrees]
        if parts[0] == "refs":
            ref = "/".join(parts)
            out = []
            for w in worktrees:
                base_moved = w.base_ref == ref or (w.base is not None and w.base_ref is None)
                if base_moved or self.branch_refs.get(w.path) == ref:
                    out.append(w.path)
            return out
        return []
