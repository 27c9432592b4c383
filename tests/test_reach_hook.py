"""The hooks record where an agent runs in tmux ($TMUX_PANE and the server's socket from
$TMUX), on both routes (direct, and through the pod service, which reads the client's
environment), and `loomtui agents --json` shows it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests import hook_fixtures
from tests.test_hook import agent_row, bash, hook

pod, repo = hook_fixtures.pod, hook_fixtures.repo
pytestmark = pytest.mark.usefixtures("hook_route")  # both ways: direct and served


def agents_json(pod: Path) -> list[dict]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOM_")}
    done = subprocess.run([sys.executable, "-m", "loomtui", "agents", "--json"], capture_output=True,
                          text=True, env={**env, "LOOM_HOME": str(pod)}, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["agents"]


def test_an_agent_in_tmux_has_its_pane_and_socket_recorded(pod: Path, repo: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TMUX", "/tmp/tmux-1000/default,4321,0")
    monkeypatch.setenv("TMUX_PANE", "%7")
    code, out, _ = hook(pod, bash("git status", repo))
    assert (code, out) == (0, "")
    row = agent_row(pod)
    assert (row["tmux_pane"], row["tmux_socket"]) == ("%7", "/tmp/tmux-1000/default")
    # Moved to another pane (a resumed session): the row follows.
    monkeypatch.setenv("TMUX_PANE", "%9")
    hook(pod, bash("git log", repo, name="PostToolUse"))
    assert agent_row(pod)["tmux_pane"] == "%9"
    [agent] = agents_json(pod)
    assert agent["tmux"] == {"pane": "%9", "socket": "/tmp/tmux-1000/default"}


def test_an_agent_outside_tmux_has_none(pod: Path, repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TMUX", raising=False)
    monkeypatch.setenv("TMUX_PANE", "%3")  # a stale pane id without a server is not tmux
    hook(pod, bash("git status", repo))
    assert (agent_row(pod)["tmux_pane"], agent_row(pod)["tmux_socket"]) == ("", "")
    [agent] = agents_json(pod)
    assert agent["tmux"] is None
