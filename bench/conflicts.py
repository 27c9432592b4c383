"""Conflict forecast benchmark: 50 agents (worktrees) in one repository.

    python bench/conflicts.py                  # 50 worktrees, 10 commits
    python bench/conflicts.py --quick          # 12 worktrees, 4 commits
    python bench/conflicts.py --worktrees 80 --commits 20 --json out.json

The repository holds 200 files. Every worktree is an agent's: a commit on its own
branch and uncommitted work (a staged and an unstaged edit, an untracked file). Most
pairs change some file in common in other regions (they overlap and merge cleanly); a
few change the same lines (they conflict); main has moved on since they branched, so
some also overlap or conflict with their base.

1. Full recompute: a new forecaster over an empty store (the first start): a snapshot
   of each worktree, `git merge-tree` for each pair (n(n-1)/2) and each against its
   base. The diff stats (which the watcher computes anyway) are computed beforehand and
   not counted.
2. Restart: a new forecaster over the store the first one filled: snapshots again,
   every pair's answer from the store (no merge).
3. Nothing moved: `update()` of one worktree again (no git at all).
4. One agent commits new content (a line of its own in a shared file): its diff stats
   (shown apart), then `update()` of that worktree only: its snapshot, and `git
   merge-tree` again for each pair that changes a file in common and against its base
   (the others are clean without git); p50, p95 and max over `--commits` commits by
   different agents. Target: <= 1 s. Also the commit of work that was saved (and
   forecast) before: the snapshot is the same commit, nothing is merged.
5. New content committed, through the live watcher (`WorktreeWatcher` with the
   forecaster, as the console runs it): from `git commit` returning to the store showing
   the agent's new snapshot in every one of its pairs (includes the watcher's debounce,
   up to 0.4 s).

Raw numbers only; exits 0 unless the benchmark itself could not run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from loomtui.git import diff as diffmod  # noqa: E402
from loomtui.git.conflicts import ConflictForecaster, git_version  # noqa: E402
from loomtui.git.diff import compute_diff  # noqa: E402
from loomtui.git.discovery import list_worktrees  # noqa: E402
from loomtui.git.watch import WorktreeWatcher  # noqa: E402
from loomtui.store.db import connect, db_path  # noqa: E402
from loomtui.store.forecasts import fetch_forecasts  # noqa: E402

ENV = {"GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@loomtui.invalid",
       "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@loomtui.invalid",
       "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}
FILES = 200
LINES = 200  # each agent has its own lines (5+k committed, 100+k staged)


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, **ENV})
    if done.returncode != 0:
        raise SystemExit(f"git {' '.join(args)} in {cwd}: {done.stderr.strip()}")
    return done.stdout


def body(i: int) -> str:
    return "".join(f"value_{i}_{n} = {n}\n\n" for n in range(LINES))


def file_of(i: int) -> str:
    return f"src/m{i // 20}/f{i}.py"


def edit(path: Path, line: int, text: str) -> None:
    lines = path.read_text().splitlines(keepends=True)
    lines[line * 2] = text + "\n"
    path.write_text("".join(lines))


def build(root: Path, count: int, rng: random.Random) -> tuple[Path, list]:
    repo = root / "repo"
    repo.mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    for i in range(FILES):
        (repo / file_of(i)).parent.mkdir(parents=True, exist_ok=True)
        (repo / file_of(i)).write_text(body(i))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "initial")
    hot = [file_of(i) for i in range(5)]  # the files many agents touch
    for k in range(count):
        wt = root / "wt" / f"agent{k:02d}"
        git(repo, "worktree", "add", "-q", "-b", f"agent/{k}", str(wt), "main")
        # each agent: its own line of a shared file (overlap), a file of its own; every
        # tenth also the line another uses (a conflict)
        shared = wt / hot[k % len(hot)]
        edit(shared, 5 + k, f"mine_{k} = 'agent {k}'")
        edit(wt / file_of(20 + (k * 7) % 180), 3, f"own_{k} = {k}")
        if k % 10 == 3 and k >= 5:  # the line agent k-5 changes (same shared file)
            edit(shared, 5 + k - 5, f"clash_{k} = 'agent {k} too'")
        git(wt, "add", "-A")
        git(wt, "commit", "-q", "-m", f"agent {k}")
        edit(wt / hot[(k + 1) % len(hot)], 100 + k, f"staged_{k} = {k}")
        git(wt, "add", "-A")
        edit(wt / file_of(21 + (k * 7) % 170), 9, f"unstaged_{k} = {k}")
        (wt / f"notes_{k}.md").write_text(f"agent {k}\n")
    # main moves on: one hot line changed, another file too
    edit(repo / hot[0], 10, "main_moved = True")  # agent 5's line
    edit(repo / file_of(199), 1, "main_too = 1")
    git(repo, "commit", "-q", "-am", "main moves on")
    found = [replace(w, agents=(i,)) for i, w in enumerate(list_worktrees(str(repo)))
             if w.path != str(repo.resolve())]
    return repo, found


def quantiles(values: list[float]) -> dict[str, float]:
    values = sorted(values)
    return {"p50": statistics.median(values),
            "p95": values[min(len(values) - 1, int(round(0.95 * (len(values) - 1))))],
            "max": values[-1], "n": len(values)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worktrees", type=int, default=50)
    parser.add_argument("--commits", type=int, default=10)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args()
    if args.quick:
        args.worktrees, args.commits = 12, 4
    rng = random.Random(args.seed)
    os.environ.update(ENV)
    out: dict = {"date": datetime.now(UTC).strftime("%Y-%m-%d"), "git": ".".join(map(str, git_version())),
                 "python": platform.python_version(), "cpus": os.cpu_count(),
                 "load": os.getloadavg()[0], "worktrees": args.worktrees}
    with tempfile.TemporaryDirectory(prefix="loomtui-bench-conflicts-") as tmp:
        root = Path(tmp)
        t = time.perf_counter()
        repo, worktrees = build(root, args.worktrees, rng)
        print(f"built {args.worktrees} worktrees in {time.perf_counter() - t:.1f} s", file=sys.stderr)
        db = db_path(root / "pod")
        connect(db).close()
        diffmod.clear_caches()
        results = {w.path: compute_diff(w) for w in worktrees}

        # 1. full recompute
        fc = ConflictForecaster(db)
        t = time.perf_counter()
        for w in worktrees:
            fc.update(w, results[w.path])
        full = time.perf_counter() - t
        conn = connect(db)
        rows = fetch_forecasts(conn)
        states = {s: sum(1 for r in rows if r.state == s) for s in ("conflict", "overlap", "clean")}
        out["full"] = {"seconds": full, "git_calls": fc.calls, "skipped": fc.skipped, "rows": len(rows),
                       "states": states}
        print(f"full recompute: {full:.2f} s, {fc.calls} git calls, {fc.skipped} pairs clean without git, "
              f"{len(rows)} rows {states}", file=sys.stderr)

        # 2. restart over the filled store
        fresh = ConflictForecaster(db)
        t = time.perf_counter()
        for w in worktrees:
            fresh.update(w, results[w.path])
        out["restart"] = {"seconds": time.perf_counter() - t, "git_calls": fresh.calls}
        fresh.close()

        # 3. nothing moved
        before = fc.calls
        t = time.perf_counter()
        fc.update(worktrees[0], results[worktrees[0].path])
        out["unchanged"] = {"seconds": time.perf_counter() - t, "git_calls": fc.calls - before}

        # 4. one agent commits: (a) new content, (b) work it had saved (already forecast)
        times, diff_times, saved_times = [], [], []
        hot = [file_of(i) for i in range(5)]
        for n, k in enumerate(rng.sample(range(len(worktrees)), min(args.commits, len(worktrees)))):
            w = worktrees[k]
            edit(Path(w.path) / hot[k % len(hot)], 150 + k % 50, f"more_{k}_{n} = {n}")  # its own line
            git(Path(w.path), "commit", "-q", "-am", "more work")
            t = time.perf_counter()
            results[w.path] = compute_diff(w)
            diff_times.append(time.perf_counter() - t)
            t = time.perf_counter()
            fc.update(w, results[w.path])
            times.append(time.perf_counter() - t)
            edit(Path(w.path) / hot[k % len(hot)], 150 + k % 50, f"saved_{k}_{n} = {n}")
            fc.update(w, compute_diff(w))  # the save, forecast as the watcher would
            git(Path(w.path), "commit", "-q", "-am", "commit what was saved")
            results[w.path] = compute_diff(w)
            t = time.perf_counter()
            fc.update(w, results[w.path])
            saved_times.append(time.perf_counter() - t)
        out["one_commit"] = quantiles(times)
        out["one_commit_saved"] = quantiles(saved_times)
        out["one_commit_diff"] = quantiles(diff_times)
        fc.close()

        # 5. through the live watcher
        live = ConflictForecaster(db)
        watcher = WorktreeWatcher(db, worktrees, forecaster=live)
        watcher.start()
        try:
            deadline = time.monotonic() + 600
            while (watcher.busy() or not watcher.watching.is_set()) and time.monotonic() < deadline:
                time.sleep(0.05)
            latencies = []
            for k in rng.sample(range(len(worktrees)), min(args.commits, len(worktrees))):
                w = worktrees[k]
                edit(Path(w.path) / file_of(22 + (k * 7) % 160), 11, f"live_{k} = {time.time()}")
                git(Path(w.path), "commit", "-q", "-am", "live work")
                t = time.perf_counter()
                old = {r.ours if r.worktree == w.path else r.theirs for r in fetch_forecasts(conn)
                       if w.path in (r.worktree, r.other)}
                while time.perf_counter() - t < 60:
                    mine = [r for r in fetch_forecasts(conn) if w.path in (r.worktree, r.other)]
                    snaps = {r.ours if r.worktree == w.path else r.theirs for r in mine}
                    if len(mine) == len(worktrees) and len(snaps) == 1 and not (snaps & old):
                        break
                    time.sleep(0.01)
                latencies.append(time.perf_counter() - t)
                while watcher.busy():
                    time.sleep(0.02)
            out["one_commit_live"] = quantiles(latencies)
        finally:
            watcher.stop()
            live.close()
            conn.close()
    for key in ("one_commit", "one_commit_saved", "one_commit_diff", "one_commit_live"):
        q = out[key]
        print(f"{key}: p50 {q['p50']:.3f} s  p95 {q['p95']:.3f} s  max {q['max']:.3f} s  (n={q['n']})",
              file=sys.stderr)
    print(f"restart: {out['restart']['seconds']:.2f} s ({out['restart']['git_calls']} git calls); "
          f"unchanged: {out['unchanged']['seconds'] * 1000:.2f} ms ({out['unchanged']['git_calls']} git calls)",
          file=sys.stderr)
    text = json.dumps(out, indent=2)
    if args.json:
        Path(args.json).write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
