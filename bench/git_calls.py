"""git call benchmark: each git operation loomtui needs, done the way
`loomtui/git/` does it today (a `git` subprocess, or reading the ref files)
and the gitpython way, on one repository with 20 worktrees.

    pip install gitpython                     # not a loomtui dependency: see below
    python bench/git_calls.py                 # 20 worktrees, 15 rounds
    python bench/git_calls.py --quick         # 10 worktrees, 5 rounds
    python bench/git_calls.py --worktrees 30 --rounds 40 --json out.json

The repository holds 400 files; every worktree is on its own branch with what an
agent leaves (a commit, staged and unstaged edits, untracked files). Each round
runs every variant of an operation once per worktree, variants in a shuffled
order, so both ways see the same page cache and load. Operations:

1. worktree listing: `git worktree list --porcelain -z` (raw), and
   `discovery.list_worktrees` (listing + parse + base resolution); gitpython has
   no worktree API, so its way is `repo.git.worktree("list", ...)` (the same git
   process through gitpython's command wrapper), parsed the same way.
2. ref resolution (HEAD's commit and branch, the base `main`'s commit): today
   `refs.read_head` + `refs.dwim` (file reads, no process); `git rev-parse` +
   `git symbolic-ref` (today's fallback for reftable repositories); gitpython's
   `repo.head` / `repo.commit("main")` (also file reads, in Python).
3. merge-base of the worktree's HEAD and main: `git merge-base` (today, when
   the cache by both commit ids misses; the cache hit is shown too) vs
   `repo.merge_base()`.
4. config read (`core.attributesFile`, `diff.renameLimit`): `git config -z
   --get-regexp` (today, when the cache by config files' mtimes misses; the
   cache hit is shown too) vs `repo.config_reader().get_value()`. Then, on a
   small repository of its own, whether both read `diff.renameLimit` alike when
   it is set outside the repository's config file.
5. the diff numstat of a worktree against its merge-base (the hot path: the
   watcher runs it on every save): `git diff --raw --numstat -z -M` through
   `run.run()` vs through gitpython's command wrapper (`repo.git.execute` with
   the same argv and environment, and `repo.git.diff(...)`), and gitpython's
   object way, `Commit.diff(None)` (raw only: gitpython has no numstat on Diff
   objects, so it does less than the others).

gitpython is timed with one `Repo` per worktree built beforehand (what a
long-lived service would keep), and for listing/refs also with a fresh `Repo`
per call (what a stateless call pays). Also printed: `import git` in a fresh
interpreter (it runs `git version` at import) against `import subprocess`.

What came of it (docs/architecture.md, "Diffs"): gitpython ties at best where it
runs the same git process, is slower where it replaces today's ref-file reads or
`git merge-base`, and its faster config reader misses settings git honours; so
loomtui/git keeps its own calls and gitpython is not a dependency.

Raw numbers only; exits 0 unless the benchmark itself could not run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from loomtui.git import diff as diffmod
from loomtui.git import refs
from loomtui.git.discovery import _parse_record, list_worktrees
from loomtui.git.run import DIFF_CONFIG, git_binary, git_env, run

try:
    import git as gitpython
except ImportError:
    raise SystemExit("bench/git_calls.py compares with gitpython, which loomtui does not depend on "
                     "(this benchmark is why): pip install gitpython") from None

GIT_ENV = {
    "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@loomtui.invalid",
    "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@loomtui.invalid",
    "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,
}
CONFIG_KEYS = r"^(core\.attributesfile|diff\.renamelimit)$"


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"git {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout.strip()


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def build(root: Path, worktrees: int) -> tuple[Path, list[Path]]:
    """A repository of 400 files and `worktrees` linked worktrees with agents' work in them."""
    rng = random.Random(11)
    repo = root / "repo"
    repo.mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    for i in range(400):
        body = "".join(f"value_{i}_{j} = {rng.randint(0, 10**6)}\n" for j in range(rng.randint(20, 200)))
        write(repo / f"pkg{i % 17}" / f"mod{i % 13}" / f"file{i}.py", body)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "initial")
    for n in range(3):  # some history on main after the agents branch off
        write(repo / "CHANGES.md", f"release {n}\n")
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", f"main {n}")
    git(repo, "config", "diff.renameLimit", "500")
    paths = []
    for i in range(worktrees):
        wt = root / "wt" / f"agent{i:02}"
        git(repo, "worktree", "add", "-q", "-b", f"agent/{i:02}", str(wt), "main~2")
        names = sorted(wt.glob("pkg*/mod*/*.py"))
        for path in rng.sample(names, 10):
            path.write_text(path.read_text() + f"committed = {i}\n")
        git(wt, "add", "-A")
        git(wt, "commit", "-q", "-m", "agent work")
        for path in rng.sample(names, 4):
            path.write_text("staged = True\n" + path.read_text())
            git(wt, "add", str(path))
        for path in rng.sample(names, 6):
            path.write_text(path.read_text() + "unstaged = 1\n")
        for k in range(5):
            write(wt / "new" / f"feature_{k}.py", "".join(f"line_{j} = {j}\n" for j in range(10 + k)))
        paths.append(wt)
    git(repo, "pack-refs", "--all")  # branches in packed-refs, as in a repository that has lived a while
    return repo, paths


# -- the operations, both ways -----------------------------------------------------------

def parse_listing(out: bytes) -> list:
    records = [r for r in out.split(b"\0\0") if r.strip(b"\0")]
    return [_parse_record(r.split(b"\0")) for r in records]


def variants(repo: Path, wts: list[Path], repos: dict[Path, gitpython.Repo],
             merge_bases: dict[Path, str]) -> dict[str, dict[str, Callable[[Path], object]]]:
    """{operation: {variant: one call for a worktree}}."""
    main_repo = gitpython.Repo(repo)
    commondir = refs.git_dirs(str(repo)).commondir
    main_sha = refs.dwim(refs.git_dirs(str(repo)), "main")[1]
    heads = {wt: refs.read_head(refs.git_dirs(str(wt)))[1] for wt in wts}

    def refs_today(wt: Path):
        dirs = refs.git_dirs(str(wt))
        symref, head, _ = refs.read_head(dirs)
        return symref, head, refs.dwim(dirs, "main")[1]

    def refs_subprocess(wt: Path):
        out = run(str(wt), "rev-parse", "HEAD", "main").split()
        symref = run(str(wt), "symbolic-ref", "-q", "HEAD", ok=(0, 1)).strip()
        return symref, out[0], out[1]

    def refs_gitpython(r: gitpython.Repo):
        head = r.head
        symref = None if head.is_detached else head.reference.path
        return symref, head.commit.hexsha, r.commit("main").hexsha

    def config_gitpython(r: gitpython.Repo):
        reader = r.config_reader()
        return (reader.get_value("core", "attributesfile", ""),
                reader.get_value("diff", "renamelimit", 1000))

    diff_args = [*DIFF_CONFIG, "diff", "--no-color", "--no-ext-diff", "--raw", "--no-abbrev",
                 "--numstat", "-z", "-M"]
    return {
        "worktree listing": {
            "subprocess: git worktree list (raw)":
                lambda wt: run(str(repo), "worktree", "list", "--porcelain", "-z"),
            "subprocess: + parse (today's parse)":
                lambda wt: parse_listing(run(str(repo), "worktree", "list", "--porcelain", "-z")),
            "today: discovery.list_worktrees":
                lambda wt: list_worktrees(str(repo)),
            "gitpython: repo.git.worktree(list) + parse":
                lambda wt: parse_listing(main_repo.git.worktree("list", "--porcelain", "-z",
                                                                stdout_as_string=False)),
            "gitpython: fresh Repo + git.worktree + parse":
                lambda wt: parse_listing(gitpython.Repo(repo).git.worktree(
                    "list", "--porcelain", "-z", stdout_as_string=False)),
        },
        "ref resolution": {
            "today: refs.py file reads": refs_today,
            "subprocess: rev-parse + symbolic-ref": refs_subprocess,
            "gitpython: repo.head/commit (kept Repo)": lambda wt: refs_gitpython(repos[wt]),
            "gitpython: fresh Repo + head/commit": lambda wt: refs_gitpython(gitpython.Repo(wt)),
        },
        "merge-base": {
            "subprocess: git merge-base":
                lambda wt: run(str(wt), "merge-base", "main", "HEAD").strip().decode(),
            "today: diff._merge_base, cache hit":
                lambda wt: diffmod._merge_base(str(wt), commondir, main_sha, heads[wt]),
            "gitpython: repo.merge_base":
                lambda wt: repos[wt].merge_base("main", "HEAD")[0].hexsha,
        },
        "config read": {
            "subprocess: git config --get-regexp":
                lambda wt: run(str(wt), "config", "-z", "--get-regexp", CONFIG_KEYS, ok=(0, 1)),
            "today: diff._settings, cache hit":
                lambda wt: diffmod._settings(str(wt), refs.git_dirs(str(wt))),
            "gitpython: config_reader().get_value (kept Repo)": lambda wt: config_gitpython(repos[wt]),
            "gitpython: fresh Repo + config_reader().get_value": lambda wt: config_gitpython(gitpython.Repo(wt)),
        },
        "diff numstat": {
            "subprocess: run.run(git diff --raw --numstat)":
                lambda wt: run(str(wt), *diff_args, merge_bases[wt], "--"),
            "gitpython: repo.git.execute(same argv, same env)":
                lambda wt: repos[wt].git.execute([git_binary(), *diff_args, merge_bases[wt], "--"],
                                                 env=git_env(), stdout_as_string=False),
            "gitpython: repo.git.diff(--raw --numstat)":
                lambda wt: repos[wt].git.diff(*diff_args[len(DIFF_CONFIG) + 1:], merge_bases[wt], "--",
                                              stdout_as_string=False),
            "gitpython: Commit.diff(None) (raw, no counts)":
                lambda wt: repos[wt].commit(merge_bases[wt]).diff(None, M=True),
        },
    }


def check_same(repo: Path, wts: list[Path], repos: dict[Path, gitpython.Repo],
               merge_bases: dict[Path, str]) -> dict[str, bool]:
    """Do both ways give the same answer? (A benchmark of different answers would be moot.)"""
    wt = wts[0]
    r = repos[wt]
    dirs = refs.git_dirs(str(wt))
    symref, head, _ = refs.read_head(dirs)
    listing_ours = run(str(repo), "worktree", "list", "--porcelain", "-z")
    listing_gp = gitpython.Repo(repo).git.worktree("list", "--porcelain", "-z", stdout_as_string=False)
    config_ours = run(str(wt), "config", "-z", "--get-regexp", CONFIG_KEYS, ok=(0, 1))
    diff_ours = run(str(wt), "diff", "--raw", "--no-abbrev", "--numstat", "-z", "-M", merge_bases[wt], "--")
    diff_gp = r.git.diff("--raw", "--no-abbrev", "--numstat", "-z", "-M", merge_bases[wt], "--",
                         stdout_as_string=False)
    return {
        "worktree listing": listing_ours == listing_gp,
        "ref resolution": (symref, head, refs.dwim(dirs, "main")[1])
                          == (r.head.reference.path, r.head.commit.hexsha, r.commit("main").hexsha),
        "merge-base": merge_bases[wt] == r.merge_base("main", "HEAD")[0].hexsha,
        "config read": (b"diff.renamelimit\n500" in config_ours
                        and r.config_reader().get_value("diff", "renamelimit") == 500),
        "diff numstat": diff_ours == diff_gp,
    }


def config_agreement(root: Path) -> dict[str, tuple[str, str]]:
    """diff.renameLimit as git reads it and as gitpython's config reader does, where
    the setting comes from somewhere other than the repository's own config file:
    {case: (git's value, gitpython's value)}."""
    repo = root / "config-repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    git(repo, "commit", "-q", "--allow-empty", "-m", "initial")
    wt = root / "config-wt"
    git(repo, "worktree", "add", "-q", "-b", "side", str(wt))
    global_file = root / "global.gitconfig"
    global_file.write_text("[diff]\n\trenameLimit = 7\n")
    included = root / "included.gitconfig"
    included.write_text("[diff]\n\trenameLimit = 13\n")

    def both(place: Path, env: dict[str, str]) -> tuple[str, str]:
        saved = dict(os.environ)
        os.environ.update(env)
        try:
            ours = run(str(place), "config", "--get", "diff.renamelimit", ok=(0, 1)).strip().decode() or "-"
            with gitpython.Repo(place) as r:
                theirs = str(r.config_reader().get_value("diff", "renamelimit", "-"))
        finally:
            os.environ.clear()
            os.environ.update(saved)
        return ours, theirs

    cases = {"GIT_CONFIG_GLOBAL names the user's file": both(repo, {"GIT_CONFIG_GLOBAL": str(global_file)}),
             "GIT_CONFIG_COUNT/KEY/VALUE in the environment": both(repo, {
                 "GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "diff.renameLimit", "GIT_CONFIG_VALUE_0": "11"})}
    git(repo, "config", "extensions.worktreeConfig", "true")
    git(wt, "config", "--worktree", "diff.renameLimit", "9")
    cases["config.worktree of a linked worktree"] = both(wt, {})
    git(repo, "config", "include.path", str(included))
    cases["include.path in the repository's config"] = both(repo, {})
    return cases


def time_all(table: dict, wts: list[Path], rounds: int) -> dict[str, dict[str, list[float]]]:
    times: dict[str, dict[str, list[float]]] = {op: {v: [] for v in vs} for op, vs in table.items()}
    rng = random.Random(5)
    for vs in table.values():  # warm up: page cache, gitpython's lazy attributes
        for call in vs.values():
            for wt in wts[:3]:
                call(wt)
    for _ in range(rounds):
        for op, vs in table.items():
            for wt in wts:
                order = list(vs.items())
                rng.shuffle(order)
                for name, call in order:
                    start = time.perf_counter()
                    call(wt)
                    times[op][name].append((time.perf_counter() - start) * 1000)
    return times


def import_cost(runs: int) -> dict[str, list[float]]:
    """Wall time of a fresh interpreter importing gitpython, and importing subprocess."""
    out: dict[str, list[float]] = {"import subprocess": [], "import git (gitpython)": []}
    for _ in range(runs):
        for name, code in (("import subprocess", "import subprocess"), ("import git (gitpython)", "import git")):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], check=True)
            out[name].append((time.perf_counter() - start) * 1000)
    return out


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worktrees", type=int, default=20, help="linked worktrees in the repository")
    parser.add_argument("--rounds", type=int, default=15, help="rounds; each calls every variant per worktree")
    parser.add_argument("--quick", action="store_true", help="10 worktrees, 5 rounds")
    parser.add_argument("--json", metavar="FILE", help="also write the raw numbers here")
    args = parser.parse_args(argv)
    if args.quick:
        args.worktrees, args.rounds = 10, 5
    os.environ.update(GIT_ENV)

    root = Path(tempfile.mkdtemp(prefix="loomtui-bench-git-"))
    try:
        repo, wts = build(root, args.worktrees)
        repos = {wt: gitpython.Repo(wt) for wt in wts}
        merge_bases = {wt: run(str(wt), "merge-base", "main", "HEAD").strip().decode() for wt in wts}
        table = variants(repo, wts, repos, merge_bases)
        same = check_same(repo, wts, repos, merge_bases)
        agreement = config_agreement(root)
        times = time_all(table, wts, args.rounds)
        imports = import_cost(max(5, args.rounds // 2))
        for r in repos.values():
            r.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)

    version = subprocess.run(["git", "--version"], capture_output=True, text=True, check=False).stdout.strip()
    print(f"LoomTUI git call benchmark  {datetime.now(UTC).isoformat(timespec='seconds')}")
    print(f"machine: {os.cpu_count()} CPUs, {platform.platform()}, python {platform.python_version()}, "
          f"{version}, gitpython {gitpython.__version__}")
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"one repository, 400 files, {args.worktrees} worktrees; {args.rounds} rounds x "
          f"{args.worktrees} worktrees = {args.rounds * args.worktrees} calls per variant, shuffled")
    print()
    print(f"  {'operation / variant':<52} {'p50 ms':>7} {'p95 ms':>7} {'x first':>8}")
    for op, vs in times.items():
        print(f"  {op}  (same answer both ways: {'yes' if same[op] else 'NO'})")
        first = percentile(next(iter(vs.values())), 50)
        for name, values in vs.items():
            p50 = percentile(values, 50)
            print(f"    {name:<50} {p50:7.2f} {percentile(values, 95):7.2f} {p50 / first:7.2f}x")
    print()
    print("  config read: diff.renameLimit set outside the repository's config file")
    print(f"    {'case':<50} {'git':>7} {'gitpython':>9}")
    for case, (ours, theirs) in agreement.items():
        print(f"    {case:<50} {ours:>7} {theirs:>9}{'' if ours == theirs else '  differs'}")
    print()
    print(f"  {'fresh interpreter':<52} {'p50 ms':>7} {'p95 ms':>7}")
    for name, values in imports.items():
        print(f"    {name:<50} {percentile(values, 50):7.1f} {percentile(values, 95):7.1f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"times": times, "imports": imports, "same": same,
                                                "config_agreement": agreement}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
