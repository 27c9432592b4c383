"""Gate benchmarks: what the hook costs every tool call, and how fast an
approval reaches a waiting agent.

    python bench/gates.py                 # 200 hook runs, 30 round trips
    python bench/gates.py --runs 50 --trips 10

1. Hook cost on an ordinary call (`git status`, not gated): wall time of
   `python -m loomtui hook claude` with real PreToolUse JSON on stdin, p50 and
   p99 over --runs, side by side in the same run with a bare
   `python3 -c 'import sqlite3, json'` (the floor any Python hook pays).
   Target: hook <= 1.5x the bare interpreter. Runs alternate so drift hits both.
2. Approval round trip: a hook waits on a gate (`git push`); another process
   commits the approval; the time from that commit returning to the hook
   process having exited (answer written). Target p95 <= 250 ms.

The 50-waiting-hooks case (console key latency with 50 gates open) is
`python bench/fleet.py --waiting-hooks 50`.

Raw numbers only; exits 0 unless the benchmark itself could not run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from loomtui.store.db import connect, db_path  # noqa: E402
from loomtui.store.gates import decide, list_gates  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def payload(cwd: Path, command: str) -> bytes:
    return json.dumps({
        "session_id": "bench-0000", "transcript_path": "/tmp/bench.jsonl", "cwd": str(cwd),
        "permission_mode": "default", "hook_event_name": "PreToolUse", "tool_name": "Bash",
        "tool_input": {"command": command, "description": "bench"}, "tool_use_id": "toolu_bench",
    }).encode()


def timed(argv: list[str], stdin: bytes, env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, input=stdin, env=env, capture_output=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{argv} failed: {done.stderr.decode()[-500:]}")
    return elapsed * 1000


def hook_cost(pod: Path, repo: Path, runs: int, env: dict[str, str]) -> dict:
    # As agents call it: the installed console script (init writes that).
    script = Path(sys.executable).with_name("loomtui")
    hook = [str(script) if script.exists() else sys.executable, *([] if script.exists() else ["-m", "loomtui"]),
            "hook", "claude"]
    bare = [sys.executable, "-c", "import sqlite3, json"]
    stdin = payload(repo, "git status")
    for _ in range(5):  # warm the page cache and the store
        timed(hook, stdin, env)
        timed(bare, b"", env)
    hook_ms, bare_ms = [], []
    for _ in range(runs):
        hook_ms.append(timed(hook, stdin, env))
        bare_ms.append(timed(bare, b"", env))
    return {"hook_ms": hook_ms, "bare_ms": bare_ms}


def round_trips(pod: Path, repo: Path, trips: int, env: dict[str, str]) -> list[float]:
    results = []
    conn = connect(db_path(pod))
    try:
        for _ in range(trips):
            proc = subprocess.Popen([sys.executable, "-m", "loomtui", "hook", "claude"],
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, env=env)
            proc.stdin.write(payload(repo, "git push origin main"))
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
                raise SystemExit("the hook never opened a gate")
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--trips", type=int, default=30)
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="loomtui-bench-gates-") as tmp:
        root = Path(tmp)
        pod, repo = root / "pod", root / "repo"
        connect(db_path(pod)).close()
        repo.mkdir()
        subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
        env = {**os.environ, "LOOM_HOME": str(pod), "LOOM_USER": "bench"}
        env.pop("LOOM_CONFIG", None)
        cost = hook_cost(pod, repo, args.runs, env)
        trips = round_trips(pod, repo, args.trips, env)

    hook_p50, hook_p99 = percentile(cost["hook_ms"], 50), percentile(cost["hook_ms"], 99)
    bare_p50, bare_p99 = percentile(cost["bare_ms"], 50), percentile(cost["bare_ms"], 99)
    print(f"LoomTUI gate benchmark  {datetime.now(UTC).isoformat(timespec='seconds')}")
    print(f"machine: {os.cpu_count()} CPUs, {platform.platform()}, python {platform.python_version()}")
    print()
    print(f"hook cost, `git status` (not gated), {args.runs} runs each, alternating")
    print(f"  {'':34} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8}")
    print(f"  {'loomtui hook claude':34} {hook_p50:8.1f} {hook_p99:8.1f} {statistics.mean(cost['hook_ms']):8.1f}")
    print(f"  {'python3 -c import sqlite3, json':34} {bare_p50:8.1f} {bare_p99:8.1f} {statistics.mean(cost['bare_ms']):8.1f}")
    ratio = hook_p50 / bare_p50
    print(f"  ratio at p50: {ratio:.2f}x  (target <= 1.5x: {'met' if ratio <= 1.5 else 'NOT MET'})")
    print()
    p50, p95 = percentile(trips, 50), percentile(trips, 95)
    print(f"approval round trip (decision committed -> hook exited), {len(trips)} trips")
    print(f"  p50 {p50:.1f} ms  p95 {p95:.1f} ms  max {max(trips):.1f} ms  "
          f"(target p95 <= 250 ms: {'met' if p95 <= 250 else 'NOT MET'})")
    if args.json:
        Path(args.json).write_text(json.dumps({"hook_cost": cost, "round_trip_ms": trips}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
