"""The pod's one diff watcher: holds the `diffs` lease, discovers the worktrees the agents
work in (and the repositories config names), and runs a `WorktreeWatcher` on them, so the
store's diff stats (and the collisions computed from them) stay current for every console.

Run by every live console in a thread: the lease holder watches, the others stand by and
take over within about 8 s when the holder goes away. Agents come and go: every few
seconds the holder looks at the store's agents again and, when the set of places changed,
re-discovers and hands the watcher the new set.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from loomtui.store import leases
from loomtui.store.db import db_path

log = logging.getLogger(__name__)

RESCAN_EVERY = 3.0  # seconds between looks at the agents' places


class DiffService(leases.LeasedWorker):
    LEASE = "diffs"
    VERB = "watches"

    def __init__(self, pod: Path, *, bases: dict[str, str] | None = None, repos: tuple[str, ...] = (),
                 holder: str, clock: Callable[[], float] = time.time) -> None:
        super().__init__(pod, holder=holder, clock=clock)
        self.bases = dict(bases or {})
        self.repos = tuple(repos)
        self.watcher = None

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
        from loomtui.git.watch import WorktreeWatcher
        from loomtui.store.agents import fetch_agents

        watcher = WorktreeWatcher(db_path(self.pod), clock=self.clock)
        self.watcher = watcher
        seen = None
        last_renew = 0.0
        watcher.start()
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
                    watcher.set_worktrees(found)
                stop.wait(min(leases.RENEW, RESCAN_EVERY))
        finally:
            watcher.stop()
            self.watcher = None
