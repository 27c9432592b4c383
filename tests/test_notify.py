"""[notify]: notifications that reach people outside the console, through a real command
(a script writing its stdin to a file) and apprise to a local HTTP receiver; once per
event even with two senders racing; a failing notifier is recorded and reported and never
holds up a hook; the console's bell and pop-up follow the settings."""

from __future__ import annotations

import http.server
import json
import os
import shlex
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from loomtui import notify
from loomtui.config import Config, NotifyConfig, parse_config
from loomtui.store.agents import record_event, set_governance, upsert_agent
from loomtui.store.db import connect, db_path
from loomtui.store.gates import create_gate
from tests import hook_fixtures, hook_routes
from tests.test_hook import bash, decide_when_ready, finish, pre_tool_use, start
from tests.waiting import until, wait_for

repo = hook_fixtures.repo
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def bare(tmp_path: Path) -> Path:
    pod = tmp_path / "pod"
    connect(db_path(pod)).close()
    return pod


def recorder(tmp_path: Path, *, fail: bool = False, hold: Path | None = None) -> tuple[Path, str]:
    """A notify command: appends its stdin (one JSON document) as one line to a file;
    `fail` exits 3 after saying why; `hold` waits for that file to exist first."""
    out = tmp_path / "got.jsonl"
    script = tmp_path / "notifier.sh"
    wait = f'while [ ! -e "{hold}" ]; do sleep 0.05; done\n' if hold else ""
    tail = 'echo "pager is down" >&2\nexit 3\n' if fail else ""
    script.write_text(f'#!/bin/sh\ndoc=$(cat)\n{wait}printf "%s\\n" "$doc" >> "{out}"\n{tail}')
    script.chmod(0o755)
    return out, str(script)


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def add_agent(pod: Path, name: str = "auth-api", now: float | None = None) -> int:
    conn = connect(db_path(pod))
    try:
        return upsert_agent(conn, kind="claude", now=now or time.time(), session_id=f"s-{name}", name=name,
                            repo="/srv/shop", branch="auth")
    finally:
        conn.close()


def add_gate(pod: Path, agent_id: int, summary: str, risk: str = "high", now: float | None = None) -> int:
    now = now or time.time()
    conn = connect(db_path(pod))
    try:
        return create_gate(conn, agent_id=agent_id, tool="Bash", action={"command": summary}, summary=summary,
                           rule="push", risk=risk, now=now, expires_at=now + 600).id
    finally:
        conn.close()


def rows(pod: Path) -> dict[str, tuple]:
    conn = connect(db_path(pod))
    try:
        return {key: (status, error) for key, status, error in
                conn.execute("SELECT key, status, error FROM notifications")}
    finally:
        conn.close()


def config_with(**notify_keys) -> Config:
    return parse_config({"notify": notify_keys})


# -- configuration -----------------------------------------------------------------------


def test_notify_config_reads_what_it_knows_and_warns_about_the_rest() -> None:
    config = parse_config({"notify": {"gate_risks": ["high", "critical"], "bell": False,
                                      "command": "cat >> /tmp/x", "urls": ["ntfy://localhost/t"],
                                      "question": "yes", "colour": 1}})
    n = config.notify
    assert n.gate_risks == ("high", "critical") and n.bell is False and n.popup is True
    assert n.command == ("/bin/sh", "-c", "cat >> /tmp/x") and n.urls == ("ntfy://localhost/t",)
    assert n.question is True  # "yes" is not a boolean: default, and said
    assert any("notify.question" in w for w in config.warnings)
    assert any("notify.colour" in w for w in config.warnings)
    assert parse_config({"notify": {"gate_risks": ["urgent"]}}).notify.gate_risks == NotifyConfig().gate_risks
    assert not parse_config({}).notify.outside


# -- through a real command and a real HTTP receiver ------------------------------------


def test_a_new_gate_runs_the_command_once_with_one_json_document(bare: Path, tmp_path: Path) -> None:
    out, script = recorder(tmp_path)
    config = config_with(command=[script], gate_risks=["high"])
    agent = add_agent(bare)
    gate = add_gate(bare, agent, "git push --force origin main")
    add_gate(bare, agent, "ls -la", risk="low")  # not a risk [notify] asks for
    sent = notify.send_due(bare, config, sender="test")
    assert [s.key for s in sent] == [f"gate:{gate}"] and sent[0].ok
    [doc] = lines(out)
    assert doc["event"] == "gate" and doc["gate_id"] == gate and doc["risk"] == "high"
    assert doc["summary"] == "git push --force origin main" and doc["agent"]["name"] == "auth-api"
    assert doc["branch"] == "auth" and doc["pod"] == str(bare)
    assert notify.send_due(bare, config, sender="test") == []  # once
    assert len(lines(out)) == 1
    assert rows(bare) == {f"gate:{gate}": ("sent", "")}


def test_an_agents_text_reaches_a_shell_command_as_data_only(bare: Path, tmp_path: Path) -> None:
    """The gate's summary is the agent's text: a `command` run by /bin/sh gets it inside the
    JSON on stdin, never in its command line, so shell syntax in it runs nothing."""
    out = tmp_path / "out.jsonl"
    pwned = tmp_path / "pwned"
    config = config_with(command=f"cat >> {out}", gate_risks=["high"])  # a string: run by /bin/sh -c
    agent = add_agent(bare)
    summary = f"git push $(touch {pwned}) `touch {pwned}`; touch {pwned} && echo '"
    add_gate(bare, agent, summary)
    [sent] = notify.send_due(bare, config, sender="test")
    assert sent.ok
    [doc] = lines(out)
    assert summary.startswith(doc["summary"].removesuffix("…")) and "$(touch" in doc["summary"]
    assert not pwned.exists()


class Receiver(http.server.ThreadingHTTPServer):
    """A local HTTP endpoint recording every POST body (apprise's json:// target)."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.bodies.append(json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"json://127.0.0.1:{self.server_address[1]}/"


@pytest.fixture
def receiver():
    found = Receiver()
    yield found
    found.shutdown()
    found.server_close()


def test_urls_go_through_apprise_to_a_local_receiver(bare: Path, receiver: Receiver) -> None:
    pytest.importorskip("apprise")
    config = config_with(urls=[receiver.url])
    agent = add_agent(bare)
    gate = add_gate(bare, agent, "terraform apply", risk="critical")
    sent = notify.send_due(bare, config, sender="test")
    assert [(s.key, s.ok) for s in sent] == [(f"gate:{gate}", True)], sent
    [body] = receiver.bodies
    assert "approval needed (critical)" in body["title"] and "auth-api" in body["title"]
    assert "terraform apply" in body["message"] and f"gate #{gate}" in body["message"]
    notify.send_due(bare, config, sender="test")
    assert len(receiver.bodies) == 1


def test_question_over_budget_and_ungoverned_events(bare: Path, tmp_path: Path) -> None:
    out, script = recorder(tmp_path)
    now = time.time()
    asking, spending, loose = add_agent(bare, "asks"), add_agent(bare, "spends"), add_agent(bare, "loose")
    prompting = add_agent(bare, "prompts")  # its permission prompt waits in the inbox: a gate
    add_gate(bare, prompting, "Bash asks for permission", risk="low", now=now - 700)  # not news itself
    conn = connect(db_path(bare))
    try:
        record_event(conn, asking, kind="notification", now=now, summary="question: keep the old endpoint?",
                     status="waiting", status_reason="question: keep the old endpoint?")
        record_event(conn, prompting, kind="notification", now=now, summary="Claude needs your permission",
                     status="waiting", status_reason="Claude needs your permission")
        set_governance(conn, loose, permission_mode="bypassPermissions", sandbox="off", hooks="installed")
    finally:
        conn.close()
    add_gate(bare, spending, "$12.00 of $10.00 · npm test", risk="budget")
    notify.send_due(bare, config_with(command=[script]), sender="test")
    assert len(lines(out)) == 3, lines(out)
    got = {d["event"]: d for d in lines(out)}
    assert set(got) == {"question", "over_budget", "ungoverned"}
    assert got["question"]["agent"]["name"] == "asks" and "old endpoint" in got["question"]["summary"]
    assert got["over_budget"]["agent"]["name"] == "spends"
    assert got["ungoverned"]["agent"]["name"] == "loose" and "bypassPermissions" in got["ungoverned"]["summary"]
    # Each can be switched off.
    out.unlink()
    notify.send_due(bare, config_with(command=[script], question=False, over_budget=False, ungoverned=False),
                    sender="test", now=now + 1)
    assert lines(out) == []


def test_old_events_are_history_not_news(bare: Path, tmp_path: Path) -> None:
    out, script = recorder(tmp_path)
    agent = add_agent(bare)
    add_gate(bare, agent, "git push", now=time.time() - notify.HORIZON - 60)
    assert notify.send_due(bare, config_with(command=[script]), sender="test") == []
    assert lines(out) == []


def test_two_senders_racing_send_each_event_once(bare: Path, tmp_path: Path, receiver: Receiver) -> None:
    """Four detached senders (real processes, as hooks start them) at once on eight events."""
    out, script = recorder(tmp_path)
    (bare / "config.toml").write_text(f'[notify]\ncommand = ["{script}"]\nurls = ["{receiver.url}"]\n')
    agent = add_agent(bare)
    gates = [add_gate(bare, agent, f"git push origin b{n}") for n in range(8)]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LOOM_", "PYTHON"))}
    env.update(LOOM_HOME=str(bare), PYTHONPATH=str(ROOT))
    senders = [subprocess.Popen([sys.executable, "-m", "loomtui.notify", str(bare)], env=env,
                                stderr=subprocess.PIPE, text=True) for _ in range(4)]
    for sender in senders:
        assert sender.wait(timeout=60) == 0, sender.stderr.read()
        sender.stderr.close()
    assert sorted(d["gate_id"] for d in lines(out)) == gates
    assert sorted(int(b["message"].split("gate #")[1].split()[0]) for b in receiver.bodies) == gates
    assert set(rows(bare).values()) == {("sent", "")}


def test_the_service_reads_notify_again_when_the_config_changes(bare: Path, tmp_path: Path) -> None:
    """Hooks leave sending to a running service: one started before [notify] was set
    must pick it up."""
    out, script = recorder(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOM_")}
    service = hook_routes.start_service(bare, env)
    try:
        (bare / "config.toml").write_text(f'[notify]\ncommand = ["{script}"]\nungoverned = false\n')
        gate = add_gate(bare, add_agent(bare), "git push origin main")
        [doc] = wait_for(lambda: lines(out), "the service to send the gate")
        assert doc["gate_id"] == gate
    finally:
        log = hook_routes.stop_service(service)
    assert "notifications outside the console on" in log
    assert len(lines(out)) == 1


# -- failures are reported, hooks never wait on them -----------------------------------


def loomtui_cli(pod: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LOOM_", "PYTHON"))}
    env.update(LOOM_HOME=str(pod), PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "loomtui", *args], capture_output=True, text=True, env=env,
                          timeout=60, check=False)


def test_a_failing_notifier_is_recorded_audited_and_reported_by_status(bare: Path, tmp_path: Path) -> None:
    pytest.importorskip("apprise")
    _, script = recorder(tmp_path, fail=True)
    closed = Receiver()  # a port nobody listens on any more
    url = closed.url.replace("json://", "json://bot:s3cret@")
    closed.shutdown()
    closed.server_close()
    (bare / "config.toml").write_text(f'[notify]\ncommand = ["{script}"]\nurls = ["{url}"]\n')
    agent = add_agent(bare)
    gate = add_gate(bare, agent, "git push --force")
    sent = notify.send_due(bare, parse_config({"notify": {"command": [script], "urls": [url]}}), sender="test")
    [(key, ok, error)] = sent
    assert key == f"gate:{gate}" and not ok
    assert "exited 3: pager is down" in error and "json://… not delivered" in error.replace(": not", " not")
    assert "s3cret" not in error  # URLs may carry secrets: only the scheme is said
    assert rows(bare)[key][0] == "failed"
    conn = connect(db_path(bare))
    try:
        audited = conn.execute("SELECT actor, subject FROM audit WHERE action = 'notify.failed'").fetchall()
    finally:
        conn.close()
    assert audited == [("test", f"notify:{key}")]
    status = loomtui_cli(bare, "status", "--json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["notify"]["failed_last_day"] == 1
    text = loomtui_cli(bare, "status")
    assert "1 notification(s) failed" in text.stdout and "pager is down" in text.stdout


@pytest.mark.parametrize("route", [*hook_routes.ROUTES, "client-alone"])
def test_the_gates_notification_never_holds_up_its_hook(tmp_path: Path, repo: Path, route: str) -> None:
    """A notifier that blocks until released: the hook creates its gate, is approved and
    answers while the notifier still waits; then the one notification arrives. Direct:
    the hook's detached sender sends it; served: the pod service does; client-alone: the
    hook client (`python3 -I -S .../launch.py`) finds no service and goes direct."""
    pod = tmp_path / "pod"
    connect(db_path(pod)).close()
    release = tmp_path / "release"
    out, script = recorder(tmp_path, hold=release)
    # (The test's agent has no sandbox: only its gate is asked for here.)
    (pod / "config.toml").write_text(f'[notify]\ncommand = ["{script}"]\nungoverned = false\n')
    current = hook_routes.use("served" if route == "client-alone" else route)
    try:
        if route == "client-alone":  # the client's command, with no service started
            from loomtui.hooks import install
            from tests.test_hook import env_for

            proc = subprocess.Popen(shlex.split(install.hook_command("claude")), stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env_for(pod))
            proc.stdin.write(json.dumps(bash("git push origin auth", repo)).encode())
            proc.stdin.close()
        else:
            proc = start(pod, bash("git push origin auth", repo))
        # A gate decided before any sender saw it is not news: decide once it is claimed.
        wait_for(lambda: rows(pod), "the notification to be claimed")
        decider = decide_when_ready(pod, approve=True, reason="ok")
        code, answer, _ = finish(proc)
        decider.join()
        assert code == 0 and json.loads(answer) == pre_tool_use("allow", "Approved by ana: ok")
        assert lines(out) == []  # the notifier still waits: the hook did not
        release.touch()
        [doc] = wait_for(lambda: lines(out), "the notification")
        assert doc["event"] == "gate" and doc["summary"] == "git push origin auth"
        wait_for(lambda: set(rows(pod).values()) == {("sent", "")}, "the notification to be marked sent")
        if route == "served":
            assert current.answering, "the pod service did not come up"
    finally:
        current.stop()
        hook_routes.use("direct")


def test_a_failing_notifier_does_not_change_the_hooks_answer(tmp_path: Path, repo: Path) -> None:
    pod = tmp_path / "pod"
    connect(db_path(pod)).close()
    _, script = recorder(tmp_path, fail=True)
    (pod / "config.toml").write_text(f'[notify]\ncommand = ["{script}"]\nungoverned = false\n')
    proc = start(pod, bash("git push origin auth", repo))
    wait_for(lambda: rows(pod), "the gate's notification to be claimed")
    decider = decide_when_ready(pod, approve=False, reason="not today")
    code, answer, _ = finish(proc)
    decider.join()
    assert code == 0 and json.loads(answer) == pre_tool_use("deny", "Rejected by ana: not today")
    [(key, (status, error))] = wait_for(lambda: [r for r in rows(pod).items() if r[1][0] != "sending"],
                                        "the failure to be recorded")
    assert key.startswith("gate:") and status == "failed" and "pager is down" in error


# -- the console's bell and pop-up --------------------------------------------------------


@pytest.mark.parametrize(("keys", "bells", "popups"), [
    ({}, 1, 2),  # by default every new gate pops up; the bell rings once for both (BELL_GAP)
    ({"gate_risks": ["high"]}, 1, 1),
    ({"bell": False}, 0, 2),
    ({"popup": False, "gate_risks": ["high"]}, 1, 0),
])
async def test_the_console_rings_and_pops_up_as_notify_says(bare: Path, keys, bells, popups,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.conftest import build_app

    config = parse_config({"notify": keys})
    app = build_app(bare, config=config, clock=time.time)
    rang: list[int] = []
    monkeypatch.setattr(app, "bell", lambda: rang.append(1))
    async with app.run_test(size=(80, 24)) as pilot:
        agent = add_agent(bare)
        add_gate(bare, agent, "git push --force", risk="high")
        await app.refresh_state()
        add_gate(bare, agent, "ls", risk="low")
        await app.refresh_state()
        await until(pilot, lambda: app.pod_state is not None and len(app.pod_state.gates) == 2, "both gates")
        await pilot.pause()  # the app's Notify messages are handled
        shown = [n for n in app._notifications if n.title.startswith("Approval needed")]
        assert (len(rang), len(shown)) == (bells, popups)


async def test_a_burst_of_gates_pops_up_a_few_then_says_how_many_more(bare: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """200 agents make a gate a second: pop-ups must not bury the fleet. Gates arriving
    one reading after another: POPUP_MAX pop-ups, then one line counting the rest, and
    one ring."""
    from loomtui.tui.app import POPUP_MAX
    from tests.conftest import build_app

    app = build_app(bare, config=parse_config({}), clock=time.time)
    rang: list[int] = []
    monkeypatch.setattr(app, "bell", lambda: rang.append(1))
    async with app.run_test(size=(80, 24)) as pilot:
        agent = add_agent(bare)
        for n in range(POPUP_MAX + 4):
            add_gate(bare, agent, f"git push origin b{n}", risk="high")
            await app.refresh_state()
        await until(pilot, lambda: len(app.pod_state.gates) == POPUP_MAX + 4, "every gate")
        await pilot.pause()
        shown = [n for n in app._notifications if n.title.startswith("Approval needed")]
        more = [n.message for n in app._notifications if n.title == "Approvals"]
        assert len(shown) == POPUP_MAX and len(rang) == 1
        assert more == ["and 1 more new gate waiting in the inbox (i)"]  # said once, for the first held
        assert "b0" in shown[0].message and f"b{POPUP_MAX - 1}" in shown[-1].message


@pytest.mark.parametrize(("keys", "said"), [({}, True), ({"popup": False}, False), ({"over_budget": False}, False)])
async def test_the_consoles_over_budget_popup_follows_notify(pod: Path, keys, said) -> None:
    """`pod` is the shared fixture's pod (tests/pods.py) with budgets: crossing a limit pops up
    "Over budget" unless [notify] says popup = false or over_budget = false."""
    from loomtui.config import BudgetConfig, ConsoleConfig
    from loomtui.store.budgets import refresh
    from tests.conftest import build_app
    from tests.pods import LIMITS, NOW, add_usage

    config = Config(console=ConsoleConfig(stall_after=600), budgets=BudgetConfig(limits=LIMITS),
                    notify=parse_config({"notify": keys}).notify)
    app = build_app(pod, config=config)
    async with app.run_test(size=(80, 24)) as pilot:
        billing = next(a for a in app.pod_state.agents if a.name == "billing-vat")  # $2.10 of $5
        conn = connect(db_path(pod))
        try:
            add_usage(conn, billing.id, 50, 3.3, "claude", now=NOW + 1)  # $5.40: over
            refresh(conn, LIMITS, NOW, None)
        finally:
            conn.close()
        await app.refresh_state()
        await until(pilot, lambda: any(b.fraction >= 1.0 for b in app.pod_state.budgets), "the budget to be over")
        await pilot.pause()
        assert any(n.title == "Over budget" for n in app._notifications) is said


def test_a_signal_while_the_sender_starts_still_stops_the_waiting_hook(bare: Path, monkeypatch) -> None:
    """kick() swallows every notification problem, but not the hook's interruption: a
    SIGTERM that lands while the sender starts (the gate is in the inbox already) must
    reach the waiting hook, which cancels its gate. Swallowed, the hook waited on until
    the gate expired (seen as test_hook's SIGTERM tests failing under load)."""
    from loomtui.hooks.signals import HookInterrupted

    def interrupted(pod):
        raise HookInterrupted("SIGTERM")

    monkeypatch.setattr(notify, "load_config", interrupted)
    with pytest.raises(HookInterrupted):
        notify.kick(bare)

    def broken(pod):
        raise OSError("no config")

    monkeypatch.setattr(notify, "load_config", broken)
    notify.kick(bare)  # any other problem: no sender, and the hook goes on
