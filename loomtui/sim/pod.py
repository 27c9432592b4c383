"""A whole simulated pod: a temporary pod directory with a demo config and
policy, a real repository with a worktree per agent, and a thread that runs the
simulation until stopped."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from loomtui.policy import POLICY_NAME
from loomtui.sim.engine import Simulation
from loomtui.sim.repo import SECTIONS, add_worktree, create_repo
from loomtui.store.db import connect, db_path, ensure_pod_dir, write_pod_file

# The demo's own config: a short stall time so that stalls show within a minute, and
# budgets small enough that one agent (which starts near its limit) crosses its own.
DEMO_CONFIG = """\
# Written by `loomtui demo` for its temporary pod.
[console]
stall_after = 30

[budgets.agent]
session_usd = 6.0

[budgets.pod]
block_usd = 150.0

# One agent works without its hooks for a minute (20-80 s): its transcript shows calls
# no hook reported. Marked ungoverned within seconds; cleared 30 s after its hooks are back.
[governance]
require_hooks = true
clear_after = 30
"""
DEMO_STALL_SECONDS = 30.0
SPARE_WORKTREES = 6  # for agents that join while the demo runs
DEMO_GATE_SECONDS = 180  # a gate nobody decides is denied after 3 minutes in the demo


def demo_policy_text() -> str:
    """The default policy, with every gate expiring after DEMO_GATE_SECONDS so
    that, while you watch, gates nobody decides end in a deny."""
    from loomtui.policy import default_policy_text

    gate = '\naction = "gate"\n'
    body = default_policy_text().replace(gate, f'{gate}expires_after = {DEMO_GATE_SECONDS}\n')
    return ("# Written by `loomtui demo` for its temporary pod: the default policy, with\n"
            f"# gates that expire after {DEMO_GATE_SECONDS} s (so unattended gates end in a deny).\n\n"
            + body)


@dataclass
class DemoPod:
    root: Path
    pod: Path
    repo: Path
    worktrees: list[tuple[Path, str]]
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    error: BaseException | None = None
    sim: Simulation | None = None
    service: subprocess.Popen | None = None  # `loomtui serve` for the demo pod (see `serve`)

    def start(self, agents: int, seed: int | None, *, clock: Callable[[], float] = time.time,
              speed: float = 1.0, tick: float = 0.05, edits: bool = True, memory: bool = True,
              autonomy: bool = True) -> None:
        """Register the agents, then simulate them in a background thread. With
        `edits` (the default here) the agents really change files in their
        worktrees and commit, and two of them change the same file. With `memory`
        (the default here) the pod's memory starts with the supervisors' notes (two
        pinned), agents read it at session start and write notes and handoffs, and
        their decisions wait for review (sam reviews some). With `autonomy` (the default
        here) one agent drifts, one works without hooks for a spell, and sam grants once
        and revokes (see loomtui/sim/engine.py)."""
        ready = threading.Event()

        def run() -> None:
            conn = connect(db_path(self.pod))
            sim = None
            try:
                sim = Simulation(conn, self.repo, self.worktrees, seed=seed, clock=clock,
                                 stall_seconds=DEMO_STALL_SECONDS, speed=speed, pod=self.pod,
                                 transcripts=(self.claude_dir, self.codex_home), spender=True,
                                 edits=edits, memory=memory, autonomy=autonomy)
                self.sim = sim
                sim.start(agents)
                ready.set()
                while not self._stop.wait(tick):
                    sim.step()
            except BaseException as exc:  # reported by the demo command when it ends
                self.error = exc
                ready.set()
            finally:
                if sim is not None:
                    sim.close()  # waiting hooks cancel their gates and answer deny
                conn.close()

        self._thread = threading.Thread(target=run, name="loomtui-sim", daemon=True)
        self._thread.start()
        ready.wait()
        if self.error:
            raise self.error

    @property
    def claude_dir(self) -> Path:
        return self.root / ".claude"

    @property
    def codex_home(self) -> Path:
        return self.root / ".codex"

    def environ(self) -> dict[str, str]:
        """Where the demo's ingester reads transcripts: the demo's own directories only,
        never the user's real ~/.claude or ~/.codex."""
        return {"HOME": str(self.root), "CLAUDE_CONFIG_DIR": str(self.claude_dir),
                "CODEX_HOME": str(self.codex_home)}

    def serve(self, timeout: float = 15.0) -> bool:
        """Run the demo pod's service (`loomtui serve`, a child of the demo) and send the
        simulated agents' records through it; False (the demo goes on without) when it
        does not answer within `timeout`."""
        from loomtui.hooks import served
        from loomtui.hooks.protocol import Answer

        env = {**os.environ, **self.environ(), "LOOM_HOME": str(self.pod)}
        log = os.open(self.root / "serve.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            self.service = subprocess.Popen([sys.executable, "-m", "loomtui", "serve"], env=env,
                                            stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        finally:
            os.close(log)
        deadline = time.monotonic() + timeout
        while not served.answering(served.socket_path(self.pod), 0.2):
            if self.service.poll() is not None or time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        cwd = str(self.repo)

        def via_service(kind: str, raw: bytes) -> Answer | None:
            found = served.send(self.pod, kind, raw, env, cwd)
            return Answer(*found) if found is not None else None

        if self.sim is not None:
            self.sim.via_service = via_service
        return True

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self.service is not None and self.service.poll() is None:
            self.service.terminate()
            try:
                self.service.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.service.kill()
                self.service.wait()

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def create_demo_pod(agents: int, root: Path | None = None) -> DemoPod:
    """A temporary pod with a config, a store and `agents` (+ spare) worktrees."""
    root = Path(tempfile.mkdtemp(prefix="loomtui-demo-")) if root is None else root
    pod = root / "demo"
    ensure_pod_dir(pod)  # private, like any pod init makes
    write_pod_file(pod / "config.toml", DEMO_CONFIG)
    write_pod_file(pod / POLICY_NAME, demo_policy_text())
    connect(db_path(pod)).close()
    repo = create_repo(root / "shop", extra=_agent_wiring(),
                       sections=max(SECTIONS, agents + SPARE_WORKTREES))
    names = _names(agents + SPARE_WORKTREES)
    worktrees = [add_worktree(repo, root / "wt", name) for name in names]
    demo = DemoPod(root, pod, repo, worktrees)
    (demo.claude_dir / "projects").mkdir(parents=True)
    (demo.codex_home / "sessions").mkdir(parents=True)
    return demo


def _agent_wiring() -> dict[str, str]:
    """The demo repository's agent settings as `loomtui init claude` and `init codex`
    leave them (hooks, and Claude Code's sandbox), so every worktree has them and the
    simulated agents read as governed: the fleet marks an agent whose settings lack
    them. The same text on every run (no temporary paths), for repeatable demos."""
    import json

    from loomtui.hooks import install

    claude = {"hooks": install.claude_hooks("loomtui hook claude"),
              "sandbox": {"enabled": True, "failIfUnavailable": True,
                          "allowUnsandboxedCommands": False}}
    codex = {"hooks": install.codex_hooks("loomtui hook codex")}
    return {".claude/settings.json": json.dumps(claude, indent=2) + "\n",
            ".codex/hooks.json": json.dumps(codex, indent=2) + "\n"}


def _names(count: int) -> list[str]:
    stems = ["auth", "billing", "search", "api", "db", "docs", "ui", "perf", "infra", "cli",
             "tests", "deps"]
    return [f"{stems[i % len(stems)]}-{i // len(stems) + 1}" for i in range(count)]
