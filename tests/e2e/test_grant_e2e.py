"""A grant with the real Claude Code, offline (issue 14): the model pushes twice in one
session. The first push is gated; a supervisor approves it with `loomtui approve ID
--grant 10m` (the real CLI, from outside the agent), which grants `git push origin *`
to this agent. The second push is answered allow by the grant: no second gate, a
`granted` event on the agent's timeline, and the answer naming the grant."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import GATE_WAIT, base_env, describe_store, loomtui_init, run_agent, store_snapshot
from tests.e2e.model_api import ModelAPI
from tests.e2e.test_claude_e2e import claude_env

pytestmark = pytest.mark.e2e

FIRST, SECOND = "git push origin main", "git push origin main:second"


class Granter:
    """A person at a shell: waits for the first pending gate and runs `loomtui approve ID
    --grant 10m --reason ...` for it; keeps the command's result."""

    def __init__(self, loom_home: Path) -> None:
        self.loom_home = loom_home
        self.done: subprocess.CompletedProcess[str] | None = None
        self.error: str | None = None
        self._thread = threading.Thread(target=self._run, name="granter", daemon=True)

    def __enter__(self) -> Granter:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._thread.join(GATE_WAIT + 60)

    def _run(self) -> None:
        from loomtui.store.db import connect, db_path
        from loomtui.store.gates import list_gates

        deadline = time.monotonic() + GATE_WAIT
        try:
            while time.monotonic() < deadline:
                if db_path(self.loom_home).exists():
                    conn = connect(db_path(self.loom_home), create=False)
                    try:
                        pending = list_gates(conn)
                    finally:
                        conn.close()
                    if pending:
                        self.done = subprocess.run(
                            [sys.executable, "-m", "loomtui", "approve", str(pending[0].id), "--grant", "10m",
                             "--reason", "pushes to its own branch"],
                            env=base_env(self.loom_home), capture_output=True, text=True, timeout=60)
                        return
                time.sleep(0.1)
            self.error = f"no pending gate appeared within {GATE_WAIT:.0f} s"
        except Exception as exc:  # noqa: BLE001 - reported by the test
            self.error = f"{type(exc).__name__}: {exc}"


def test_a_grant_lets_the_second_push_through_without_a_gate(claude_bin, repo: Path, loom_home: Path,
                                                             tmp_path: Path) -> None:
    loomtui_init("claude", repo, loom_home)
    config_dir = tmp_path / "claude-config"
    config_dir.mkdir()
    with ModelAPI([FIRST, SECOND], final_text="Done: pushed twice.") as api, Granter(loom_home) as granter:
        done = run_agent([str(claude_bin.binary), "-p", "push the branch twice", "--output-format", "json"],
                         cwd=repo, env=claude_env(loom_home, config_dir, api))
    context = (f"claude exit {done.returncode} (timed out: {done.timed_out})\n"
               f"stdout:\n{done.stdout[-4000:]}\nstderr:\n{done.stderr[-4000:]}\n"
               f"granter: {granter.error} {granter.done}\n"
               f"model API:\n{api.summary()}\nstore:\n{describe_store(loom_home)}")
    assert granter.error is None and granter.done is not None, context
    assert granter.done.returncode == 0 and "granted 'git push origin *'" in granter.done.stdout, context
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert not result.get("permission_denials"), context

    fleet, events, gates = store_snapshot(loom_home)
    assert [(g.status, g.action.get("command")) for g in gates] == [("approved", FIRST)], context
    session = [a for a in fleet if a.session_id == result["session_id"]]
    assert len(session) == 1, context
    mine = [e for e in events if e.agent_id == session[0].id]
    assert [e.summary for e in mine if e.kind == "granted"] == [f"{SECOND} (grant 1: git push origin *)"], context
    assert [e.kind for e in mine].count("gate") == 1, context
    # Both pushes really ran: git itself answered each (there is no remote called origin).
    results = api.tool_results()
    assert len(results) == 2 and all("origin" in r.text and "hook" not in r.text.lower() for r in results), context

    listed = subprocess.run([sys.executable, "-m", "loomtui", "grants", "--json"], env=base_env(loom_home),
                            capture_output=True, text=True, timeout=60)
    grants = json.loads(listed.stdout)["grants"]
    assert [(g["agent_id"], g["pattern"], g["uses"]) for g in grants] == [(session[0].id, "git push origin *", 1)]
