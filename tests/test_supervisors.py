"""Who may decide, each claim attacked as an agent would, with
real processes: the decider is the OS account whatever $LOOM_USER says; accounts
outside the approvers are refused; so is a decision command inside an agent's
environment, and one run under the agent whose gate it is (a real process tree)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from loomtui.config import Config, ConsoleConfig, SupervisorsConfig, parse_config
from loomtui.memory import entries
from loomtui.store import audit
from loomtui.store.db import connect, db_path
from loomtui.store.gates import create_gate, get_gate
from loomtui.supervisors import Decider, NotAllowed, account_name, agent_variable, approvers, authorize, current_decider
from tests import hook_fixtures
from tests.conftest import build_app
from tests.test_approvals import add_gates, gate_status, open_inbox, settle

ROOT = Path(__file__).resolve().parents[1]
ME = account_name(os.geteuid())
AGENT_MARKS = ("CLAUDECODE", "LOOM_SESSION_ID", "LOOM_AGENT")

bare_pod = hook_fixtures.pod  # an empty store


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without anything that marks an agent."""
    env = {k: v for k, v in os.environ.items()
           if k not in (*AGENT_MARKS, "LOOM_CONFIG") and not (k.startswith("CODEX_") and k != "CODEX_HOME")}
    pythonpath = [str(ROOT), env.get("PYTHONPATH", "")]
    env.update({"PYTHONPATH": os.pathsep.join(filter(None, pythonpath)), "PYTHONIOENCODING": "utf-8"})
    env.update(extra)
    return env


def loom(pod: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "loomtui", *args], env=clean_env(LOOM_HOME=str(pod), **env),
                          capture_output=True, text=True, timeout=60, cwd=pod.parent)
    assert "Traceback" not in done.stdout + done.stderr, done.stderr
    return done


def new_gate(pod: Path, command: str = "git push origin main", **fields) -> int:
    conn = connect(db_path(pod))
    try:
        now = time.time()
        return create_gate(conn, agent_id=None, tool="Bash", action={"command": command}, summary=command,
                           rule="git-push", risk="high", now=now, expires_at=now + 600, **fields).id
    finally:
        conn.close()


def stored(pod: Path, gate_id: int):
    conn = connect(db_path(pod))
    try:
        return get_gate(conn, gate_id), audit.export(conn)
    finally:
        conn.close()


# -- the identity ---------------------------------------------------------------------


def test_loom_user_is_a_display_name_the_decider_is_the_os_account(bare_pod: Path) -> None:
    gate_id = new_gate(bare_pod)
    done = loom(bare_pod, "approve", str(gate_id), "--json", LOOM_USER="alice")
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)  # one JSON document: the decided gate
    assert (shown["id"], shown["status"], shown["decided_by"], shown["decided_name"]) == (
        gate_id, "approved", ME, "alice")
    gate, log = stored(bare_pod, gate_id)
    assert shown == json.loads(json.dumps(gate.to_json()))
    assert (gate.decided_by, gate.decided_name) == (ME, "alice")
    decision = [e for e in log if e["action"] == "gate.approved"]
    assert len(decision) == 1 and decision[0]["actor"] == ME and decision[0]["detail"]["as"] == "alice"
    assert "simulated" not in decision[0]["detail"]


def test_reject_json_and_text(bare_pod: Path) -> None:
    first, second = new_gate(bare_pod), new_gate(bare_pod, "npm publish")
    done = loom(bare_pod, "reject", str(first), "--reason", "not today", "--json")
    assert done.returncode == 0, done.stderr
    assert (json.loads(done.stdout)["status"], json.loads(done.stdout)["reason"]) == ("rejected", "not today")
    done = loom(bare_pod, "reject", str(second), "--reason", "no")
    assert (done.returncode, done.stdout) == (0, f"rejected gate {second} (npm publish): no\n")


def test_approve_reject_and_audit_verify_json_share_the_other_commands_shapes(bare_pod: Path) -> None:
    """`approve --json` and `reject --json` print the gate as `gates --json` lists it (one
    document, the same keys); a lost race is the usual one line on stderr with exit 1 and
    nothing on stdout; `audit verify --json` is one document whose head names their entries."""
    first, second = new_gate(bare_pod), new_gate(bare_pod, "npm publish")
    approved = loom(bare_pod, "approve", str(first), "--json")
    rejected = loom(bare_pod, "reject", str(second), "--reason", "not today", "--json")
    assert approved.returncode == rejected.returncode == 0
    listed = {g["id"]: g for g in json.loads(loom(bare_pod, "gates", "--all", "--json").stdout)["gates"]}
    for done, gate_id in ((approved, first), (rejected, second)):
        document = json.loads(done.stdout)
        assert set(document) == set(listed[gate_id]) and document["id"] == gate_id
        assert document["status"] == listed[gate_id]["status"]
    for args in (("approve", str(first), "--json"), ("reject", str(first), "--reason", "late", "--json")):
        late = loom(bare_pod, *args)
        assert (late.returncode, late.stdout) == (1, "")
        assert len(late.stderr.strip().splitlines()) == 1 and "already approved by" in late.stderr
    verified = loom(bare_pod, "audit", "verify", "--json")
    report = json.loads(verified.stdout)
    assert verified.returncode == 0 and report["intact"] is True and report["problems"] == []
    assert set(report) == {"intact", "problems", "entries", "head", "witness", "checked"}
    decisions = [e for e in json.loads(loom(bare_pod, "audit", "export", "--json").stdout)["entries"]
                 if e["action"] in ("gate.approved", "gate.rejected")]
    assert [(e["action"], e["subject"]) for e in decisions] == [
        ("gate.approved", f"gate:{first}"), ("gate.rejected", f"gate:{second}")]
    assert report["head"]["id"] == report["entries"]


def test_current_decider_ignores_loom_user_for_the_account() -> None:
    assert current_decider({"LOOM_USER": "root-of-all"}) == Decider(ME, "root-of-all")
    assert current_decider({"LOOM_USER": " two\nlines "}).display == "two lines"
    assert current_decider({}) == Decider(ME, ME)


# -- approvers ------------------------------------------------------------------------


def test_an_account_outside_the_approvers_is_refused(bare_pod: Path) -> None:
    (bare_pod / "config.toml").write_text('[supervisors]\napprovers = ["nobody-else"]\n')
    gate_id = new_gate(bare_pod)
    done = loom(bare_pod, "approve", str(gate_id), LOOM_USER="nobody-else")  # naming oneself grants nothing
    assert done.returncode == 1 and done.stdout == ""
    message = done.stderr.strip()
    assert message.count("\n") == 0  # one line
    assert f"account {ME} may not decide" in message and "nobody-else" in message
    assert "[supervisors] approvers" in message and str(bare_pod / "config.toml") in message
    assert stored(bare_pod, gate_id)[0].status == "pending"

    (bare_pod / "config.toml").write_text(f'[supervisors]\napprovers = ["nobody-else", "{ME}"]\n')
    assert loom(bare_pod, "approve", str(gate_id)).returncode == 0


def test_loom_config_cannot_widen_the_approvers(bare_pod: Path, tmp_path: Path) -> None:
    """$LOOM_CONFIG is a variable an agent can set: a config it names is not asked who decides."""
    (bare_pod / "config.toml").write_text('[supervisors]\napprovers = ["nobody-else"]\n')
    mine = tmp_path / "mine.toml"
    mine.write_text(f'[supervisors]\napprovers = ["{ME}"]\n')
    gate_id = new_gate(bare_pod)
    for config in (str(mine), str(tmp_path / "missing.toml")):
        done = loom(bare_pod, "approve", str(gate_id), LOOM_CONFIG=config)
        assert done.returncode == 1 and f"account {ME} may not decide" in done.stderr, (config, done.stderr)
    assert stored(bare_pod, gate_id)[0].status == "pending"


def test_by_default_the_pod_owner_decides(tmp_path: Path) -> None:
    pod = tmp_path / "pod"
    pod.mkdir()
    found = approvers(pod, Config())
    assert found.accounts == {ME} and "owner" in found.source
    authorize(pod, Config(), Decider(ME, "ana"), environ={})
    with pytest.raises(NotAllowed, match="account mallory may not decide.*pod directory's owner"):
        authorize(pod, Config(), Decider("mallory", ME), environ={})


def test_a_shared_pod_is_decided_by_its_group(tmp_path: Path) -> None:
    """A setgid, group-writable pod: its group's members decide (listed members, and
    accounts whose primary group it is), not merely the directory's owner."""
    import grp
    import pwd

    pod = tmp_path / "pod"
    pod.mkdir()
    own_primary = pwd.getpwuid(os.geteuid()).pw_gid
    other = next((g for g in grp.getgrall() if g.gr_gid != own_primary and ME not in g.gr_mem), None)
    if other is None:
        pytest.skip("no group on this system that this account is outside of")
    os.chown(pod, os.geteuid(), other.gr_gid)
    os.chmod(pod, 0o2770)
    with pytest.raises(NotAllowed, match=f"members of the pod's group {other.gr_name}"):
        authorize(pod, Config(), current_decider({}), environ={})  # the owner, but not in the group
    os.chown(pod, os.geteuid(), own_primary)
    os.chmod(pod, 0o2770)
    assert ME in approvers(pod, Config()).accounts
    authorize(pod, Config(), current_decider({}), environ={})
    os.chmod(pod, 0o0750)  # no longer shared: the owner decides again
    assert approvers(pod, Config()).accounts == {ME}


def test_the_approvers_setting_is_parsed_with_warnings() -> None:
    config = parse_config({"supervisors": {"approvers": ["alice", " bob ", "alice"]}})
    assert config.supervisors.approvers == ("alice", "bob") and config.warnings == ()
    bad = parse_config({"supervisors": {"approvers": "alice", "who": 1}})
    assert bad.supervisors.approvers == () and len(bad.warnings) == 2


# -- an agent's environment -----------------------------------------------------------


@pytest.mark.parametrize("variable, value", [("CLAUDECODE", "1"), ("CODEX_SANDBOX", "seatbelt"),
                                             ("CODEX_THREAD_ID", "t-1"), ("LOOM_SESSION_ID", "x"),
                                             ("LOOM_AGENT", "auth")])
def test_a_decision_inside_an_agents_environment_is_refused(bare_pod: Path, variable: str, value: str) -> None:
    gate_id = new_gate(bare_pod)
    done = loom(bare_pod, "approve", str(gate_id), **{variable: value})
    assert done.returncode == 1
    assert f"inside an agent's environment ({variable} is set)" in done.stderr
    done = loom(bare_pod, "reject", str(gate_id), "--reason", "mine", **{variable: value})
    assert done.returncode == 1 and f"({variable} is set)" in done.stderr
    assert stored(bare_pod, gate_id)[0].status == "pending"


def test_codex_home_alone_is_not_an_agent() -> None:
    assert agent_variable({"CODEX_HOME": "/home/ana/.codex", "LOOM_USER": "ana"}) is None
    assert agent_variable({"CODEX_HOME": "x", "CODEX_SANDBOX_NETWORK_DISABLED": "1"}) == \
        "CODEX_SANDBOX_NETWORK_DISABLED"


def test_loomtui_gate_marks_its_command_as_an_agents_session(bare_pod: Path) -> None:
    done = loom(bare_pod, "gate", "--agent", "script-x", "--", "printenv", "LOOM_SESSION_ID")
    assert (done.returncode, done.stdout) == (0, "gate:script-x\n"), done.stderr


def test_memory_decisions_pass_the_same_check(bare_pod: Path) -> None:
    conn = connect(db_path(bare_pod))
    try:
        proposed = entries.add(conn, kind="decision", title="Use JWT", body="", author=entries.Author(
            name="auth-agent", kind="agent"), now=time.time(), review_kinds=("decision",))
    finally:
        conn.close()
    assert proposed.status == "proposed"
    done = loom(bare_pod, "memory", "accept", str(proposed.id), CODEX_SANDBOX="seatbelt")
    assert done.returncode == 1 and "(CODEX_SANDBOX is set)" in done.stderr
    (bare_pod / "config.toml").write_text('[supervisors]\napprovers = ["nobody-else"]\n')
    for args in (["accept", str(proposed.id)], ["reject", str(proposed.id), "--reason", "no"],
                 ["pin", str(proposed.id)], ["retire", str(proposed.id)],
                 ["add", "Pinned", "--kind", "fact", "--pin"]):
        done = loom(bare_pod, "memory", *args)
        assert done.returncode == 1 and f"account {ME} may not decide" in done.stderr, (args, done.stderr)
    added = loom(bare_pod, "memory", "add", "A plain fact", "--kind", "fact")  # adding is no decision
    assert added.returncode == 0, added.stderr
    (bare_pod / "config.toml").write_text(f'[supervisors]\napprovers = ["{ME}"]\n')
    accepted = loom(bare_pod, "memory", "accept", str(proposed.id), "--json", LOOM_USER="alice")
    assert accepted.returncode == 0, accepted.stderr
    conn = connect(db_path(bare_pod))
    try:
        assert entries.history(conn, proposed.id)[-1].actor == ME
    finally:
        conn.close()


# -- nobody decides a gate of their own session: a real process tree ---------------------

AGENT_SCRIPT = r"""
import os, subprocess, sys, time
from pathlib import Path
from loomtui.store import procs
from loomtui.store.db import connect, db_path
from loomtui.store.gates import create_gate
pod = Path(sys.argv[1])
conn = connect(db_path(pod))
now = time.time()
me = procs.me()
gate = create_gate(conn, agent_id=None, tool="Bash", action={"command": "git push --force origin main"},
                   summary="git push --force origin main", rule="git-push", risk="critical", now=now,
                   expires_at=now + 600, agent_pid=me.pid, agent_started=me.started,
                   waiter_host=procs.host())
conn.close()
print(gate.id, flush=True)
# The agent's own shell runs the decision command, as Claude Code runs Bash: sh -c.
done = subprocess.run(["sh", "-c", f"{sys.executable} -m loomtui approve {gate.id}"],
                      capture_output=True, text=True)
print(done.returncode, flush=True)
print(done.stderr.strip(), flush=True)
"""


def test_nobody_decides_a_gate_of_the_agent_it_runs_under(bare_pod: Path) -> None:
    agent = subprocess.run([sys.executable, "-c", AGENT_SCRIPT, str(bare_pod)], env=clean_env(LOOM_HOME=str(bare_pod)),
                           capture_output=True, text=True, timeout=60)
    assert agent.returncode == 0, agent.stderr
    gate_id, code, message = agent.stdout.strip().split("\n", 2)
    assert code == "1", message
    assert f"gate {gate_id} belongs to an agent this process runs under" in message
    assert stored(bare_pod, int(gate_id))[0].status == "pending"
    # The same command from outside that agent's process tree (this test) decides it.
    done = loom(bare_pod, "approve", gate_id)
    assert done.returncode == 0, done.stderr
    assert stored(bare_pod, int(gate_id))[0].status == "approved"


def test_a_reused_agent_pid_is_not_mistaken_for_the_agent(bare_pod: Path) -> None:
    """The gate names this very process, but with another start time: a later process
    that got the pid. It is not the agent, so the decision goes through."""
    from loomtui.store import procs

    me = procs.me()
    if me.started is None:
        pytest.skip("no /proc: processes are told apart by pid only")
    gate_id = new_gate(bare_pod, agent_pid=os.getpid(), agent_started=me.started + 1)
    authorize(bare_pod, Config(), current_decider({}), stored(bare_pod, gate_id)[0], environ={})
    same = new_gate(bare_pod, agent_pid=os.getpid(), agent_started=me.started)
    with pytest.raises(NotAllowed, match=f"gate {same} belongs to an agent this process runs under"):
        authorize(bare_pod, Config(), current_decider({}), stored(bare_pod, same)[0], environ={})


# -- the console ----------------------------------------------------------------------


def outsider_config() -> Config:
    return Config(console=ConsoleConfig(stall_after=600), supervisors=SupervisorsConfig(approvers=("nobody-else",)))


async def test_the_console_refuses_a_non_approver_and_stays_up(pod: Path) -> None:
    ids = add_gates(pod)
    app = build_app(pod, config=outsider_config())
    async with app.run_test(size=(120, 30)) as pilot:
        await open_inbox(pilot)  # the console opens, the inbox shows the gates
        await pilot.press("a")  # the cursor is on ui-cart
        await settle(pilot, app)
        await pilot.press("c")
        await settle(pilot, app)
        gate = gate_status(pod, ids["ui-cart"])
        assert (gate.status, gate.claimed_by) == ("pending", None)
        refusals = [n for n in app._notifications if f"account {ME} may not decide" in n.message]
        assert len(refusals) == 2 and all(n.severity == "error" for n in refusals)
        assert app.is_running


async def test_the_console_decides_as_the_os_account(pod: Path) -> None:
    ids = add_gates(pod)
    app = build_app(pod)  # supervisor="ana": the display name
    async with app.run_test(size=(120, 30)) as pilot:
        await open_inbox(pilot)
        await pilot.press("a")
        await settle(pilot, app)
    gate = gate_status(pod, ids["ui-cart"])
    assert (gate.status, gate.decided_by, gate.decided_name) == ("approved", ME, "ana")


async def test_the_console_refuses_memory_review_for_a_non_approver(pod: Path) -> None:
    from loomtui.tui.screens.memory import MemoryScreen

    conn = connect(db_path(pod))
    try:
        proposed = entries.add(conn, kind="decision", title="Use JWT", body="", author=entries.Author(
            name="auth-agent", kind="agent"), now=time.time(), review_kinds=("decision",))
    finally:
        conn.close()
    app = build_app(pod, config=outsider_config())
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.pause()
        await pilot.press("m")
        await settle(pilot, app)
        assert isinstance(app.screen, MemoryScreen)
        screen = app.screen
        screen.view = "review"
        screen.reload()
        await settle(pilot, app)
        screen.action_accept()
        await settle(pilot, app)
        assert any(f"account {ME} may not decide" in n.message for n in app._notifications)
    conn = connect(db_path(pod))
    try:
        assert entries.get(conn, proposed.id).status == "proposed"
    finally:
        conn.close()


async def test_the_console_refuses_a_budget_change_by_a_non_approver(pod: Path) -> None:
    from textual.widgets import Input

    from loomtui.config import BudgetConfig
    from loomtui.tui.screens.budgets import BudgetsScreen, LimitModal
    from tests.pods import LIMITS

    config = Config(console=ConsoleConfig(stall_after=600), budgets=BudgetConfig(limits=LIMITS),
                    supervisors=SupervisorsConfig(approvers=("nobody-else",)))
    app = build_app(pod, config=config)
    async with app.run_test(size=(140, 30)) as pilot:
        await pilot.press("b")
        await pilot.pause()
        assert isinstance(app.screen, BudgetsScreen)
        db_orders = next(a for a in app.pod_state.agents if a.name == "db-orders")
        assert app.screen.select_budget("agent", str(db_orders.id), "session")
        await pilot.press("e")
        await pilot.pause()
        assert isinstance(app.screen, LimitModal)
        app.screen.query_one("#limit-usd", Input).value = ""
        await pilot.press(*"500", "enter")
        await settle(pilot, app)
        assert any(f"account {ME} may not decide" in n.message and n.severity == "error"
                   for n in app._notifications)
        assert app.pod_state.budget("agent", str(db_orders.id), "session").max_usd == 5.0
    conn = connect(db_path(pod))
    try:
        assert not [e for e in audit.export(conn) if e["action"] == "budget.set"]
    finally:
        conn.close()


# -- no decision from inside an agent's process tree, whatever its environment -----------

FAKE_AGENT = r"""
import subprocess, sys
from pathlib import Path
Path("/proc/self/comm").write_text("claude")  # what Claude Code's native binary shows
for args in sys.argv[1:]:
    done = subprocess.run(["sh", "-c", f"env -u CLAUDECODE {sys.executable} -m loomtui {args}"],
                          capture_output=True, text=True)
    print(done.returncode, done.stderr.strip().replace("\n", " "), flush=True)
"""


@pytest.mark.skipif(not Path("/proc/self/comm").exists(), reason="needs Linux /proc")
def test_no_decision_from_inside_an_agents_process_tree(bare_pod: Path) -> None:
    """Found by the red team: with its variables cleared, an agent pinned and edited the
    pod's memory from its own shell (memory entries name no agent process, unlike gates).
    Any decision whose process has Claude Code's or Codex's program above it is refused."""
    gate_id = new_gate(bare_pod)
    added = loom(bare_pod, "memory", "add", "Run the tests before pushing", "--kind", "convention", "--json")
    assert added.returncode == 0, added.stderr
    entry_id = json.loads(added.stdout)["id"]
    agent = subprocess.run([sys.executable, "-c", FAKE_AGENT, f"approve {gate_id}", f"memory pin {entry_id}",
                            f"reject {gate_id} --reason no"],
                           env=clean_env(LOOM_HOME=str(bare_pod)), capture_output=True, text=True, timeout=60)
    assert agent.returncode == 0, agent.stderr
    lines = agent.stdout.strip().splitlines()
    assert len(lines) == 3
    for line in lines:
        assert line.startswith("1 ") and "runs inside an agent (claude" in line, line
    assert stored(bare_pod, gate_id)[0].status == "pending"
    # The same commands from outside any agent decide.
    assert loom(bare_pod, "memory", "pin", str(entry_id)).returncode == 0
    assert loom(bare_pod, "approve", str(gate_id)).returncode == 0
