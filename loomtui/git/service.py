"""The pod's one diff watcher: holds the `diffs` lease, discovers the worktrees the agents
work in (and the repositories config names), and hands them to its `WorktreeWatcher`, so
the store's diff stats (and the collisions computed from them) and the conflict forecast
(`conflicts.py`: which agents' branches would conflict when merged) stay current for every
console.

Every live console runs one, as two workers: `run(stop)` in a thread (the lease and the
discovery, blocking work) and `watcher.run()` on the event loop (watchfiles.awatch; the
recomputes run in its own thread pool). A failure of either ends its worker, for the
console to handle. The lease holder watches, the others stand by with nothing to watch
and take over within about 8 s when the holder goes away. Agents come and go: every few
seconds the holder looks at the store's agents again and, when the set of places
changed, re-discovers and hands the watcher the new set.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from loomtui.git.conflicts import ConflictForecaster
from loomtui.git.watch import WorktreeWatcher
from loomtui.store import leases
from loomtui.store.db import db_path

log = logging.getLogger(__name__)

RESCAN_EVERY = 3.0  # seconds between looks at the agents' places


class DiffService(leases.LeasedWorker):
    """Discovers while it holds the `diffs` lease and feeds `watcher`, which the caller
    runs (`await service.watcher.run()`) and stops (`service.watcher.stop()`)."""

    LEASE = "diffs"
    VERB = "watches"

    def __init__(self, pod: Path, *, bases: dict[str, str] | None = None, repos: tuple[str, ...] = (),
                 holder: str, clock: Callable[[], float] = time.time,
                 on_config: Callable | None = None) -> None:
        super().__init__(pod, holder=holder, clock=clock)
        self.bases = dict(bases or {})
        self.repos = tuple(repos)
        self.forecaster = ConflictForecaster(db_path(pod), clock=clock)
        # on_config: the fingerprint recompute (hooks/fingerprint.files_changed, passed in by
        # whoever runs this: the git layer sits below the hooks').
        self.watcher = WorktreeWatcher(db_path(pod), clock=clock, forecaster=self.forecaster,
                                       on_config=on_config)

    def run(self, stop: threading.Event) -> None:
        # watchfiles reports every change at INFO on its own logger: not for a console
        logging.getLogger("watchfiles").setLevel(logging.WARNING)
        super().run(stop)

    def _places(self, conn) -> tuple:
        return tuple(conn.execute(
            "SELECT id, cwd, worktree, repo FROM agents WHERE cwd IS NOT NULL OR worktree IS NOT NULL "
            "ORDER BY id"))

    def _hold(self, conn, stop: threading.Event) -> None:
        from loomtui.git.discovery import discover
        from loomtui.store.agents import fetch_agents

        seen = None
        last_renew = 0.0
        try:
            while not stop.is_set():
                now = self.clock()
                if now - last_renew >= leases.RENEW:
                    if not self.renew():
                        return
                    last_renew = now
                places = self._places(conn)
                if places != seen:
                    seen = places
                    found = discover(fetch_agents(conn), self.repos, self.bases)
                    self.watcher.set_worktrees(found)
                stop.wait(min(leases.RENEW, RESCAN_EVERY))
        finally:
            # The lease is lost (or we stop): the next holder watches, not this console.
            self.watcher.set_worktrees(())
            self.forecaster.close()
