"""`loomtui budgets` and `loomtui budget set|unset` as a person runs them, and the promise
they keep: raising a limit above what is spent releases the budget gates it caused, so
the waiting hook (a real subprocess, direct and through the pod service) answers allow
within a second; exactly once, audited, and never from inside an agent."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from loomtui.actions import PodActions
from loomtui.config import Config
from loomtui.store import audit
from loomtui.store.agents import upsert_agent
from loomtui.store.budgets import refresh
from loomtui.store.db import connect, db_path
from loomtui.store.gates import create_gate, decide, get_gate
from loomtui.supervisors import current_decider
from tests import hook_fixtures, hook_routes
from tests.test_budgets import add_usage
from tests.test_hook import SESSION, bash, env_for, finish, hook, pre_tool_use, start, wait_for_gate
from tests.test_supervisors import ME, loom
from tests.waiting import wait_for

pod, repo = hook_fixtures.pod, hook_fixtures.repo  # the bare pod and repository fixtures


def agents_with_usage(pod: Path) -> dict[str, int]:
    """Three agents: auth-1-128b spent $3, billing-vat $1, docs-site $0.20 (and 9,000 tokens)."""
    conn = connect(db_path(pod))
    try:
        now = time.time()
        ids = {}
        for name, usd in (("auth-1-128b", 3.0), ("billing-vat", 1.0), ("docs-site", 0.2)):
            ids[name] = upsert_agent(conn, kind="claude", now=now, session_id=f"s-{name}", repo="/srv/shop")
            conn.execute("UPDATE agents SET name = ? WHERE id = ?", (name, ids[name]))
            conn.commit()
            add_usage(conn, ids[name], now - 60, tokens=9_000, usd=usd, session=f"s-{name}")
        return ids
    finally:
        conn.close()


def log(pod: Path) -> list[dict]:
    conn = connect(db_path(pod))
    try:
        return audit.export(conn)
    finally:
        conn.close()


# -- the commands ------------------------------------------------------------------------


def test_budgets_json_lists_each_budget_over_first(pod: Path) -> None:
    ids = agents_with_usage(pod)
    assert loom(pod, "budget", "set", "--pod", "--period", "week", "--limit", "100").returncode == 0
    done = loom(pod, "budget", "set", "--agent", "auth-1-128b", "--period", "session", "--limit", "2")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "agent auth-1-128b: agent session budget set to $2\n"
    assert loom(pod, "budget", "set", "--agent", "docs-site", "--period", "day", "--tokens", "1,000").returncode == 0

    done = loom(pod, "budgets", "--json")
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)["budgets"]
    # only budgets with a limit; over first, the most over on top, then by how much is used
    assert [(r["scope"], r["name"], r["period"], r["over"]) for r in rows] == [
        ("agent", "docs-site", "day", True),  # 9,000 of 1,000 tokens: 900 %
        ("agent", "auth-1-128b", "session", True),  # $3 of $2: 150 %
        ("pod", "pod", "week", False)]
    auth = rows[1]
    assert auth["ref"] == str(ids["auth-1-128b"])
    assert (auth["limit_usd"], auth["limit_tokens"], auth["used_usd"], auth["used_tokens"]) == (2.0, None, 3.0, 9000)
    assert auth["fraction"] == pytest.approx(1.5)
    assert (auth["source"], auth["set_by"]) == ("store", ME) and auth["set_at"].endswith("Z")
    assert set(auth) >= {"projection", "burn_usd_hour", "burn_tokens_min", "resets_at", "starts_at"}
    assert rows[2]["projection"] is None or rows[2]["projection"].endswith("Z")

    every = json.loads(loom(pod, "budgets", "--json", "--all").stdout)["budgets"]
    assert len(every) == 2 + 1 + 3 * 2  # the pod's block and week, the repository's day, two per agent
    assert [r["over"] for r in every[:2]] == [True, True]
    text = loom(pod, "budgets").stdout.splitlines()
    assert text[0].split() == ["SCOPE", "FOR", "PERIOD", "USED", "LIMIT", "%", "RUNS", "OUT"]
    assert text[1].startswith("OVER") and "docs-site" in text[1] and "900" in text[1]


def test_a_limit_set_and_unset_is_audited_and_verifies(pod: Path) -> None:
    ids = agents_with_usage(pod)
    (pod / "config.toml").write_text("[budgets.agent]\nsession_usd = 10.0\n")
    done = loom(pod, "budget", "set", "--agent", "billing-vat", "--period", "session", "--tokens", "50000", "--json")
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    # the unit not given keeps the limit that applied: the config's $10
    assert (shown["limit_usd"], shown["limit_tokens"], shown["released_gates"]) == (10.0, 50000, [])
    assert shown["state"]["fraction"] == pytest.approx(0.18)  # 9,000 of 50,000 tokens
    entry = log(pod)[-1]
    assert (entry["actor"], entry["action"], entry["subject"]) == (ME, "budget.set", f"agent:{ids['billing-vat']}:session")
    assert entry["detail"] == {"max_tokens": 50000, "max_usd": 10.0, "before": None}

    done = loom(pod, "budget", "set", "--agent", "billing-vat", "--period", "session", "--limit", "none")
    assert done.returncode == 0 and "set to 50,000 tokens" in done.stdout
    done = loom(pod, "budget", "unset", "--agent", "billing-vat", "--period", "session")
    assert (done.returncode, done.stdout) == (0, "agent billing-vat: agent session budget back to the config's: $10\n")
    assert log(pod)[-1]["detail"] == {"max_tokens": None, "max_usd": None, "before": [50000, None], "unset": True}
    verify = loom(pod, "audit", "verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr


@pytest.mark.parametrize("variable", ["CLAUDECODE", "LOOM_AGENT", "CODEX_SANDBOX"])
def test_an_agent_cannot_raise_its_own_budget(pod: Path, variable: str) -> None:
    agents_with_usage(pod)
    before = log(pod)
    done = loom(pod, "budget", "set", "--agent", "auth-1-128b", "--period", "session", "--limit", "1000",
                **{variable: "1"})
    assert done.returncode == 1 and done.stdout == ""
    assert f"inside an agent's environment ({variable} is set)" in done.stderr
    assert loom(pod, "budget", "unset", "--pod", "--period", "week", **{variable: "1"}).returncode == 1
    assert log(pod) == before  # nothing written, nothing audited
    conn = connect(db_path(pod))
    try:
        assert conn.execute("SELECT count(*) FROM budgets").fetchone()[0] == 0
    finally:
        conn.close()


@pytest.mark.parametrize("args, message", [
    (["--agent", "auth-1", "--period", "session", "--limit", "5"], "no agent 'auth-1' in this pod; did you mean auth-1-128b?"),
    (["--agent", "zzz", "--period", "session", "--limit", "5"], "no agent 'zzz' in this pod (give its name"),
    (["--agent", "auth-1-128b", "--period", "session", "--limit", "-3"], "--limit -3 must be above zero"),
    (["--agent", "auth-1-128b", "--period", "session", "--limit", "lots"], "is not an amount of dollars"),
    (["--agent", "auth-1-128b", "--period", "session", "--limit", "nan"], "must be above zero"),
    (["--agent", "auth-1-128b", "--period", "session", "--tokens", "1.5"], "is not a whole number of tokens"),
    (["--agent", "auth-1-128b", "--period", "session", "--tokens", "0"], "--tokens 0 must be above zero"),
    (["--agent", "auth-1-128b", "--period", "week", "--limit", "5"], "an agent budget's period is session or day, not week"),
    (["--pod", "--period", "day", "--limit", "5"], "a pod budget's period is block or week, not day"),
    (["--agent", "auth-1-128b", "--period", "day"], "say the new limit: --limit USD and/or --tokens N"),
])
def test_bad_input_is_one_clear_line(pod: Path, args: list[str], message: str) -> None:
    agents_with_usage(pod)
    done = loom(pod, "budget", "set", *args)
    assert done.returncode == 1 and done.stdout == ""
    assert message in done.stderr and done.stderr.count("\n") == 1, done.stderr


def test_a_repository_is_named_by_any_path_inside_it(pod: Path, repo: Path, tmp_path: Path) -> None:
    (repo / "src").mkdir()
    done = loom(pod, "budget", "set", "--repo", str(repo / "src"), "--period", "day", "--limit", "40")
    assert done.returncode == 0, done.stderr
    assert log(pod)[-1]["subject"] == f"repo:{repo}:day"
    done = loom(pod, "budget", "set", "--repo", str(tmp_path), "--period", "day", "--limit", "40")
    assert done.returncode == 1 and "is not inside a git repository" in done.stderr


# -- raising releases ------------------------------------------------------------------

# The agent: a process of its own above the hook. Without it the hook's agent would be
# pytest, and `loomtui budget set` run from pytest would be that agent deciding its own
# gate (refused, as it should be).
FAKE_AGENT = "import subprocess, sys; sys.exit(subprocess.run(sys.argv[1:]).returncode)"


def start_under_an_agent(pod: Path, payload: dict) -> subprocess.Popen:
    """tests.test_hook.start, with the hook (by the test's route) run by a fake agent."""
    route = hook_routes.CURRENT
    route.prepare(pod, env_for(pod))
    proc = subprocess.Popen([sys.executable, "-c", FAKE_AGENT, *route.argv("claude")], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env_for(pod))
    proc.stdin.write(json.dumps(payload).encode())
    proc.stdin.close()
    return proc



@pytest.mark.usefixtures("hook_route")  # direct and served
def test_raising_the_limit_releases_the_waiting_hook_within_a_second(pod: Path, repo: Path) -> None:
    assert hook(pod, bash("ls", repo))[:2] == (0, "")  # the agent registers through the hook
    conn = connect(db_path(pod))
    try:
        agent, name = conn.execute("SELECT id, name FROM agents WHERE session_id = ?", (SESSION,)).fetchone()
        add_usage(conn, agent, time.time() - 30, tokens=11_000, usd=0.2, session=SESSION)
        done = loom(pod, "budget", "set", "--agent", name, "--period", "session", "--tokens", "10000")
        assert done.returncode == 0, done.stderr  # 110 %: the next call waits

        proc = start_under_an_agent(pod, bash("ls", repo))
        gate_id = wait_for_gate(pod)
        assert get_gate(conn, gate_id).risk == "budget"
        assert proc.poll() is None  # waiting for a supervisor

        done = loom(pod, "budget", "set", "--agent", name, "--period", "session", "--tokens", "50000", "--json",
                    LOOM_USER="ana")
        raised = time.monotonic()
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["released_gates"] == [gate_id]
        wait_for(lambda: proc.poll() is not None, "the waiting hook to answer", timeout=1.0, interval=0.01)
        assert time.monotonic() - raised < 1.0
        code, out, _ = finish(proc)
        # The policy passes `ls` (the agent's own permissions decide): released, the hook
        # answers as it would have under the budget, nothing (a budget gate approves the
        # spending, not the call: tests/test_team_attacks.py).
        assert (code, out) == (0, "")

        gate = get_gate(conn, gate_id)
        assert (gate.status, gate.decided_by, gate.reason) == ("approved", ME, "session budget raised to 50,000 tokens")
        decisions = [e for e in audit.export(conn) if e["subject"] == f"gate:{gate_id}" and e["action"] != "gate.created"]
        assert [(e["action"], e["actor"]) for e in decisions] == [("gate.approved", ME)]  # exactly once
        state = conn.execute("SELECT fraction FROM budget_state WHERE scope = 'agent' AND scope_ref = ? "
                             "AND period = 'session'", (str(agent),)).fetchone()[0]
        assert state == pytest.approx(0.22)  # recomputed at once: the row no longer says 110 %
        assert hook(pod, bash("ls", repo))[:2] == (0, "")  # and calls flow again
    finally:
        conn.close()


def over_budget_agent(pod: Path) -> tuple[int, int]:
    """An agent at 150 % of its session and 300 % of its day budget, with a budget gate."""
    conn = connect(db_path(pod))
    try:
        now = time.time()
        agent = upsert_agent(conn, kind="claude", now=now, session_id="s1", repo="/srv/shop")
        add_usage(conn, agent, now - 60, tokens=15_000, usd=3.0, session="s1")
        limits = {("agent", "session"): (10_000, None), ("agent", "day"): (None, 1.0)}
        refresh(conn, limits, now)
        gate = create_gate(conn, agent_id=agent, tool="Bash", action={"command": "ls"},
                           summary="session budget: 15,000 of 10,000 tokens (150 %) · ls",
                           rule="budget:agent/day", risk="budget", now=now, expires_at=now + 600)
        return agent, gate.id
    finally:
        conn.close()


def actions(pod: Path) -> PodActions:
    from loomtui.config import BudgetConfig

    config = Config(budgets=BudgetConfig(limits={("agent", "session"): (10_000, None), ("agent", "day"): (None, 1.0)}))
    return PodActions(pod, config, current_decider({"LOOM_USER": "ana"}))


def test_a_gate_stays_while_another_budget_still_holds_the_agent(pod: Path) -> None:
    agent, gate_id = over_budget_agent(pod)
    pod_actions = actions(pod)
    change = pod_actions.set_budget("agent", str(agent), "session", 50_000, None)
    assert change.ok and change.released == ()  # still over its day budget
    conn = connect(db_path(pod))
    try:
        assert get_gate(conn, gate_id).status == "pending"
        change = pod_actions.set_budget("agent", "", "day", None, 5.0)  # every agent's day: $5
        assert change.released == (gate_id,) and "released 1 waiting call (gate" in change.message
        assert get_gate(conn, gate_id).reason == "day budget raised to $5"
        # a second change finds nothing left to release: decided exactly once
        assert pod_actions.set_budget("agent", "", "day", None, 6.0).released == ()
        assert sum(e["action"] == "gate.approved" for e in audit.export(conn)) == 1
    finally:
        conn.close()


def test_a_gate_decided_meanwhile_keeps_that_decision(pod: Path) -> None:
    agent, gate_id = over_budget_agent(pod)
    conn = connect(db_path(pod))
    try:
        decide(conn, gate_id, approve=False, actor="bob", reason="stop and hand off", now=time.time())
        assert actions(pod).set_budget("agent", str(agent), "day", None, None).ok  # no day limit
        change = actions(pod).set_budget("agent", str(agent), "session", None, None)
        assert change.ok and change.released == ()
        gate = get_gate(conn, gate_id)
        assert (gate.status, gate.decided_by) == ("rejected", "bob")
    finally:
        conn.close()


def test_an_agent_environment_releases_nothing(pod: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    agent, gate_id = over_budget_agent(pod)
    monkeypatch.setenv("CLAUDECODE", "1")
    change = actions(pod).set_budget("agent", str(agent), "session", None, None)
    assert not change.ok and "inside an agent's environment" in change.message
    conn = connect(db_path(pod))
    try:
        assert get_gate(conn, gate_id).status == "pending"
        assert conn.execute("SELECT count(*) FROM budgets").fetchone()[0] == 0
    finally:
        conn.close()



def test_a_gate_of_the_deciders_own_session_is_not_released(pod: Path, repo: Path) -> None:
    """The hook runs under pytest here, and so does `loomtui budget set`: the limit changes,
    but the gate is the decider's own session's, so it waits, and the command says why."""
    assert hook(pod, bash("ls", repo))[:2] == (0, "")
    conn = connect(db_path(pod))
    try:
        agent, name = conn.execute("SELECT id, name FROM agents WHERE session_id = ?", (SESSION,)).fetchone()
        add_usage(conn, agent, time.time() - 30, tokens=11_000, session=SESSION)
        assert loom(pod, "budget", "set", "--agent", name, "--period", "session", "--tokens", "10000").returncode == 0
        proc = start(pod, bash("ls", repo))
        gate_id = wait_for_gate(pod)
        done = loom(pod, "budget", "set", "--agent", name, "--period", "session", "--tokens", "50000")
        assert done.returncode == 0, done.stderr
        assert f"gate {gate_id} still waits (refused: gate {gate_id} belongs to an agent this process runs under" \
            in done.stdout
        assert get_gate(conn, gate_id).status == "pending" and proc.poll() is None
        decide(conn, gate_id, approve=False, actor="bob", reason="not this way", now=time.time())
        code, out, _ = finish(proc)
        assert json.loads(out) == pre_tool_use("deny", "Rejected by bob: not this way")
    finally:
        conn.close()


def test_two_supervisors_raising_at_once_release_the_gate_once(pod: Path) -> None:
    import threading

    agent, gate_id = over_budget_agent(pod)

    def both_at_once(*budget) -> list:
        barrier, changes = threading.Barrier(2), []

        def change() -> None:
            pod_actions = actions(pod)
            barrier.wait()
            changes.append(pod_actions.set_budget(*budget))

        threads = [threading.Thread(target=change) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(changes) == 2 and all(c.ok for c in changes)
        return changes

    # every agent's day raised to $9: the session budget (10,000 tokens) still holds it
    assert [c.released for c in both_at_once("agent", "", "day", None, 9.0)] == [(), ()]
    # its session limit removed, by two supervisors at once: one of them releases the gate
    changes = both_at_once("agent", str(agent), "session", None, None)
    assert sorted(c.released for c in changes) == [(), (gate_id,)]
    conn = connect(db_path(pod))
    try:
        assert [e["action"] for e in audit.export(conn) if e["subject"] == f"gate:{gate_id}"] == [
            "gate.created", "gate.approved"]
        assert audit.verify(conn) == []
    finally:
        conn.close()
