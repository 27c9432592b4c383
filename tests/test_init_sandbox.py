"""`loomtui init claude|codex` turns the agent's own sandbox on with the pod and the
audit witness outside what its commands may write, and approves
the memory server. What the real Claude Code and Codex do with these settings is
proved in tests/e2e/test_sandbox_e2e.py; here: what init writes and says."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from loomtui.hooks import install

EXPECTED_SWITCHES = {"enabled": True, "failIfUnavailable": True, "allowUnsandboxedCommands": False}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    return repo


def run_init(pod: Path, repo: Path, *args: str, **extra: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOM_")}
    env.update(LOOM_HOME=str(pod), LOOM_USER="ana", XDG_STATE_HOME=str(repo.parent / "state"), **extra)
    return subprocess.run([sys.executable, "-m", "loomtui", "init", *args], cwd=repo, env=env,
                          capture_output=True, text=True, timeout=60)


def settings(repo: Path) -> dict:
    return json.loads((repo / ".claude" / "settings.json").read_text())


def test_init_claude_turns_the_sandbox_on_with_pod_and_witness_unwritable(tmp_path: Path, repo: Path) -> None:
    pod = tmp_path / "pod"
    done = run_init(pod, repo, "claude")
    assert done.returncode == 0, done.stderr
    sandbox = settings(repo)["sandbox"]
    assert {k: sandbox[k] for k in EXPECTED_SWITCHES} == EXPECTED_SWITCHES
    assert sandbox["filesystem"]["denyWrite"] == [str(pod), str(tmp_path / "state" / "loomtui")]
    assert settings(repo)["enabledMcpjsonServers"] == ["loom"]
    assert "Claude Code's sandbox" in done.stdout
    again = run_init(pod, repo, "claude")
    assert again.returncode == 0 and "already has" in again.stdout
    assert not (repo / ".claude" / "settings.json.bak").exists()  # nothing was there before


def test_a_pod_inside_the_repository_through_a_symlink_is_denied_by_both_paths(tmp_path: Path,
                                                                                repo: Path) -> None:
    (repo / ".loom").mkdir()
    link = tmp_path / "pod-link"
    link.symlink_to(repo / ".loom")
    done = run_init(link, repo, "claude")
    assert done.returncode == 0, done.stderr
    deny = settings(repo)["sandbox"]["filesystem"]["denyWrite"]
    assert str(link) in deny and str((repo / ".loom").resolve()) in deny


def test_init_merges_into_a_sandbox_already_there_and_says_what_it_tightened(tmp_path: Path,
                                                                           repo: Path) -> None:
    mine = {"model": "opus", "enabledMcpjsonServers": ["github"],
            "sandbox": {"allowUnsandboxedCommands": True, "excludedCommands": ["docker"],
                        "filesystem": {"disabled": True, "denyWrite": ["/srv/secrets"],
                                       "allowWrite": ["/srv/cache"]}}}
    (repo / ".claude").mkdir()
    (repo / ".claude" / "settings.json").write_text(json.dumps(mine))
    done = run_init(tmp_path / "pod", repo, "claude")
    assert done.returncode == 0, done.stderr
    data = settings(repo)
    assert data["model"] == "opus" and data["enabledMcpjsonServers"] == ["github", "loom"]
    sandbox = data["sandbox"]
    assert {k: sandbox[k] for k in EXPECTED_SWITCHES} == EXPECTED_SWITCHES
    assert sandbox["excludedCommands"] == ["docker"]
    assert "disabled" not in sandbox["filesystem"]
    assert sandbox["filesystem"]["allowWrite"] == ["/srv/cache"]
    assert sandbox["filesystem"]["denyWrite"][0] == "/srv/secrets"
    assert str(tmp_path / "pod") in sandbox["filesystem"]["denyWrite"]
    assert "allowUnsandboxedCommands was true, now false" in done.stderr
    assert "filesystem.disabled was true" in done.stderr
    # One write, so the backup is the file as it was before init.
    assert json.loads((repo / ".claude" / "settings.json.bak").read_text()) == mine


def test_init_refuses_a_sandbox_that_is_not_an_object(tmp_path: Path, repo: Path) -> None:
    (repo / ".claude").mkdir()
    (repo / ".claude" / "settings.json").write_text(json.dumps({"sandbox": True}))
    done = run_init(tmp_path / "pod", repo, "claude")
    assert done.returncode == 1 and "sandbox" in done.stderr and "Traceback" not in done.stderr
    assert settings(repo) == {"sandbox": True}


def test_no_sandbox_opts_out_loudly(tmp_path: Path, repo: Path) -> None:
    pod = tmp_path / "pod"
    done = run_init(pod, repo, "claude", "--no-sandbox")
    assert done.returncode == 0, done.stderr
    assert "sandbox" not in settings(repo)
    assert "PreToolUse" in settings(repo)["hooks"]
    assert "warning: --no-sandbox" in done.stderr
    assert str(pod) in done.stderr and "erase its audit trail" in done.stderr


def test_init_claude_print_shows_the_sandbox(tmp_path: Path, repo: Path) -> None:
    pod = tmp_path / "pod"
    shown = json.loads(run_init(pod, repo, "claude", "--print").stdout)
    assert shown["sandbox"]["filesystem"]["denyWrite"][0] == str(pod)
    assert "sandbox" not in json.loads(run_init(pod, repo, "claude", "--print", "--no-sandbox").stdout)
    assert not pod.exists() and not (repo / ".claude").exists()


def test_init_codex_prints_workspace_write_and_excludes_tmp(tmp_path: Path, repo: Path) -> None:
    pod = tmp_path / "pod"  # under /tmp, as pytest's tmp_path is
    assert str(pod.resolve()).startswith("/tmp/"), "this test needs a pod under /tmp"
    done = run_init(pod, repo, "codex", TMPDIR=str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert 'sandbox_mode = "workspace-write"' in done.stdout
    assert "[sandbox_workspace_write]\nexclude_slash_tmp = true\nexclude_tmpdir_env_var = true" in done.stdout
    assert "under /tmp" in done.stderr and "under $TMPDIR" in done.stderr
    assert "inside the repository" not in done.stderr


def test_init_codex_warns_about_a_pod_inside_the_repository(tmp_path: Path, repo: Path) -> None:
    done = run_init(repo / ".loom", repo, "codex")
    assert done.returncode == 0, done.stderr
    assert "inside the repository" in done.stderr and "move the pod out" in done.stderr


def test_codex_sandbox_for_a_pod_outside_tmp_and_the_repository_needs_no_exclusions(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", "/var/lib/ana-state")
    text, warnings = install.codex_sandbox_toml(Path("/srv/loomtui"), Path("/srv/app"),
                                                {"TMPDIR": "/var/tmp/me"})
    assert (text, warnings) == ('sandbox_mode = "workspace-write"\n', [])
    # ...while the same pod inside that repository is warned about.
    _, warnings = install.codex_sandbox_toml(Path("/srv/app/.loom"), Path("/srv/app"), {})
    assert len(warnings) == 1 and "inside the repository" in warnings[0]


def test_missing_bubblewrap_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(install.sys, "platform", "linux")
    monkeypatch.setattr(install.shutil, "which", lambda name: None if name == "bwrap" else f"/usr/bin/{name}")
    assert install.missing_sandbox_tools() == ["bubblewrap (bwrap)"]
    monkeypatch.setattr(install.shutil, "which", lambda name: f"/usr/bin/{name}")
    assert install.missing_sandbox_tools() == []
