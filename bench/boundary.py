"""Boundary benchmark: what the new protections cost the hook, old
install against new, and each new check alone.

    python bench/boundary.py                                     # the `loomtui` on PATH
    python bench/boundary.py --runs 150 \\
        --old /tmp/venv-old/bin/loomtui --new /tmp/venv-new/bin/loomtui

`--old` and `--new` name the `loomtui` console scripts of two regular installs
(`pip install <dir>`, not editable: an editable install pays other import costs).
Without `--old` only the new one is measured; `--new` defaults to the `loomtui`
on PATH. Each version gets its own temporary HOME, XDG_STATE_HOME (the audit
witness), pod (`LOOM_HOME`) and git repository, made by that version's own
`loomtui init claude`; nothing outside the temporary directory is touched.

1. Hook cost, as agents run it: the command that version's `init claude` wrote
   into the repository's `.claude/settings.json` (`loomtui hook claude` when
   that `loomtui` is on PATH, else `<venv python> -m loomtui hook claude`), run
   in the repository with real hook JSON on stdin:
   PreToolUse `git status` (not gated), PostToolUse of the same call (a record
   event: no policy, no SessionStart memory), and PreToolUse through the
   console script (`loomtui hook claude`, how the earlier figures were taken).
   Every round runs each variant once plus the bare floor `python -c 'import
   sqlite3, json'` (the same venv interpreter), in a shuffled order, so drift
   and position hit all alike. p50 / p99 / mean, the ratio to the floor at p50,
   and new against old: the difference of the p50s and the median of the
   per-round differences with a bootstrap 95 % interval (the noise).
2. The new checks alone, in-process in the new install (a child process of its
   interpreter, so the installed package is what runs; its path is printed):
   `loomtui.policy.classify` with `**protection_context(pod, environ)` against
   the same call without it and against the old install's `classify` on the
   same inputs, for ordinary commands and file edits; `loomtui.store.procs`
   `me()`, `agent_above()`, `host()` (what opening a gate records) and
   `alive()` (what a decision and the orphan sweep ask per gate); the audit's
   `decision_recorded()` read (before an approved gate's call goes through);
   the governance read of every hook call (`SELECT permission_mode, sandbox,
   hooks FROM agents WHERE id = ?` plus a `set_governance` that changes
   nothing); `load_policy()` (now parsed on every call, no cache trusted), old
   and new. p50 of each in microseconds over --samples calls, and their sum
   against the issue's target (the new checks < 2 ms at p50). Those are warm
   figures (the same policy object, patterns compiled, paths in the dentry
   cache); a hook pays each once in a fresh process, so the cold pair
   `load_policy()` + `classify()` of `git status` is also timed as the first
   calls of --cold-runs fresh processes of each install, alternating.
3. What each version's PreToolUse imports (`python -X importtime -m loomtui hook
   claude`, --import-runs runs, p50 of the summed self times): all modules,
   LoomTUI's own, and the modules only the new one imports (where a hook's
   fixed cost goes).

The approval round trip is `bench/gates.py`. Raw numbers only; exits 0 unless
the benchmark itself could not run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

TARGET_US = 2000.0
# Environment variables that would point a hook at another pod, config or agent.
DROP_ENV = ("LOOM_HOME", "LOOM_CONFIG", "LOOM_USER", "LOOM_SESSION_ID", "LOOM_AGENT", "CLAUDECODE",
            "CLAUDE_PROJECT_DIR", "CLAUDE_CONFIG_DIR", "CODEX_HOME", "XDG_STATE_HOME")

COMMANDS = [
    "git status",
    "ls -la src",
    "pytest -q tests/test_app.py -k smoke",
    "git diff HEAD~1 -- src/app.py | head -50",
    "python -c 'import json; print(json.dumps({\"a\": 1}))'",
    "npm run build && git add src/app.py && git commit -m 'build: update'",
]
EDITS = [  # (tool, path relative to the repo)
    ("Edit", "src/app.py"),
    ("Write", "docs/notes/new-file.md"),
    ("MultiEdit", "README.md"),
]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


# -- 1. hook cost ------------------------------------------------------------------


def hook_json(repo: Path, session: str, event: str) -> bytes:
    data = {"session_id": session, "transcript_path": f"/tmp/{session}.jsonl", "cwd": str(repo),
            "permission_mode": "default", "hook_event_name": event, "tool_name": "Bash",
            "tool_input": {"command": "git status", "description": "Show working tree status"},
            "tool_use_id": "toolu_01BenchBoundary"}
    if event == "PostToolUse":
        data["tool_response"] = {"stdout": "On branch main\nnothing to commit, working tree clean",
                                 "stderr": "", "interrupted": False, "isImage": False}
    return json.dumps(data).encode()


class Version:
    """One install: its pod, repository and environment, made by its own init."""

    def __init__(self, label: str, script: str, root: Path) -> None:
        self.label, self.script, self.root = label, script, root
        self.home, self.state = root / "home", root / "state"
        self.pod, self.repo = root / "pod", root / "repo"
        self.home.mkdir(parents=True)
        env = {k: v for k, v in os.environ.items() if k not in DROP_ENV}
        env.update(HOME=str(self.home), XDG_STATE_HOME=str(self.state), LOOM_HOME=str(self.pod),
                   LOOM_USER="bench")
        self.env = env
        make_repo(self.repo, env)
        done = subprocess.run([script, "init", "claude"], cwd=self.repo, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"{label}: `{script} init claude` failed: {done.stderr.strip()[-500:]}")
        self.hook = settings_hook(self.repo)
        self.python = script_python(script)

    def variants(self) -> dict[str, tuple[list[str], bytes]]:
        pre = hook_json(self.repo, f"bench-{self.label}", "PreToolUse")
        post = hook_json(self.repo, f"bench-{self.label}", "PostToolUse")
        return {
            f"{self.label}: PreToolUse (init's command)": (self.hook, pre),
            f"{self.label}: PostToolUse (init's command)": (self.hook, post),
            f"{self.label}: PreToolUse (console script)": ([self.script, "hook", "claude"], pre),
        }


def script_python(script: str) -> str:
    """The interpreter of a console script (its #! line): the install's own Python."""
    with open(script, "rb") as f:
        first = f.readline().decode(errors="replace")
    argv = shlex.split(first[2:]) if first.startswith("#!") else []
    if not argv or not os.access(argv[0], os.X_OK):
        raise SystemExit(f"{script}: not a console script with a #! line naming its Python")
    return argv[0]


def make_repo(repo: Path, env: dict[str, str]) -> None:
    (repo / "src").mkdir(parents=True)
    (repo / "tests").mkdir()
    (repo / "src" / "app.py").write_text("def main():\n    return 0\n")
    (repo / "tests" / "test_app.py").write_text("def test_smoke():\n    assert True\n")
    (repo / "README.md").write_text("# bench\n")
    git = ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.invalid"]
    for argv in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "initial"]):
        subprocess.run([*git, *argv], cwd=repo, env=env, check=True, capture_output=True)


def settings_hook(repo: Path) -> list[str]:
    """The PreToolUse command `init claude` wrote, as argv (Claude Code runs it
    through `sh -c`; both versions would pay the same shell, left out here)."""
    settings = json.loads((repo / ".claude" / "settings.json").read_text())
    for group in settings.get("hooks", {}).get("PreToolUse", []):
        for hook in group.get("hooks", []):
            if "loomtui" in hook.get("command", "") and " hook " in hook["command"]:
                return shlex.split(hook["command"])
    raise SystemExit(f"no LoomTUI PreToolUse hook in {repo}/.claude/settings.json")


def run_once(argv: list[str], stdin: bytes, cwd: Path, env: dict[str, str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(argv, input=stdin, cwd=cwd, env=env, capture_output=True)
    elapsed = (time.perf_counter() - start) * 1000
    out = done.stdout.decode(errors="replace")
    if done.returncode != 0 or '"deny"' in out:
        raise SystemExit(f"{argv} answered exit {done.returncode}: {out[-300:]} {done.stderr.decode()[-300:]}")
    return elapsed, out


def hook_cost(versions: list[Version], runs: int, seed: int) -> tuple[dict[str, list[float]], list[str]]:
    bare_python = versions[-1].python
    jobs: dict[str, tuple[list[str], bytes, Version]] = {}
    for v in versions:
        for name, (argv, stdin) in v.variants().items():
            jobs[name] = (argv, stdin, v)
    bare = "python -c 'import sqlite3, json'"
    jobs[bare] = ([bare_python, "-c", "import sqlite3, json"], b"", versions[-1])
    order = list(jobs)
    shuffler = random.Random(seed)
    times: dict[str, list[float]] = {name: [] for name in jobs}
    notes = []
    for round_no in range(5 + runs):  # 5 rounds warm the page cache, the store and the bytecode
        shuffler.shuffle(order)
        for name in order:
            argv, stdin, v = jobs[name]
            ms, out = run_once(argv, stdin, v.repo, v.env)
            if round_no == 0 and name != bare:
                notes.append(f"{name}: answers {out.strip() or '(nothing: pass)'}"[:160])
            if round_no >= 5:
                times[name].append(ms)
    return times, notes


def paired_difference(new: list[float], old: list[float], seed: int) -> tuple[float, float, float]:
    """Median of the per-round differences and a bootstrap 95 % interval of it."""
    diffs = [n - o for n, o in zip(new, old, strict=False)]
    rng = random.Random(seed)
    medians = sorted(statistics.median(rng.choices(diffs, k=len(diffs))) for _ in range(2000))
    return statistics.median(diffs), medians[49], medians[1949]


# -- 2. the checks alone (runs in the child: the install's own interpreter) ----------


def checks_child(pod: Path, repo: Path, samples: int) -> dict:
    """Timed in the interpreter of the install under test; prints JSON."""
    import loomtui
    from loomtui import policy as pol

    results: dict[str, object] = {"module": loomtui.__file__}

    def p50(fn, n: int = samples) -> float:
        for _ in range(min(50, n)):
            fn()
        out = []
        clock = time.perf_counter_ns
        for _ in range(n):
            start = clock()
            fn()
            out.append(clock() - start)
        return percentile(out, 50) / 1000  # microseconds

    results["load_policy"] = p50(lambda: pol.load_policy(pod))
    policy = pol.load_policy(pod)
    cases = [("Bash", {"command": c, "description": "bench"}, c) for c in COMMANDS]
    cases += [(tool, {"file_path": str(repo / rel), "old_string": "a", "new_string": "b", "content": "x"},
               f"{tool} {rel}") for tool, rel in EDITS]
    has_context = hasattr(pol, "protection_context")
    env = dict(os.environ)
    plain, guarded, decisions = {}, {}, {}
    for tool, tool_input, label in cases:
        def bare_call(tool=tool, tool_input=tool_input):
            return pol.classify(policy, tool, tool_input, cwd=str(repo), repo=str(repo), agent="repo-bench")
        plain[label] = p50(bare_call)
        decisions[label] = bare_call().action
        if has_context:
            def with_context(tool=tool, tool_input=tool_input):
                return pol.classify(policy, tool, tool_input, cwd=str(repo), repo=str(repo), agent="repo-bench",
                                    **pol.protection_context(pod, env))
            guarded[label] = p50(with_context)
            decisions[label] = with_context().action
    results["classify"] = plain
    results["classify_protected"] = guarded
    results["decisions"] = decisions
    if not has_context:
        return results

    from loomtui.store import procs
    from loomtui.store.agents import set_governance
    from loomtui.store.audit import decision_recorded
    from loomtui.store.db import connect, db_path
    from loomtui.store.gates import create_gate, decide

    me = procs.me()
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    dead = procs.Proc(gone.pid, me.started)  # a pid that no longer runs
    results["procs"] = {
        "me()": p50(procs.me),
        "agent_above()": p50(procs.agent_above),
        "host()": p50(procs.host),
        "alive(running)": p50(lambda: procs.alive(me)),
        "alive(gone)": p50(lambda: procs.alive(dead)),
    }
    conn = connect(db_path(pod), create=False)
    try:
        row = conn.execute("SELECT id FROM agents ORDER BY id LIMIT 1").fetchone()
        if row is None:
            raise SystemExit("no agent in the pod: the hook runs did not record one")
        agent_id = row[0]
        now = time.time()
        gate = create_gate(conn, agent_id=agent_id, tool="Bash", action={"command": "git push origin main"},
                           summary="git push origin main", rule="bench", risk="high", now=now,
                           expires_at=now + 600, waiter_pid=me.pid, waiter_started=me.started,
                           waiter_host=procs.host())
        gate = decide(conn, gate.id, approve=True, actor="bench", reason="", now=time.time())
        if not decision_recorded(conn, gate):
            raise SystemExit("decision_recorded() is False for a gate approved through decide()")
        results["decision_recorded"] = p50(lambda: decision_recorded(conn, gate))
        results["audit_entries"] = conn.execute("SELECT count(*) FROM audit").fetchone()[0]

        def governance():
            got = conn.execute("SELECT permission_mode, sandbox, hooks FROM agents WHERE id = ?",
                               (agent_id,)).fetchone()
            if set_governance(conn, agent_id, permission_mode=got[0]):
                raise SystemExit("set_governance changed an unchanged row")
        results["governance"] = p50(governance)
        results["governance_row"] = list(conn.execute(
            "SELECT permission_mode, sandbox, hooks FROM agents WHERE id = ?", (agent_id,)).fetchone())
    finally:
        conn.close()
    return results


def cold_child(pod: Path, repo: Path) -> dict:
    """The first load_policy() + classify() of `git status` in a fresh process, as
    the hook does them (imports done before the clock starts)."""
    from loomtui import policy as pol

    kwargs = pol.protection_context(pod, os.environ) if hasattr(pol, "protection_context") else {}
    tool_input = {"command": "git status", "description": "bench"}
    start = time.perf_counter_ns()
    policy = pol.load_policy(pod)
    loaded = time.perf_counter_ns()
    pol.classify(policy, "Bash", tool_input, cwd=str(repo), repo=str(repo), agent="repo-bench", **kwargs)
    done = time.perf_counter_ns()
    return {"load_policy": (loaded - start) / 1000, "classify": (done - loaded) / 1000,
            "total": (done - start) / 1000}


def cold(versions: list[Version], runs: int) -> dict[str, dict[str, float]]:
    got: dict[str, dict[str, list[float]]] = {v.label: {} for v in versions}
    for _ in range(runs):
        for v in versions:
            done = subprocess.run([v.python, str(Path(__file__).resolve()), "--cold", str(v.pod), str(v.repo)],
                                  cwd=v.root, env=v.env, capture_output=True, text=True)
            if done.returncode != 0:
                raise SystemExit(f"{v.label}: cold checks failed: {done.stderr.strip()[-800:]}")
            for key, us in json.loads(done.stdout).items():
                got[v.label].setdefault(key, []).append(us)
    return {label: {key: percentile(values, 50) for key, values in parts.items()} for label, parts in got.items()}


def checks(v: Version, samples: int) -> dict:
    done = subprocess.run([v.python, str(Path(__file__).resolve()), "--checks", str(v.pod), str(v.repo),
                           "--samples", str(samples)], cwd=v.root, env=v.env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{v.label}: in-process checks failed: {done.stderr.strip()[-800:]}")
    return json.loads(done.stdout)


# -- 3. imports ----------------------------------------------------------------------


def imports(v: Version, runs: int) -> dict:
    _argv, stdin = v.variants()[f"{v.label}: PreToolUse (init's command)"]
    argv = [v.python, "-X", "importtime", "-m", "loomtui", "hook", "claude"]
    totals, ours, modules = [], [], {}
    for _ in range(runs):
        done = subprocess.run(argv, input=stdin, cwd=v.repo, env=v.env, capture_output=True)
        total = own = 0
        for line in done.stderr.decode(errors="replace").splitlines():
            if not line.startswith("import time:") or "|" not in line:
                continue
            try:
                self_us, _cumulative, name = line[len("import time:"):].split("|")
                self_us = int(self_us)
            except ValueError:
                continue  # the header line
            name = name.strip()
            total += self_us
            if name.startswith("loomtui"):
                own += self_us
            modules.setdefault(name, []).append(self_us)
        totals.append(total)
        ours.append(own)
    return {"total": percentile(totals, 50), "loomtui": percentile(ours, 50),
            "modules": {name: percentile(values, 50) for name, values in modules.items()}}


# -- report --------------------------------------------------------------------------


def report(args, versions: list[Version], times, notes, found: dict[str, dict], load: tuple,
           imported: dict[str, dict], coldness: dict[str, dict]) -> None:
    print(f"LoomTUI boundary benchmark  {datetime.now(UTC).isoformat(timespec='seconds')}")
    print(f"machine: {os.cpu_count()} CPUs, {platform.platform()}, python {platform.python_version()}")
    print(f"load average before: {load[0][0]:.2f} {load[0][1]:.2f} {load[0][2]:.2f}; "
          f"after: {load[1][0]:.2f} {load[1][1]:.2f} {load[1][2]:.2f}")
    print(f"PYTHONDONTWRITEBYTECODE: {os.environ.get('PYTHONDONTWRITEBYTECODE', 'unset')}")
    for v in versions:
        print(f"{v.label}: {v.script}; hook: {shlex.join(v.hook)}")
        print(f"{'':{len(v.label)}}  package: {found[v.label]['module']}")
    print()
    bare = next(name for name in times if name.startswith("python -c"))
    bare_p50 = percentile(times[bare], 50)
    print(f"1. hook cost, `git status`, {args.runs} rounds, each variant once a round, shuffled")
    print(f"  {'':46} {'p50 ms':>7} {'p99 ms':>7} {'mean ms':>7} {'x bare':>7}")
    for name, values in times.items():
        p50 = percentile(values, 50)
        print(f"  {name:46} {p50:7.1f} {percentile(values, 99):7.1f} {statistics.mean(values):7.1f} "
              f"{p50 / bare_p50:6.2f}x")
    if len(versions) == 2:
        old, new = versions
        print("  new - old:                                    p50 diff   median paired diff [95% CI]")
        for kind in ("PreToolUse (init's command)", "PostToolUse (init's command)", "PreToolUse (console script)"):
            a, b = times[f"{old.label}: {kind}"], times[f"{new.label}: {kind}"]
            med, low, high = paired_difference(b, a, args.seed)
            print(f"  {kind:44} {percentile(b, 50) - percentile(a, 50):+8.1f} ms "
                  f"{med:+8.1f} ms [{low:+.1f}, {high:+.1f}]")
    for note in sorted(notes):
        print(f"  {note}")
    print()
    new = versions[-1]
    res = found[new.label]
    old_res = found[versions[0].label] if len(versions) == 2 else None
    print(f"2. the new checks alone, in-process, p50 of {args.samples} calls each, microseconds")
    baseline = "old classify" if old_res else "without context"
    print(f"  classify()                                  {'old':>8} {'without':>8} {'with ctx':>8} "
          f"{'added':>8}   decision")
    added = {}
    for label, with_us in res["classify_protected"].items():
        without = res["classify"][label]
        old_us = old_res["classify"].get(label) if old_res else None
        added[label] = with_us - (old_us if old_us is not None else without)
        print(f"  {label[:42]:42} {f'{old_us:8.1f}' if old_us is not None else '       -'} {without:8.1f} "
              f"{with_us:8.1f} {added[label]:+8.1f}   {res['decisions'][label]}")
    worst = max(added, key=added.get)
    print(f"  (added = with context - {baseline}; worst case: {worst})")
    parts = [(f"classify protections, worst case ({worst[:28]})", added[worst])]
    for name, us in res["procs"].items():
        print(f"  procs.{name:38} {us:8.1f}")
        if name != "alive(gone)":
            parts.append((f"procs.{name}", us))
    print(f"  {'audit decision_recorded()':44} {res['decision_recorded']:8.1f}   "
          f"({res['audit_entries']} audit entries)")
    print(f"  {'governance read + set_governance no-op':44} {res['governance']:8.1f}   "
          f"(row: {', '.join(res['governance_row'])})")
    parts += [("audit decision_recorded()", res["decision_recorded"]),
              ("governance read + set_governance no-op", res["governance"])]
    total = sum(us for _, us in parts)
    print(f"  sum of the new checks: {total:.1f} us = {total / 1000:.3f} ms  "
          f"(target < 2 ms at p50: {'met' if total < TARGET_US else 'NOT MET'})")
    every_call = added[worst] + res["governance"]
    print(f"    on every PreToolUse: {every_call:.1f} us (protections, worst case + governance); "
          f"once per gate: {sum(res['procs'][k] for k in ('me()', 'agent_above()', 'host()')) + res['decision_recorded']:.1f} us "
          f"(me, agent_above, host, decision_recorded); alive() per gate a sweep looks at")
    print(f"  cold, first calls in a fresh process ({args.cold_runs} each, p50 us):"
          f"{'':6} {'load_policy':>11} {'classify':>9} {'both':>9}")
    for v in versions:
        got = coldness[v.label]
        print(f"    {v.label + (' (with context)' if v is new else ' (no protections)'):50} "
              f"{got['load_policy']:11.1f} {got['classify']:9.1f} {got['total']:9.1f}")
    if old_res:
        print(f"  load_policy(), warm: old {old_res['load_policy']:.1f} us (cache file trusted), new "
              f"{res['load_policy']:.1f} us (parsed every call), {res['load_policy'] - old_res['load_policy']:+.1f} us")
    else:
        print(f"  load_policy(): {res['load_policy']:.1f} us")
    print()
    print(f"3. imports of a PreToolUse hook (python -X importtime, {args.import_runs} runs, p50 of the sums)")
    for v in versions:
        got = imported[v.label]
        print(f"  {v.label}: all modules {got['total'] / 1000:.1f} ms, loomtui's own {got['loomtui'] / 1000:.1f} ms, "
              f"{len(got['modules'])} modules")
    if len(versions) == 2:
        before, after = imported[versions[0].label]["modules"], imported[versions[1].label]["modules"]
        extra = sorted(((us, name) for name, us in after.items() if name not in before), reverse=True)
        gone = sorted(name for name in before if name not in after)
        print(f"  new - old: {(imported['new']['total'] - imported['old']['total']) / 1000:+.1f} ms; only in new: "
              + (", ".join(f"{name} {us / 1000:.2f}" for us, name in extra) or "none")
              + ("; only in old: " + ", ".join(gone) if gone else ""))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=150, help="hook rounds (default 150)")
    parser.add_argument("--samples", type=int, default=2000, help="calls per in-process figure (default 2000)")
    parser.add_argument("--old", metavar="LOOMTUI", help="the old install's loomtui script (optional)")
    parser.add_argument("--new", metavar="LOOMTUI", help="the new install's loomtui script (default: PATH)")
    parser.add_argument("--import-runs", type=int, default=30, help="-X importtime runs per version (default 30)")
    parser.add_argument("--cold-runs", type=int, default=40, help="fresh processes per install (default 40)")
    parser.add_argument("--seed", type=int, default=10)
    parser.add_argument("--json", metavar="FILE")
    parser.add_argument("--checks", nargs=2, metavar=("POD", "REPO"), help=argparse.SUPPRESS)
    parser.add_argument("--cold", nargs=2, metavar=("POD", "REPO"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.checks:
        print(json.dumps(checks_child(Path(args.checks[0]), Path(args.checks[1]), args.samples)))
        return 0
    if args.cold:
        print(json.dumps(cold_child(Path(args.cold[0]), Path(args.cold[1]))))
        return 0

    new = args.new or shutil.which("loomtui")
    if not new:
        parser.error("no `loomtui` on PATH: pass --new /path/to/venv/bin/loomtui")
    scripts = [("old", args.old)] if args.old else []
    scripts.append(("new", new))
    for label, script in scripts:
        if not os.access(script, os.X_OK):
            parser.error(f"--{label}: {script} is not an executable")
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="loomtui-bench-boundary-") as tmp:
        versions = [Version(label, script, Path(tmp) / label) for label, script in scripts]
        times, notes = hook_cost(versions, args.runs, args.seed)
        found = {v.label: checks(v, args.samples) for v in versions}
        imported = {v.label: imports(v, args.import_runs) for v in versions}
        coldness = cold(versions, args.cold_runs)
    load_after = os.getloadavg()
    report(args, versions, times, notes, found, (load_before, load_after), imported, coldness)
    if args.json:
        Path(args.json).write_text(json.dumps({"hook_ms": times, "checks": found, "imports": imported,
                                                 "cold": coldness}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
