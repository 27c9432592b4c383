"""The pod's one ingester: holds the `ingest` lease, catches up, then follows the
transcript roots with watchfiles (no sleep loop) and keeps the budget state current.

Run by every console (in a thread; only the lease holder ingests, the others stand by
and take over within about 8 s when the holder dies) and by `loomtui ingest`.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping
from datetime import tzinfo
from pathlib import Path

from loomtui.config import Config
from loomtui.ingest.ingester import Ingester, Progress
from loomtui.ingest.sources import Roots, classify, default_roots
from loomtui.store import budgets, leases
from loomtui.store.db import connect, db_path

log = logging.getLogger(__name__)

BUDGET_EVERY = 5.0  # seconds between budget refreshes when no usage arrives (periods roll)
BUDGET_MIN_GAP = 0.5  # at most this often while usage streams in
ROOTS_EVERY = 10.0  # how often to look for transcript roots that appeared
FULL_SCAN_EVERY = 30.0  # seconds between full catch-ups, behind the watch
GOVERNANCE_EVERY = 1.0  # seconds between checks for calls no hook reported (store/unreported.py)
QUIET_AFTER = 1800.0  # agents without hooks (and Codex, which has no SessionEnd) read done after


def holder_name(role: str) -> str:
    return f"{role} {os.environ.get('LOOM_USER') or os.environ.get('USER') or '?'}@{socket.gethostname()} pid {os.getpid()}"


def mark_quiet_agents_done(conn, now: float) -> None:
    """Agents only a transcript tells about, and Codex agents (Codex sends no SessionEnd),
    read as done after half an hour without a line."""
    from loomtui.store.db import transaction

    with transaction(conn):
        conn.execute(
            """UPDATE agents SET status = 'done', status_reason = 'no activity for 30 min',
                   ended_at = ?
               WHERE status IN ('working', 'idle') AND last_activity_at < ?
                 AND (kind = 'codex' OR NOT EXISTS (SELECT 1 FROM events e WHERE e.agent_id = agents.id))""",
            (now, now - QUIET_AFTER))


class IngestService(leases.LeasedWorker):
    LEASE = "ingest"
    VERB = "ingests"

    def __init__(self, pod: Path, config: Config, *, role: str = "console",
                 clock: Callable[[], float] = time.time, tz: tzinfo | None = None,
                 environ: Mapping[str, str] | None = None, prices=None) -> None:
        super().__init__(pod, holder=holder_name(role), clock=clock)
        self.config = config
        self.tz = tz
        self.roots: Roots = default_roots(environ, config.ingest.claude_roots, config.ingest.codex_roots)
        if prices is None:  # here, not in the thread: a bad override file is the caller's error
            from loomtui.ingest.pricing import PriceTable

            prices = PriceTable.load(pod)
        self._prices = prices
        self.progress = Progress()

    # -- the work -------------------------------------------------------------------------

    def _ingester(self, conn) -> Ingester:
        return Ingester(conn, self.roots, self._prices, clock=self.clock,
                        agent_horizon=self.config.ingest.agent_horizon)

    def refresh_budgets(self, conn, agent_ids=None) -> None:
        b = self.config.budgets
        budgets.refresh(conn, b.limits, self.clock(), self.tz, b.week_starts, agent_ids)

    def check_governance(self, conn) -> list[int]:
        """Mark the agents whose transcripts show calls their hooks never reported (and,
        when the pod requires hooks, those no hook was ever heard from); clear the marks
        that have been quiet long enough. The agents newly marked."""
        from loomtui.store import unreported

        g = self.config.governance
        return unreported.check(conn, now=self.clock(), grace=g.grace, require_hooks=g.require_hooks,
                                clear_after=g.clear_after)

    def once(self) -> Progress:
        """Catch up on every transcript and refresh the budgets (no lease needed: the
        store's offsets and unique keys make a concurrent ingester harmless)."""
        conn = connect(db_path(self.pod))
        try:
            ingester = self._ingester(conn)
            self.progress = ingester.catch_up()
            self.refresh_budgets(conn)
            mark_quiet_agents_done(conn, self.clock())
            self.check_governance(conn)
            return self.progress
        finally:
            conn.close()

    def _hold(self, conn, stop: threading.Event) -> None:
        """Ingest while the lease is ours; returns when it is lost or on stop."""
        import watchfiles

        ingester = self._ingester(conn)
        self.progress = ingester.catch_up()
        self.refresh_budgets(conn)
        self.check_governance(conn)
        last_renew = last_budget = last_quiet = last_governance = self.clock()
        while not stop.is_set():
            watched = [str(p) for p in self.roots.watched() if p.is_dir()]
            if not watched:
                stop.wait(leases.RENEW)
                if not self.renew():
                    return
                continue
            since_roots = time.monotonic()
            # The catch-up above ran before this watch was in place: a line written in
            # between raises no event. The watch's first answer (a change, or its timeout
            # after leases.RENEW) comes once it is in place; catch up once more then.
            settling = True
            try:
                for changes in watchfiles.watch(*watched, stop_event=stop, yield_on_timeout=True,
                                                rust_timeout=int(leases.RENEW * 1000), debounce=50,
                                                step=20, raise_interrupt=False):
                    now = self.clock()
                    if now - last_renew >= leases.RENEW:
                        if not self.renew():
                            return
                        last_renew = now
                    if settling:
                        settling = False
                        done = ingester.catch_up()
                        self.progress = Progress(self.progress.files, self.progress.records + done.records,
                                                 self.progress.bad_lines + done.bad_lines, done.errors)
                    sources = {s for s in (classify(p, self.roots) for _c, p in changes) if s}
                    for _change, path in changes:
                        # A new folder (a new project, a subagent's) may hold a transcript
                        # written before its watch was in place: look inside it.
                        if os.path.isdir(path):
                            sources.update(s for s in (classify(f, self.roots) for f in _files_under(path))
                                           if s)
                    if sources:
                        done = ingester.catch_up(sorted(sources))
                        self.progress = Progress(self.progress.files, self.progress.records + done.records,
                                                 self.progress.bad_lines + done.bad_lines, done.errors)
                    gap = now - last_budget
                    if (ingester.touched_agents and gap >= BUDGET_MIN_GAP) or gap >= BUDGET_EVERY:
                        ingester.touched_agents.clear()
                        self.refresh_budgets(conn)
                        last_budget = now
                    if now - last_governance >= GOVERNANCE_EVERY:
                        # Within the grace plus about RENEW (the watch's timeout) of a line
                        # being read: well inside the 15 s the mark must appear in.
                        self.check_governance(conn)
                        last_governance = now
                    if now - last_quiet >= FULL_SCAN_EVERY:
                        # A safety net for anything the watch missed (it stats every file;
                        # only new bytes are read).
                        ingester.catch_up()
                        mark_quiet_agents_done(conn, now)
                        last_quiet = now
                    if time.monotonic() - since_roots > ROOTS_EVERY:
                        if [str(p) for p in self.roots.watched() if p.is_dir()] != watched:
                            break  # a root appeared or went: watch the new set
                        since_roots = time.monotonic()
            except (FileNotFoundError, RuntimeError) as exc:  # a watched root was removed
                log.info("watch restarted: %s", exc)
                stop.wait(0.2)
            # a changed root set (or a lost directory): catch up on what appeared meanwhile
            ingester.catch_up()


def _files_under(folder: str) -> list[str]:
    out = []
    for root, _dirs, files in os.walk(folder, onerror=lambda _e: None):
        out += [os.path.join(root, f) for f in files if f.endswith(".jsonl")]
    return sorted(out)
