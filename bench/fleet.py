"""Fleet benchmark: key-press-to-screen latency, CPU and memory of the console on
pods of simulated agents, idle and busy.

    python bench/fleet.py                      # 60 s per run, pods of 24, 100 and 200
    python bench/fleet.py --seconds 10 --sizes 24,200 --json out.json
    python bench/fleet.py --sizes 200 --waiting-hooks 50   # with 50 gates open
    python bench/fleet.py --sizes 200,1000 --serve         # with `loomtui serve` for the pod

For every pod size the console is measured twice in the same run: on an idle pod
(nothing writes) and on a busy one (another process writes `--rate` events a
second in total, through `record_event`, about one in ten changing an agent's
status so that rows re-sort). Targets at 200 agents, busy: key p95 <= 50 ms,
CPU <= 15 % of one core, RSS <= 150 MB.

Three processes per run, so that the console's CPU and memory are its own:

* the parent (this file, no option) builds a temporary pod with the simulator,
  starts the others, samples the console's CPU time and RSS with psutil over
  the measured window (from "go", after start-up, to the end of the key loop),
  and prints the table;
* the console (`--console`): the real LoomApp, live (the real store watcher),
  headless through `App.run_test(size=(200, 60))`;
* the writer (`--writer`): its own sqlite connection, a steady `--rate`.

How a key is timed. `Pilot.press()` + `Pilot.pause()` cannot be used as a clock:
each of them waits for the process to look idle in steps of 20 ms
(`textual._wait.wait_for_idle`), so they add 40-60 ms of sleep to every key
and stretch it further whenever a refresh is running. Instead a thread plays
the terminal's input thread: it takes t0 and hands a `Key` event to the driver
(`Driver.send_message`, the same path a real key takes), while the key may
land in the middle of a refresh. The action the key triggers (FleetTable
cursor up/down, FleetScreen sort) is wrapped to note that it ran and whether
the cursor really moved; `App._display` is wrapped so that each frame is also
turned into the escape sequences a terminal would get (headless Textual skips
that step, which a real terminal pays for) and written to /dev/null. The key's
latency ends at the first frame, after the action, whose output contains the
new cursor row's agent name (or, for `s`, the header's new "sort: ..."):
the screen really changed. Keys that move nothing (edge of the table) are
counted, not timed. Keys come every 200-300 ms (random, so that they do not
lock in step with the 4 Hz store poll), walking down and up the table, with
an `s` (cycle the sort) every 20th key.

Waiting hooks (`--waiting-hooks N`, default 0). Before each run's measured window
the parent starts N real hook processes (`python -m loomtui hook claude`,
LOOM_HOME = the run's pod), each fed Claude Code's PreToolUse JSON for a Bash
`git push origin agent-<i>` from one of the pod's agents, which the default
policy gates: each opens a pending gate and waits on it (polling the store every
50 ms) through the run, as agents blocked on the inbox do. The parent waits
until N gates are pending, keeps the hooks' stdout/stderr pipes open (a hook
whose caller hangs up cancels its gate), samples the hooks' CPU over the same
window as the console's (summed over the N processes), counts the gates still
pending at the end, then approves them all and reaps the hooks (SIGTERM, then
SIGKILL, for any that do not answer).

The pod service (`--serve`). When this loomtui has a `serve` command, each run
starts `python -m loomtui serve` for its pod (LOOM_HOME = the pod) before the
console, waits until `<pod>/serve.sock` accepts a connection, samples its CPU
(/proc/<pid>/stat, itself and its reaped children) over the same window as the
console's, and stops it (SIGTERM) after the run; without the command the header
says the service was not running. The console of the bench is `make_app`, which
starts no service of its own (`loomtui console` does, by default).

Raw numbers only: nothing is asserted and the exit status is 0 unless the
benchmark itself could not run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import queue
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from support import Service, checkout_commit, has_command

SIZE = (200, 60)  # the console's terminal, columns x rows
TARGET_P95_MS = 50.0
TARGET_CPU_PCT = 15.0
TARGET_RSS_MB = 150.0
MB = 1_000_000  # RSS is reported in MB of 10^6 bytes (stricter than MiB against the target)
KEY_GAP = (0.2, 0.3)  # seconds between a key's frame and the next key
SORT_EVERY = 20  # every n-th key is `s`
WALK = 10  # j presses before turning back with k (and back again)
KEY_TIMEOUT = 3.0  # a key whose frame never comes is counted as timed out
SAMPLE_EVERY = 0.5  # parent's psutil sampling interval, seconds
READY_TIMEOUT = 120.0
HOOKS_TIMEOUT = 60.0  # for the waiting hooks to open their gates, and to answer at the end

HERE = Path(__file__).resolve()


def emit(out, **message: Any) -> None:
    """One JSON line to the parent."""
    out.write(json.dumps(message) + "\n")
    out.flush()


def percentile(values: list[float], p: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


# ---------------------------------------------------------------------------
# The console process
# ---------------------------------------------------------------------------


@dataclass
class KeyRecord:
    key: str
    t0: float = 0.0
    handled: float | None = None  # the action ran
    first_frame: float | None = None  # first frame after the action
    shown: float | None = None  # first frame showing the expected change
    moved: bool = False
    expect: str = ""
    frames_before_shown: int = 0
    done: threading.Event = field(default_factory=threading.Event)


class Probe:
    """Drives keys into a running LoomApp and times them to the screen."""

    def __init__(self) -> None:
        self.app = self.screen = self.table = None
        self.pending: KeyRecord | None = None
        self.records: list[KeyRecord] = []
        self.frames = 0
        self.frame_bytes = 0
        self.show_ms: list[float] = []  # FleetScreen.show_state: diff the fleet into the table
        self.frame_ms: list[float] = []  # one screen update: layout, compositor, terminal output
        self.measuring = False
        self.reads = 0
        self.read_ms: list[float] = []
        self.sink = open(os.devnull, "w", encoding="utf-8")

    # -- hooks (in this process only; nothing in loomtui is changed) ----------

    def patch_classes(self) -> None:
        """Before the app starts: time FleetScreen's rendering of a new PodState
        (run by the pod-changed signal through call_next, so it cannot be wrapped
        on the instance) and its screen updates (the update timer binds the method
        when it is created)."""
        from loomtui.tui.screens.fleet import FleetScreen

        show_state = FleetScreen.show_state
        timer_update = FleetScreen._on_timer_update

        def timed_show_state(screen, state) -> None:
            start = time.perf_counter()
            show_state(screen, state)
            if self.measuring:
                self.show_ms.append((time.perf_counter() - start) * 1000)

        def timed_timer_update(screen) -> None:
            start = time.perf_counter()
            timer_update(screen)
            if self.measuring:
                self.frame_ms.append((time.perf_counter() - start) * 1000)

        FleetScreen.show_state = timed_show_state
        FleetScreen._on_timer_update = timed_timer_update

    def install(self, app, screen, table) -> None:
        """Once the fleet shows: hooks on the running app's instances."""
        from textual._compositor import CompositorUpdate

        self.app, self.screen, self.table = app, screen, table
        display = app._display

        def timed_display(target_screen, renderable) -> None:
            display(target_screen, renderable)
            if renderable is None or app._batch_count:
                return  # nothing was displayed
            if isinstance(renderable, CompositorUpdate):
                # What the real (non-headless) driver path would produce and write.
                text = renderable.render_segments(app.console)
            else:
                segments = app.console.render(renderable)
                text = app.console._render_buffer(segments)
            self.sink.write(text)
            now = time.perf_counter()
            if self.measuring:
                self.frames += 1
                self.frame_bytes += len(text)
            record = self.pending
            if record is None or record.handled is None or record.done.is_set() or not record.moved:
                return
            if record.first_frame is None:
                record.first_frame = now
            if record.expect in text:
                record.shown = now
                record.done.set()
            else:
                record.frames_before_shown += 1

        app._display = timed_display

        def wrap_action(owner, name: str, state, expect) -> None:
            original = getattr(owner, name)

            def wrapped(*args, **kwargs):
                record = self.pending
                before = state()
                result = original(*args, **kwargs)
                after = state()
                if record is not None and record.handled is None:
                    record.handled = time.perf_counter()
                    record.moved = after != before
                    if record.moved:
                        record.expect = expect()
                    else:
                        record.done.set()  # nothing to show: counted, not timed
                return result

            setattr(owner, name, wrapped)

        def cursor_name() -> str:
            agent_id = table.cursor_agent_id
            state = app.pod_state
            agent = state.agent(agent_id) if state is not None and agent_id is not None else None
            return agent.name if agent is not None else "\x00"

        wrap_action(table, "action_cursor_down", lambda: table.cursor, cursor_name)
        wrap_action(table, "action_cursor_up", lambda: table.cursor, cursor_name)
        wrap_action(screen, "action_cycle_sort", lambda: screen.sort_mode,
                    lambda: f"sort: {screen.sort_mode}")

        refresh_state = app.refresh_state

        async def counted_refresh_state() -> None:  # a read of the store, then a publish
            start = time.perf_counter()
            await refresh_state()
            if self.measuring:
                self.reads += 1
                self.read_ms.append((time.perf_counter() - start) * 1000)

        app.refresh_state = counted_refresh_state

    # -- the key thread ------------------------------------------------------

    def run_keys(self, seconds: float) -> float:
        """Send keys for `seconds`, like a terminal's input thread; returns the
        time it took."""
        from textual import events

        rng = random.Random(7)
        driver = self.app._driver
        start = time.perf_counter()
        end = start + seconds
        direction, walked, count = 1, 0, 0
        while True:
            time.sleep(rng.uniform(*KEY_GAP))
            if time.perf_counter() >= end:
                break
            count += 1
            if count % SORT_EVERY == 0:
                key = "s"
            else:
                if walked >= WALK:
                    direction, walked = -direction, 0
                row, rows = self.table.cursor, self.table.row_count
                if row <= 0:
                    direction = 1
                elif row >= rows - 1:
                    direction = -1
                key = "j" if direction > 0 else "k"
                walked += 1
            record = KeyRecord(key)
            event = events.Key(key, key)
            event.set_sender(self.app)
            self.pending = record
            record.t0 = time.perf_counter()
            driver.send_message(event)
            record.done.wait(KEY_TIMEOUT)
            self.pending = None
            self.records.append(record)
        return time.perf_counter() - start

    # -- results -------------------------------------------------------------

    def result(self, seconds: float) -> dict[str, Any]:
        def ms(a: float | None, b: float | None) -> float | None:
            return None if a is None or b is None else (b - a) * 1000

        by_key: dict[str, Any] = {}
        for group, keys in (("move", "jk"), ("sort", "s")):
            records = [r for r in self.records if r.key in keys]
            timed = [r for r in records if r.moved and r.shown is not None]
            by_key[group] = {
                "sent": len(records),
                "not_handled": sum(r.handled is None for r in records),
                "no_change": sum(r.handled is not None and not r.moved for r in records),
                "timed_out": sum(r.moved and r.shown is None for r in records),
                "shown_after_extra_frames": sum(r.frames_before_shown > 0 for r in timed),
                "latency_ms": [ms(r.t0, r.shown) for r in timed],
                "to_action_ms": [ms(r.t0, r.handled) for r in timed],
                "to_first_frame_ms": [ms(r.t0, r.first_frame) for r in timed],
            }
        return {
            "seconds": seconds,
            "keys": by_key,
            "frames": self.frames,
            "frame_bytes": self.frame_bytes,
            "reads": self.reads,
            "read_ms": self.read_ms,
            "show_ms": self.show_ms,
            "frame_ms": self.frame_ms,
            "rows": self.table.row_count,
        }


async def console_main(pod: Path, agents: int, out) -> None:
    from loomtui.config import Config
    from loomtui.tui.app import make_app
    from loomtui.tui.screens.fleet import FleetScreen
    from loomtui.tui.widgets.fleet_table import FleetTable

    started = time.perf_counter()
    probe = Probe()
    probe.patch_classes()
    app = make_app(pod, Config(), live=True, supervisor="bench")
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            screen = app.screen
            if isinstance(screen, FleetScreen):
                table = screen.query_one(FleetTable)
                if table.row_count == agents:
                    break
            if time.monotonic() > deadline:
                raise SystemExit(f"the fleet never showed {agents} rows")
            await asyncio.sleep(0.02)
        await pilot.pause()
        table.focus()
        probe.install(app, screen, table)
        emit(out, ready=True, rows=table.row_count, startup_s=time.perf_counter() - started,
             terminal=list(app.size))
        line = await asyncio.to_thread(sys.stdin.readline)  # "go <seconds>"
        seconds = float(line.split()[1])
        probe.measuring = True
        took = await asyncio.to_thread(probe.run_keys, seconds)
        emit(out, result=probe.result(took))
        app.exit()


# ---------------------------------------------------------------------------
# The writer process
# ---------------------------------------------------------------------------

TOOLS = ["Read", "Edit", "Bash", "Grep", "Write"]
FILES = ["src/auth/login.py", "src/billing/invoice.py", "src/search/index.py",
         "src/api/routes.py", "tests/test_login.py", "migrations/0001_init.sql", "README.md"]
COMMANDS = ["pytest -q tests", "git status", "git diff --stat", "ruff check src"]


def writer_main(pod: Path, rate: float, seed: int, out) -> None:
    from loomtui.store.agents import record_event
    from loomtui.store.db import connect, db_path

    conn = connect(db_path(pod))
    agents = [(r[0], r[1] or "") for r in conn.execute("SELECT id, branch FROM agents")]
    rng = random.Random(seed)
    emit(out, ready=True, agents=len(agents))
    sys.stdin.readline()  # "go"
    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.readline(), stop.set()), daemon=True).start()
    start = time.monotonic()
    written = status_changes = late = 0
    worst_late = 0.0
    while True:
        delay = start + written / rate - time.monotonic()
        if delay > 0:
            if stop.wait(delay):
                break
        else:
            if stop.is_set():
                break
            if -delay > 0.02:
                late += 1
            worst_late = max(worst_late, -delay)
        agent_id, branch = rng.choice(agents)
        now = time.time()
        if rng.random() < 0.1:
            status = rng.choice(["working", "waiting", "idle", "error"])
            kind, summary = {
                "working": ("resume", "new prompt"),
                "waiting": ("waiting", f"approval: git push origin {branch}"),
                "idle": ("stop", "turn finished"),
                "error": ("error", "API error 529: overloaded"),
            }[status]
            reason = summary if status in ("waiting", "error") else ""
            record_event(conn, agent_id, kind=kind, now=now, summary=summary,
                         payload={"bench": True}, status=status, status_reason=reason)
            status_changes += 1
        else:
            tool = rng.choices(TOOLS, [5, 4, 4, 2, 1])[0]
            path = rng.choice(FILES)
            summary = rng.choice(COMMANDS) if tool == "Bash" else (
                f"grep -n 'def ' {path}" if tool == "Grep" else path)
            record_event(conn, agent_id, kind="tool", now=now, tool=tool, summary=summary,
                         payload={"bench": True})
        written += 1
    elapsed = time.monotonic() - start
    conn.close()
    emit(out, events=written, status_changes=status_changes, seconds=elapsed,
         late_over_20ms=late, worst_late_ms=worst_late * 1000)


# ---------------------------------------------------------------------------
# The parent
# ---------------------------------------------------------------------------


def make_pod(root: Path, agents: int, seed: int) -> Path:
    """A pod of `agents` simulated agents with a little history; the worktree
    paths are never touched, so they need not exist."""
    from loomtui.sim.engine import Simulation
    from loomtui.store.db import connect, db_path

    pod = root / "pod"
    repo = root / "shop"
    worktrees = [(repo.parent / "worktrees" / f"wt-{i:03d}", f"agent/wt-{i:03d}")
                 for i in range(agents)]
    conn = connect(db_path(pod))
    try:
        sim = Simulation(conn, repo, worktrees, seed=seed, clock=time.time, stall_seconds=300)
        sim.start(agents)
        count = conn.execute("SELECT count(*) FROM agents").fetchone()[0]
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    assert count == agents, (count, agents)
    return pod


class Child:
    """A child process speaking JSON lines on stdout."""

    def __init__(self, args: list[str], stderr_path: Path,
                 env: dict[str, str] | None = None) -> None:
        self.stderr_path = stderr_path
        self._stderr = open(stderr_path, "w")
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE), *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self._stderr, text=True, bufsize=1, env=env)
        self.lines: queue.Queue[dict | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            line = line.strip()
            if line.startswith("{"):
                try:
                    self.lines.put(json.loads(line))
                except json.JSONDecodeError:
                    pass
        self.lines.put(None)  # end of output

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def get(self, timeout: float) -> dict | None:
        try:
            message = self.lines.get(timeout=timeout)
        except queue.Empty:
            return None
        if message is None:
            self.lines.put(None)
            raise RuntimeError(f"child exited early:\n{self.error_text()}")
        return message

    def error_text(self) -> str:
        self._stderr.flush()
        return self.stderr_path.read_text(errors="replace")[-3000:]

    def finish(self, timeout: float = 20.0) -> None:
        try:
            if self.proc.stdin:
                self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._stderr.close()


class WaitingHooks:
    """N real hook processes, each waiting on a pending gate of its own."""

    def __init__(self, pod: Path, root: Path, count: int) -> None:
        from loomtui.store.db import connect, db_path

        self.pod, self.count = pod, count
        self.procs: list[subprocess.Popen] = []
        self.cwd = root / "hook-cwd"
        self.cwd.mkdir(exist_ok=True)
        self.conn = connect(db_path(pod))
        self.sessions = [(r[0], r[1]) for r in self.conn.execute(
            "SELECT session_id, transcript_path FROM agents WHERE session_id IS NOT NULL "
            "ORDER BY kind != 'claude', id")]
        if len(self.sessions) < count:
            raise RuntimeError(f"{count} waiting hooks need {count} agents with a session, "
                               f"the pod has {len(self.sessions)}")
        self.answers: list[str] = []
        self.exit_codes: list[int | None] = []
        self.terminated = 0

    def start(self) -> float:
        """Start the hooks and wait until their gates are all pending; returns the
        seconds that took."""
        from loomtui.store.gates import list_gates

        started = time.monotonic()
        env = dict(os.environ, LOOM_HOME=str(self.pod), LOOM_USER="bench")
        for i, (session, transcript) in enumerate(self.sessions[:self.count]):
            event = {
                "session_id": session,
                "transcript_path": transcript or str(self.cwd / f"{session}.jsonl"),
                "cwd": str(self.cwd),
                "permission_mode": "default",
                "hook_event_name": "PreToolUse",
                "tool_name": "Bash",
                "tool_input": {"command": f"git push origin agent-{i}",
                               "description": "Push the branch"},
                "tool_use_id": f"toolu_bench_{i:04d}",
            }
            proc = subprocess.Popen(
                [sys.executable, "-m", "loomtui", "hook", "claude"], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=self.cwd)
            self.procs.append(proc)
            assert proc.stdin is not None
            proc.stdin.write(json.dumps(event).encode())
            proc.stdin.close()  # the hook reads to EOF; stdout and stderr stay open
            proc.stdin = None  # (communicate() would flush the closed file)
        deadline = time.monotonic() + HOOKS_TIMEOUT
        while True:
            pending = len(list_gates(self.conn))
            if pending >= self.count:
                break
            gone = [p for p in self.procs if p.poll() is not None]
            if gone:
                err = gone[0].stderr.read().decode(errors="replace") if gone[0].stderr else ""
                out = gone[0].stdout.read().decode(errors="replace") if gone[0].stdout else ""
                raise RuntimeError(f"{len(gone)} hook(s) exited instead of waiting: "
                                   f"{out[-500:]} {err[-500:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {pending} of {self.count} gates opened")
            time.sleep(0.05)
        return time.monotonic() - started

    def pending(self) -> int:
        from loomtui.store.gates import list_gates

        return len(list_gates(self.conn))

    def alive(self) -> int:
        return sum(p.poll() is None for p in self.procs)

    def finish(self) -> None:
        """Approve every pending gate, collect the answers, reap the processes."""
        from loomtui.store.gates import GateError, decide, list_gates

        try:
            for gate in list_gates(self.conn):
                try:
                    decide(self.conn, gate.id, approve=True, actor="bench", reason="",
                           now=time.time())
                except GateError:
                    pass
        except Exception:
            pass  # the hooks are still reaped below
        deadline = time.monotonic() + HOOKS_TIMEOUT
        for proc in self.procs:
            try:
                out, _err = proc.communicate(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.terminated += 1
                proc.terminate()
                try:
                    out, _err = proc.communicate(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    out, _err = proc.communicate()
            self.answers.append(out.decode(errors="replace"))
            self.exit_codes.append(proc.returncode)
        self.conn.close()

    def summary(self) -> dict[str, Any]:
        return {
            "allowed": sum('"allow"' in a for a in self.answers),
            "answered": sum(bool(a.strip()) for a in self.answers),
            "terminated": self.terminated,
            "exit_codes": sorted(set(c for c in self.exit_codes if c is not None)),
        }


def run_one(agents: int, busy: bool, seconds: float, rate: float,
            waiting_hooks: int = 0, serve: bool = False) -> dict[str, Any]:
    """One measured run of the console on a fresh pod."""
    import psutil

    root = Path(tempfile.mkdtemp(prefix=f"loombench-{agents}-{'busy' if busy else 'idle'}-"))
    writer: Child | None = None
    console: Child | None = None
    hooks: WaitingHooks | None = None
    hooks_info: dict[str, Any] = {"count": waiting_hooks}
    service: Service | None = None
    service_info: dict[str, Any] = {"running": False}
    try:
        pod = make_pod(root, agents, seed=agents)  # same pod for idle and busy
        if serve:
            service = Service([sys.executable, "-m", "loomtui"], pod, dict(os.environ), root / "serve.log")
            service.start()
            service_info.update(running=True, ready_s=service.ready_s)
        if waiting_hooks > 0:
            hooks = WaitingHooks(pod, root, waiting_hooks)
            hooks_info["open_s"] = hooks.start()
        if busy:
            writer = Child(["--writer", str(pod), "--rate", str(rate), "--seed", str(agents)],
                           root / "writer.err")
            if writer.get(READY_TIMEOUT) is None:
                raise RuntimeError("the writer did not start")
        env = dict(os.environ, TERM="xterm-256color", COLORTERM="truecolor")
        console = Child(["--console", str(pod), "--agents", str(agents)], root / "console.err", env)
        ready = console.get(READY_TIMEOUT)
        if ready is None:
            raise RuntimeError(f"the console did not get ready:\n{console.error_text()}")
        process = psutil.Process(console.proc.pid)
        samples: list[tuple[float, float, int]] = []  # (wall, cpu seconds, rss)
        hook_procs = [psutil.Process(p.pid) for p in hooks.procs] if hooks else []
        hook_samples: list[tuple[float, float, int]] = []  # (wall, cpu s, rss), summed over hooks

        def sample_hooks() -> None:
            cpu = rss = 0.0
            for hp in hook_procs:
                try:
                    times = hp.cpu_times()
                    cpu += times.user + times.system
                    rss += hp.memory_info().rss
                except psutil.NoSuchProcess:
                    pass
            hook_samples.append((time.monotonic(), cpu, int(rss)))

        def sample() -> None:
            cpu = process.cpu_times()
            samples.append((time.monotonic(), cpu.user + cpu.system, process.memory_info().rss))

        if hooks:
            hooks_info["pending_at_start"] = hooks.pending()
            sample_hooks()
        if service:
            service_cpu = [(time.monotonic(), service.cpu())]
        sample()
        if writer:
            writer.send("go")
        console.send(f"go {seconds}")
        result = None
        while result is None:
            message = console.get(SAMPLE_EVERY)
            if message is not None and "result" in message:
                sample()  # the key loop has ended: close the window now
                if hooks:
                    sample_hooks()
                if service:
                    service_cpu.append((time.monotonic(), service.cpu()))
                result = message["result"]
            else:
                sample()
        if hooks:
            (hw0, hc0, _), (hw1, hc1, _) = hook_samples[0], hook_samples[-1]
            hooks_info.update(
                window_s=hw1 - hw0,
                cpu_s=hc1 - hc0,
                cpu_pct=(hc1 - hc0) / (hw1 - hw0) * 100,  # = psutil cpu_percent, summed
                rss_sum_mb=hook_samples[-1][2] / MB,
                alive_at_end=hooks.alive(),
                pending_at_end=hooks.pending(),
            )
        if service:
            (sw0, sc0), (sw1, sc1) = service_cpu[0], service_cpu[-1]
            service_info.update(cpu_pct=(sc1 - sc0) / (sw1 - sw0) * 100, alive_at_end=service.running())
        written = None
        if writer:
            writer.send("stop")
            written = writer.get(30)
        (w0, c0, _), (w1, c1, _) = samples[0], samples[-1]
        rss = [s[2] for s in samples]
        return {
            "agents": agents,
            "mode": "busy" if busy else "idle",
            "ready": ready,
            "window_s": w1 - w0,
            "cpu_pct": (c1 - c0) / (w1 - w0) * 100,
            "cpu_pct_samples": [
                (b[1] - a[1]) / (b[0] - a[0]) * 100
                for a, b in zip(samples, samples[1:], strict=False)
                if b[0] - a[0] >= SAMPLE_EVERY / 2  # the window's last sample may follow closely
            ],
            "rss_start_mb": rss[0] / MB,
            "rss_mean_mb": sum(rss) / len(rss) / MB,
            "rss_max_mb": max(rss) / MB,
            "writer": written,
            "console": result,
            "hooks": hooks_info,
            "service": service_info,
        }
    except Exception as exc:  # one broken run must not lose the others
        return {"agents": agents, "mode": "busy" if busy else "idle", "error": str(exc)}
    finally:
        for child in (console, writer):
            if child is not None:
                child.finish()
        if hooks is not None:
            hooks.finish()
            hooks_info.update(hooks.summary())
        if service is not None:
            service.stop()
        shutil.rmtree(root, ignore_errors=True)


def machine() -> dict[str, Any]:
    from importlib.metadata import PackageNotFoundError, version

    def ver(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "?"

    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "date": datetime.now().astimezone().isoformat(timespec="seconds"),
        "nproc": (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                  else os.cpu_count()),
        "cpu": cpu,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "textual": ver("textual"),
        "loomtui": ver("loomtui"),
        "commit": checkout_commit(),
        "sqlite": __import__("sqlite3").sqlite_version,
    }


def fmt(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def table(runs: list[dict[str, Any]], sizes: list[int]) -> str:
    by = {(r["agents"], r["mode"]): r for r in runs}
    keys = [(n, mode) for n in sizes for mode in ("idle", "busy")]
    header = ["", *[f"{n} {mode}" for n, mode in keys]]

    def row(label: str, get) -> list[str]:
        cells = [label]
        for key in keys:
            run = by.get(key)
            if run is None or "error" in run:
                cells.append("error" if run else "—")
                continue
            try:
                cells.append(get(run))
            except (KeyError, TypeError, ZeroDivisionError):
                cells.append("—")
        return cells

    def lat(group: str, p: float, field_: str = "latency_ms"):
        return lambda r: fmt(percentile(r["console"]["keys"][group][field_], p))

    def p95_vs_idle(r):
        idle = by.get((r["agents"], "idle"))
        if r["mode"] == "idle" or idle is None or "error" in idle:
            return ""
        mine = percentile(r["console"]["keys"]["move"]["latency_ms"], 95)
        base = percentile(idle["console"]["keys"]["move"]["latency_ms"], 95)
        return f"{mine - base:+.1f}"

    def counts(group: str):
        def get(r):
            k = r["console"]["keys"][group]
            notes = [f"{k[name]} {short}" for name, short in
                     (("timed_out", "t/o"), ("not_handled", "lost"), ("no_change", "no-op"))
                     if k[name]]
            shown = f"{len(k['latency_ms'])}/{k['sent']}"
            return shown + (f" ({', '.join(notes)})" if notes else "")
        return get

    def per_s(value, r):
        return fmt(value / r["console"]["seconds"])

    def waiting(r):
        h = r.get("hooks") or {}
        n = h.get("count", 0)
        if not n:
            return "0"
        start, end = h.get("pending_at_start"), h.get("pending_at_end")
        return str(n) if start == n and end == n else f"{n} (pending {start}→{end})"

    def hooks_cpu(r):
        h = r.get("hooks") or {}
        return fmt(h["cpu_pct"]) if h.get("count") else "—"

    rows = [
        row("waiting hooks (gates open)", waiting),
        row("j/k keys timed/sent", counts("move")),
        row("j/k latency p50 ms", lat("move", 50)),
        row("j/k latency p95 ms", lat("move", 95)),
        row("j/k latency max ms", lat("move", 100)),
        row("j/k p95 vs idle ms", p95_vs_idle),
        row("  key→action p95 ms", lat("move", 95, "to_action_ms")),
        row("s (sort) timed/sent", counts("sort")),
        row("s latency p50 ms", lat("sort", 50)),
        row("s latency max ms", lat("sort", 100)),
        row("CPU % of one core", lambda r: fmt(r["cpu_pct"])),
        row("CPU % max 0.5 s", lambda r: fmt(max(r["cpu_pct_samples"]))),
        row("RSS mean MB", lambda r: fmt(r["rss_mean_mb"])),
        row("RSS max MB", lambda r: fmt(r["rss_max_mb"])),
        row("hooks CPU % of one core, sum", hooks_cpu),
        row("service CPU % of one core", lambda r: fmt(r["service"]["cpu_pct"])
            if r["service"]["running"] else "not running"),
        row("events written", lambda r: str(r["writer"]["events"]) if r["writer"] else "0"),
        row("events / s", lambda r: fmt(r["writer"]["events"] / r["writer"]["seconds"])
            if r["writer"] else "0"),
        row("store reads / s", lambda r: per_s(r["console"]["reads"], r)),
        row("  store read p50 ms", lambda r: fmt(percentile(r["console"]["read_ms"], 50))),
        row("fleet renders / s", lambda r: per_s(len(r["console"]["show_ms"]), r)),
        row("  show_state p50 ms", lambda r: fmt(percentile(r["console"]["show_ms"], 50))),
        row("  show_state p95 ms", lambda r: fmt(percentile(r["console"]["show_ms"], 95))),
        row("  show_state max ms", lambda r: fmt(percentile(r["console"]["show_ms"], 100))),
        row("frames / s", lambda r: per_s(r["console"]["frames"], r)),
        row("  frame p50 ms", lambda r: fmt(percentile(r["console"]["frame_ms"], 50))),
        row("  frame p95 ms", lambda r: fmt(percentile(r["console"]["frame_ms"], 95))),
        row("  frame max ms", lambda r: fmt(percentile(r["console"]["frame_ms"], 100))),
        row("terminal KB / s", lambda r: per_s(r["console"]["frame_bytes"] / 1000, r)),
        row("window s", lambda r: fmt(r["window_s"])),
        row("start-up s", lambda r: fmt(r["ready"]["startup_s"], 2)),
    ]
    return columns(header, rows)


def columns(header: list[str], rows: list[list[str]]) -> str:
    """The header and rows as a text table: the first column left-aligned, the others
    right-aligned, a rule under the header."""
    widths = [max(len(line[i]) for line in [header, *rows]) for i in range(len(header))]
    out = []
    for i, line in enumerate([header, *rows]):
        out.append("  ".join(c.ljust(w) if j == 0 else c.rjust(w)
                             for j, (c, w) in enumerate(zip(line, widths, strict=False))))
        if i == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def verdict(runs: list[dict[str, Any]]) -> list[str]:
    lines = []
    big = next((r for r in runs if r["agents"] == 1000 and r["mode"] == "busy"), None)
    if big is not None and "error" not in big:
        met = big["cpu_pct"] <= TARGET_CPU_PCT
        service = "service running" if big["service"]["running"] else "service NOT running"
        lines.append(f"target at 1000 agents, busy ({service}): console CPU {fmt(big['cpu_pct'])} % of one "
                     f"core, target <= {TARGET_CPU_PCT:g}  {'met' if met else 'NOT MET'}")
    run = next((r for r in runs if r["agents"] == 200 and r["mode"] == "busy"), None)
    if run is None:
        return [*lines, "targets: not evaluated (no busy run at 200 agents)"]
    if "error" in run:
        return [*lines, f"targets: the busy run at 200 agents failed: {run['error']}"]
    p95 = percentile(run["console"]["keys"]["move"]["latency_ms"], 95)
    checks = [
        ("key p95", p95, TARGET_P95_MS, "ms"),
        ("CPU", run["cpu_pct"], TARGET_CPU_PCT, "% of one core"),
        ("RSS max", run["rss_max_mb"], TARGET_RSS_MB, "MB"),
    ]
    lines.append("targets at 200 agents, busy:")
    for name, value, target, unit in checks:
        met = value is not None and value <= target
        lines.append(f"  {name:8} {fmt(value):>7} {unit:14} target <= {target:g}  "
                     f"{'met' if met else 'NOT MET'}")
    return lines


def parent_main(args: argparse.Namespace) -> int:
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    info = machine()
    print(f"LoomTUI fleet benchmark  {info['date']}")
    print(f"machine: {info['nproc']} CPUs ({info['cpu']}), {info['platform']}")
    print(f"python {info['python']}, textual {info['textual']}, loomtui {info['loomtui']} "
          f"(checkout {info['commit']}, loomtui from {Path(__import__('loomtui').__file__).parent}), "
          f"sqlite {info['sqlite']}")
    print(f"{args.seconds:g} s per run; busy = {args.rate:g} events/s in total from another "
          f"process; console headless at {SIZE[0]}x{SIZE[1]}, live, refresh_hz 4")
    serve = False
    if args.serve:
        serve = has_command([sys.executable, "-m", "loomtui"], "serve")
        print("service: `loomtui serve` runs for each run's pod" if serve else
              "service: NOT running: --serve asked for it, but this loomtui has no `serve` command")
    if args.waiting_hooks:
        print(f"{args.waiting_hooks} real hooks (`loomtui hook claude`, `git push`) wait on "
              f"open gates through every run")
    print(flush=True)
    runs = []
    for agents in sizes:
        for busy in (False, True):
            label = f"{agents} agents, {'busy' if busy else 'idle'}"
            print(f"  running {label} ...", end="", flush=True)
            started = time.monotonic()
            run = run_one(agents, busy, args.seconds, args.rate, args.waiting_hooks, serve)
            runs.append(run)
            if "error" in run:
                print(f" error ({time.monotonic() - started:.0f} s):\n{run['error']}", flush=True)
            else:
                print(f" done ({time.monotonic() - started:.0f} s)", flush=True)
    print()
    print(table(runs, sizes))
    print()
    print("\n".join(verdict(runs)))
    print()
    print("latency: key handed to the driver -> first frame showing the change, rendered to")
    print("terminal escape codes; key→action: key handed -> cursor action ran (waiting for the")
    print("event loop). CPU: console process user+sys / wall over the measured window. store read:")
    print("fetch the fleet and publish it. show_state: diff the fleet into the table (one per")
    print("publish: data change or the 1 s age tick). frame: one screen update (layout,")
    print("compositor, escape codes). All but CPU and RSS are timed inside the console.")
    print("timed/sent notes: t/o = moved but never shown within 3 s; lost = the action never")
    print("ran; no-op = the cursor could not move (edge of the table); those are not timed.")
    if args.waiting_hooks:
        print("waiting hooks: gates pending at the window's start and end (shown only if not all).")
        print("hooks CPU: user+sys of all waiting hook processes over the same window, summed")
        print("(each polls the store every 50 ms while it waits).")
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": info, "seconds": args.seconds,
                                               "rate": args.rate,
                                               "waiting_hooks": args.waiting_hooks,
                                               "serve": serve,
                                               "runs": runs}, indent=1))
        print(f"\nresults written to {args.json}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="measured seconds per run")
    parser.add_argument("--sizes", default="24,100,200", help="pod sizes, comma separated")
    parser.add_argument("--rate", type=float, default=50.0, help="events a second, busy runs")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--waiting-hooks", type=int, default=0, metavar="N",
                        help="real hook processes waiting on open gates during each run")
    parser.add_argument("--serve", action="store_true",
                        help="run `loomtui serve` for each run's pod, if this loomtui has that command")
    parser.add_argument("--console", metavar="POD", help=argparse.SUPPRESS)
    parser.add_argument("--writer", metavar="POD", help=argparse.SUPPRESS)
    parser.add_argument("--agents", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.console or args.writer:
        # Our own copy of stdout: Textual may capture prints while the app runs.
        out = os.fdopen(os.dup(sys.stdout.fileno()), "w")
        if args.console:
            asyncio.run(console_main(Path(args.console), args.agents, out))
        else:
            writer_main(Path(args.writer), args.rate, args.seed, out)
        return 0
    return parent_main(args)


if __name__ == "__main__":
    sys.exit(main())
