"""The demo's issue-14 cast (loomtui/sim, `autonomy=True`), driven on a simulated clock
with the real hook path, the real ingester and the real store: one agent drifts (another
model and permission mode in its hook payloads), one works without hooks for a spell (its
transcript grows, no hook reports its calls) and is marked ungoverned, then cleared; sam
grants once, through the console's own PodActions as a simulated supervisor, the grant
answers the pusher's next pushes, and sam revokes it."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from loomtui.config import load_config
from loomtui.ingest.service import IngestService
from loomtui.sim.engine import SimAgent, Simulation
from loomtui.sim.pod import DEMO_STALL_SECONDS, DemoPod, create_demo_pod
from loomtui.sim.scenario import (
    DRIFT_MODE,
    DRIFT_MODEL,
    HOOKLESS_SPELL,
    POD_MODE,
    POD_MODEL,
    SAM_GRANT_REASON,
    SAM_REVOKE_AFTER,
    SAM_REVOKE_REASON,
)
from loomtui.store.agents import fetch_agents
from loomtui.store.db import connect, db_path
from loomtui.store.fingerprint import baseline_of, drift

START = 1_796_000_000.0
STEP = 0.5
SECONDS = 200.0  # the spell (20-80 s), the ungoverned mark's clearing, sam's grant and revocation
AGENTS = 8
SEED = 4


@dataclass
class Run:
    demo: DemoPod
    conn: sqlite3.Connection
    sim: Simulation
    ungoverned: list[tuple[float, bool]] = field(default_factory=list)  # (time, hookless agent marked)
    grants: list[tuple[float, tuple]] = field(default_factory=list)  # (time, grant rows) when they change
    transcript: list[tuple[float, int]] = field(default_factory=list)  # (time, hookless transcript size)
    drifted: dict[str, list[str]] = field(default_factory=dict)  # 10 s in: live agent name -> its drift

    def role(self, name: str) -> SimAgent:
        return next(a for a in self.sim.agents if a.role == name)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory):
    demo = create_demo_pod(AGENTS, root=tmp_path_factory.mktemp("autonomy") / "demo")
    now = [START]
    clock = lambda: now[0]  # noqa: E731
    conn = connect(db_path(demo.pod))
    sim = Simulation(conn, demo.repo, demo.worktrees, seed=SEED, clock=clock, stall_seconds=DEMO_STALL_SECONDS,
                     pod=demo.pod, transcripts=(demo.claude_dir, demo.codex_home), spender=True, autonomy=True)
    # The demo's ingester, on the same clock: it reads the transcripts, and its governance
    # check marks (and clears) the agents whose calls no hook reported.
    ingest = IngestService(demo.pod, load_config(demo.pod), role="test", clock=clock, environ=demo.environ())
    result = Run(demo, conn, sim)
    try:
        sim.start(AGENTS)
        hookless = result.role("hookless")
        last: tuple = ()
        for i in range(1, int(SECONDS / STEP) + 1):
            now[0] = START + i * STEP
            sim.step()
            if i % 2 == 0:
                ingest.once()
                marked = conn.execute("SELECT ungoverned_at IS NOT NULL FROM agents WHERE id = ?",
                                      (hookless.agent_id,)).fetchone()[0]
                result.ungoverned.append((now[0] - START, bool(marked)))
                result.transcript.append((now[0] - START, Path(hookless.transcript).stat().st_size))
            if now[0] - START == 10.0:  # what the fleet shows 10 s in (as `loomtui agents --json`)
                agents = fetch_agents(conn)
                base = baseline_of(agents, load_config(demo.pod).baseline)
                result.drifted = {a.name: drift(a, base) for a in agents if a.status != "done"}
            rows = tuple(conn.execute("SELECT id, status FROM grants ORDER BY id"))
            if rows != last:
                result.grants.append((now[0] - START, rows))
                last = rows
        yield result
    finally:
        sim.close()
        conn.close()


def test_the_cast_is_three_claude_agents_and_the_pod_runs_one_model(run: Run) -> None:
    roles = {a.role: a for a in run.sim.agents if a.role}
    assert set(roles) == {"drifter", "hookless", "pusher"}
    assert all(a.kind == "claude" for a in roles.values())
    assert len({a.agent_id for a in roles.values()}) == 3
    claude = [a for a in run.sim.agents if a.kind == "claude"]
    assert {a.model for a in claude if a.role != "drifter"} == {POD_MODEL}
    assert roles["drifter"].model == DRIFT_MODEL != POD_MODEL


def test_the_drifter_reports_another_model_and_permission_mode(run: Run) -> None:
    """Its hook payloads say so (SessionStart's model, every event's permission mode):
    what the pod's fingerprint is computed from."""
    drifter = run.role("drifter")
    start = json.loads(run.conn.execute(
        "SELECT payload FROM events WHERE agent_id = ? AND kind = 'session_start'", (drifter.agent_id,)).fetchone()[0])
    assert start["model"] == DRIFT_MODEL
    modes = dict(run.conn.execute("SELECT id, permission_mode FROM agents WHERE kind = 'claude'"))
    assert modes.pop(drifter.agent_id) == DRIFT_MODE
    assert set(modes.values()) == {POD_MODE}


def test_the_drifter_and_only_it_drifts_from_the_pod_baseline(run: Run) -> None:
    """The pod's baseline (per agent kind, the most common value of each field among live
    agents) is its Claude agents' model and mode; the drifter differs in both."""
    drifter = run.role("drifter")
    name = run.conn.execute("SELECT name FROM agents WHERE id = ?", (drifter.agent_id,)).fetchone()[0]
    assert {"model", "permission_mode"} <= set(run.drifted.pop(name))
    assert len(run.drifted) >= AGENTS - 3  # the others were live 10 s in (a few may have ended)
    assert {n: d for n, d in run.drifted.items() if d} == {}


def test_the_hookless_agent_goes_quiet_while_its_transcript_grows(run: Run) -> None:
    hookless = run.role("hookless")
    begin, end = HOOKLESS_SPELL
    during = run.conn.execute("SELECT count(*) FROM events WHERE agent_id = ? AND ts >= ? AND ts < ?",
                              (hookless.agent_id, START + begin, START + end)).fetchone()[0]
    assert during == 0  # no hook reported anything in its spell
    size = dict(run.transcript)
    assert size[end] > size[begin]  # but it worked: its transcript grew
    after = run.conn.execute("SELECT count(*) FROM events WHERE agent_id = ? AND ts >= ?",
                             (hookless.agent_id, START + end)).fetchone()[0]
    assert after > 0  # its hooks came back


def test_the_hookless_agent_is_marked_ungoverned_then_cleared(run: Run) -> None:
    begin, end = HOOKLESS_SPELL
    marked = [t for t, on in run.ungoverned if on]
    assert marked, "the hookless agent was never marked ungoverned"
    assert begin < marked[0] <= begin + 20  # seen within seconds of its first unreported call
    assert not any(on for t, on in run.ungoverned if t < begin)
    assert run.ungoverned[-1] == (SECONDS, False)  # cleared once its hooks reported again
    cleared = next(t for t, on in run.ungoverned if t > marked[0] and not on)
    assert cleared > end


def test_sam_grants_once_within_the_first_minute_then_revokes(run: Run) -> None:
    pusher = run.role("pusher")
    grants = run.conn.execute(
        "SELECT id, scope, agent_id, rule, shape, granted_by, granted_name, reason, created_at, status, "
        "revoked_by, revoked_at, revoke_reason, uses FROM grants").fetchall()
    assert len(grants) == 1
    (gid, scope, agent_id, rule, shape, by, name, reason, created, status, revoked_by, revoked_at,
     revoke_reason, uses) = grants[0]
    assert (scope, agent_id, rule, shape) == ("agent", pusher.agent_id, "git-push", "git push origin *")
    assert (by, name, reason) == ("sam", "sam (simulated)", SAM_GRANT_REASON)
    assert created - START < 60  # a supervisor watching sees it in the first minute
    assert (status, revoked_by, revoke_reason) == ("revoked", "sam", SAM_REVOKE_REASON)
    assert revoked_at - created == pytest.approx(SAM_REVOKE_AFTER, abs=1.0)
    assert uses >= 2  # the pusher kept pushing while it lasted
    seen = [rows for _, rows in run.grants]
    assert ((gid, "active"),) in seen and seen[-1] == ((gid, "revoked"),)
    # Audited, as the console's own grant is.
    kinds = [k for (k,) in run.conn.execute(
        "SELECT action FROM audit WHERE subject = ? ORDER BY id", (f"grant:{gid}",))]
    assert kinds[0] == "grant.created" and "grant.revoked" in kinds


def test_a_call_the_grant_answers_has_a_granted_event(run: Run) -> None:
    """The pusher's pushes while the grant lasts: allowed by the hook, no gate, a
    'granted' event naming the grant; after the revocation its next push is gated again."""
    pusher = run.role("pusher")
    gid, created, revoked = run.conn.execute("SELECT id, created_at, revoked_at FROM grants").fetchone()
    granted = run.conn.execute("SELECT ts, summary, payload FROM events WHERE agent_id = ? AND kind = 'granted'",
                               (pusher.agent_id,)).fetchall()
    assert granted and all(created <= ts < revoked for ts, _, _ in granted)
    assert all(f"grant {gid}" in summary for _, summary, _ in granted), granted
    call = json.loads(granted[0][2])  # the hook's input: what bench/triage.py classifies again
    assert call["tool_name"] == "Bash" and call["tool_input"]["command"] == f"git push origin {pusher.branch}"
    done = run.conn.execute("SELECT count(*) FROM events WHERE agent_id = ? AND kind = 'tool_done' AND ts >= ? "
                            "AND ts < ? AND summary LIKE 'git push origin %'",
                            (pusher.agent_id, created, revoked)).fetchone()[0]
    assert done >= len(granted)  # the pushes ran
    gated_while = run.conn.execute("SELECT count(*) FROM gates WHERE agent_id = ? AND created_at > ? "
                                   "AND created_at < ?", (pusher.agent_id, created, revoked)).fetchone()[0]
    assert gated_while == 0
    again = run.conn.execute("SELECT count(*) FROM gates WHERE agent_id = ? AND created_at >= ?",
                             (pusher.agent_id, revoked)).fetchone()[0]
    assert again >= 1  # revoked: gated again


def test_without_autonomy_nobody_plays_a_part(tmp_path: Path) -> None:
    """The other simulations (tests/test_sim.py, the benchmarks) keep their pod: no cast,
    the models drawn as before, every agent in the default permission mode."""
    demo = create_demo_pod(6, root=tmp_path / "demo")
    conn = connect(db_path(demo.pod))
    sim = Simulation(conn, demo.repo, demo.worktrees, seed=SEED, clock=lambda: START,
                     stall_seconds=DEMO_STALL_SECONDS)
    try:
        sim.start(6)
        assert not any(a.role for a in sim.agents)
        assert {m for (m,) in conn.execute("SELECT DISTINCT permission_mode FROM agents WHERE kind = 'claude'")} \
            == {"default"}
        assert conn.execute("SELECT count(*) FROM grants").fetchone()[0] == 0
    finally:
        sim.close()
        conn.close()
