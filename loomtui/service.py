"""The pod service, `loomtui serve`: one resident process per pod that answers the
agents' hooks and runs the pod's background work.

One per pod, by the `serve` lease (as the ingester and the diff watcher are): a
second `serve` stands by and takes over within about 8 s when the first dies. While
it holds the lease it

- answers hook clients on `<pod>/serve.sock` (hooks/served.py), so an agent's hook
  costs a small client instead of a Python start with the whole hook path;
- runs the transcript ingester and the diff watcher (their own leases: a console
  that got one first keeps it, and the service takes over when that console goes);
- cancels gates whose waiting hook is gone, as each console does;
- runs retention and compaction when the pod's store has them (every few minutes);
- sends `[notify]`'s notifications outside the console (loomtui/notify.py), once per
  event, whether a console is open or not.

Any console starts one when none answers (`start_detached`); it also runs alone,
e.g. as a systemd user unit (docs/guide.md). Nothing depends on it: without a
service the hook client runs the direct path itself.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from datetime import tzinfo
from pathlib import Path

from loomtui.config import Config
from loomtui.hooks import served
from loomtui.store import leases
from loomtui.store.db import connect, db_path, pod_file_mode

log = logging.getLogger(__name__)

ORPHANS_EVERY = 2.0  # seconds between looks for gates whose waiting hook is gone
COMPACT_EVERY = 300.0  # seconds between retention passes (store/retention.py)
COMPACT_FIRST = 30.0  # the first pass, once start-up's work has settled
NOTIFY_EVERY = 1.0  # seconds between looks for events to notify ([notify] command, urls)
LOG_NAME = "serve.log"


def holder_name() -> str:
    from loomtui.ingest.service import holder_name as name

    return name("loomtui serve")


class PodService(leases.LeasedWorker):
    LEASE = "serve"
    VERB = "serves"

    def __init__(self, pod: Path, config: Config, *, tz: tzinfo | None = None,
                 environ: Mapping[str, str] | None = None, clock: Callable[[], float] = time.time,
                 ingest: bool = True, diffs: bool = True, compact_every: float = COMPACT_EVERY) -> None:
        super().__init__(pod, holder=holder_name(), clock=clock)
        self.config = config
        self.tz = tz
        self.environ = environ
        self.ingest = ingest
        self.diffs = diffs
        self.compact_every = compact_every
        self.server: served.HookServer | None = None
        self.workers: list[leases.LeasedWorker] = []

    def _hold(self, conn, stop: threading.Event) -> None:
        """Serve while the lease is ours; returns when it is lost or on stop."""
        _warm_up()
        path = served.socket_path(self.pod)
        web = self._start_http()  # first: once the socket answers, everything here is up
        try:
            sock = served.listen(path, pod_file_mode(self.pod))
        except FileExistsError as exc:
            # The service we took the lease from still answers; it stops at its next
            # renewal (leases.RENEW). Try again then.
            self.state = f"standby ({exc})"
            _stop_http(web)
            stop.wait(leases.RENEW)
            return
        inode = os.stat(path).st_ino
        self.server = served.HookServer(self.pod, sock)
        serving = threading.Event()
        accept = threading.Thread(target=self.server.serve, args=(serving,), name="loomtui-accept",
                                  daemon=True)
        accept.start()
        background = threading.Event()
        threads = self._start_background(background)
        log.info("serving %s on %s", self.pod, path)
        compacting = threading.Thread(target=self._compact_every, args=(background,),
                                      name="loomtui-compact", daemon=True)
        compacting.start()
        threads.append(compacting)
        notifying = threading.Thread(target=self._notify_every, args=(background,),
                                     name="loomtui-notify", daemon=True)
        notifying.start()
        threads.append(notifying)
        try:
            last_orphans = 0.0
            while not stop.wait(min(leases.RENEW, ORPHANS_EVERY)):
                if not self.renew():
                    log.warning("lost the serve lease; stopping")
                    return
                now = self.clock()
                if now - last_orphans >= ORPHANS_EVERY:
                    self._cancel_orphans(conn, now)
                    last_orphans = now
        finally:
            _stop_http(web)
            serving.set()  # no new calls; calls waiting for a supervisor are told we stop
            self.server.stopping.set()
            accept.join(5)
            sock.close()
            try:
                if os.stat(path).st_ino == inode:  # ours still: a successor may have bound its own
                    path.unlink()
            except FileNotFoundError:
                pass
            background.set()
            for worker in self.workers:
                worker.stop()
            for thread in threads:
                thread.join(10)
            self._drain()
            log.info("stopped; answered %d hook call(s)", self.server.served)

    def _start_http(self):
        """Claude Code's HTTP hooks ([serve] http_port), or None."""
        port = self.config.serve.http_port
        if not port:
            return None
        from loomtui.hooks import http_hooks

        try:
            web, _ = http_hooks.start(self.pod, port)
        except OSError as exc:
            log.error("no HTTP hooks: port %d: %s (those events are lost until it is free)", port, exc)
            return None
        log.info("HTTP hooks on %s", http_hooks.url(port))
        return web

    def _drain(self, seconds: float = 10.0) -> None:
        """Let calls in progress finish (a gate's wait ends at once: `stopping`)."""
        deadline = time.monotonic() + seconds
        while self.server is not None and self.server.active and time.monotonic() < deadline:
            time.sleep(0.05)

    def _compact_every(self, stop: threading.Event) -> None:
        """Retention and compaction (store/retention.py) every `compact_every` seconds, on
        its own connection: bounded batches, so hooks wait for the lock briefly at most."""
        from loomtui.store import retention
        from loomtui.store.db import StoreError

        wait = min(COMPACT_FIRST, self.compact_every)
        while not stop.wait(wait):
            wait = self.compact_every
            try:
                report = retention.run(self.pod, self.config.retention, self.clock())
            except retention.RetentionOff as exc:
                log.warning("no retention: %s", exc)
                return
            except (StoreError, sqlite3.Error) as exc:  # busy or gone now: the next pass tries again
                log.warning("retention pass skipped: %s", exc)
                continue
            if report.changed:
                log.info("retention: %d event payload(s) reduced, %d usage row(s) deleted, %d page(s) "
                         "freed in %.1f s", report.events_reduced, report.usage_deleted,
                         report.pages_vacuumed, report.seconds)

    def _notify_every(self, stop: threading.Event) -> None:
        """Send what [notify] asks for (loomtui/notify.py) every NOTIFY_EVERY seconds.
        A failing notifier is recorded there; a busy store only delays the next look.
        [notify] is read again when config.toml changes: hooks leave sending to a running
        service, so one started before [notify] was set must not stay silent."""
        from loomtui import notify
        from loomtui.config import ConfigError, config_path, load_config

        def stamp() -> int | None:
            try:
                return config_path(self.pod).stat().st_mtime_ns
            except OSError:
                return None

        # The first pass reads the file again: it may have changed between the service's
        # start and this thread's.
        config, seen = self.config, -1
        while not stop.wait(NOTIFY_EVERY):
            if (now_seen := stamp()) != seen:
                seen = now_seen
                try:
                    fresh = load_config(self.pod)
                except ConfigError as exc:
                    log.warning("%s; [notify] unchanged", exc)
                else:
                    if fresh.notify != config.notify:
                        log.info("[notify] changed: notifications outside the console %s",
                                 "on" if fresh.notify.outside else "off")
                    config = fresh
            try:
                notify.send_due(self.pod, config, sender=self.holder, now=self.clock())
            except Exception as exc:  # noqa: BLE001 - busy or gone now: the next look tries again
                log.warning("notifications not sent now: %s", exc)

    def _cancel_orphans(self, conn, now: float) -> None:
        from loomtui.store.gates import cancel_orphans

        try:
            cancelled = cancel_orphans(conn, now=now, actor="loomtui serve")
        except Exception as exc:  # noqa: BLE001 - a busy store now; the next look tries again
            log.warning("orphaned gates not checked: %s", exc)
            return
        if cancelled:
            log.info("cancelled orphaned gate(s) %s", ", ".join(map(str, cancelled)))

    def _start_background(self, stop: threading.Event) -> list[threading.Thread]:
        threads: list[threading.Thread] = []
        self.workers = []
        if self.ingest:
            from loomtui.ingest.pricing import PriceError
            from loomtui.ingest.service import IngestService

            try:
                ingester = IngestService(self.pod, self.config, role="loomtui serve", tz=self.tz,
                                         environ=self.environ)
            except PriceError as exc:
                log.error("token ingest is off: %s", exc)
            else:
                ingester.start()
                self.workers.append(ingester)
        if self.diffs:
            from loomtui.git.service import DiffService
            from loomtui.hooks.fingerprint import recompute

            git = self.config.git
            differ = DiffService(self.pod, bases=dict(git.bases), repos=git.repos, holder=self.holder,
                                 on_config=recompute)
            differ.start()
            self.workers.append(differ)

            def watch() -> None:
                async def until_stopped() -> None:
                    task = asyncio.create_task(differ.watcher.run())
                    await asyncio.get_running_loop().run_in_executor(None, stop.wait)
                    differ.watcher.stop()
                    await task

                try:
                    asyncio.run(until_stopped())
                except Exception:  # noqa: BLE001 - diffs stop; hooks go on being answered
                    log.exception("diff watching stopped")

            thread = threading.Thread(target=watch, name="loomtui-diffs", daemon=True)
            thread.start()
            threads.append(thread)
        return threads


def _stop_http(web) -> None:
    if web is not None:
        web.shutdown()
        web.server_close()
        log.info("answered %d HTTP hook call(s)", web.served)


def _warm_up() -> None:
    """Import what hook calls use now, not on the first agent's call."""
    import loomtui.hooks.gatekeeper  # noqa: F401
    import loomtui.hooks.governance  # noqa: F401
    import loomtui.memory.context  # noqa: F401
    import loomtui.policy  # noqa: F401
    import loomtui.store.audit  # noqa: F401
    import loomtui.store.budgets  # noqa: F401
    import loomtui.store.gates  # noqa: F401


def running(pod: Path) -> bool:
    """Does a pod service answer for `pod`?"""
    return served.answering(served.socket_path(pod), timeout=0.5)


def start_detached(pod: Path, environ: Mapping[str, str] | None = None) -> subprocess.Popen | None:
    """Start `loomtui serve` for `pod` in its own session (it outlives the console),
    logging to `<pod>/serve.log`; None when one already answers."""
    if running(pod):
        return None
    env = dict(os.environ if environ is None else environ)
    env["LOOM_HOME"] = str(pod)
    log_path = pod / LOG_NAME
    fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, pod_file_mode(pod))
    try:
        # `-P`: the console's directory stays off sys.path (it may be an agent's worktree,
        # and `-m` would import a `loomtui/` written there).
        return subprocess.Popen([sys.executable, "-P", "-m", "loomtui", "serve"], env=env,
                                stdin=subprocess.DEVNULL, stdout=fd, stderr=fd, start_new_session=True,
                                close_fds=True)
    finally:
        os.close(fd)


def check_store(pod: Path) -> None:
    """Open the store once (clear errors before serving: missing, newer version, locked)."""
    connect(db_path(pod), create=False).close()
