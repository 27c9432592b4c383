"""Shared fixtures: a deterministic pod and a console built on it."""

from __future__ import annotations

from datetime import UTC
from pathlib import Path

import pytest

from loomtui.config import Config, ConsoleConfig
from loomtui.tui.app import LoomApp, make_app
from tests import hook_routes
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


@pytest.fixture(params=hook_routes.ROUTES)
def hook_route(request: pytest.FixtureRequest):
    """Run the test once with hooks on the direct path and once through the pod
    service (tests/hook_routes.py); opt in with
    `pytestmark = pytest.mark.usefixtures("hook_route")`."""
    route = hook_routes.use(request.param)
    try:
        yield route
    finally:
        route.stop()
        hook_routes.use("direct")
    # A served run where the service came up must have been answered by it (a client
    # that silently went direct would make the served run prove nothing).
    assert not route.reaches_service or not route.answering or route.answered > 0, \
        "the pod service answered none of the hook calls"


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
