"""Shared fixtures: a deterministic pod and a console built on it."""

from __future__ import annotations

from datetime import UTC
from pathlib import Path

import pytest

from loomtui.config import Config, ConsoleConfig
from loomtui.tui.app import LoomApp, make_app
from tests.ccusage import ccusage_binary
from tests.pods import NOW, make_pod


@pytest.fixture(autouse=True)
def outside_any_agent(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests run the same inside an agent's shell as outside it: the variables that
    mark an agent's environment (decisions are refused there) are taken away."""
    import os

    for name in list(os.environ):
        if name in ("CLAUDECODE", "LOOM_SESSION_ID", "LOOM_AGENT") or (
                name.startswith("CODEX_") and name != "CODEX_HOME"):
            monkeypatch.delenv(name)


@pytest.fixture(autouse=True)
def witness_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test's audit witnesses ($XDG_STATE_HOME/loomtui) in its own tmp dir, not
    in the home directory of whoever runs the suite."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))


@pytest.fixture
def pod(tmp_path: Path) -> Path:
    return make_pod(tmp_path)


def build_app(pod: Path, *, live: bool = False, clock=lambda: NOW, config: Config | None = None,
              theme: str = "loom-dark") -> LoomApp:
    """The console with everything that varies pinned: clock, time zone, theme, user."""
    config = config or Config(console=ConsoleConfig(stall_after=600))
    return make_app(pod, config, clock=clock, tz=UTC, live=live, theme=theme,
                    supervisor="ana")


@pytest.fixture(scope="session")
def ccusage() -> Path:
    """The real ccusage binary (installed on first use), or a skip that says why not."""
    return ccusage_binary()
