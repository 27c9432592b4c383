"""Diff benchmarks: what a worktree's diff stats cost next to git's own
`git diff --numstat`, and how fast a save reaches the store with 50 worktrees
watched.

    python bench/diffs.py                 # 60 runs per case, 40 saves
    python bench/diffs.py --quick         # 15 runs, 10 saves
    python bench/diffs.py --runs 100 --saves 80 --json out.json

1. Diff stats of one worktree (`loomtui.git.diff.compute_diff`) against
   `git diff --numstat <merge-base>` on the same tree, alternating in the same
   run, p50 and p95 wall time. The worktree holds what an agent leaves: commits on
   its branch (modified files, a `git mv`, a deletion), staged and unstaged edits,
   untracked files and a binary. Cases:
   - watch: what the watcher pays after an in-place save (the last untracked
     list reused: one git process; merge-base cached; untracked files counted
     in-process);
   - steady: a standalone call with warm caches (`git diff` and
     `git ls-files --others` side by side);
   - cold: every cache dropped first (a `git merge-base` too);
   - exact: a file moved with `mv` (not `git mv`): an untracked file git would
     pair with a deleted one as a rename, so the untracked files go through a
     temporary index with `git add -N`.
   Note that the plain `git diff --numstat` does less: it does not look at
   untracked files at all. Target: <= 1.3x. Each case's numbers are also
   checked against `git add -N . && git diff --numstat -M <merge-base>` once.
2. Fifty worktrees of one repository watched by one `WorktreeWatcher` (in a
   thread of this process, as in the console); a save every 0.25-0.4 s to a
   random worktree; the time from the write returning to the store row showing
   the new numbers (read from another connection), and how many worktrees each
   save recomputed. Target: p95 <= 0.5 s, exactly one recomputed.

Raw numbers only; exits 0 unless the benchmark itself could not run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from loomtui.git import diff as diffmod
from loomtui.git.diff import compute_diff
from loomtui.git.discovery import discover, worktree_at
from loomtui.git.watch import WorktreeWatcher
from loomtui.store.db import connect, db_path
from loomtui.store.worktrees import fetch_worktree

GIT_ENV = {
    "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@loomtui.invalid",
    "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@loomtui.invalid",
    "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,
}
TARGET_RATIO = 1.3
TARGET_P95_S = 0.5


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"git {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout.strip()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def write(path: Path, text: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    (path.write_bytes if isinstance(text, bytes) else path.write_text)(text)


def make_repo(path: Path, files: int) -> Path:
    """A repository of `files` Python-ish files of 20-200 lines in nested folders."""
    rng = random.Random(7)
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    for i in range(files):
        lines = "".join(f"value_{i}_{j} = {rng.randint(0, 10**6)}\n" for j in range(rng.randint(20, 200)))
        write(path / f"pkg{i % 17}" / f"mod{i % 13}" / f"file{i}.py", lines)
    write(path / "assets" / "logo.png", bytes(range(256)) * 40)
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "initial")
    return path


def agent_changes(wt: Path, files: int, seed: int) -> None:
    """What an agent leaves in its worktree."""
    rng = random.Random(seed)
    names = sorted(wt.glob("pkg*/mod*/*.py"))
    for path in rng.sample(names, 20):  # committed edits
        path.write_text(path.read_text() + "committed_change = 1\n")
    git(wt, "mv", str(names[0]), str(names[0].with_name("renamed_module.py")))
    git(wt, "rm", "-q", str(names[1]))
    git(wt, "add", "-A")
    git(wt, "commit", "-q", "-m", "agent work")
    for path in rng.sample(names[2:], 8):  # staged
        path.write_text("staged = True\n" + path.read_text())
        git(wt, "add", str(path))
    for path in rng.sample(names[2:], 12):  # unstaged
        text = path.read_text().splitlines(keepends=True)
        path.write_text("".join(text[: len(text) // 2]) + "unstaged = 2\n")
    for i in range(15):  # untracked
        write(wt / "new" / f"feature_{i}.py", "".join(f"line_{j} = {j}\n" for j in range(10 + i * 5)))
    write(wt / "assets" / "logo.png", bytes(range(255, -1, -1)) * 40)  # binary edit


def reference(wt: Path, against: str) -> dict:
    """git's own answer, run in the worktree with the index put back afterwards."""
    index = Path(git(wt, "rev-parse", "--path-format=absolute", "--git-path", "index"))
    saved = index.read_bytes()
    try:
        git(wt, "add", "-N", ".")
        out = subprocess.run(["git", "diff", "--numstat", "-z", "-M", against], cwd=wt,
                             capture_output=True, check=True).stdout
    finally:
        index.write_bytes(saved)
    result, tokens, i = {}, out.split(b"\0"), 0
    while i < len(tokens):
        if not tokens[i]:
            i += 1
            continue
        a, d, path = tokens[i].split(b"\t", 2)
        step = 1
        if not path:
            path, step = tokens[i + 2], 3
        result[path.decode()] = (None, None) if a == b"-" else (int(a), int(d))
        i += step
    return result


def ours(result) -> dict:
    return {f.path: (None, None) if f.binary else (f.added, f.deleted) for f in result.files}


def time_case(wt: Path, runs: int, case: str) -> dict:
    worktree = worktree_at(str(wt))
    result = compute_diff(worktree)
    known = result.untracked if case == "watch" else None
    plain = ["git", "diff", "--numstat", result.merge_base]
    equal = ours(compute_diff(worktree, untracked=known)) == reference(wt, result.merge_base)
    ours_ms, git_ms = [], []
    for _ in range(3):  # warm the page cache
        compute_diff(worktree, untracked=known)
        subprocess.run(plain, cwd=wt, capture_output=True, check=True)
    for _ in range(runs):
        if case == "cold":
            diffmod.clear_caches()
        start = time.perf_counter()
        compute_diff(worktree, untracked=known)
        ours_ms.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        subprocess.run(plain, cwd=wt, capture_output=True, check=True)
        git_ms.append((time.perf_counter() - start) * 1000)
    return {"ours_ms": ours_ms, "git_ms": git_ms, "equal": equal, "files": len(result.files),
            "untracked_via": result.untracked_via}


def bench_stats(root: Path, sizes: list[int], runs: int) -> list[dict]:
    rows = []
    for size in sizes:
        repo = make_repo(root / f"repo{size}", size)
        wt = root / f"wt{size}"
        git(repo, "worktree", "add", "-q", "-b", "agent", str(wt), "main")
        agent_changes(wt, size, seed=size)
        for case in ("watch", "steady", "cold"):
            rows.append({"size": size, "case": case, **time_case(wt, runs, case)})
        victim = sorted(wt.glob("pkg*/mod*/*.py"))[5]
        shutil.move(victim, wt / "new" / "moved_without_git.py")  # a rename only git can pair
        rows.append({"size": size, "case": "exact", **time_case(wt, runs, "exact")})
    return rows


def bench_watch(root: Path, worktrees: int, saves: int) -> dict:
    repo = make_repo(root / "fleet", 400)
    paths = []
    for i in range(worktrees):
        wt = root / "fleet-wt" / f"agent{i:02}"
        git(repo, "worktree", "add", "-q", "-b", f"agent/{i:02}", str(wt), "main")
        write(wt / "pkg0" / "mod0" / "file0.py", f"agent = {i}\n")
        write(wt / "notes" / f"agent{i}.md", "notes\n")
        paths.append(wt)
    db = db_path(root / "pod")
    conn = connect(db)
    watcher = WorktreeWatcher(db, discover(repos=[str(repo)]))
    started = time.perf_counter()
    watcher.start()
    watcher.watching.wait(30)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and sum(1 for w in paths if fetch_worktree(conn, str(w))) < len(paths):
        time.sleep(0.01)
    initial_s = time.perf_counter() - started
    time.sleep(1.0)
    rng = random.Random(3)
    latencies, recomputed, missed = [], [], 0
    lines = {wt: 1 for wt in paths}
    try:
        for _ in range(saves):
            wt = rng.choice(paths)
            lines[wt] += 1
            before = dict(watcher.refreshes)
            target = wt / "notes" / f"agent{paths.index(wt)}.md"
            expected = fetch_worktree(conn, str(wt)).added + 1
            with open(target, "a") as handle:  # an editor's save
                handle.write(f"line {lines[wt]}\n")
            saved = time.perf_counter()
            end = time.monotonic() + 5
            while time.monotonic() < end:
                row = fetch_worktree(conn, str(wt))
                if row and row.added >= expected:
                    latencies.append(time.perf_counter() - saved)
                    break
                time.sleep(0.002)
            else:
                missed += 1
            time.sleep(rng.uniform(0.25, 0.4))
            recomputed.append(sum(1 for p, n in watcher.refreshes.items() if n != before.get(p, 0)))
    finally:
        watcher.stop()
        conn.close()
    return {"worktrees": worktrees, "initial_s": initial_s, "latency_s": latencies,
            "recomputed": recomputed, "missed": missed, "errors": list(watcher.errors)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=60, help="timed runs per diff case")
    parser.add_argument("--saves", type=int, default=40, help="saves in the watch benchmark")
    parser.add_argument("--sizes", default="500,5000", help="repository sizes in files")
    parser.add_argument("--quick", action="store_true", help="15 runs, 10 saves, one small repository")
    parser.add_argument("--json", metavar="FILE", help="also write the raw numbers here")
    args = parser.parse_args(argv)
    if args.quick:
        args.runs, args.saves, args.sizes = 15, 10, "500"
    os.environ.update(GIT_ENV)
    sizes = [int(s) for s in args.sizes.split(",")]

    root = Path(tempfile.mkdtemp(prefix="loomtui-bench-diffs-"))
    try:
        stats = bench_stats(root, sizes, args.runs)
        watch = bench_watch(root, 50, args.saves)
    finally:
        shutil.rmtree(root, ignore_errors=True)

    version = subprocess.run(["git", "--version"], capture_output=True, text=True, check=False).stdout.strip()
    print(f"LoomTUI diff benchmark  {datetime.now(UTC).isoformat(timespec='seconds')}")
    print(f"machine: {os.cpu_count()} CPUs, {platform.platform()}, python {platform.python_version()}, {version}")
    print()
    print(f"1. diff stats of one worktree vs `git diff --numstat <merge-base>`, {args.runs} runs each, alternating")
    print(f"  {'repo files':>10} {'case':<7} {'files':>5} {'untracked':>9} {'ours p50':>9} {'ours p95':>9}"
          f" {'git p50':>8} {'git p95':>8} {'ratio':>6}  equal to git")
    for row in stats:
        o50, o95 = percentile(row["ours_ms"], 50), percentile(row["ours_ms"], 95)
        g50, g95 = percentile(row["git_ms"], 50), percentile(row["git_ms"], 95)
        print(f"  {row['size']:>10} {row['case']:<7} {row['files']:>5} {row['untracked_via']:>9} {o50:9.1f}"
              f" {o95:9.1f} {g50:8.1f} {g95:8.1f} {o50 / g50:5.2f}x  {'yes' if row['equal'] else 'NO'}")
    for case in ("watch", "steady"):
        rows = [r for r in stats if r["case"] == case]
        worst = max(percentile(r["ours_ms"], 50) / percentile(r["git_ms"], 50) for r in rows)
        print(f"  {case}: ratio at p50, worst size: {worst:.2f}x  "
              f"(target <= {TARGET_RATIO}x: {'met' if worst <= TARGET_RATIO else 'NOT MET'})")
    print()
    lat = watch["latency_s"]
    print(f"2. {watch['worktrees']} watched worktrees, one save at a time, {len(lat)} of "
          f"{args.saves} saves seen (missed {watch['missed']})")
    print(f"  initial recompute of all {watch['worktrees']}: {watch['initial_s']:.2f} s")
    if lat:
        p95 = percentile(lat, 95)
        print(f"  save -> store  p50 {percentile(lat, 50) * 1000:.0f} ms  p95 {p95 * 1000:.0f} ms  "
              f"max {max(lat) * 1000:.0f} ms  mean {statistics.mean(lat) * 1000:.0f} ms  "
              f"(target p95 <= {TARGET_P95_S * 1000:.0f} ms: {'met' if p95 <= TARGET_P95_S else 'NOT MET'})")
    counts = watch["recomputed"]
    print(f"  worktrees recomputed per save: {dict(sorted(_count(counts).items()))}  "
          f"(target: 1 each time: {'met' if counts and set(counts) == {1} else 'NOT MET'})")
    if watch["errors"]:
        print(f"  watcher errors: {watch['errors'][:3]}")
    if args.json:
        Path(args.json).write_text(json.dumps({"stats": stats, "watch": watch}, indent=2))
    return 0


def _count(values: list[int]) -> dict[int, int]:
    out: dict[int, int] = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return out


if __name__ == "__main__":
    raise SystemExit(main())
