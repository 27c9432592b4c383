"""Gate benchmarks: what the hook costs every tool call, served and unserved,
what it costs under load, and how fast an approval reaches a waiting agent.

    python bench/gates.py                        # regular install of HEAD, 200 rounds, 30 round trips
    python bench/gates.py --runs 50 --trips 10 --loomtui /tmp/venv/bin/loomtui
    python bench/gates.py --load                 # 50 tool calls/s for 60 s, unserved and served
    python bench/gates.py --load --seconds 10 --modes unserved

The hook is measured from a regular install (`pip install` of a `git archive`
of --commit, default HEAD, into a temporary venv: not editable, which pays
other import costs), or from the install whose console script --loomtui names.
--install-dir keeps the venv and reuses it while it holds the same commit.

Each mode gets its own temporary HOME, XDG_STATE_HOME, pod (LOOM_HOME) and git
repository, made by the install's own `loomtui init claude`; the hook commands
are read back from the `.claude/settings.json` it wrote (PreToolUse's and
PostToolUse's, never hard-coded) and run as Claude Code runs them: `/bin/sh -c
COMMAND` in the repository, the event's JSON on stdin.

* unserved: no service runs for the pod (the hook takes its direct path).
* served: `loomtui serve` runs for the pod (started before, in the foreground
  with LOOM_HOME = the pod; ready when `<pod>/serve.sock` accepts a connection;
  SIGTERM after). An install without a `serve` command has no served mode: the
  bench says so and measures the rest.

1. Hook cost (default): every round runs each of PreToolUse `git status` (not
   gated) and its PostToolUse, per mode, plus the bare floors `python3 -c
   'import sqlite3, json'`, `python3 -c pass` and `python3 -I -S -c pass` (no
   site, the least any Python hook starts with; the install's interpreter,
   through the same `sh -c`), once each in a shuffled order, so drift hits all
   alike; 5 rounds first warm the page cache and the store. Wall ms (spawn to
   reaped) p50/p95, the child's CPU (user+sys from os.wait4, the shell and the
   hook together), the ratio to bare `import sqlite3, json` at p50. Served
   rows add the service's CPU over the timed rounds (/proc/<pid>/stat) shared
   over the served calls. Targets: served PreToolUse p50 <= 0.8x bare `import
   sqlite3, json`; CPU per served hook (its own + its share of the service)
   <= 10 ms.
2. Approval round trip (--trips, unserved): a hook waits on a gate (`git
   push`); this process commits the approval; the time from that commit
   returning to the hook process having exited. Target p95 <= 250 ms.
3. Load (--load instead of 1 and 2): --rate tool calls a second for --seconds,
   open-loop (each call starts on its schedule, whether or not the earlier ones
   have finished), each a PreToolUse then a PostToolUse of an allowed Bash
   `git status`, from --sessions session ids, each registered as an agent by a
   SessionStart before the window. The CPU of every hook process (os.wait4,
   all of them reaped before the figure is taken) and of the service (served)
   as % of one core over the window. Target <= 50 % of one core at 50 calls/s.
   On a box that cannot keep up, calls beyond --max-in-flight are dropped and
   counted; the CPU per tool call then says what the offered rate would cost.

The 50-waiting-hooks case (console key latency with 50 gates open) is
`python bench/fleet.py --waiting-hooks 50`.

Raw numbers only; exits 0 unless the benchmark itself could not run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import queue
import random
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from support import Install, Service, checkout_commit, given_install, has_command, regular_install  # noqa: E402

from loomtui.store.db import connect, db_path  # noqa: E402
from loomtui.store.gates import decide, list_gates  # noqa: E402

SH = "/bin/sh"  # Claude Code runs a hook's command through the shell
# Environment variables that would point a hook at another pod, config or agent.
DROP_ENV = ("LOOM_HOME", "LOOM_CONFIG", "LOOM_USER", "LOOM_SESSION_ID", "LOOM_AGENT", "CLAUDECODE",
            "CLAUDE_PROJECT_DIR", "CLAUDE_CONFIG_DIR", "CODEX_HOME", "XDG_STATE_HOME")
TARGET_SERVED_RATIO = 0.8
TARGET_SERVED_CPU_MS = 10.0
TARGET_LOAD_PCT = 50.0
TARGET_TRIP_P95_MS = 250.0
BARE_SQLITE = "bare: python3 -c 'import sqlite3, json'"
BARE_PASS = "bare: python3 -c pass"
BARE_ISOLATED = "bare: python3 -I -S -c pass"  # the floor of any Python hook: no site, no sys.path scan
TARGET_RATE = 50.0  # tool calls a second, the load target's rate


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def hook_json(repo: Path, session: str, event: str, call: int = 0) -> bytes:
    """Claude Code's JSON for an allowed Bash `git status` (PreToolUse, PostToolUse)
    or a session's start."""
    data = {"session_id": session, "transcript_path": str(repo.parent / "transcripts" / f"{session}.jsonl"),
            "cwd": str(repo), "permission_mode": "default", "hook_event_name": event}
    if event == "SessionStart":
        data["source"] = "startup"
        return json.dumps(data).encode()
    data.update(tool_name="Bash", tool_input={"command": "git status", "description": "Show working tree status"},
                tool_use_id=f"toolu_01{session[-8:]}{call:08d}")
    if event == "PostToolUse":
        data["tool_response"] = {"stdout": "On branch main\nnothing to commit, working tree clean",
                                 "stderr": "", "interrupted": False, "isImage": False}
    return json.dumps(data).encode()


@dataclass
class Call:
    wall_ms: float
    cpu_ms: float  # user + sys of the child and what it reaped (the shell's python)
    exit_code: int
    out: str
    err: str


def run_call(argv: list[str], stdin: bytes, cwd: Path, env: dict[str, str]) -> Call:
    """Spawn, feed stdin, read the answer, reap with os.wait4 (for the child's
    rusage). Stderr goes to a file so that a chatty child cannot block on it."""
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, cwd=cwd, env=env)
        try:
            proc.stdin.write(stdin)
            proc.stdin.close()
        except BrokenPipeError:
            pass  # the bare floors read no stdin and may be gone already
        out = proc.stdout.read()
        proc.stdout.close()
        _pid, status, usage = os.wait4(proc.pid, 0)
        wall = (time.perf_counter() - start) * 1000
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        err.seek(0)
        text = err.read().decode(errors="replace")
    return Call(wall, (usage.ru_utime + usage.ru_stime) * 1000, proc.returncode, out.decode(errors="replace"), text)


class Mode:
    """One mode's HOME, pod, repository and hook commands, made by the install's
    own `loomtui init claude`; in served mode, its service."""

    def __init__(self, name: str, install: Install, root: Path) -> None:
        self.name, self.install, self.root = name, install, root
        self.home, self.state = root / "home", root / "state"
        self.pod, self.repo = root / "pod", root / "repo"
        self.home.mkdir(parents=True)
        (root / "transcripts").mkdir()
        env = {k: v for k, v in os.environ.items() if k not in DROP_ENV}
        env.update(HOME=str(self.home), XDG_STATE_HOME=str(self.state), LOOM_HOME=str(self.pod),
                   LOOM_USER="bench")
        self.env = env
        make_repo(self.repo, env)
        done = subprocess.run([install.script, "init", "claude"], cwd=self.repo, env=env, capture_output=True,
                              text=True)
        if done.returncode != 0:
            raise SystemExit(f"`{install.script} init claude` failed: {done.stderr.strip()[-500:]}")
        self.commands = settings_commands(self.repo)
        self.service: Service | None = None

    def hook(self, event: str) -> list[str]:
        return [SH, "-c", self.commands[event]]

    def serve(self) -> None:
        self.service = Service([self.install.script], self.pod, self.env, self.root / "serve.log").start()

    def stop(self) -> None:
        if self.service is not None:
            self.service.stop()


def make_repo(repo: Path, env: dict[str, str]) -> None:
    (repo / "src").mkdir(parents=True)
    (repo / "src" / "app.py").write_text("def main():\n    return 0\n")
    (repo / "README.md").write_text("# bench\n")
    git = ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.invalid"]
    for argv in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "initial"]):
        subprocess.run([*git, *argv], cwd=repo, env=env, check=True, capture_output=True)


def settings_commands(repo: Path) -> dict[str, str]:
    """The command of each event's hook in the settings `init claude` wrote into a
    fresh repository (so every hook there is init's): exactly one per event."""
    settings = json.loads((repo / ".claude" / "settings.json").read_text())
    commands = {}
    for event in ("PreToolUse", "PostToolUse", "SessionStart"):
        found = [hook["command"] for group in settings.get("hooks", {}).get(event, [])
                 for hook in group.get("hooks", []) if hook.get("type") == "command"]
        if len(found) != 1:
            raise SystemExit(f"{repo}/.claude/settings.json: expected one {event} command hook, found {found}")
        commands[event] = found[0]
    return commands


def checked(call: Call, what: str) -> Call:
    if call.exit_code != 0 or '"deny"' in call.out:
        raise SystemExit(f"{what} answered exit {call.exit_code}: {call.out[-300:]} {call.err[-500:]}")
    return call


def setup_modes(install: Install, root: Path, wanted: list[str]) -> tuple[list[Mode], list[str]]:
    """The modes asked for; served only if the install has `loomtui serve`."""
    notes = []
    modes = []
    for name in wanted:
        if name == "served" and not has_command([install.script], "serve"):
            notes.append(f"served: not measured: this install ({install.commit}) has no `loomtui serve` "
                         f"command (its hook has only the direct path)")
            continue
        mode = Mode(name, install, root / name)
        if name == "served":
            mode.serve()
            notes.append(f"served: `loomtui serve` ready after {mode.service.ready_s:.2f} s "
                         f"({mode.service.socket} accepts connections)")
        modes.append(mode)
    return modes, notes


# -- 1. hook cost --------------------------------------------------------------------


def hook_cost(modes: list[Mode], runs: int, seed: int) -> tuple[dict[str, list[Call]], dict[str, float], list[str]]:
    python = modes[0].install.python
    jobs: dict[str, tuple[list[str], bytes, Mode]] = {}
    for mode in modes:
        session = f"bench-{mode.name}-0001"
        checked(run_call(mode.hook("SessionStart"), hook_json(mode.repo, session, "SessionStart"), mode.repo,
                         mode.env), f"{mode.name} SessionStart")
        for event in ("PreToolUse", "PostToolUse"):
            jobs[f"{mode.name}: {event}"] = (mode.hook(event), hook_json(mode.repo, session, event), mode)
    first = modes[0]
    jobs[BARE_SQLITE] = ([SH, "-c", f"{shlex.quote(python)} -c 'import sqlite3, json'"], b"", first)
    jobs[BARE_PASS] = ([SH, "-c", f"{shlex.quote(python)} -c pass"], b"", first)
    jobs[BARE_ISOLATED] = ([SH, "-c", f"{shlex.quote(python)} -I -S -c pass"], b"", first)
    order = list(jobs)
    shuffler = random.Random(seed)
    calls: dict[str, list[Call]] = {name: [] for name in jobs}
    notes = []
    service_cpu: dict[str, float] = {}
    before: dict[str, float] = {}
    for round_no in range(5 + runs):  # 5 rounds warm the page cache, the store and the service
        if round_no == 5:
            before = {m.name: m.service.cpu() for m in modes if m.service}
        shuffler.shuffle(order)
        for name in order:
            argv, stdin, mode = jobs[name]
            call = checked(run_call(argv, stdin, mode.repo, mode.env), name)
            if round_no == 0 and not name.startswith("bare"):
                notes.append(f"{name}: answers {call.out.strip() or '(nothing: pass)'}"[:160])
            if round_no >= 5:
                calls[name].append(call)
    for m in modes:
        if m.service:
            if not m.service.running():
                raise SystemExit(f"`loomtui serve` for {m.name} exited ({m.service.proc.returncode}) during the "
                                 f"rounds: {m.service.log.read_text(errors='replace')[-1000:]}")
            service_cpu[m.name] = (m.service.cpu() - before[m.name]) * 1000
    return calls, service_cpu, notes


def report_cost(calls: dict[str, list[Call]], service_cpu: dict[str, float], runs: int) -> dict:
    bare_p50 = percentile([c.wall_ms for c in calls[BARE_SQLITE]], 50)
    print(f"1. hook cost, `git status` (not gated), {runs} rounds, each row once a round, shuffled")
    print(f"  {'':40} {'p50 ms':>7} {'p95 ms':>7} {'mean ms':>7} {'CPU ms':>7} {'+serve':>7} {'x bare':>7}")
    summary = {}
    for name, got in calls.items():
        wall = [c.wall_ms for c in got]
        cpu = statistics.mean(c.cpu_ms for c in got)
        mode = name.split(":")[0]
        served_calls = sum(len(v) for k, v in calls.items() if k.startswith(f"{mode}: "))
        share = service_cpu[mode] / served_calls if mode in service_cpu else None
        p50 = percentile(wall, 50)
        summary[name] = {"p50_ms": p50, "p95_ms": percentile(wall, 95), "mean_ms": statistics.mean(wall),
                         "cpu_ms": cpu, "service_cpu_ms": share, "x_bare": p50 / bare_p50}
        print(f"  {name:40} {p50:7.1f} {percentile(wall, 95):7.1f} {statistics.mean(wall):7.1f} {cpu:7.1f} "
              f"{'' if share is None else f'{share:7.1f}':>7} {p50 / bare_p50:6.2f}x")
    print("  CPU ms: mean user+sys of the child (the shell and what it ran), from os.wait4; +serve: the")
    print("  service's CPU over the timed rounds (/proc/<pid>/stat) / the served calls (Pre and Post).")
    served = summary.get("served: PreToolUse")
    if served is None:
        print("  targets (served): not evaluated, no served mode")
    else:
        post = summary["served: PostToolUse"]
        cpu = max(served["cpu_ms"], post["cpu_ms"]) + (served["service_cpu_ms"] or 0.0)
        print(f"  target served PreToolUse p50 <= {TARGET_SERVED_RATIO}x bare: {served['x_bare']:.2f}x "
              f"{'met' if served['x_bare'] <= TARGET_SERVED_RATIO else 'NOT MET'}")
        print(f"  target CPU per served hook <= {TARGET_SERVED_CPU_MS:g} ms: {cpu:.1f} ms (the dearer of Pre and "
              f"Post, + service share) {'met' if cpu <= TARGET_SERVED_CPU_MS else 'NOT MET'}")
    return summary


# -- 2. approval round trip ------------------------------------------------------------


def round_trips(mode: Mode, trips: int) -> list[float]:
    results = []
    conn = connect(db_path(mode.pod))
    try:
        for i in range(trips):
            stdin = hook_json(mode.repo, "bench-trip-0001", "PreToolUse", i)
            stdin = stdin.replace(b'"git status"', b'"git push origin main"')
            proc = subprocess.Popen(mode.hook("PreToolUse"), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, env=mode.env, cwd=mode.repo)
            proc.stdin.write(stdin)
            proc.stdin.close()
            deadline = time.monotonic() + 30
            gate = None
            while gate is None and time.monotonic() < deadline:
                pending = list_gates(conn)
                gate = pending[0] if pending else None
                if gate is None:
                    time.sleep(0.01)
            if gate is None:
                proc.kill()
                raise SystemExit(f"the hook never opened a gate: {proc.stderr.read().decode()[-500:]}")
            time.sleep(0.2)  # let the hook settle into its wait
            exited = threading.Event()
            ended = [0.0]

            def reap(proc=proc, ended=ended, exited=exited) -> None:
                proc.wait()
                ended[0] = time.perf_counter()
                exited.set()

            reaper = threading.Thread(target=reap)
            reaper.start()
            decide(conn, gate.id, approve=True, actor="bench", reason="", now=time.time())
            committed = time.perf_counter()
            exited.wait(30)
            reaper.join()
            out = proc.stdout.read().decode()
            if '"allow"' not in out:
                raise SystemExit(f"unexpected hook answer: {out!r} {proc.stderr.read().decode()}")
            results.append((ended[0] - committed) * 1000)
    finally:
        conn.close()
    return results


# -- 3. load ---------------------------------------------------------------------------


@dataclass
class Load:
    mode: str
    rate: float
    seconds: float
    sessions: int
    offered: int = 0
    dropped: int = 0
    completed: int = 0
    failed: list[str] = field(default_factory=list)
    late_ms: list[float] = field(default_factory=list)  # start behind schedule
    pre_ms: list[float] = field(default_factory=list)
    post_ms: list[float] = field(default_factory=list)
    hook_cpu_s: float = 0.0
    service_cpu_s: float | None = None
    parent_cpu_s: float = 0.0
    max_in_flight: int = 0
    drained_s: float = 0.0  # after the window, until the last call finished
    window_s: float = 0.0  # from the first call's schedule to the last one's start


def register(mode: Mode, sessions: list[str], workers: int = 2) -> float:
    """SessionStart for every session (so each is an agent of the pod), `workers`
    at a time."""
    started = time.monotonic()
    queue = list(sessions)
    lock = threading.Lock()
    errors = []

    def work() -> None:
        while True:
            with lock:
                if not queue or errors:
                    return
                session = queue.pop()
            call = run_call(mode.hook("SessionStart"), hook_json(mode.repo, session, "SessionStart"), mode.repo,
                            mode.env)
            if call.exit_code != 0:
                errors.append(f"SessionStart {session}: exit {call.exit_code} {call.err[-300:]}")

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise SystemExit(errors[0])
    return time.monotonic() - started


def load(mode: Mode, rate: float, seconds: float, sessions: int, max_in_flight: int, seed: int) -> Load:
    names = [f"{i:08x}-bench-load-{mode.name}" for i in range(sessions)]
    result = Load(mode.name, rate, seconds, sessions)
    register(mode, names)
    rng = random.Random(seed)
    lock = threading.Lock()
    in_flight = [0]
    pre, post = mode.hook("PreToolUse"), mode.hook("PostToolUse")
    work: queue.SimpleQueue[tuple[int, str, float] | None] = queue.SimpleQueue()

    def tool_call(i: int, session: str, due: float) -> None:
        late = (time.monotonic() - due) * 1000
        first = run_call(pre, hook_json(mode.repo, session, "PreToolUse", i), mode.repo, mode.env)
        second = run_call(post, hook_json(mode.repo, session, "PostToolUse", i), mode.repo, mode.env)
        with lock:
            result.late_ms.append(late)
            result.pre_ms.append(first.wall_ms)
            result.post_ms.append(second.wall_ms)
            result.hook_cpu_s += (first.cpu_ms + second.cpu_ms) / 1000
            for event, call in (("PreToolUse", first), ("PostToolUse", second)):
                if call.exit_code != 0 or '"deny"' in call.out:
                    result.failed.append(f"{event}: exit {call.exit_code} {call.out[-200:]} {call.err[-300:]}")
            result.completed += 1
            in_flight[0] -= 1

    def worker() -> None:
        # Started before the window: handing a call to an idle worker costs the
        # scheduler a queue put, where starting a thread would wait for it to run.
        while (job := work.get()) is not None:
            tool_call(*job)

    workers = [threading.Thread(target=worker, daemon=True) for _ in range(max_in_flight)]
    for thread in workers:
        thread.start()
    service_before = mode.service.cpu() if mode.service else None
    self_before = resource.getrusage(resource.RUSAGE_SELF)
    start = time.monotonic()
    i = 0
    while True:
        due = start + i / rate
        if due >= start + seconds:
            break
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        result.offered += 1
        with lock:
            if in_flight[0] >= max_in_flight:
                result.dropped += 1
                i += 1
                continue
            in_flight[0] += 1
            result.max_in_flight = max(result.max_in_flight, in_flight[0])
        work.put((i, rng.choice(names), due))
        i += 1
    window_end = time.monotonic()
    result.window_s = window_end - start
    for _ in workers:
        work.put(None)
    for thread in workers:
        thread.join()
    result.drained_s = time.monotonic() - window_end
    self_after = resource.getrusage(resource.RUSAGE_SELF)
    result.parent_cpu_s = (self_after.ru_utime + self_after.ru_stime) - (self_before.ru_utime + self_before.ru_stime)
    if mode.service:
        if not mode.service.running():
            raise SystemExit(f"`loomtui serve` exited during the load: "
                             f"{mode.service.log.read_text(errors='replace')[-1000:]}")
        result.service_cpu_s = mode.service.cpu() - service_before
    return result


def report_load(loads: list[Load]) -> None:
    from fleet import columns

    print(f"3. load: {loads[0].rate:g} tool calls/s (PreToolUse + PostToolUse each) offered for "
          f"{loads[0].seconds:g} s, open-loop, from {loads[0].sessions} registered sessions")
    header = ["", *[f.mode for f in loads]]

    def row(label, get):
        return [label, *[get(f) for f in loads]]

    def pct(f: Load, cpu: float | None) -> str:
        return "—" if cpu is None else f"{cpu / f.seconds * 100:.1f}"

    def total(f: Load) -> float:
        return f.hook_cpu_s + (f.service_cpu_s or 0.0)

    rows = [
        row("tool calls offered", lambda f: str(f.offered)),
        row("  dropped (over max in flight)", lambda f: str(f.dropped)),
        row("  completed", lambda f: str(f.completed)),
        row("  failed hooks", lambda f: str(len(f.failed))),
        row("max in flight", lambda f: str(f.max_in_flight)),
        row("start late p95 ms", lambda f: f"{percentile(f.late_ms, 95):.1f}" if f.late_ms else "—"),
        row("PreToolUse p50 ms", lambda f: f"{percentile(f.pre_ms, 50):.1f}" if f.pre_ms else "—"),
        row("PreToolUse p95 ms", lambda f: f"{percentile(f.pre_ms, 95):.1f}" if f.pre_ms else "—"),
        row("PostToolUse p50 ms", lambda f: f"{percentile(f.post_ms, 50):.1f}" if f.post_ms else "—"),
        row("window s (scheduled / took)", lambda f: f"{f.seconds:g} / {f.window_s:.1f}"),
        row("drain after window s", lambda f: f"{f.drained_s:.1f}"),
        row("hook processes CPU % core", lambda f: pct(f, f.hook_cpu_s)),
        row("service CPU % core", lambda f: pct(f, f.service_cpu_s)),
        row("hooks + service CPU % core", lambda f: pct(f, total(f))),
        row("CPU ms per tool call", lambda f: f"{total(f) / f.completed * 1000:.1f}" if f.completed else "—"),
        row(f"  at {TARGET_RATE:g} calls/s, % core", lambda f: f"{total(f) / f.completed * TARGET_RATE * 100:.1f}"
            if f.completed else "—"),
        row("bench process CPU % core", lambda f: pct(f, f.parent_cpu_s)),
    ]
    print(columns(header, rows))
    print("  CPU % core: CPU seconds over the window's seconds (every hook of a call started in the")
    print(f"  window is reaped first); `at {TARGET_RATE:g} calls/s`: CPU per completed call x {TARGET_RATE:g} (what")
    print("  the target's load costs, also when the box could not keep up or ran another rate). The")
    print("  bench process (spawning and reaping) is not counted in the hooks' figure.")
    for f in loads:
        fig = total(f) / f.completed * TARGET_RATE * 100 if f.completed else None
        verdict = "—" if fig is None else f"{fig:.1f} % {'met' if fig <= TARGET_LOAD_PCT else 'NOT MET'}"
        print(f"  target {f.mode}: hooks + service at {TARGET_RATE:g} calls/s <= {TARGET_LOAD_PCT:g} % of one core: "
              f"{verdict}")
        for failure in f.failed[:3]:
            print(f"    failed: {failure[:300]}")


# -- main ------------------------------------------------------------------------------


def get_install(args, tmp: Path) -> Install:
    if args.loomtui:
        return given_install(args.loomtui)
    where = Path(args.install_dir) if args.install_dir else tmp / "install"
    print(f"regular install of {args.commit} (pip install, not editable) in {where}/venv, reused if it holds "
          f"that commit ...", flush=True)
    return regular_install(args.commit, where)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    parser.add_argument("--runs", type=int, default=200, help="hook-cost rounds (default 200)")
    parser.add_argument("--trips", type=int, default=30, help="approval round trips (default 30; 0 skips)")
    parser.add_argument("--modes", default="unserved,served", help="unserved,served (default both)")
    parser.add_argument("--commit", default="HEAD", help="what to install (default HEAD)")
    parser.add_argument("--install-dir", metavar="DIR", help="keep the install's venv here, reuse it if it holds "
                        "the same commit (default: a temporary directory)")
    parser.add_argument("--loomtui", metavar="SCRIPT", help="measure this install's console script instead")
    parser.add_argument("--load", action="store_true", help="run the load generator (3) instead of 1 and 2")
    parser.add_argument("--rate", type=float, default=50.0, help="load: tool calls a second (default 50)")
    parser.add_argument("--seconds", type=float, default=60.0, help="load: seconds (default 60)")
    parser.add_argument("--sessions", type=int, default=200, help="load: distinct session ids (default 200)")
    parser.add_argument("--max-in-flight", type=int, default=200,
                        help="load: calls running at once beyond which new ones are dropped (default 200)")
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args()
    wanted = [m.strip() for m in args.modes.split(",") if m.strip()]
    if not wanted or set(wanted) - {"unserved", "served"}:
        parser.error("--modes takes unserved, served or both")

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="loomtui-bench-gates-") as tmp:
        install = get_install(args, Path(tmp))
        modes, notes = setup_modes(install, Path(tmp), wanted)
        try:
            if not modes:
                raise SystemExit("nothing to measure: " + "; ".join(notes))
            if args.load:
                loads = [load(m, args.rate, args.seconds, args.sessions, args.max_in_flight, args.seed)
                         for m in modes]
            else:
                calls, service_cpu, answers = hook_cost(modes, args.runs, args.seed)
                unserved = next((m for m in modes if m.name == "unserved"), None)
                trips = round_trips(unserved, args.trips) if unserved and args.trips > 0 else []
        finally:
            for m in modes:
                m.stop()
    load_after = os.getloadavg()

    print(f"LoomTUI gate benchmark  {datetime.now(UTC).isoformat(timespec='seconds')}")
    print(f"machine: {os.cpu_count()} CPUs, {platform.platform()}, python {platform.python_version()}")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in load_before)}; "
          f"after: {' '.join(f'{x:.2f}' for x in load_after)}")
    print(f"bench checkout: {checkout_commit()}; measured install: {install.commit} "
          f"({'built by this run' if install.built else 'given or reused'}), {install.script}")
    for m in modes:
        for event in ("PreToolUse", "PostToolUse"):
            print(f"  {m.name} {event} hook, as init wrote it: {m.commands[event]}")
        if m.service:
            print(f"  {m.name}: service exit status after SIGTERM: {m.service.exit_code}")
    for note in notes:
        print(f"  {note}")
    print()
    if args.load:
        report_load(loads)
        result = {"load": [vars(f) for f in loads]}
    else:
        summary = report_cost(calls, service_cpu, args.runs)
        for line in sorted(answers):
            print(f"  {line}")
        print()
        result = {"hook_cost": summary, "hook_ms": {k: [c.wall_ms for c in v] for k, v in calls.items()},
                  "hook_cpu_ms": {k: [c.cpu_ms for c in v] for k, v in calls.items()},
                  "service_cpu_ms": service_cpu, "round_trip_ms": trips}
        if trips:
            p50, p95 = percentile(trips, 50), percentile(trips, 95)
            print(f"2. approval round trip, unserved (decision committed -> hook exited), {len(trips)} trips")
            print(f"  p50 {p50:.1f} ms  p95 {p95:.1f} ms  max {max(trips):.1f} ms  "
                  f"(target p95 <= {TARGET_TRIP_P95_MS:g} ms: {'met' if p95 <= TARGET_TRIP_P95_MS else 'NOT MET'})")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
