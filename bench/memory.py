"""Shared-memory benchmarks: search over a large store, and what the SessionStart
hook costs next to an ordinary PreToolUse call.

    python bench/memory.py                 # 100,000 entries, 300 queries, 100 hook runs each
    python bench/memory.py --quick         # 10,000 entries, 60 queries, 20 hook runs each
    python bench/memory.py --entries 50000 --queries 200 --runs 50 --json out.json

1. Search: a pod store with N entries (bulk-inserted with the FTS triggers on;
   85 % active, 10 % superseded, 5 % retired; 0.5 % pinned; half pod-scoped, the
   rest over 20 repositories and a few agents). Words are drawn from a 20,000-word
   vocabulary with a Zipf law (the 30 most frequent ranks left out, as the stop
   words a query drops), titles of 4-12 words, bodies of 20-160, 1-3 tags.
   Queries are 2-6 words from the same law, half of them built around a word of
   an existing title. Timed in-process, store warm:
   - rank: `retrieval.rank(query, k=8)` (FTS5 + the re-ranking);
   - search: `retrieval.search_result(query, k=8, budget_tokens=2000)`, what the
     memory_search tool runs (rank + JSON + packing).
   Target: search p95 <= 20 ms at 100,000 entries.
2. Hook cost: `loomtui hook claude` as agents run it (the console script, real
   hook JSON on stdin), alternating in the same run, in a pod with that store and
   50 agents with recent edits:
   - PreToolUse allowed by policy (`git status` with an allow rule): the
     ordinary fast path of every tool call;
   - SessionStart: the agent registered, then the injected context built (pins,
     this repository's entries, branch-word matches, the other agents' status)
     within the default 2,000-token budget.
   Target: SessionStart p50 <= 1.5x PreToolUse allow p50.

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
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from loomtui.memory import retrieval  # noqa: E402
from loomtui.memory.retrieval import Asker  # noqa: E402
from loomtui.policy import default_policy_text  # noqa: E402
from loomtui.store.agents import record_event, upsert_agent  # noqa: E402
from loomtui.store.db import connect, db_path, transaction  # noqa: E402

KINDS = ("decision", "convention", "fact", "warning", "todo", "handoff")
SYLLABLES = ("ka ri to mu se na lo pe vi zu ta ne mi ro sa ku de fa gi ho ja le mo nu pi ru si "
             "te vo wa xe yo ze bra cli dro fle gra kno pla que stri tho").split()


def vocabulary(size: int, rng: random.Random) -> list[str]:
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))))
    return sorted(words)


class Zipf:
    """Draw words with P(rank r) ~ 1 / r, ranks `skip`+1 .. len(words)."""

    def __init__(self, words: list[str], rng: random.Random, skip: int = 30) -> None:
        self.words = words[skip:]
        weights = [1.0 / (r + skip + 1) for r in range(len(self.words))]
        total = sum(weights)
        self.cumulative = []
        acc = 0.0
        for w in weights:
            acc += w / total
            self.cumulative.append(acc)
        self.rng = rng

    def draw(self, n: int) -> list[str]:
        import bisect

        return [self.words[min(bisect.bisect(self.cumulative, self.rng.random()), len(self.words) - 1)]
                for _ in range(n)]


def build_store(pod: Path, n: int, seed: int = 6) -> dict:
    rng = random.Random(seed)
    zipf = Zipf(vocabulary(20_000, rng), rng)
    repos = [f"/srv/repos/r{i}" for i in range(19)] + ["/srv/repos/shop"]
    now = time.time()
    conn = connect(db_path(pod))
    titles = []
    started = time.perf_counter()
    rows = []
    for _i in range(n):
        title = " ".join(zipf.draw(rng.randint(4, 12)))
        titles.append(title)
        body = " ".join(zipf.draw(rng.randint(20, 160)))
        tags = ",".join(dict.fromkeys(zipf.draw(rng.randint(1, 3))))
        roll = rng.random()
        scope, ref = ("pod", "") if roll < 0.5 else ("repo", rng.choice(repos)) if roll < 0.95 else \
            ("agent", f"agent{rng.randint(0, 49)}")
        status = rng.choices(("active", "superseded", "retired"), (85, 10, 5))[0]
        pinned = int(status == "active" and rng.random() < 0.005)
        when = now - rng.uniform(0, 180) * 86400
        rows.append((rng.choice(KINDS), title, body, tags, scope, ref, "bench", "supervisor", status,
                     pinned, when, when))
    with transaction(conn):
        conn.executemany(
            "INSERT INTO memory (kind, title, body, tags, scope, scope_ref, author, author_kind, status, "
            "pinned, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    conn.execute("INSERT INTO memory_fts(memory_fts) VALUES ('optimize')")
    build_s = time.perf_counter() - started
    top = zipf.words[0]
    df = conn.execute("SELECT count(*) FROM memory_fts WHERE memory_fts MATCH ?", (f'"{top}"',)).fetchone()[0]
    conn.close()
    return {"titles": titles, "zipf": zipf, "rng": rng, "build_s": build_s, "top_word_df": df / n}


def queries(store: dict, count: int) -> list[str]:
    rng, zipf, titles = store["rng"], store["zipf"], store["titles"]
    out = []
    for i in range(count):
        words = zipf.draw(rng.randint(2, 6))
        if i % 2:
            words[0] = rng.choice(rng.choice(titles).split())
        out.append(" ".join(words))
    return out


def time_search(pod: Path, qs: list[str]) -> dict:
    conn = connect(db_path(pod))
    asker = Asker(repo="/srv/repos/shop", agent_names=("agent1",))
    rank_ms, search_ms, found = [], [], []
    try:
        for q in qs[:10]:  # warm the page cache
            retrieval.search_result(conn, q, now=time.time(), k=8, budget_tokens=2000, asker=asker)
        for q in qs:
            start = time.perf_counter()
            hits = retrieval.rank(conn, q, now=time.time(), asker=asker, limit=8)
            rank_ms.append((time.perf_counter() - start) * 1000)
            start = time.perf_counter()
            doc = retrieval.search_result(conn, q, now=time.time(), k=8, budget_tokens=2000, asker=asker)
            search_ms.append((time.perf_counter() - start) * 1000)
            found.append(len(hits))
            assert doc["tokens"] <= 2000
    finally:
        conn.close()
    return {"rank_ms": rank_ms, "search_ms": search_ms, "found": found}


# -- hook cost ------------------------------------------------------------------------


def prepare_pod(pod: Path, repo: Path) -> None:
    (pod / "policy.toml").write_text(default_policy_text() + '\n[[rule]]\nname = "status"\naction = "allow"\n'
                                     'risk = "low"\ncommand = "git status"\n')
    conn = connect(db_path(pod))
    now = time.time()
    try:
        for i in range(50):
            wt = f"/srv/wt/agent{i}"
            agent = upsert_agent(conn, kind="claude", now=now - i, session_id=f"bench-agent-{i}",
                                 name=f"agent{i}", cwd=wt, repo="/srv/repos/shop" if i % 2 else
                                 f"/srv/repos/r{i % 19}", worktree=wt, branch=f"feature-{i}")
            for j in range(4):
                record_event(conn, agent, kind="tool", now=now - i, tool="Edit", summary=f"src/m{i}_{j}.py",
                             payload={"tool_input": {"file_path": f"{wt}/src/m{i}_{j}.py"}})
    finally:
        conn.close()
    subprocess.run(["git", "init", "-q", "-b", "auth-login", str(repo)], check=True)


def hook_payload(repo: Path, event: str, session: str) -> bytes:
    data = {"session_id": session, "transcript_path": "/tmp/bench.jsonl", "cwd": str(repo),
            "permission_mode": "default", "hook_event_name": event}
    if event == "PreToolUse":
        data.update(tool_name="Bash", tool_input={"command": "git status", "description": "bench"},
                    tool_use_id="toolu_bench")
    else:
        data.update(source="startup", model="claude-sonnet-4-5")
    return json.dumps(data).encode()


def timed(argv: list[str], stdin: bytes, env: dict[str, str], expect: str) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, input=stdin, env=env, capture_output=True)
    elapsed = (time.perf_counter() - start) * 1000
    if done.returncode != 0 or expect.encode() not in done.stdout:
        raise SystemExit(f"unexpected hook answer: {done.stdout[:300]!r} {done.stderr[-300:]!r}")
    return elapsed


def hook_cost(pod: Path, repo: Path, runs: int) -> dict:
    env = {**os.environ, "LOOM_HOME": str(pod), "LOOM_USER": "bench"}
    env.pop("LOOM_CONFIG", None)
    script = Path(sys.executable).with_name("loomtui")
    hook = [str(script), "hook", "claude"] if script.exists() else [sys.executable, "-m", "loomtui", "hook",
                                                                     "claude"]
    pre = hook_payload(repo, "PreToolUse", "bench-self")
    sizes = []
    for _ in range(5):  # warm up: caches, the policy cache file, the agent row
        timed(hook, pre, env, '"allow"')
        timed(hook, hook_payload(repo, "SessionStart", "bench-self"), env, "additionalContext")
    pre_ms, start_ms = [], []
    for i in range(runs):
        pre_ms.append(timed(hook, pre, env, '"allow"'))
        # a new session each time, as each agent start is
        payload = hook_payload(repo, "SessionStart", f"bench-start-{i}")
        start_ms.append(timed(hook, payload, env, "additionalContext"))
    out = subprocess.run(hook, input=hook_payload(repo, "SessionStart", "bench-size"), env=env,
                         capture_output=True).stdout
    text = json.loads(out)["hookSpecificOutput"]["additionalContext"]
    sizes.append(retrieval.estimate_tokens(text))
    return {"pre_tool_use_ms": pre_ms, "session_start_ms": start_ms, "context_tokens": sizes[0],
            "context_chars": len(text), "context_entries": text.count("\n### ")}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--quick", action="store_true", help="10,000 entries, 60 queries, 20 hook runs")
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args()
    if args.quick:
        args.entries, args.queries, args.runs = 10_000, 60, 20

    with tempfile.TemporaryDirectory(prefix="loomtui-bench-memory-") as tmp:
        pod, repo = Path(tmp) / "pod", Path(tmp) / "shop"
        store = build_store(pod, args.entries)
        search = time_search(pod, queries(store, args.queries))
        prepare_pod(pod, repo)
        cost = hook_cost(pod, repo, args.runs)
        db_mb = db_path(pod).stat().st_size / 1e6

    print(f"LoomTUI memory benchmark  {datetime.now(UTC).isoformat(timespec='seconds')}")
    print(f"machine: {os.cpu_count()} CPUs, {platform.platform()}, python {platform.python_version()}")
    print()
    print(f"store: {args.entries:,} entries ({db_mb:.0f} MB, built in {store['build_s']:.1f} s); "
          f"the most frequent word is in {store['top_word_df']:.0%} of entries")
    print(f"search, {len(search['search_ms'])} queries of 2-6 words, k=8, store warm "
          f"(median {statistics.median(search['found']):.0f} results, "
          f"{sum(1 for f in search['found'] if f == 0)} with none)")
    print(f"  {'':38} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    for label, key in (("rank (FTS5 + re-rank)", "rank_ms"),
                       ("search_result (+ JSON, budget 2000)", "search_ms")):
        values = search[key]
        print(f"  {label:38} {percentile(values, 50):8.2f} {percentile(values, 95):8.2f} {max(values):8.2f}")
    p95 = percentile(search["search_ms"], 95)
    print(f"  search p95 {p95:.2f} ms  (target <= 20 ms at 100,000 entries: "
          f"{'met' if p95 <= 20 else 'NOT MET'}{'' if args.entries >= 100_000 else ', smaller store'})")
    print()
    pre, start = cost["pre_tool_use_ms"], cost["session_start_ms"]
    print(f"hook cost, {args.runs} runs each, alternating; 50 agents in the pod; the context injected: "
          f"{cost['context_entries']} entries, {cost['context_chars']} characters, "
          f"~{cost['context_tokens']} tokens (budget 2000)")
    print(f"  {'':38} {'p50 ms':>8} {'p95 ms':>8} {'mean ms':>8}")
    print(f"  {'PreToolUse, allowed by policy':38} {percentile(pre, 50):8.1f} {percentile(pre, 95):8.1f} "
          f"{statistics.mean(pre):8.1f}")
    print(f"  {'SessionStart, memory injected':38} {percentile(start, 50):8.1f} {percentile(start, 95):8.1f} "
          f"{statistics.mean(start):8.1f}")
    ratio = percentile(start, 50) / percentile(pre, 50)
    print(f"  ratio at p50: {ratio:.2f}x  (target <= 1.5x: {'met' if ratio <= 1.5 else 'NOT MET'})")
    if args.json:
        Path(args.json).write_text(json.dumps({"entries": args.entries, "search": search, "hook_cost": cost},
                                              indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
