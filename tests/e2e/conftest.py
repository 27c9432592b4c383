"""Fixtures for the end-to-end tests: the installed agents, a temporary git
repository, a temporary pod, and a supervisor thread that decides the gate."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.e2e import agents

PUSH = "git push origin main"
REJECT_REASON = "push after the migration lands"
SUPERVISOR = "ana"

GATE_WAIT = 150.0    # seconds the supervisor waits for the gate to appear
AGENT_TIMEOUT = 240.0  # seconds an agent run may take in all (start-up can take a while)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "e2e: runs the real Claude Code / Codex binaries (installed with npm) offline against a "
        "stand-in model API; deselect with -m 'not e2e'")


# pytest-timeout's budget for one e2e test, fixtures included: installing its agent
# (npm, up to INSTALL_TIMEOUT) and ccusage (up to 150 s) on first use, two agent runs
# of up to AGENT_TIMEOUT each, and 300 s for the rest (inits, ccusage, reaping). The
# suite's default (pyproject.toml) is for tests that start no real agent.
E2E_TIMEOUT = agents.INSTALL_TIMEOUT + 150 + 2 * AGENT_TIMEOUT + 300


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The e2e tests (this directory) get E2E_TIMEOUT unless they set their own."""
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(E2E_TIMEOUT))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """Under LOOMTUI_E2E_REQUIRED=1 (CI), an e2e test that would be skipped fails
    instead, with the reason: a green run must mean the real binaries ran."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and agents.required() and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = (f"LOOMTUI_E2E_REQUIRED is set, so this end-to-end test must run, but it "
                           f"would have been skipped: {reason}")


_installs: dict[str, agents.Installed | str] = {}


def _agent(name: str) -> agents.Installed:
    if name not in _installs:
        _installs[name] = agents.ensure(name)
        got = _installs[name]
        if isinstance(got, agents.Installed):
            how = (f"installed in {got.install_seconds:.1f} s" if got.install_seconds is not None
                   else "already installed")
            print(f"\n[e2e] {name}: {got.version} at {got.binary} ({how})", file=sys.stderr)
    got = _installs[name]
    if isinstance(got, str):
        pytest.skip(f"real {name} CLI unavailable: {got}")
    return got


@pytest.fixture(scope="session")
def claude_bin() -> agents.Installed:
    return _agent("claude")


@pytest.fixture(scope="session")
def codex_bin() -> agents.Installed:
    return _agent("codex")


@pytest.fixture(scope="session")
def sandbox_tools() -> None:
    """What the agents' sandboxes need on Linux: bubblewrap and socat (Debian packages;
    `.ci/run` installs them)."""
    missing = [name for name in ("bwrap", "socat") if shutil.which(name) is None]
    if missing:
        pytest.skip(f"{' and '.join(missing)} not installed (apt-get install bubblewrap socat): "
                    "the agents' sandboxes cannot start")


@pytest.fixture
def outside_tmp():
    """A fresh directory outside /tmp, removed afterwards: Codex refuses to set up its
    sandbox helper when $CODEX_HOME is under a temporary directory ("Refusing to create
    helper binaries under temporary dir"; then `bwrap: execvp codex-linux-sandbox` fails)."""
    import tempfile

    base = agents.cache_root() / "run"
    base.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix="e2e-", dir=base))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=E2E", "-c", "user.email=e2e@example.invalid",
         "-c", "commit.gpgsign=false", *args],
        check=True, capture_output=True, text=True).stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository on `main` with one commit and no remote."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    path = (tmp_path / "repo").resolve()
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    (path / "README.md").write_text("e2e\n")
    git(path, "add", "README.md")
    git(path, "commit", "-q", "-m", "first")
    return path


@pytest.fixture
def loom_home(tmp_path: Path) -> Path:
    path = (tmp_path / "loom").resolve()
    path.mkdir()
    return path


def base_env(loom_home: Path) -> dict[str, str]:
    """The test's environment without anything that would reach a real account."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ANTHROPIC_", "CLAUDE", "OPENAI_", "CODEX_", "LOOM_"))}
    # The audit witness (outside the pod) goes beside the pod, not into the user's own state.
    env.update(LOOM_HOME=str(loom_home), LOOM_USER=SUPERVISOR,
               XDG_STATE_HOME=str(loom_home.parent / f"{loom_home.name}-state"))
    return env


def loomtui_init(agent: str, repo: Path, loom_home: Path, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "loomtui", "init", agent, *args], cwd=repo,
                          env=base_env(loom_home), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"loomtui init {agent} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@dataclass
class AgentRun:
    returncode: int | None
    stdout: str
    stderr: str
    timed_out: bool


def run_agent(argv: list[str], *, cwd: Path, env: dict[str, str],
              timeout: float = AGENT_TIMEOUT) -> AgentRun:
    """Run an agent in its own process group. On timeout the whole group gets
    SIGTERM (a waiting LoomTUI hook then cancels its gate and denies), then
    SIGKILL, so no hook is left waiting after the test."""
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
        return AgentRun(proc.returncode, out, err, False)
    except subprocess.TimeoutExpired:
        out, err = "", ""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                out, err = proc.communicate(timeout=5)
                break
            except subprocess.TimeoutExpired:
                pass
        note = f"\n[e2e] killed after {timeout:.0f} s"
        return AgentRun(proc.returncode, out or "", (err or "") + note, True)
    finally:
        _reap(proc.pid, env.get("LOOM_HOME", ""))


def _leftovers(pgid: int, loom_home: str) -> list[int]:
    """Processes still alive from this run: the agent's process group, and the
    hooks it started (Claude Code runs each hook in a session of its own, so
    they are found by this test's unique LOOM_HOME in their environment)."""
    marker = f"LOOM_HOME={loom_home}".encode()
    found = []
    for entry in Path("/proc").iterdir() if loom_home and Path("/proc").is_dir() else []:
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if os.getpgid(int(entry.name)) == pgid or \
                    marker in (entry / "environ").read_bytes().split(b"\0"):
                if b"zombie" not in (entry / "status").read_bytes().lower():
                    found.append(int(entry.name))
        except (OSError, ProcessLookupError):
            continue
    return found


def _reap(pgid: int, loom_home: str, grace: float = 3.0) -> None:
    """The agent is gone: give its leftover children (async hooks) a moment to
    finish, then SIGTERM (a waiting LoomTUI hook cancels its gate), then SIGKILL."""
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and _leftovers(pgid, loom_home):
        time.sleep(0.05)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        left = _leftovers(pgid, loom_home)
        if not left:
            return
        print(f"[e2e] {signal.Signals(sig).name} to processes left behind by the agent: {left}",
              file=sys.stderr)
        for pid in left:
            try:
                os.kill(pid, sig)
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(1.0)


@dataclass
class Supervisor:
    """A thread that waits for the first pending gate in the pod and decides it,
    as a person at the Approvals screen would (through loomtui.store.gates).
    With `every=True` it approves every gate that appears until stopped (a
    supervisor who says yes to everything), keeping them in `approved`."""

    loom_home: Path
    approve: bool
    reason: str = ""
    timeout: float = GATE_WAIT
    every: bool = False
    gate: object | None = None        # the pending gate as it was seen
    decided: object | None = None     # the gate after the decision
    approved: list = field(default_factory=list)  # with every=True: each gate approved
    error: str | None = None
    _thread: threading.Thread | None = field(default=None, repr=False)
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)

    def start(self) -> Supervisor:
        self._thread = threading.Thread(target=self._run, name="supervisor", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)

    def _run(self) -> None:
        from loomtui.store.db import connect, db_path
        from loomtui.store.gates import decide, list_gates

        deadline = time.monotonic() + self.timeout
        conn = None
        try:
            while not self._stop.is_set() and time.monotonic() < deadline:
                if conn is None and db_path(self.loom_home).exists():
                    conn = connect(db_path(self.loom_home), create=False)
                if conn is not None:
                    pending = list_gates(conn)
                    if pending and self.every:
                        for gate in pending:
                            self.approved.append(decide(conn, gate.id, approve=True, actor=SUPERVISOR,
                                                        reason="", now=time.time(),
                                                        seen_hash=gate.content_hash))
                        deadline = time.monotonic() + self.timeout
                    elif pending:
                        self.gate = pending[0]
                        time.sleep(0.3)  # a person takes a moment; the hook must keep waiting
                        self.decided = decide(conn, self.gate.id, approve=self.approve,
                                              actor=SUPERVISOR, reason=self.reason,
                                              now=time.time(), seen_hash=self.gate.content_hash)
                        return
                time.sleep(0.1)
            if not self._stop.is_set() and not self.every:
                self.error = f"no pending gate appeared within {self.timeout:.0f} s"
        except Exception as exc:  # noqa: BLE001 - reported by the test
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            if conn is not None:
                conn.close()


def assert_push_gated(supervisor: Supervisor, context: str):
    """The supervisor saw exactly the agent's push as a Bash gate; returns that gate."""
    assert supervisor.error is None, f"supervisor: {supervisor.error}\n{context}"
    gate = supervisor.gate
    assert gate is not None, f"no gate appeared\n{context}"
    assert gate.tool == "Bash", context
    assert gate.action.get("command") == PUSH, context
    assert gate.summary == PUSH, context
    return gate


def store_snapshot(loom_home: Path) -> tuple[list, list, list]:
    """(agents, events of every agent oldest first, all gates) from the pod's store."""
    from loomtui.store.agents import fetch_agents, fetch_events
    from loomtui.store.db import connect, db_path
    from loomtui.store.gates import list_gates

    conn = connect(db_path(loom_home), create=False)
    try:
        fleet = fetch_agents(conn)
        events = [e for a in fleet for e in reversed(fetch_events(conn, a.id, limit=1000))]
        return fleet, events, list_gates(conn, include_all=True)
    finally:
        conn.close()


def describe_store(loom_home: Path) -> str:
    """The pod's agents, events and gates, for assertion messages."""
    try:
        fleet, events, gates = store_snapshot(loom_home)
    except Exception as exc:  # noqa: BLE001
        return f"(store unreadable: {exc})"
    lines = [f"agent {a.id} kind={a.kind} session={a.session_id} status={a.status} "
             f"reason={a.status_reason!r}" for a in fleet]
    lines += [f"event {e.kind} tool={e.tool} summary={e.summary!r} payload={e.payload[:600]}"
              for e in events]
    lines += [f"gate {g.id} {g.status} tool={g.tool} summary={g.summary!r} by={g.decided_by} "
              f"reason={g.reason!r}" for g in gates]
    return "\n".join(lines) or "(empty store)"


def assert_usage_counted_as_ccusage(ccusage, agent: str, loom_home: Path, transcripts: dict[str, str],
                                    tmp_path: Path, context: str) -> list[dict]:
    """`loomtui ingest --once` over the real binary's transcripts, then `loomtui usage --by
    session --json`: the same per-session tokens as ccusage reports for the same files,
    and the usage joined to the agent the hooks registered. Returns our rows."""
    from tests.ccusage import run_ccusage

    env = base_env(loom_home)
    env.update(HOME=str(tmp_path), **transcripts)
    for argv in (["ingest", "--once"], ["usage", "--by", "session", "--json"]):
        done = subprocess.run([sys.executable, "-m", "loomtui", *argv], env=env, capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0, f"loomtui {' '.join(argv)}: {done.stderr}\n{context}"
    rows = json.loads(done.stdout)["rows"]
    assert rows, f"no usage ingested from the {agent} transcript\n{context}"
    ours = {r["key"]: [r["input_tokens"], r["output_tokens"], r["cache_write_tokens"],
                       r["cache_read_tokens"]] for r in rows}
    report = run_ccusage(ccusage, tmp_path, agent, transcripts)
    theirs = {}
    for row in report.get("sessions", []):
        key = row.get("sessionId") if agent == "claude" else \
            next((sid for sid in ours if sid in json.dumps(row)), json.dumps(row)[:80])
        theirs[key] = [row["inputTokens"], row["outputTokens"], row.get("cacheCreationTokens", 0),
                       row["cacheReadTokens"]]
    assert ours == theirs, f"ours {ours} != ccusage {theirs}\n{context}"
    fleet, _, _ = store_snapshot(loom_home)
    registered = {a.session_id: a.name for a in fleet}
    for r in rows:
        assert r["agent"] == registered.get(r["key"]), f"usage of {r['key']} not joined to its agent\n{context}"
    return rows
