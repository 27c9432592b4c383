"""History benchmark: what a week of a 50-agent team's history costs the console,
the budgets and the commands, side by side with an empty pod.

    python bench/history.py                          # pods of 0, 2M and 5M events (+ as many usage rows)
    python bench/history.py --sizes 0,200k --seconds 15 --repeat 3
    python bench/history.py --cache /var/tmp/loombench --rebuild

For every size the benchmark builds (or reuses, see below) a pod holding that many
events and as many usage rows, spread over the 7 days before the build, then measures
in the same run:

* the console: the real LoomApp, live (store watcher, ingest service, diff service),
  headless at 200x60, run exactly as `bench/fleet.py` runs it (its `--console` child:
  start-up until the fleet shows every agent, then idle until told to go). Start-up is
  the wall time from spawning the process to the fleet being shown, median of
  `--startups` starts (the measured console's and others that exit at once). Idle CPU (user+sys
  over wall) and RSS are sampled with psutil every 0.5 s for `--seconds` while nothing
  writes to the pod; then fleet.py's key loop runs for `--key-seconds` (j/k and s keys,
  each timed to the frame that shows it) for keystroke p95. The ingest service runs as
  it would for a user: its transcript roots are empty directories of the bench's own
  (CLAUDE_CONFIG_DIR, CODEX_HOME), so it watches them and refreshes the budgets every
  few seconds, and never reads this machine's real transcripts;
* budget refresh: `loomtui.store.budgets.refresh` with the default config's limits
  (none), in this process, `--repeat` times, median;
* commands: `loomtui usage --json`, `loomtui usage --by session --json` and
  `loomtui status --json` (LOOM_HOME = the pod), wall time, `--repeat` times, median;
* the database: file size, and bytes per event and per usage row (the growth of the
  file while each kind was written, after a WAL checkpoint);
* the size after retention: a copy of the pod's store (sqlite3's backup, in a temporary
  directory beside the cache) compacted as `loomtui store compact` does it (the same
  function, default [retention]) at two moments: 14 days after the pod's last day (every
  event's payload past event_payload_days, the usage rows still kept), then 90 days after
  (the raw usage rows past usage_days too); then once more with `--full` (one VACUUM).
  Reported: the file's size (database + WAL) after each, compact's wall time, and what
  `retention.plan` (which `loomtui status` runs) costs on the uncompacted copy.

What a pod holds. 350 agents: 50 seats (5 repositories, 10 worktrees each), one
Claude session per seat per day; the last day's 50 are live (working or idle), the
older ones done. Events are what the hooks record: PreToolUse `tool` and PostToolUse
`tool_done` in pairs, with a few prompts, turn ends and notifications; the payload is
the hook's JSON without the transcript path (tool input, and the tool response after
the call), about 0.69 KB on average. Usage rows are what the ingester writes for
Claude responses: model (Sonnet, Opus, Haiku), input/output/cache tokens, a priced
cost, a `msg_...:req_...` dedupe key and the transcript path. Times rise with the row
id and spread evenly over the week. Rows go in with sqlite3 `executemany` in large
transactions, into a pod created by the store's own `connect(db_path(pod))`, so the
schema, migrations and indexes are the real ones. The usage rows go in with plain
INSERTs, so the store's usage triggers fire on each: the built pods carry the usage
rollups (store/rollups.py) exactly as the ingester would have left them, and building
costs what the triggers cost.

Cache. Pods are kept under `--cache` (default /tmp/loombench-history), one directory
per size, and reused by later runs unless older than `--max-age` hours (their week
would have slid out of today's budget periods), built by an older version of this
script, or `--rebuild` is given. The console and the budget refresh write a little
into a reused pod (budget_state, leases, agents' status), as they would in a real one.

Targets at 5M events + 5M usage rows (the largest size is checked, and named):
idle console CPU <= 5 % of one core, RSS <= 150 MB, budget refresh <= 20 ms, console
start-up and every command <= 1.5x its empty-pod time (needs size 0 in the run).

Raw numbers only: nothing is asserted and the exit status is 0 unless the benchmark
itself could not run.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parent))  # fleet.py, beside this file
sys.path.insert(0, str(HERE.parents[1]))  # loomtui, when run from a checkout

import fleet  # noqa: E402  (its console child, Child, machine(), percentile(), columns())
import support  # noqa: E402  (support.Service: `loomtui serve` for a pod, started and stopped)

BUILD_VERSION = 2  # bump when the pods' content changes: cached pods are rebuilt (2: usage rollups)
DAYS = 7
SEATS = 50  # agents working at once
REPOS = 5
SPAN = DAYS * 86400.0
BATCH = 250_000  # rows per transaction
SAMPLE_EVERY = 0.5
MB = 1_000_000
TARGET_CPU_PCT = 5.0
TARGET_RSS_MB = 150.0
TARGET_REFRESH_MS = 20.0
TARGET_RATIO = 1.5
TARGET_SIZE = 5_000_000
PAYLOAD_MEAN = 690  # bytes of JSON an event keeps, on average (measured on real pods)
HOME = "/home/dev/work"

# $ per million tokens: input, output, cache write (5 min), cache read.
MODELS = {
    "claude-sonnet-4-5-20250929": (3.0, 15.0, 3.75, 0.30),
    "claude-opus-4-5-20251101": (5.0, 25.0, 6.25, 0.50),
    "claude-haiku-4-5-20251001": (1.0, 5.0, 1.25, 0.10),
}
MODEL_WEIGHTS = (6, 3, 1)


def parse_size(text: str) -> int:
    """'0', '200k', '2M', '1.5M' -> an int."""
    text = text.strip().lower()
    scale = {"k": 1_000, "m": 1_000_000}.get(text[-1:], 1)
    number = text[:-1] if scale != 1 else text
    return int(float(number) * scale)


def size_label(n: int) -> str:
    if n >= 1_000_000 and n % 100_000 == 0:
        return f"{n / 1_000_000:g}M"
    if n >= 1_000 and n % 1_000 == 0:
        return f"{n // 1_000}k"
    return str(n)


# ---------------------------------------------------------------------------
# Building a pod
# ---------------------------------------------------------------------------


def seat_place(seat: int) -> tuple[str, str, str]:
    """(repo, worktree, branch) of a seat."""
    repo = f"{HOME}/repo-{seat % REPOS}"
    name = f"wt-{seat:02d}"
    return repo, f"{HOME}/worktrees/repo-{seat % REPOS}/{name}", f"agent/{name}"


def transcript_of(claude_dir: str, worktree: str, session: str) -> str:
    return f"{claude_dir}/projects/{worktree.replace('/', '-')}/{session}.jsonl"


class Payloads:
    """A pool of hook payloads per event kind, padded so that the mean size over the
    mix of kinds is about PAYLOAD_MEAN bytes."""

    FILES = ["src/auth/login.py", "src/billing/invoice.py", "src/search/index.py", "src/api/routes.py",
             "tests/test_login.py", "migrations/0001_init.sql", "README.md", "src/models/user.py"]
    COMMANDS = ["pytest -q tests/test_login.py", "git status", "git diff --stat", "ruff check src",
                "python -m mypy src", "ls -la src/billing"]
    WORDS = ("the def return self import value error list none test user order item config path "
             "data result assert class from with").split()

    def __init__(self, rng: random.Random, size: int = 2048) -> None:
        self.rng = rng
        self.pre = [self._make(pre=True) for _ in range(size)]
        self.post = [self._make(pre=False) for _ in range(size)]
        self.other = [self._other() for _ in range(size // 8)]

    def _text(self, length: int) -> str:
        words: list[str] = []
        n = 0
        while n < length:
            w = self.rng.choice(self.WORDS)
            words.append(w)
            n += len(w) + 1
        return " ".join(words)[:length]

    def _base(self, event: str, tool: str) -> dict[str, Any]:
        return {"session_id": str(uuid.UUID(int=self.rng.getrandbits(128))),
                "cwd": f"{HOME}/worktrees/repo-0/wt-00", "permission_mode": "acceptEdits",
                "hook_event_name": event, "tool_name": tool,
                "tool_use_id": "toolu_01" + "%022x" % self.rng.getrandbits(88)}

    def _make(self, pre: bool) -> tuple[str, str, str]:
        """(tool, summary, payload JSON)."""
        rng = self.rng
        tool = rng.choices(["Read", "Edit", "Bash", "Grep", "Write"], [5, 4, 4, 2, 1])[0]
        path = f"{HOME}/worktrees/repo-0/wt-00/{rng.choice(self.FILES)}"
        if tool == "Bash":
            command = rng.choice(self.COMMANDS)
            tool_input: dict[str, Any] = {"command": command, "description": self._text(30)}
            summary = command
        elif tool == "Grep":
            tool_input = {"pattern": "def " + rng.choice(self.WORDS), "path": "src", "output_mode": "content"}
            summary = f"{tool_input['pattern']} in src"
        elif tool == "Edit":
            tool_input = {"file_path": path, "old_string": self._text(rng.randint(20, 160)),
                          "new_string": self._text(rng.randint(20, 200))}
            summary = path.split("/wt-00/", 1)[1]
        elif tool == "Write":
            tool_input = {"file_path": path, "content": self._text(rng.randint(100, 500))}
            summary = path.split("/wt-00/", 1)[1]
        else:
            tool_input = {"file_path": path}
            summary = path.split("/wt-00/", 1)[1]
        data = self._base("PreToolUse" if pre else "PostToolUse", tool)
        data["tool_input"] = tool_input
        if not pre:
            # Responses vary most: an exponential length around what keeps the mean.
            length = min(4000, int(rng.expovariate(1 / 520)))
            data["tool_response"] = {"stdout": self._text(length), "stderr": "", "interrupted": False}
        return tool, summary, json.dumps(data, ensure_ascii=False)

    def _other(self) -> tuple[str, str, str, str]:
        """(kind, summary, payload, event) for prompts, turn ends and notifications."""
        kind = self.rng.choice(["prompt", "prompt", "stop", "notification"])
        if kind == "prompt":
            text = self._text(self.rng.randint(40, 600))
            data = self._base("UserPromptSubmit", "")
            del data["tool_name"], data["tool_use_id"]
            data["prompt"] = text
            return kind, text[:200], json.dumps(data), "prompt"
        if kind == "stop":
            data = self._base("Stop", "")
            del data["tool_name"], data["tool_use_id"]
            data["stop_hook_active"] = False
            return kind, "turn finished", json.dumps(data), "stop"
        data = self._base("Notification", "")
        del data["tool_name"], data["tool_use_id"]
        data.update(message="Claude is waiting for your input", notification_type="idle_prompt")
        return kind, data["message"], json.dumps(data), "notification"


def build_pod(pod: Path, n: int, seed: int = 12) -> dict[str, Any]:
    """Create the pod with the store's own schema and fill it; returns its meta."""
    from loomtui.store.db import connect, db_path, transaction

    rng = random.Random(seed)
    started = time.monotonic()
    end = time.time()
    start = end - SPAN
    claude_dir = "/home/dev/.claude"
    conn = connect(db_path(pod))
    try:
        conn.execute("PRAGMA synchronous = OFF")  # a benchmark fixture: speed over durability
        conn.execute("PRAGMA cache_size = -1000000")  # 1 GB: the random dedupe keys' index
        page = conn.execute("PRAGMA page_size").fetchone()[0]

        def file_bytes() -> int:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            return conn.execute("PRAGMA page_count").fetchone()[0] * page

        # agents: one per seat and day; the last day's are live
        agents = []
        sessions = []
        for day in range(DAYS):
            for seat in range(SEATS):
                agent_id = day * SEATS + seat + 1
                session = str(uuid.UUID(int=rng.getrandbits(128)))
                repo, worktree, branch = seat_place(seat)
                begun = start + day * 86400 + rng.uniform(0, 600)
                live = day == DAYS - 1
                status = ("working" if seat % 5 else "idle") if live else "done"
                last = end - rng.uniform(0, 60) if live else start + (day + 1) * 86400 - rng.uniform(0, 600)
                model = rng.choices(list(MODELS), MODEL_WEIGHTS)[0]
                path = transcript_of(claude_dir, worktree, session)
                agents.append((agent_id, "claude", f"wt-{seat:02d}-{session[:4]}", session, worktree, repo,
                               worktree, branch, model, path, status, "", "Edit", "src/api/routes.py",
                               begun, last, None if live else last, "acceptEdits", "off", "installed"))
                sessions.append((path, session))
        with transaction(conn):
            conn.executemany(
                """INSERT INTO agents (id, kind, name, session_id, cwd, repo, worktree, branch, model,
                       transcript_path, status, status_reason, last_tool, last_summary, started_at,
                       last_activity_at, ended_at, permission_mode, sandbox, hooks)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""", agents)
            # one ingest offset per transcript, as the ingester leaves them
            conn.executemany(
                "INSERT INTO ingest_offsets (path, agent, inode, size, offset, head_hash, bad_lines, "
                "state, updated_at) VALUES (?, 'claude', ?, ?, ?, ?, 0, '{}', ?)",
                [(path, 1000 + i, 0, 0, "%016x" % rng.getrandbits(64), end)
                 for i, (path, _s) in enumerate(sessions)])
        base = file_bytes()

        def slot(i: int) -> tuple[float, int]:
            """Row i of n: its time (rising with i over the week) and agent."""
            ts = start + (i + rng.random()) * SPAN / n
            day = min(DAYS - 1, int((ts - start) // 86400))
            return ts, day * SEATS + rng.randrange(SEATS) + 1

        # events
        pool = Payloads(rng)
        payload_bytes = 0
        i = 0
        while i < n:
            rows = []
            for j in range(i, min(n, i + BATCH)):
                ts, agent_id = slot(j)
                r = rng.random()
                if r < 0.03:
                    kind, summary, body, _event = rng.choice(pool.other)
                    tool = ""
                else:
                    tool, summary, body = rng.choice(pool.pre if r < 0.515 else pool.post)
                    kind = "tool" if r < 0.515 else "tool_done"
                payload_bytes += len(body)
                rows.append((agent_id, ts, kind, tool, summary, body))
            with transaction(conn):
                conn.executemany(
                    "INSERT INTO events (agent_id, ts, kind, tool, summary, payload) VALUES (?, ?, ?, ?, ?, ?)",
                    rows)
            i += len(rows)
        after_events = file_bytes()

        # usage rows
        models = list(MODELS)
        path_of = {agent[0]: (agent[3], agent[9]) for agent in agents}
        i = 0
        while i < n:
            rows = []
            for j in range(i, min(n, i + BATCH)):
                ts, agent_id = slot(j)
                session, path = path_of[agent_id]
                model = rng.choices(models, MODEL_WEIGHTS)[0]
                p_in, p_out, p_cw, p_cr = MODELS[model]
                inp = rng.randint(1, 12)
                out = int(rng.expovariate(1 / 400)) + 1
                cw = int(rng.expovariate(1 / 1500))
                cr = rng.randint(15_000, 160_000)
                cost = (inp * p_in + out * p_out + cw * p_cw + cr * p_cr) / 1e6
                key = "msg_01%022x:req_011C%021x" % (rng.getrandbits(88), rng.getrandbits(84))
                rows.append((agent_id, session, ts, model, inp, out, cw, cr, cost, "table", key, path,
                             "claude", 0, ""))
            with transaction(conn):
                conn.executemany(
                    """INSERT INTO usage (agent_id, session_id, ts, model, input_tokens, output_tokens,
                           cache_write_tokens, cache_read_tokens, cost_usd, cost_source, dedupe_key,
                           source_file, kind, cache_write_1h_tokens, speed)
                       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""", rows)
            i += len(rows)
        after_usage = file_bytes()
        conn.execute("PRAGMA optimize")
    finally:
        conn.close()
    return {
        "version": BUILD_VERSION, "events": n, "usage": n, "agents": len(agents), "end": end,
        "build_s": time.monotonic() - started,
        "file_bytes": after_usage,
        "bytes_per_event": (after_events - base) / n if n else None,
        "bytes_per_usage": (after_usage - after_events) / n if n else None,
        "payload_mean": payload_bytes / n if n else None,
    }


def cached_pod(cache: Path, n: int, rebuild: bool, max_age_h: float) -> tuple[Path, dict[str, Any], bool]:
    """The pod of size n under the cache, built unless a fresh one is there:
    (pod, meta, built now)."""
    root = cache / f"pod-{n}"
    meta_file = root / "meta.json"
    if not rebuild and meta_file.is_file():
        meta = json.loads(meta_file.read_text())
        if meta.get("version") == BUILD_VERSION and time.time() - meta["end"] < max_age_h * 3600:
            return root / "pod", meta, False
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    meta = build_pod(root / "pod", n)
    meta_file.write_text(json.dumps(meta, indent=1))  # last: a half-built pod has none
    return root / "pod", meta, True


# ---------------------------------------------------------------------------
# Measuring
# ---------------------------------------------------------------------------


def roots_env(cache: Path) -> dict[str, str]:
    """The environment every child gets: empty transcript roots of the bench's own, so
    the ingest service watches (and refreshes budgets) but reads nothing real."""
    claude, codex = cache / "roots" / "claude", cache / "roots" / "codex"
    (claude / "projects").mkdir(parents=True, exist_ok=True)
    (codex / "sessions").mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, CLAUDE_CONFIG_DIR=str(claude), CODEX_HOME=str(codex), LOOM_USER="bench")
    env.pop("LOOM_HOME", None)
    return env


def measure_console(pod: Path, agents: int, env: dict[str, str], seconds: float,
                    key_seconds: float, log: Path) -> dict[str, Any]:
    """fleet.py's console child on this pod: start-up, idle CPU and RSS, then keys."""
    import psutil

    env = dict(env, TERM="xterm-256color", COLORTERM="truecolor")
    spawned = time.monotonic()
    console = fleet.Child(["--console", str(pod), "--agents", str(agents)], log, env)
    try:
        ready = console.get(fleet.READY_TIMEOUT)
        startup = time.monotonic() - spawned
        if ready is None:
            raise RuntimeError(f"the console did not get ready:\n{console.error_text()}")
        process = psutil.Process(console.proc.pid)
        samples: list[tuple[float, float, int]] = []

        def sample() -> None:
            cpu = process.cpu_times()
            samples.append((time.monotonic(), cpu.user + cpu.system, process.memory_info().rss))

        sample()
        end = samples[0][0] + seconds
        while time.monotonic() < end:
            time.sleep(min(SAMPLE_EVERY, max(0.0, end - time.monotonic())))
            sample()
        console.send(f"go {key_seconds}")
        result = None
        while result is None:
            message = console.get(fleet.KEY_TIMEOUT + key_seconds + 60)
            if message is None:
                raise RuntimeError("the console's key loop did not answer")
            result = message.get("result")
        (w0, c0, _), (w1, c1, _) = samples[0], samples[-1]
        rss = [s[2] for s in samples]
        keys = result["keys"]["move"]["latency_ms"] + result["keys"]["sort"]["latency_ms"]
        return {
            "startup_s": startup,
            "startup_inside_s": ready["startup_s"],
            "cpu_pct": (c1 - c0) / (w1 - w0) * 100,
            "cpu_pct_max": max((b[1] - a[1]) / (b[0] - a[0]) * 100
                               for a, b in zip(samples, samples[1:], strict=False) if b[0] > a[0]),
            "rss_mean_mb": sum(rss) / len(rss) / MB,
            "rss_max_mb": max(rss) / MB,
            "keys_timed": len(keys),
            "key_p95_ms": fleet.percentile(result["keys"]["move"]["latency_ms"], 95),
            "reads": result["reads"],
            "read_p50_ms": fleet.percentile(result["read_ms"], 50),
        }
    finally:
        console.finish()


def measure_refresh(pod: Path, repeat: int) -> list[float]:
    """budgets.refresh as the ingest service calls it (default config), in ms."""
    from loomtui.config import Config
    from loomtui.store import budgets
    from loomtui.store.db import connect, db_path

    b = Config().budgets
    conn = connect(db_path(pod))
    try:
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            budgets.refresh(conn, b.limits, time.time(), None, b.week_starts)
            times.append((time.perf_counter() - start) * 1000)
        return times
    finally:
        conn.close()


def loomtui_argv() -> list[str]:
    """The installed `loomtui` script beside this interpreter, as a user runs it."""
    script = Path(sys.executable).parent / "loomtui"
    return [str(script)] if script.exists() else [sys.executable, "-m", "loomtui"]


COMMANDS = {
    "usage": ["usage", "--json"],
    "usage_session": ["usage", "--by", "session", "--json"],
    "status": ["status", "--json"],
}


def measure_command(pod: Path, env: dict[str, str], args: list[str], repeat: int) -> dict[str, Any]:
    env = dict(env, LOOM_HOME=str(pod))
    times = []
    out_bytes = 0
    for _ in range(repeat):
        start = time.perf_counter()
        done = subprocess.run([*loomtui_argv(), *args], env=env, capture_output=True)
        times.append(time.perf_counter() - start)
        if done.returncode != 0:
            raise RuntimeError(f"loomtui {' '.join(args)} exited {done.returncode}: "
                               f"{done.stderr.decode(errors='replace')[-500:]}")
        out_bytes = len(done.stdout)
    return {"s": times, "out_bytes": out_bytes}


def measure_startup(pod: Path, agents: int, env: dict[str, str], log: Path) -> float:
    """One more console start: spawn until the fleet shows every agent, seconds."""
    env = dict(env, TERM="xterm-256color", COLORTERM="truecolor")
    spawned = time.monotonic()
    took: float | None = None
    console = fleet.Child(["--console", str(pod), "--agents", str(agents)], log, env)
    try:
        if console.get(fleet.READY_TIMEOUT) is None:
            raise RuntimeError(f"the console did not get ready:\n{console.error_text()}")
        took = time.monotonic() - spawned
        console.send("go 0")  # no keys: the console exits after its (empty) result
        while console.get(fleet.KEY_TIMEOUT + 60) is not None:
            pass
        return took
    except RuntimeError as exc:
        if took is not None and "exited early" in str(exc):  # its output ended, after the result
            return took
        raise
    finally:
        console.finish()


def measure_retention(pod: Path, meta: dict[str, Any], cache: Path) -> dict[str, Any]:
    """The store's size after retention, on a copy: compact at the pod's end + 14 days
    (payloads reduced), at + 90 days (old usage rows deleted), then --full."""
    import sqlite3
    import tempfile

    from loomtui.commands.store import run_compact
    from loomtui.config import RetentionConfig
    from loomtui.store import retention
    from loomtui.store.db import connect

    config = RetentionConfig()
    out: dict[str, Any] = {}
    work = Path(tempfile.mkdtemp(prefix="retention-", dir=cache))
    try:
        copy = work / "loom.db"
        source = sqlite3.connect(pod / "loom.db")
        target = sqlite3.connect(copy)
        try:
            source.backup(target)
        finally:
            target.close()
            source.close()
        conn = connect(copy, create=False)
        try:
            out["auto_vacuum"] = retention.AUTO_VACUUM.get(conn.execute("PRAGMA auto_vacuum").fetchone()[0])
            out["bytes_before"] = retention.store_bytes(copy)["total"]
            moments = (("payloads", meta["end"] + config.event_payload_days * 86400 + 60),
                       ("usage", meta["end"] + config.usage_days * 86400 + 60))
            for name, now in moments:
                start = time.perf_counter()
                out[f"plan_{name}"] = retention.plan(conn, config, now)
                out[f"plan_{name}_ms"] = (time.perf_counter() - start) * 1000
                out[name] = run_compact(conn, copy, config, now)
            out["full"] = run_compact(conn, copy, config, moments[-1][1], full=True)
        finally:
            conn.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out


def run_size(n: int, args: argparse.Namespace, cache: Path, env: dict[str, str]) -> dict[str, Any]:
    run: dict[str, Any] = {"size": n}
    try:
        pod, meta, built = cached_pod(cache, n, args.rebuild, args.max_age)
        run.update(meta=meta, built=built, pod=str(pod))
        run["age_h"] = (time.time() - meta["end"]) / 3600
        print(f"pod {'built' if built else 'reused'} ({meta['build_s']:.0f} s to build), ",
              end="", flush=True)
        run["refresh_ms"] = measure_refresh(pod, args.repeat)
        run["commands"] = {name: measure_command(pod, env, argv, args.repeat)
                           for name, argv in COMMANDS.items()}
        service = None
        if args.serve:  # the pod service owns ingest, diffs and budgets; the console stands by
            service = support.Service(loomtui_argv(), pod, env, cache / f"serve-{n}.err").start()
            cpu0, wall0 = service.cpu(), time.monotonic()
        try:
            run["console"] = measure_console(pod, meta["agents"], env, args.seconds, args.key_seconds,
                                             cache / f"console-{n}.err")
        finally:
            if service is not None:
                run["service_cpu_pct"] = 100 * (service.cpu() - cpu0) / (time.monotonic() - wall0)
                service.stop()
        run["startups_s"] = [run["console"]["startup_s"]] + [
            measure_startup(pod, meta["agents"], env, cache / f"console-{n}.err")
            for _ in range(args.startups - 1)]
        run["file_bytes_now"] = (pod / "loom.db").stat().st_size
        if not args.no_retention:
            run["retention"] = measure_retention(pod, meta, cache)
    except Exception as exc:  # one broken size must not lose the others
        run["error"] = f"{type(exc).__name__}: {exc}"
    return run


# ---------------------------------------------------------------------------
# Reporting
# ---------------------------------------------------------------------------


def fmt(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def median(values: list[float]) -> float:
    return statistics.median(values)


def table(runs: list[dict[str, Any]]) -> str:
    header = ["", *[f"{size_label(r['size'])} + {size_label(r['size'])}" for r in runs]]
    empty = next((r for r in runs if r["size"] == 0 and "error" not in r), None)

    def ratio(get):
        def cell(r):
            if empty is None or r is empty:
                return ""
            return f"{get(r) / get(empty):.2f}x"
        return cell

    def row(label: str, get) -> list[str]:
        cells = [label]
        for r in runs:
            if "error" in r and label not in ("events", "usage rows"):
                cells.append("error")
                continue
            try:
                cells.append(get(r))
            except (KeyError, TypeError, ZeroDivisionError, ValueError):
                cells.append("—")
        return cells

    def cmd(name: str):
        return lambda r: median(r["commands"][name]["s"]) * 1000

    startup = lambda r: median(r["startups_s"]) * 1000  # noqa: E731
    rows = [
        row("events", lambda r: f"{r['size']:,}"),
        row("usage rows", lambda r: f"{r['size']:,}"),
        row("agents (sessions)", lambda r: str(r["meta"]["agents"])),
        row("database file MB", lambda r: fmt(r["file_bytes_now"] / MB)),
        row("  bytes per event", lambda r: fmt(r["meta"]["bytes_per_event"], 0)),
        row("    payload JSON mean", lambda r: fmt(r["meta"]["payload_mean"], 0)),
        row("  bytes per usage row", lambda r: fmt(r["meta"]["bytes_per_usage"], 0)),
        row("after retention (payloads) MB", lambda r: fmt(r["retention"]["payloads"]["bytes_after"]["total"] / MB)),
        row("  compact s", lambda r: fmt(r["retention"]["payloads"]["seconds"], 1)),
        row("  plan (status) ms", lambda r: fmt(r["retention"]["plan_payloads_ms"], 1)),
        row("  + usage rows aged out MB", lambda r: fmt(r["retention"]["usage"]["bytes_after"]["total"] / MB)),
        row("  compact s", lambda r: fmt(r["retention"]["usage"]["seconds"], 1)),
        row("  then --full MB", lambda r: fmt(r["retention"]["full"]["bytes_after"]["total"] / MB)),
        row("  --full s", lambda r: fmt(r["retention"]["full"]["seconds"], 1)),
        row("console start-up ms, median", lambda r: fmt(startup(r), 0)),
        row("  min / max", lambda r: f"{min(r['startups_s']) * 1000:,.0f} / {max(r['startups_s']) * 1000:,.0f}"),
        row("  vs empty pod", ratio(startup)),
        row("console idle CPU % of a core", lambda r: fmt(r["console"]["cpu_pct"])),
        row("  service CPU % (with --serve)", lambda r: fmt(r["service_cpu_pct"])),
        row("  max over 0.5 s", lambda r: fmt(r["console"]["cpu_pct_max"])),
        row("console RSS mean MB", lambda r: fmt(r["console"]["rss_mean_mb"])),
        row("console RSS max MB", lambda r: fmt(r["console"]["rss_max_mb"])),
        row("key (j/k) p95 ms", lambda r: fmt(r["console"]["key_p95_ms"])),
        row("  keys timed", lambda r: str(r["console"]["keys_timed"])),
        row("budget refresh ms, median", lambda r: fmt(median(r["refresh_ms"]), 1)),
        row("  min / max", lambda r: f"{min(r['refresh_ms']):,.1f} / {max(r['refresh_ms']):,.1f}"),
        row("usage --json ms", lambda r: fmt(cmd("usage")(r), 0)),
        row("  vs empty pod", ratio(cmd("usage"))),
        row("usage --by session --json ms", lambda r: fmt(cmd("usage_session")(r), 0)),
        row("  vs empty pod", ratio(cmd("usage_session"))),
        row("status --json ms", lambda r: fmt(cmd("status")(r), 0)),
        row("  vs empty pod", ratio(cmd("status"))),
        row("pod built / reused", lambda r: "built" if r["built"] else f"reused ({r['age_h']:.1f} h old)"),
        row("  build s", lambda r: fmt(r["meta"]["build_s"], 0)),
    ]
    return fleet.columns(header, rows)


def verdict(runs: list[dict[str, Any]]) -> list[str]:
    good = [r for r in runs if "error" not in r]
    if not good or max(r["size"] for r in good) == 0:
        return ["targets: not evaluated (no pod with history measured)"]
    run = max(good, key=lambda r: r["size"])
    empty = next((r for r in good if r["size"] == 0), None)
    where = (f"targets at {size_label(run['size'])}"
             + ("" if run["size"] >= TARGET_SIZE else f" (they are set for {size_label(TARGET_SIZE)})"))
    checks: list[tuple[str, float | None, float, str]] = [
        ("idle CPU", run["console"]["cpu_pct"], TARGET_CPU_PCT, "% of a core"),
        ("RSS max", run["console"]["rss_max_mb"], TARGET_RSS_MB, "MB"),
        ("budget refresh", median(run["refresh_ms"]), TARGET_REFRESH_MS, "ms"),
    ]
    if empty is not None:
        pairs = [("start-up", median(run["startups_s"]), median(empty["startups_s"]))]
        for name, label in (("usage", "usage --json"), ("usage_session", "usage --by session"),
                            ("status", "status --json")):
            pairs.append((label, median(run["commands"][name]["s"]), median(empty["commands"][name]["s"])))
        checks += [(f"{label} vs empty", mine / base, TARGET_RATIO, "x") for label, mine, base in pairs]
    lines = [f"{where}:"]
    for name, value, target, unit in checks:
        met = value is not None and value <= target
        lines.append(f"  {name:28} {fmt(value, 2):>10} {unit:11} target <= {target:g}  "
                     f"{'met' if met else 'NOT MET'}")
    if empty is None:
        lines.append("  (start-up and commands vs the empty pod: not evaluated, size 0 not in the run)")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="0,2M,5M",
                        help="events (and as many usage rows) per pod, comma separated: 0,200k,2M")
    parser.add_argument("--cache", default="/tmp/loombench-history", help="where built pods are kept")
    parser.add_argument("--rebuild", action="store_true", help="build the pods again even if cached")
    parser.add_argument("--max-age", type=float, default=24.0, metavar="HOURS",
                        help="rebuild a cached pod older than this (its week slides out of today)")
    parser.add_argument("--seconds", type=float, default=30.0, help="idle console window, seconds")
    parser.add_argument("--key-seconds", type=float, default=10.0, help="key loop after the idle window")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each command and of the refresh")
    parser.add_argument("--startups", type=int, default=3, help="console starts timed per pod (median)")
    parser.add_argument("--serve", action="store_true",
                        help="run `loomtui serve` for each pod while the console is measured "
                             "(the issue's setting: the service ingests and keeps the budgets)")
    parser.add_argument("--no-retention", action="store_true",
                        help="skip the size after retention (it copies each pod's store once)")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(argv)
    sizes = [parse_size(s) for s in args.sizes.split(",") if s.strip()]
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    env = roots_env(cache)
    info = fleet.machine()
    print(f"LoomTUI history benchmark  {info['date']}")
    print(f"machine: {info['nproc']} CPUs ({info['cpu']}), {info['platform']}")
    print(f"python {info['python']}, textual {info['textual']}, loomtui {info['loomtui']}, "
          f"sqlite {info['sqlite']}")
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"pods: a week, {SEATS} agents at a time ({SEATS * DAYS} sessions); cache {cache}; "
          f"idle window {args.seconds:g} s, keys {args.key_seconds:g} s, {args.repeat} runs per "
          f"command and {args.startups} console starts (median)")
    print(flush=True)
    runs = []
    for n in sizes:
        print(f"  {size_label(n)} events + {size_label(n)} usage rows: ", end="", flush=True)
        started = time.monotonic()
        run = run_size(n, args, cache, env)
        runs.append(run)
        took = time.monotonic() - started
        print(f"error ({took:.0f} s): {run['error']}" if "error" in run else f"done ({took:.0f} s)",
              flush=True)
    print(f"\nload average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}\n")
    print(table(runs))
    print()
    print("\n".join(verdict(runs)))
    print()
    print("start-up: spawning the console process until its fleet shows every agent (the first")
    print("start is the measured console's, the others start and exit at once). idle CPU:")
    print("console user+sys / wall over the idle window (ingest service and store watcher running,")
    print("nothing written). RSS sampled every 0.5 s. key p95: fleet.py's j/k loop after the idle")
    print("window. budget refresh: budgets.refresh in the bench process, default config. commands:")
    print("wall time of the `loomtui` script, median. bytes per row: growth of the file while that")
    print("kind was written (table and indexes), after a WAL checkpoint. after retention: a copy")
    print("of the store compacted (default [retention]) 14 days after the pod's last day, then 90")
    print("days after (usage rows too), then with --full; sizes are database + WAL.")
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": info, "args": vars(args), "runs": runs}, indent=1))
        print(f"\nresults written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
