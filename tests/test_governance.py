"""Each agent's governance: what its settings files say about
its sandbox and LoomTUI's hooks, stored only when it changed, shown by `loomtui agents`,
the fleet's `!` mark, the Agent screen and the inbox."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from loomtui.hooks.governance import governance_note, inspect_settings, is_ungoverned
from loomtui.hooks.install import claude_hooks, codex_hooks
from loomtui.store.agents import set_governance, upsert_agent
from loomtui.store.db import connect, db_path
from loomtui.store.gates import create_gate
from tests.pods import make_pod

ROOT = Path(__file__).resolve().parents[1]
STRICT = {"enabled": True, "failIfUnavailable": True, "allowUnsandboxedCommands": False}
OURS = "loomtui hook claude"


@pytest.fixture
def box(tmp_path: Path) -> dict:
    """A home with no settings, a git repository with a subdirectory to work in, and
    no managed settings file."""
    home = tmp_path / "home"
    home.mkdir()
    repo = tmp_path / "shop"
    (repo / "src" / "deep").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    return {"home": home, "repo": repo, "cwd": str(repo / "src" / "deep"),
            "env": {"HOME": str(home)}, "managed": tmp_path / "managed-settings.json"}


def write(path: Path, data) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


def claude(box: dict, **env) -> tuple[str, str]:
    return inspect_settings("claude", box["cwd"], {**box["env"], **env}, managed=box["managed"])


def project(box: dict, name: str = "settings.json") -> Path:
    return box["repo"] / ".claude" / name


# -- Claude Code: the sandbox ----------------------------------------------------------


def test_no_settings_anywhere_is_no_sandbox_and_no_hooks(box) -> None:
    assert claude(box) == ("off", "missing")


def test_a_strict_sandbox_with_our_hooks_is_on_and_installed(box) -> None:
    write(project(box), {"sandbox": STRICT, "hooks": claude_hooks(OURS)})
    assert claude(box) == ("on", "installed")


@pytest.mark.parametrize("sandbox", [
    {"enabled": True},  # Claude's defaults: runs unsandboxed when bwrap is missing, may leave it
    {"enabled": True, "failIfUnavailable": True},  # a command may still ask to leave it
    {"enabled": True, "allowUnsandboxedCommands": False},  # ... or run bare when it cannot start
    {**STRICT, "enableWeakerNestedSandbox": True},
])
def test_a_sandbox_that_can_be_left_or_skipped_is_weak(box, sandbox) -> None:
    write(project(box), {"sandbox": sandbox})
    assert claude(box)[0] == "weak"


@pytest.mark.parametrize("sandbox", [{"enabled": False}, {**STRICT, "enabled": "true"}, "on", None])
def test_a_sandbox_not_enabled_with_a_real_true_is_off(box, sandbox) -> None:
    write(project(box), {"sandbox": sandbox})
    assert claude(box)[0] == "off"


def test_settings_merge_in_claudes_precedence(box) -> None:
    """user < project < local project < managed; objects merge key by key."""
    user = write(box["home"] / ".claude" / "settings.json", {"sandbox": STRICT})
    assert claude(box)[0] == "on"
    write(project(box), {"sandbox": {"allowUnsandboxedCommands": True}})  # project over user
    assert claude(box)[0] == "weak"
    write(project(box, "settings.local.json"), {"sandbox": {"allowUnsandboxedCommands": False}})
    assert claude(box)[0] == "on"  # local over project
    write(box["managed"], {"sandbox": {"enabled": False}})
    assert claude(box)[0] == "off"  # managed over everything
    box["managed"].unlink()
    user.unlink()
    assert claude(box)[0] == "off"  # nothing enables it any more


def test_claude_config_dir_relocates_the_user_settings(box, tmp_path) -> None:
    write(box["home"] / ".claude" / "settings.json", {"sandbox": STRICT})
    elsewhere = tmp_path / "cfg"
    write(elsewhere / "settings.json", {"sandbox": {"enabled": False}})
    assert claude(box)[0] == "on"
    assert claude(box, CLAUDE_CONFIG_DIR=str(elsewhere))[0] == "off"


def test_the_project_is_found_from_a_subdirectory_or_claude_project_dir(box, tmp_path) -> None:
    write(project(box), {"sandbox": STRICT})
    assert claude(box)[0] == "on"  # cwd is shop/src/deep: walked up to the .git
    other = tmp_path / "other"
    write(other / ".claude" / "settings.json", {"sandbox": {"enabled": False}})
    assert claude(box, CLAUDE_PROJECT_DIR=str(other))[0] == "off"
    assert inspect_settings("claude", None, box["env"], managed=box["managed"]) == ("off", "missing")


# -- Claude Code: the hooks ------------------------------------------------------------


@pytest.mark.parametrize("command", [
    "loomtui hook claude",
    "/opt/venv/bin/loomtui hook claude",
    f"{sys.executable} -m loomtui hook claude",
    "'/path with spaces/python3' -m loomtui hook claude",
    "LOOM_HOME=/srv/pod loomtui hook claude",
])
def test_our_hook_in_every_deciding_event_is_installed(box, command) -> None:
    write(project(box), {"hooks": claude_hooks(command)})
    assert claude(box)[1] == "installed"


def test_hooks_spread_over_files_all_count(box) -> None:
    hooks = claude_hooks(OURS)
    write(project(box), {"hooks": {"PreToolUse": hooks["PreToolUse"]}})
    assert claude(box)[1] == "partial"
    write(box["home"] / ".claude" / "settings.json", {"hooks": {"PermissionRequest": hooks["PermissionRequest"]}})
    assert claude(box)[1] == "installed"


@pytest.mark.parametrize("hooks", [
    {"PreToolUse": claude_hooks(OURS)["PreToolUse"]},  # PermissionRequest gone
    {"PermissionRequest": claude_hooks(OURS)["PermissionRequest"],
     "PostToolUse": claude_hooks(OURS)["PostToolUse"]},  # PreToolUse gone
    {**claude_hooks(OURS),  # PreToolUse only for Bash: Edit and Write skip the policy
     "PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": OURS}]}]},
])
def test_some_deciding_events_without_our_hook_is_partial(box, hooks) -> None:
    write(project(box), {"hooks": hooks})
    assert claude(box)[1] == "partial"


@pytest.mark.parametrize("hooks", [
    {},
    {"PreToolUse": [{"matcher": "*", "hooks": [{"type": "command", "command": "other-tool check"}]}]},
    {"PreToolUse": [{"matcher": "*", "hooks": [{"type": "command", "command": "echo loomtui hook"}]}]},
    {"Stop": claude_hooks(OURS)["Stop"]},  # only a non-deciding event
    {"PreToolUse": "loomtui hook claude", "PermissionRequest": [None, {"hooks": "x"}]},
])
def test_no_deciding_event_with_our_hook_is_missing(box, hooks) -> None:
    write(project(box), {"hooks": hooks})
    assert claude(box)[1] == "missing"


def test_disable_all_hooks_is_disabled(box) -> None:
    write(project(box), {"sandbox": STRICT, "hooks": claude_hooks(OURS)})
    write(project(box, "settings.local.json"), {"disableAllHooks": True})
    assert claude(box) == ("on", "disabled")


def test_managed_only_hooks_ignore_the_projects(box) -> None:
    write(project(box), {"hooks": claude_hooks(OURS)})
    write(box["managed"], {"allowManagedHooksOnly": True})
    assert claude(box)[1] == "missing"
    write(box["managed"], {"allowManagedHooksOnly": True, "hooks": claude_hooks(OURS)})
    assert claude(box)[1] == "installed"


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", "\"text\"", b"\xff\xfe{}"])
def test_a_bad_settings_file_makes_both_parts_unknown(box, content) -> None:
    write(box["home"] / ".claude" / "settings.json", {"sandbox": STRICT, "hooks": claude_hooks(OURS)})
    path = project(box, "settings.local.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    assert claude(box) == ("unknown", "unknown")


def test_an_unreadable_settings_file_is_unknown(box) -> None:
    project(box).mkdir(parents=True)  # a directory where the file should be: read fails
    assert claude(box) == ("unknown", "unknown")


def test_agents_without_settings_to_read_are_not_inspected(box) -> None:
    for kind in ("aider", "script", "sim", "nonsense"):
        assert inspect_settings(kind, box["cwd"], box["env"]) == ("", "")


# -- Codex -----------------------------------------------------------------------------


def codex(box: dict) -> tuple[str, str]:
    return inspect_settings("codex", box["cwd"], {**box["env"], "CODEX_HOME": str(box["home"] / "cx")})


def codex_config(box: dict, text: str) -> Path:
    return write(box["home"] / "cx" / "config.toml", text)


@pytest.mark.parametrize("text, sandbox", [
    ('sandbox_mode = "workspace-write"\n', "on"),
    ('sandbox_mode = "read-only"\n', "on"),
    ('sandbox_mode = "danger-full-access"\nmodel = "gpt-5-codex"\n', "off"),
    ('model = "gpt-5-codex"\n', "on"),  # absent: Codex's default, read-only (workspace-write if trusted)
    ('sandbox_mode = "yolo"\n', "unknown"),
    ('sandbox_mode = "workspace-write"\nprofile = "fast"\n[profiles.fast]\nsandbox_mode = "danger-full-access"\n',
     "off"),
])
def test_codex_sandbox_mode_from_config_toml(box, text, sandbox) -> None:
    codex_config(box, text)
    assert codex(box)[0] == sandbox


def test_codex_project_config_overrides_the_users(box) -> None:
    codex_config(box, 'sandbox_mode = "workspace-write"\n')
    write(box["repo"] / ".codex" / "config.toml", 'sandbox_mode = "danger-full-access"\n')
    assert codex(box)[0] == "off"


def test_codex_hooks_from_either_hooks_json(box) -> None:
    assert codex(box) == ("on", "missing")
    hooks = codex_hooks("loomtui hook codex")
    write(box["repo"] / ".codex" / "hooks.json", {"hooks": {"PreToolUse": hooks["PreToolUse"]}})
    assert codex(box)[1] == "partial"
    write(box["home"] / "cx" / "hooks.json", {"hooks": hooks})
    assert codex(box)[1] == "installed"


def test_codex_hooks_switched_off_by_a_feature_flag_are_disabled(box) -> None:
    write(box["home"] / "cx" / "hooks.json", {"hooks": codex_hooks("loomtui hook codex")})
    codex_config(box, '[features]\nhooks = false\n')
    assert codex(box) == ("on", "disabled")
    codex_config(box, '[features]\ncodex_hooks = false\n')  # the deprecated name
    assert codex(box)[1] == "disabled"


def test_a_bad_codex_file_is_unknown_for_its_part_only(box) -> None:
    write(box["home"] / "cx" / "hooks.json", "{oops")
    codex_config(box, 'sandbox_mode = "danger-full-access"\n')
    assert codex(box) == ("off", "unknown")  # the config still says the sandbox is off
    write(box["home"] / "cx" / "hooks.json", {"hooks": codex_hooks("loomtui hook codex")})
    codex_config(box, 'sandbox_mode = "workspace-write\n')  # unterminated string
    assert codex(box) == ("unknown", "unknown")  # [features] may hide in it too


# -- notes and the mark -----------------------------------------------------------------


@pytest.mark.parametrize("mode, sandbox, hooks, tool_input, note", [
    ("default", "on", "installed", {"command": "ls"}, ""),
    ("", "", "", None, ""),  # nothing known yet: no note, no mark
    ("acceptEdits", "on", "installed", None, ""),
    ("plan", "on", "installed", None, ""),
    ("dontAsk", "on", "installed", None, ""),  # denies whatever would prompt: not a bypass
    ("bypassPermissions", "off", "installed", None, "no sandbox · bypassPermissions"),
    ("auto", "weak", "partial", None, "sandbox weak · auto · hooks partial"),
    ("default", "on", "disabled", None, "hooks disabled"),
    ("default", "on", "missing", None, "hooks missing"),
    ("default", "unknown", "unknown", None, "sandbox unknown · hooks unknown"),
    ("default", "on", "installed", {"command": "rm x", "dangerouslyDisableSandbox": True},
     "asks to leave the sandbox"),
    ("default", "on", "installed", {"dangerouslyDisableSandbox": "true"}, ""),
    ("bypassPermissions", "off", "", {"dangerouslyDisableSandbox": True},
     "no sandbox · bypassPermissions · asks to leave the sandbox"),
    ("\x1b[2J", "on", "installed", None, ""),  # an odd mode from a payload is no note
])
def test_governance_note_and_mark(mode, sandbox, hooks, tool_input, note) -> None:
    assert governance_note(mode, sandbox, hooks, tool_input) == note
    assert is_ungoverned(mode, sandbox, hooks) == bool(governance_note(mode, sandbox, hooks))


def test_the_module_is_stdlib_only_and_lazy(box) -> None:
    """On the hook path: no UI; inspecting a Claude session with our usual hook command
    loads neither tomllib (Codex only) nor shlex (quoted commands only)."""
    write(project(box), {"sandbox": STRICT, "hooks": claude_hooks(OURS)})
    probe = ("import sys, loomtui.hooks.governance as g; "
             f"assert g.inspect_settings('claude', {box['cwd']!r}, {box['env']!r}) == ('on', 'installed'); "
             "print(sorted(m for m in sys.modules if m.split('.')[0] in "
             "('textual', 'rich', 'tomllib', 'shlex')))")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT,
                         env={**env, "PYTHONPATH": str(ROOT)}, check=True).stdout
    assert out.strip() == "[]"


# -- the store: written only when changed ------------------------------------------------


@pytest.fixture
def store(tmp_path: Path):
    conn = connect(db_path(tmp_path / "pod"))
    agent_id = upsert_agent(conn, kind="claude", now=1.0, session_id="s-1", name="auth-api")
    yield tmp_path / "pod", conn, agent_id
    conn.close()


def governance_of(conn, agent_id) -> tuple:
    return conn.execute("SELECT permission_mode, sandbox, hooks FROM agents WHERE id = ?",
                        (agent_id,)).fetchone()


def test_set_governance_writes_what_changed_and_keeps_what_is_not_given(store) -> None:
    _, conn, agent_id = store
    assert governance_of(conn, agent_id) == ("", "", "")
    assert set_governance(conn, agent_id, permission_mode="default", sandbox="on", hooks="installed")
    assert governance_of(conn, agent_id) == ("default", "on", "installed")
    assert set_governance(conn, agent_id, permission_mode="bypassPermissions")
    assert governance_of(conn, agent_id) == ("bypassPermissions", "on", "installed")
    assert not set_governance(conn, agent_id)
    assert not set_governance(conn, agent_id + 99, sandbox="off")  # no such agent: nothing
    set_governance(conn, agent_id, permission_mode="x" * 10_000)  # from a payload: kept short
    assert len(governance_of(conn, agent_id)[0]) == 40


def test_an_unchanged_value_takes_no_write_lock(store) -> None:
    """The hook calls this on every event: with the same mode it must not even wait for
    the writer's lock (another writer holds it here), while a change does."""
    pod, conn, agent_id = store
    set_governance(conn, agent_id, permission_mode="default", sandbox="on", hooks="installed")
    writer = sqlite3.connect(db_path(pod), isolation_level=None)
    conn.execute("PRAGMA busy_timeout = 50")
    try:
        writer.execute("BEGIN IMMEDIATE")
        started = time.monotonic()
        assert not set_governance(conn, agent_id, permission_mode="default", sandbox="on", hooks="installed")
        assert time.monotonic() - started < 0.05  # did not wait for the lock
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            set_governance(conn, agent_id, permission_mode="bypassPermissions")
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert governance_of(conn, agent_id)[0] == "default"


# -- `loomtui agents` on a real pod ----------------------------------------------------------


@pytest.fixture
def live_pod(tmp_path: Path) -> Path:
    """The fixture fleet with times around now: waiting, working, stalled, error, idle and
    done agents; one ungoverned, one governed; two pending gates and an expired one."""
    now = time.time()
    pod = make_pod(tmp_path, now=now, spend=None)
    conn = connect(db_path(pod))
    try:
        ids = dict(conn.execute("SELECT name, id FROM agents"))
        set_governance(conn, ids["auth-api"], permission_mode="bypassPermissions", sandbox="off",
                       hooks="installed")
        set_governance(conn, ids["billing-vat"], permission_mode="default", sandbox="on", hooks="installed")
        for summary, ago, expires in (("git push origin auth", 120, 600), ("git push --tags", 30, 600),
                                      ("git reset --hard", 900, -60)):
            create_gate(conn, agent_id=ids["auth-api"], tool="Bash", action={"command": summary},
                        summary=summary, rule="test", risk="high", now=now - ago,
                        expires_at=now + expires)
        conn.execute("UPDATE agents SET name = ? WHERE id = ?", ("evil\x1b[2J\x07", ids["deps-bump"]))
    finally:
        conn.close()
    return pod


def loomtui(pod: Path, *args: str, columns: int = 80) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "LOOM_"))}
    env.update(LOOM_HOME=str(pod), COLUMNS=str(columns), PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "loomtui", *args], capture_output=True, cwd=ROOT,
                          env=env, timeout=60)


def test_agents_json_has_status_why_and_governance(live_pod) -> None:
    result = loomtui(live_pod, "agents", "--json")
    assert result.returncode == 0, result.stderr
    agents = {a["name"]: a for a in json.loads(result.stdout)["agents"]}
    assert len(agents) == 10
    statuses = {name: a["status"] for name, a in agents.items()}
    assert statuses["auth-api"] == "waiting" and statuses["db-orders"] == "error"
    assert statuses["billing-vat"] == "working"  # 3 s ago
    assert statuses["infra-tf"] == "stalled"  # working, silent for 15 min > stall_after (5 min)
    assert statuses["docs-setup"] == "idle" and statuses["perf-cache"] == "done"
    auth = agents["auth-api"]
    assert auth["status_reason"] == "approval: git push origin auth"
    assert auth["pending_gates"] == 2  # the expired one no longer waits
    assert auth["oldest_gate"]["summary"] == "git push origin auth"
    assert (auth["repo"], auth["worktree"], auth["branch"]) == ("/srv/shop", "/srv/shop/wt/auth-api", "auth")
    assert auth["governance"] == {"permission_mode": "bypassPermissions", "sandbox": "off",
                                  "hooks": "installed", "ungoverned": True,
                                  "note": "no sandbox · bypassPermissions",
                                  "unreported": 0, "evidence": None, "ungoverned_since": None}
    assert agents["billing-vat"]["governance"]["ungoverned"] is False
    assert agents["billing-vat"]["governance"]["sandbox"] == "on"
    assert agents["docs-setup"]["governance"] == {"permission_mode": None, "sandbox": None, "hooks": None,
                                                  "ungoverned": False, "note": "",
                                                  "unreported": 0, "evidence": None,
                                                  "ungoverned_since": None}
    assert agents["docs-setup"]["oldest_gate"] is None and agents["docs-setup"]["pending_gates"] == 0
    assert "evil\x1b[2J\x07" in agents  # JSON keeps the exact name (escaped by json itself)
    assert b"\x1b" not in result.stdout


def test_agents_table_fits_80_columns_and_escapes_agents_text(live_pod) -> None:
    result = loomtui(live_pod, "agents")
    assert result.returncode == 0, result.stderr
    out = result.stdout.decode()
    lines = out.splitlines()
    assert len(lines) == 11
    assert all(len(line) <= 80 for line in lines), max(lines, key=len)
    assert lines[0].split()[:3] == ["ID", "AGENT", "STATUS"] and "GOVERNANCE" in lines[0]
    auth = next(line for line in lines if "auth-api" in line)
    assert "waiting" in auth and "! no sandbox, bypass " in auth and " 2 " in auth
    assert "ok" in next(line for line in lines if "billing-vat" in line).split()
    assert "stalled" in next(line for line in lines if "infra-tf" in line)
    assert "\x1b" not in out and "\x07" not in out
    assert "evil\\x1b[2" in out  # escaped, then cut to the column


def test_agents_table_grows_with_the_terminal(live_pod) -> None:
    out = loomtui(live_pod, "agents", columns=200).stdout.decode()
    lines = out.splitlines()
    assert "KIND" in lines[0] and "WORKTREE" in lines[0]
    auth = next(line for line in lines if "auth-api" in line)
    assert "/srv/shop/wt/auth-api" in auth and "! no sandbox, bypass " in auth
    assert "approval: git push origin auth" in auth
    assert "evil\\x1b[2J\\x07" in out and "\x1b" not in out


def test_agents_errors_are_one_line(tmp_path) -> None:
    missing = loomtui(tmp_path / "nowhere", "agents")
    assert missing.returncode == 1 and missing.stdout == b""
    assert missing.stderr.decode().count("\n") == 1 and "Traceback" not in missing.stderr.decode()
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "loom.db").write_bytes(b"this is not a database" * 100)
    result = loomtui(broken, "agents", "--json")
    assert result.returncode == 1 and result.stdout == b""
    assert result.stderr.decode().count("\n") == 1 and "Traceback" not in result.stderr.decode()


def test_an_empty_pod_says_so(tmp_path) -> None:
    connect(db_path(tmp_path / "pod")).close()
    assert loomtui(tmp_path / "pod", "agents").stdout == b"no agents in this pod yet\n"
    assert json.loads(loomtui(tmp_path / "pod", "agents", "--json").stdout) == {"agents": []}


# -- the console: the fleet's mark, the Agent header, the inbox's note ---------------------------


async def test_fleet_marks_an_ungoverned_agent_and_the_inbox_shows_the_gates_note(tmp_path) -> None:
    from loomtui.tui.screens.approvals import ApprovalsScreen, InboxTable
    from loomtui.tui.widgets.cells import rich_style
    from loomtui.tui.widgets.fleet_table import FleetTable
    from tests.conftest import build_app
    from tests.pods import NOW

    pod = make_pod(tmp_path)
    conn = connect(db_path(pod))
    try:
        ids = dict(conn.execute("SELECT name, id FROM agents"))
        set_governance(conn, ids["auth-api"], permission_mode="bypassPermissions", sandbox="off",
                       hooks="installed")
        set_governance(conn, ids["billing-vat"], permission_mode="default", sandbox="on", hooks="installed")
        risky = create_gate(conn, agent_id=ids["auth-api"], tool="Bash",
                            action={"command": "rm -rf build", "dangerouslyDisableSandbox": True},
                            summary="rm -rf build", rule="test", risk="high", now=NOW - 60,
                            expires_at=NOW + 600)
        plain = create_gate(conn, agent_id=ids["billing-vat"], tool="Bash", action={"command": "make"},
                            summary="make", rule="test", risk="medium", now=NOW - 60, expires_at=NOW + 600)
        # What the hook records on the gate (the lead's wiring calls governance_note).
        note = governance_note("bypassPermissions", "off", "installed", risky.action)
        conn.execute("UPDATE gates SET governance = ? WHERE id = ?", (note, risky.id))
    finally:
        conn.close()

    app = build_app(pod)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        table = app.screen.query_one(FleetTable)
        marked = table.cell(ids["auth-api"], "name")
        assert marked.text == "! auth-api"
        risk_high = app.theme_variables["risk-high"]
        assert marked.spans and marked.spans[0][:2] == (0, 1)
        # the mark is drawn in the theme's risk-high (cells name theme colours, resolved as drawn)
        table.cursor = table.row_count - 1  # auth-api (a high gate) is on top: not the cursor's row
        await pilot.pause()
        line = table.ordered_ids.index(ids["auth-api"]) + 1  # under the header
        mark = next(s for s in table.render_line(line) if s.text.startswith("!"))
        assert mark.style.color.get_truecolor().hex.upper() == risk_high.upper() and mark.style.reverse
        assert table.cell(ids["billing-vat"], "name").text == "billing-vat"  # governed: no mark
        assert table.cell(ids["docs-setup"], "name").text == "docs-setup"  # not known: no mark

        await pilot.press("slash", *"auth-api", "enter", "enter")  # open the Agent screen
        await app.workers.wait_for_complete()
        await pilot.pause()
        header = str(app.screen.query_one("#agent-summary").render())
        assert "! governance: no sandbox · bypassPermissions" in header
        await pilot.press("escape")
        await pilot.press("escape")
        await pilot.pause()

        await pilot.press("i")
        await pilot.pause()
        assert isinstance(app.screen, ApprovalsScreen)
        inbox = app.screen.query_one(InboxTable)
        summary = inbox.cell(risky.id, "summary")
        assert summary.text == ("⚠ no sandbox · bypassPermissions · asks to leave the sandbox  "
                                "rm -rf build")
        # the note's style names the theme's risk-high: resolved as the table draws it
        assert rich_style(summary.spans[0][2]).color.get_truecolor().hex.upper() == risk_high.upper()
        assert inbox.cell(plain.id, "summary").text == "make"  # nothing to say: just the action
