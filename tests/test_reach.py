"""Reaching an agent's terminal: the console's `o` switches the supervisor's tmux client
to the pane the agent's hooks recorded, on a real tmux server in a temporary socket, or
says why it cannot (console not in tmux, agent not in tmux, pane gone, other server)."""

from __future__ import annotations

import os
import pty
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from loomtui.store.agents import set_tmux, tmux_place
from loomtui.store.db import connect, db_path
from loomtui.tmux import reach
from tests.conftest import build_app
from tests.waiting import until, wait_for

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


class Server:
    """A tmux server of our own (`tmux -S tmp/sock`), killed after the test."""

    def __init__(self, socket: Path) -> None:
        self.socket = str(socket)
        self.clients: list[tuple[subprocess.Popen, int]] = []

    def tmux(self, *args: str) -> str:
        done = subprocess.run(["tmux", "-S", self.socket, *args], capture_output=True, text=True,
                              check=True, stdin=subprocess.DEVNULL, env=_no_tmux_env())
        return done.stdout.strip()

    def session(self, name: str) -> str:
        """A new detached session; its first pane's id."""
        return self.tmux("new-session", "-d", "-s", name, "-x", "80", "-y", "24", "-P", "-F", "#{pane_id}")

    def window(self, session: str) -> str:
        return self.tmux("new-window", "-d", "-t", f"{session}:", "-P", "-F", "#{pane_id}")

    def attach(self, session: str) -> str:
        """A real client attached to `session` on a pseudo-terminal; its tty."""
        master, slave = pty.openpty()
        client = subprocess.Popen(["tmux", "-S", self.socket, "attach", "-t", session], stdin=slave,
                                  stdout=slave, stderr=slave, env={**_no_tmux_env(), "TERM": "xterm"},
                                  start_new_session=True)
        os.close(slave)
        threading.Thread(target=_drain, args=(master,), daemon=True).start()  # never let it block
        self.clients.append((client, master))
        return wait_for(lambda: self.tmux("list-clients", "-F", "#{client_tty}"), "the tmux client to attach")

    def client_session(self) -> str:
        return self.tmux("list-clients", "-F", "#{session_name}")

    def active_pane(self, session: str) -> str:
        return self.tmux("display-message", "-p", "-t", f"{session}:", "#{pane_id}")

    def environ(self, pane: str) -> dict[str, str]:
        """The environment of a process running in `pane` (as the console would have)."""
        return {"TMUX": f"{self.socket},1,0", "TMUX_PANE": pane}

    def kill(self) -> None:
        subprocess.run(["tmux", "-S", self.socket, "kill-server"], capture_output=True, check=False,
                       env=_no_tmux_env())
        for client, _ in self.clients:
            try:
                client.wait(timeout=10)
            except subprocess.TimeoutExpired:
                client.kill()
                client.wait()


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 4096):
            pass
    except OSError:
        pass


def _no_tmux_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("TMUX", "TMUX_PANE")}


@pytest.fixture
def server(tmp_path: Path):
    # A short path: a unix socket's path is limited to about 100 bytes.
    import tempfile

    where = Path(tempfile.mkdtemp(prefix="lt-tmux-"))
    found = Server(where / "s")
    yield found
    found.kill()
    shutil.rmtree(where, ignore_errors=True)


def test_tmux_place_reads_pane_and_socket_and_refuses_what_looks_wrong() -> None:
    assert tmux_place({"TMUX": "/tmp/tmux-0/default,4321,0", "TMUX_PANE": "%12"}) == ("%12", "/tmp/tmux-0/default")
    assert tmux_place({"TMUX_PANE": "%12"}) is None  # no server: not in tmux
    assert tmux_place({"TMUX": "/tmp/tmux-0/default,4321,0"}) is None
    assert tmux_place({"TMUX": "/tmp/x,1,0", "TMUX_PANE": "12; rm -rf /"}) is None
    assert tmux_place({"TMUX": "relative/sock,1,0", "TMUX_PANE": "%1"}) is None
    assert tmux_place({"TMUX": "/tmp/\x1b[2J,1,0", "TMUX_PANE": "%1"}) is None


def test_a_pane_in_the_consoles_own_session_is_selected(server: Server) -> None:
    console = server.session("work")
    agent = server.window("work")  # a second window, not the active one
    assert server.active_pane("work") == console
    found = reach("auth-api", agent, server.socket, server.environ(console))
    assert found.ok, found.message
    assert server.active_pane("work") == agent


def test_a_pane_in_another_session_switches_the_client(server: Server) -> None:
    console = server.session("console")
    agent = server.session("agents")
    server.attach("console")
    assert server.client_session() == "console"
    found = reach("auth-api", agent, server.socket, server.environ(console))
    assert found.ok, found.message
    assert server.client_session() == "agents" and server.active_pane("agents") == agent


def test_a_pane_gone_is_said(server: Server) -> None:
    console = server.session("console")
    agent = server.session("agents")
    server.tmux("kill-pane", "-t", agent)
    found = reach("auth-api", agent, server.socket, server.environ(console))
    assert not found.ok and "gone" in found.message


def test_another_server_console_not_in_tmux_and_agent_not_in_tmux_are_said(server: Server,
                                                                          tmp_path: Path) -> None:
    console = server.session("console")
    other = Server(Path(server.socket).with_name("o"))
    try:
        agent = other.session("agents")
        found = reach("auth-api", agent, other.socket, server.environ(console))
        assert not found.ok and "another tmux server" in found.message and other.socket in found.message
    finally:
        other.kill()
    found = reach("auth-api", console, server.socket, {})
    assert not found.ok and "not running in tmux" in found.message and f"attach -t {console}" in found.message
    found = reach("auth-api", "", "", server.environ(console))
    assert not found.ok and "does not run in tmux" in found.message


@pytest.mark.parametrize("who", ["simulated", "http"])
def test_an_environment_that_is_not_the_agents_records_no_pane(tmp_path: Path, who: str,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo's agents run in the console's process, HTTP hooks in the service's: their
    environment is the console's or the service's, and says nothing of the agent's pane."""
    import json

    from loomtui.hooks.dispatch import Caller, Hook

    pod = tmp_path / "pod"
    connect(db_path(pod)).close()
    monkeypatch.setenv("TMUX", "/tmp/tmux-1000/default,4321,0")
    monkeypatch.setenv("TMUX_PANE", "%1")
    raw = json.dumps({"session_id": "s1", "cwd": str(tmp_path), "hook_event_name": "Stop"}).encode()
    hook = (Hook("claude", pod, simulated=True) if who == "simulated"
            else Hook("claude", pod, caller=Caller(None, os.environ, lambda: False, agents_own=False)))
    assert hook.run(raw).exit_code == 0
    conn = connect(db_path(pod))
    try:
        assert conn.execute("SELECT tmux_pane, tmux_socket FROM agents").fetchall() == [("", "")]
    finally:
        conn.close()


def _place_agent(pod: Path, name: str, pane: str, socket: str) -> int:
    conn = connect(db_path(pod))
    try:
        agent_id = conn.execute("SELECT id FROM agents WHERE name = ?", (name,)).fetchone()[0]
        set_tmux(conn, agent_id, pane, socket)
        return agent_id
    finally:
        conn.close()


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
async def test_o_in_the_fleet_switches_to_the_agents_pane(pod: Path, server: Server, size,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from loomtui.tui.widgets.fleet_table import FleetTable

    console = server.session("console")
    agent_pane = server.session("agents")
    server.attach("console")
    conn = connect(db_path(pod))
    try:
        first = conn.execute("SELECT name FROM agents ORDER BY id LIMIT 1").fetchone()[0]
    finally:
        conn.close()
    agent_id = _place_agent(pod, first, agent_pane, server.socket)
    monkeypatch.setenv("TMUX", f"{server.socket},1,0")
    monkeypatch.setenv("TMUX_PANE", console)
    app = build_app(pod)
    async with app.run_test(size=size) as pilot:
        table = app.screen.query_one(FleetTable)
        await until(pilot, lambda: table.cursor_agent_id is not None, "the fleet to show agents")
        for _ in range(len(app.pod_state.agents)):
            if table.cursor_agent_id == agent_id:
                break
            await pilot.press("j")
        assert table.cursor_agent_id == agent_id
        await pilot.press("o")
        await until(pilot, lambda: server.client_session() == "agents", "the client to switch to the agent")
        await until(pilot, lambda: any("Switched to" in n.message for n in app._notifications),
                    "the console to say it switched")
        # An agent not in tmux: said, nothing moves.
        await pilot.press("j")
        await pilot.press("o")
        await until(pilot, lambda: any("does not run in tmux" in n.message for n in app._notifications),
                    "the console to say the agent is not in tmux")


async def test_o_in_the_agent_screen_without_tmux_says_how_to_attach(pod: Path, server: Server,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from loomtui.tui.screens.agent import AgentScreen

    agent_pane = server.session("agents")
    conn = connect(db_path(pod))
    try:
        first = conn.execute("SELECT name FROM agents ORDER BY id LIMIT 1").fetchone()[0]
    finally:
        conn.close()
    agent_id = _place_agent(pod, first, agent_pane, server.socket)
    monkeypatch.delenv("TMUX", raising=False)
    monkeypatch.delenv("TMUX_PANE", raising=False)
    app = build_app(pod)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.push_screen(AgentScreen(agent_id))
        await pilot.press("o")
        await until(pilot, lambda: any("not running in tmux" in n.message and agent_pane in n.message
                                       for n in app._notifications), "the console to say how to attach")


@pytest.mark.parametrize("where", ["inbox", "gate dialog"])
async def test_o_from_the_inbox_and_the_gate_dialog_reaches_the_gates_agent(pod: Path, server: Server, where: str,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from loomtui.tui.screens.approvals import ApprovalsScreen, GateScreen
    from tests.test_approvals import add_gates, open_inbox, settle

    console = server.session("work")
    agent_pane = server.window("work")
    ids = add_gates(pod)
    conn = connect(db_path(pod))
    try:
        agent_id = conn.execute("SELECT agent_id FROM gates WHERE id = ?", (ids["ui-cart"],)).fetchone()[0]
    finally:
        conn.close()
    _place_agent(pod, "ui-cart", agent_pane, server.socket)
    monkeypatch.setenv("TMUX", f"{server.socket},1,0")
    monkeypatch.setenv("TMUX_PANE", console)
    app = build_app(pod)
    async with app.run_test(size=(160, 48)) as pilot:
        await open_inbox(pilot)
        assert isinstance(app.screen, ApprovalsScreen)
        for _ in range(len(ids)):
            if app.screen.agent_in_view() == agent_id:
                break
            await pilot.press("j")
        assert app.screen.agent_in_view() == agent_id
        if where == "gate dialog":
            await pilot.press("enter")
            await settle(pilot, app)
            assert isinstance(app.screen, GateScreen)
        await pilot.press("o")
        await until(pilot, lambda: server.active_pane("work") == agent_pane, "the agent's pane to be selected")


async def test_o_from_the_budgets_view_reaches_the_budgets_agent(pod: Path, server: Server,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from loomtui.config import BudgetConfig, Config, ConsoleConfig
    from loomtui.tui.screens.budgets import BudgetsScreen
    from tests.pods import LIMITS

    console = server.session("work")
    agent_pane = server.window("work")
    monkeypatch.setenv("TMUX", f"{server.socket},1,0")
    monkeypatch.setenv("TMUX_PANE", console)
    app = build_app(pod, config=Config(console=ConsoleConfig(stall_after=600), budgets=BudgetConfig(limits=LIMITS)))
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.press("b")
        await until(pilot, lambda: isinstance(app.screen, BudgetsScreen) and app.screen.selected() is not None,
                    "the budgets view")
        screen = app.screen
        for _ in range(40):  # the pod's budget rows: find an agent's
            if screen.agent_in_view() is not None:
                break
            await pilot.press("j")
        agent_id = screen.agent_in_view()
        assert agent_id is not None
        name = app.pod_state.agent(agent_id).name
        _place_agent(pod, name, agent_pane, server.socket)
        await app.refresh_state()
        await pilot.press("o")
        await until(pilot, lambda: server.active_pane("work") == agent_pane, "the agent's pane to be selected")
