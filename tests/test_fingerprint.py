"""Configuration fingerprint and drift (issue 14, item 4): fingerprints read from real
settings, instruction and MCP files and real hook payloads of both agents through the real
hook process; a changed CLAUDE.md seen by the real diff watcher changes the hash and writes
one audit entry; the ingester follows the CLI version; the baseline by majority and pinned;
drift in `loomtui agents`, the fleet and the Agent screen."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from loomtui.config import BaselineConfig, parse_config
from loomtui.hooks.fingerprint import files_changed, recompute
from loomtui.hooks.install import claude_hooks, codex_hooks
from loomtui.store.agents import upsert_agent
from loomtui.store.db import connect, db_path
from loomtui.store.fingerprint import Baseline, normalize_model, parse, record
from loomtui.tui.screens.agent import AgentScreen
from loomtui.tui.screens.fleet import FleetScreen
from loomtui.tui.widgets.fleet_table import FleetTable
from tests import hook_routes
from tests.conftest import build_app
from tests.gitrepos import add_worktree, isolate, make_repo
from tests.pods import NOW, make_pod
from tests.waiting import until, wait_for

ROOT = Path(__file__).resolve().parents[1]
SIZES = [(80, 24), (160, 48)]
OURS_CLAUDE = "loomtui hook claude"
OURS_CODEX = "loomtui hook codex"


def short(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    """A pod, an empty home, a repository with CLAUDE.md, AGENTS.md, .mcp.json and Claude
    Code's project settings (our hooks), and a linked worktree whose CLAUDE.md differs."""
    isolate(monkeypatch, tmp_path / "home")
    pod = tmp_path / "pod"
    connect(db_path(pod)).close()
    repo = make_repo(tmp_path / "shop", {
        "CLAUDE.md": "# Shop\nRun the tests before you push.\n",
        "AGENTS.md": "# Shop\nRun the tests before you push.\n",
        ".mcp.json": json.dumps({"mcpServers": {"loom": {"command": "loomtui", "args": ["mcp"]},
                                                "docs": {"command": "docs-mcp"}}}),
        ".claude/settings.json": json.dumps({"hooks": claude_hooks(OURS_CLAUDE)}),
    })
    worktree = add_worktree(repo, tmp_path / "wt" / "auth", "agent/auth")
    write(worktree / "CLAUDE.md", "# Shop\nRun the tests before you push. Never force-push.\n")
    return {"pod": pod, "repo": repo, "worktree": worktree, "home": tmp_path / "home", "tmp": tmp_path}


def hook(world: dict, agent: str, payload: dict, **env: str) -> dict:
    """One real hook process (by the route under test) with this JSON on stdin; the
    agent's row afterwards."""
    full = {k: v for k, v in os.environ.items()
            if not k.startswith(("LOOM_", "CLAUDE_", "CODEX_")) and k != "AI_AGENT"}
    full.update(LOOM_HOME=str(world["pod"]), LOOM_USER="ana", HOME=str(world["home"]), **env)
    route = hook_routes.CURRENT
    route.prepare(world["pod"], full)
    done = subprocess.run(route.argv(agent), input=json.dumps(payload).encode(), capture_output=True,
                          env=full, timeout=60)
    assert done.returncode == 0, done.stderr
    conn = connect(db_path(world["pod"]))
    try:
        row = conn.execute("SELECT id, fingerprint, fingerprint_hash FROM agents WHERE session_id = ?",
                           (payload["session_id"],)).fetchone()
    finally:
        conn.close()
    return {"id": row[0], "fingerprint": parse(row[1]), "hash": row[2]}


def claude_start(world: dict, session: str = "5b1f0c2e-0000-4000-8000-000000000001", **fields) -> dict:
    transcript = world["tmp"] / "claude" / f"{session}.jsonl"
    if not transcript.exists():
        write(transcript, "".join(json.dumps(line) + "\n" for line in (
            {"type": "user", "sessionId": session, "version": "2.1.39", "cwd": str(world["worktree"]),
             "message": {"role": "user", "content": "hi"}, "timestamp": "2026-11-20T09:14:03.120Z"},
            {"type": "user", "sessionId": session, "version": "2.1.40", "cwd": str(world["worktree"]),
             "message": {"role": "user", "content": "go"}, "timestamp": "2026-11-20T09:14:04.120Z"})))
    return {"session_id": session, "transcript_path": str(transcript), "cwd": str(world["worktree"]),
            "permission_mode": "default", "hook_event_name": "SessionStart", "source": "startup",
            "model": "claude-sonnet-4-5-20250929", **fields}


def audit_entries(pod: Path) -> list[tuple[str, str, dict]]:
    conn = connect(db_path(pod))
    try:
        return [(actor, subject, json.loads(detail)) for actor, subject, detail in conn.execute(
            "SELECT actor, subject, detail FROM audit WHERE action = 'agent.fingerprint' ORDER BY id")]
    finally:
        conn.close()


# -- from real files and real hook payloads ------------------------------------------------


@pytest.mark.usefixtures("hook_route")
def test_claude_code_session_start_fingerprints_its_files(world) -> None:
    write(world["home"] / ".claude" / "settings.json", json.dumps({"model": "sonnet"}))
    row = hook(world, "claude", claude_start(world))
    fp = row["fingerprint"]
    wt, repo = world["worktree"], world["repo"]
    assert fp["kind"] == "claude"
    assert fp["cli_version"] == "2.1.40"  # the newest line of the transcript
    assert fp["model"] == "claude-sonnet-4-5"  # the date dropped: the transcript names it so too
    assert (fp["permission_mode"], fp["sandbox"]) == ("default", "off")
    # Every event `init claude` hooks runs our hook (PreToolUse and PermissionRequest for all tools).
    assert fp["hooks"] == ",".join(sorted(claude_hooks(OURS_CLAUDE)))
    assert fp["settings_user"] == short(world["home"] / ".claude" / "settings.json")
    assert fp["settings_project"] == short(wt / ".claude" / "settings.json")
    assert fp["settings_local"] == ""  # no such file
    assert fp["instructions"] == short(wt / "CLAUDE.md") != fp["instructions_repo"] == short(repo / "CLAUDE.md")
    assert fp["mcp_config"] == short(wt / ".mcp.json") and fp["mcp_servers"] == "docs,loom"
    assert fp["files"]["instructions"] == str(wt / "CLAUDE.md")
    assert fp["files"]["settings_user"] == str(world["home"] / ".claude" / "settings.json")
    assert len(row["hash"]) == 16
    assert audit_entries(world["pod"]) == []  # the first fingerprint is no change


@pytest.mark.usefixtures("hook_route")
def test_claude_codes_version_in_the_hook_environment_comes_first(world) -> None:
    """Claude Code sets AI_AGENT=claude-code_<version>_<role> for what it runs (its binary
    says so): the running version, before the transcript's (which may lag at startup)."""
    fp = hook(world, "claude", claude_start(world), AI_AGENT="claude-code_2-1-332_agent")["fingerprint"]
    assert fp["cli_version"] == "2.1.332"


@pytest.mark.parametrize("value", ["", "claude-code", "claude-code_latest_agent", "aider_1-2_x",
                                   "claude-code_2_agent", "claude-code_2-1-x_agent"])
def test_an_ai_agent_value_not_in_claude_codes_shape_says_nothing(value) -> None:
    from loomtui.hooks.fingerprint import env_version

    assert env_version("claude", {"AI_AGENT": value}) == ""
    assert env_version("codex", {"AI_AGENT": "claude-code_2-1-332_agent"}) == ""


@pytest.mark.usefixtures("hook_route")
def test_claude_config_dir_and_a_local_settings_file_are_read(world) -> None:
    config = world["tmp"] / "claude-config"
    write(config / "settings.json", "{}")
    write(world["worktree"] / ".claude" / "settings.local.json",
          json.dumps({"permissions": {"allow": ["Bash(git push:*)"]}}))
    fp = hook(world, "claude", claude_start(world), CLAUDE_CONFIG_DIR=str(config))["fingerprint"]
    assert fp["settings_user"] == short(config / "settings.json")
    assert fp["settings_local"] == short(world["worktree"] / ".claude" / "settings.local.json")


@pytest.mark.usefixtures("hook_route")
def test_codex_session_start_fingerprints_config_toml_and_agents_md(world) -> None:
    codex_home = world["tmp"] / "codex-home"
    write(codex_home / "config.toml", 'model = "gpt-5-codex"\nsandbox_mode = "workspace-write"\n'
                                      '[mcp_servers.loom]\ncommand = "loomtui"\nargs = ["mcp"]\n')
    write(codex_home / "hooks.json", json.dumps({"hooks": codex_hooks(OURS_CODEX)}))
    session = "0199a213-81c0-7800-8aa1-bbab2a035a53"
    rollout = write(world["tmp"] / "rollout.jsonl", json.dumps(
        {"timestamp": "2026-11-20T09:20:00.000Z", "type": "session_meta",
         "payload": {"id": session, "cwd": str(world["worktree"]), "originator": "codex_cli_rs",
                     "cli_version": "0.169.0", "instructions": "x" * 5000}}) + "\n")
    payload = {"session_id": session, "transcript_path": str(rollout), "cwd": str(world["worktree"]),
               "hook_event_name": "SessionStart", "source": "startup", "model": "gpt-5-codex",
               "turn_id": "turn-1"}
    fp = hook(world, "codex", payload, CODEX_HOME=str(codex_home))["fingerprint"]
    assert (fp["kind"], fp["cli_version"], fp["model"]) == ("codex", "0.169.0", "gpt-5-codex")
    assert fp["sandbox"] == "on" and "permission_mode" not in fp  # Codex sent none: not known
    assert fp["settings_user"] == short(codex_home / "config.toml")
    assert fp["settings_project"] == ""  # no .codex/config.toml in the project
    assert fp["instructions"] == short(world["worktree"] / "AGENTS.md")
    assert fp["instructions_repo"] == short(world["repo"] / "AGENTS.md")
    assert fp["mcp_servers"] == "loom" and "mcp_config" not in fp  # Codex has no .mcp.json
    assert fp["hooks"] == ",".join(sorted(codex_hooks(OURS_CODEX)))


@pytest.mark.usefixtures("hook_route")
def test_a_simulated_agents_payload_alone_is_a_fingerprint(world) -> None:
    """No settings, no transcript, no repository: the payload's model and permission mode
    are enough; the files it could not find are '' and match a baseline of ''."""
    bare = world["tmp"] / "bare"
    bare.mkdir()
    rows = []
    for i, (model, mode) in enumerate([("claude-sonnet-4-5", "default")] * 3
                                      + [("claude-opus-4-5", "bypassPermissions")]):
        rows.append(hook(world, "claude", {"session_id": f"sim-{i}", "cwd": str(bare), "model": model,
                                           "permission_mode": mode, "hook_event_name": "SessionStart",
                                           "source": "startup", "transcript_path": str(bare / "none.jsonl")}))
    fp = rows[-1]["fingerprint"]
    assert (fp["model"], fp["permission_mode"]) == ("claude-opus-4-5", "bypassPermissions")
    assert fp["settings_user"] == "" and fp["hooks"] == "none" and "cli_version" not in fp
    base = Baseline.of(("claude", True, r["fingerprint"]) for r in rows)
    assert [base.drift("claude", r["fingerprint"]) for r in rows] == [[], [], [], ["model", "permission_mode"]]


@pytest.mark.usefixtures("hook_route")
def test_a_mode_changed_mid_session_is_recorded_and_audited_by_the_hook(world) -> None:
    start = claude_start(world)
    first = hook(world, "claude", start)
    later = {**start, "hook_event_name": "UserPromptSubmit", "prompt": "go", "permission_mode": "acceptEdits"}
    del later["model"], later["source"]
    after = hook(world, "claude", later)
    assert after["fingerprint"]["permission_mode"] == "acceptEdits" and after["hash"] != first["hash"]
    assert audit_entries(world["pod"]) == [
        ("hook", f"agent:{first['id']}", {"agent": "auth-5b1f", "changed": {"permission_mode": ["default", "acceptEdits"]},
                                          "fingerprint_hash": after["hash"]})]


def test_a_changed_claude_md_seen_by_the_diff_watcher_writes_one_audit_entry(world) -> None:
    """The diff watcher (a real one, over the real worktrees) passes the changed file on;
    the agent in that worktree gets a new instructions hash and one audit entry."""
    from loomtui.git.discovery import discover
    from loomtui.git.watch import WorktreeWatcher

    first = hook(world, "claude", claude_start(world))
    claude_md = world["worktree"] / "CLAUDE.md"
    watcher = WorktreeWatcher(db_path(world["pod"]), discover(repos=[str(world["repo"])]), on_config=recompute)
    watcher.start()
    try:
        wait_for(lambda: watcher.watching.is_set() and not watcher.busy(), "the watcher to start")
        claude_md.write_text("# Shop\nPush whenever you like.\n", encoding="utf-8")
        entries = wait_for(lambda: audit_entries(world["pod"]), "the agent.fingerprint audit entry")
    finally:
        watcher.stop()
    assert watcher.errors == []
    assert entries == [("system", f"agent:{first['id']}", {
        "agent": "auth-5b1f", "changed": {"instructions": [first["fingerprint"]["instructions"], short(claude_md)]},
        "fingerprint_hash": entries[0][2]["fingerprint_hash"]})]
    conn = connect(db_path(world["pod"]))
    try:
        fp_hash, text = conn.execute("SELECT fingerprint_hash, fingerprint FROM agents").fetchone()
        assert fp_hash == entries[0][2]["fingerprint_hash"] != first["hash"]
        assert parse(text)["instructions"] == short(claude_md)
        # The same files again change nothing, and write nothing.
        assert files_changed(conn, [str(claude_md)], now=time.time()) == []
    finally:
        conn.close()
    hook(world, "claude", {**claude_start(world), "source": "resume"})  # a resumed session, same files
    assert len(audit_entries(world["pod"])) == 1


def test_files_changed_recomputes_only_the_agents_that_read_the_file(world) -> None:
    a = hook(world, "claude", claude_start(world))
    b = hook(world, "claude", claude_start(world, session="5b1f0c2e-0000-4000-8000-000000000002",
                                           cwd=str(world["repo"])))
    write(world["repo"] / ".mcp.json", json.dumps({"mcpServers": {"loom": {"command": "loomtui"}}}))
    conn = connect(db_path(world["pod"]))
    try:
        assert files_changed(conn, [str(world["repo"] / ".mcp.json"), "/elsewhere/CLAUDE.md"], now=NOW) == [b["id"]]
        fp = parse(conn.execute("SELECT fingerprint FROM agents WHERE id = ?", (b["id"],)).fetchone()[0])
    finally:
        conn.close()
    assert fp["mcp_servers"] == "loom" and fp["mcp_config"] == short(world["repo"] / ".mcp.json")
    assert [e[1] for e in audit_entries(world["pod"])] == [f"agent:{b['id']}"]
    assert a["id"] != b["id"]


# -- the store: what is recorded, what is audited -------------------------------------------


@pytest.fixture
def conn(tmp_path: Path):
    c = connect(db_path(tmp_path / "pod"))
    yield c
    c.close()


def test_record_audits_changes_of_known_values_only(conn) -> None:
    agent = upsert_agent(conn, kind="claude", now=1.0, session_id="s", name="auth")
    assert record(conn, agent, {"kind": "claude", "model": "claude-sonnet-4-5", "cli_version": ""},
                  actor="hook", now=1.0) == {}  # the first: no change to audit
    assert record(conn, agent, {"model": "claude-sonnet-4-5-20250929"}, actor="hook", now=2.0) is None  # the same
    assert record(conn, agent, {"cli_version": "2.1.40"}, actor="system", now=3.0) == {}  # learnt: no change
    assert record(conn, agent, {"model": "", "cli_version": ""}, actor="hook", now=3.5) is None  # unknown erases nothing
    assert record(conn, agent, {"cli_version": "2.1.41", "model": "claude-opus-4-5"}, actor="system", now=4.0) == {
        "cli_version": ["2.1.40", "2.1.41"], "model": ["claude-sonnet-4-5", "claude-opus-4-5"]}
    rows = conn.execute("SELECT actor, action, subject, detail FROM audit").fetchall()
    assert len(rows) == 1 and rows[0][:3] == ("system", "agent.fingerprint", f"agent:{agent}")
    assert json.loads(rows[0][3])["changed"]["cli_version"] == ["2.1.40", "2.1.41"]
    from loomtui.store.audit import verify

    assert verify(conn) == []


def test_an_unchanged_fingerprint_takes_no_write_lock(tmp_path: Path, conn) -> None:
    import sqlite3

    agent = upsert_agent(conn, kind="codex", now=1.0, session_id="s", name="x")
    record(conn, agent, {"kind": "codex", "model": "gpt-5-codex"}, actor="hook", now=1.0)
    writer = sqlite3.connect(db_path(tmp_path / "pod"), isolation_level=None)
    conn.execute("PRAGMA busy_timeout = 50")
    try:
        writer.execute("BEGIN IMMEDIATE")
        assert record(conn, agent, {"model": "gpt-5-codex"}, actor="hook", now=2.0) is None
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            record(conn, agent, {"model": "gpt-5"}, actor="hook", now=2.0)
    finally:
        writer.execute("ROLLBACK")
        writer.close()


def test_the_ingester_follows_the_cli_version_and_audits_an_upgrade(tmp_path: Path, conn) -> None:
    from loomtui.ingest.ingester import Ingester
    from loomtui.ingest.pricing import PriceTable
    from loomtui.ingest.sources import Roots

    session = "5b1f0c2e-0000-4000-8000-0000000000aa"
    path = tmp_path / "claude" / "projects" / "-srv-shop" / f"{session}.jsonl"
    agent = upsert_agent(conn, kind="claude", now=1.0, session_id=session, name="auth")
    record(conn, agent, {"kind": "claude", "model": "claude-sonnet-4-5"}, actor="hook", now=1.0)

    def line(version: str, n: int) -> str:
        return json.dumps({"type": "assistant", "sessionId": session, "version": version, "cwd": "/srv/shop",
                           "requestId": f"req_{n}", "timestamp": f"2026-11-20T09:1{n}:00.000Z",
                           "message": {"id": f"msg_{n}", "model": "claude-sonnet-4-5-20250929",
                                       "usage": {"input_tokens": 10, "output_tokens": 5}}}) + "\n"

    write(path, line("2.1.40", 1))
    ingester = Ingester(conn, Roots((tmp_path / "claude",), ()), PriceTable.load(None), clock=lambda: NOW)
    ingester.catch_up()
    fp = parse(conn.execute("SELECT fingerprint FROM agents WHERE id = ?", (agent,)).fetchone()[0])
    assert (fp["cli_version"], fp["model"]) == ("2.1.40", "claude-sonnet-4-5")
    assert conn.execute("SELECT count(*) FROM audit").fetchone()[0] == 0  # learnt, not changed
    with path.open("a") as handle:
        handle.write(line("2.1.41", 2))
    Ingester(conn, Roots((tmp_path / "claude",), ()), PriceTable.load(None), clock=lambda: NOW).catch_up()
    detail = conn.execute("SELECT actor, detail FROM audit WHERE action = 'agent.fingerprint'").fetchall()
    assert [(a, json.loads(d)["changed"]) for a, d in detail] == [("system", {"cli_version": ["2.1.40", "2.1.41"]})]


# -- baseline and drift -----------------------------------------------------------------------


def fps(*models: str, mode: str = "default") -> list[tuple[str, bool, dict]]:
    return [("claude", True, {"model": m, "permission_mode": mode, "instructions": "abc"}) for m in models]


def test_the_baseline_is_each_fields_most_common_value_among_live_agents() -> None:
    agents = fps("claude-sonnet-4-5", "claude-sonnet-4-5", "claude-opus-4-5")
    agents.append(("claude", False, {"model": "claude-opus-4-5"}))  # done: not counted
    agents.append(("claude", False, {"model": "claude-opus-4-5"}))
    agents.append(("codex", True, {"model": "gpt-5-codex"}))  # its own kind's baseline
    base = Baseline.of(agents)
    assert base.value("claude", "model") == ("claude-sonnet-4-5", False)
    assert base.drift("claude", agents[2][2]) == ["model"]
    assert base.drift("codex", agents[-1][2]) == []
    assert base.drift("claude", {}) == []  # never computed: nothing to compare
    assert base.drift("claude", {"model": "", "instructions": ""}) == ["instructions"]  # '' model: not known


def test_a_tie_has_no_baseline_and_unknown_values_do_not_vote() -> None:
    base = Baseline.of(fps("a", "b") + [("claude", True, {"model": ""})])
    assert base.value("claude", "model") is None
    assert base.drift("claude", {"model": "a"}) == []


def test_a_pinned_baseline_wins_and_matches_dated_models_and_patch_versions() -> None:
    config = parse_config({"baseline": {"model": "claude-sonnet-4-5", "permission_mode": "default",
                                        "cli_version": "2.1", "codex": {"model": "gpt-5-codex"}}})
    assert config.warnings == ()
    agents = fps("claude-opus-4-5", "claude-opus-4-5", "claude-sonnet-4-5", mode="acceptEdits")
    base = Baseline.of(agents, config.baseline)
    assert base.value("claude", "model") == ("claude-sonnet-4-5", True)
    assert base.drift("claude", agents[0][2]) == ["model", "permission_mode"]
    assert base.drift("claude", {"model": normalize_model("claude-sonnet-4-5-20250929"),
                                 "permission_mode": "default", "cli_version": "2.1.40"}) == []
    assert base.drift("claude", {"cli_version": "2.10.0"}) == ["cli_version"]
    assert base.drift("codex", {"model": "gpt-5-codex", "permission_mode": "default"}) == []


def test_bad_baseline_keys_are_warned_and_ignored() -> None:
    config = parse_config({"baseline": {"modle": "x", "sandbox": True, "claude": {"hooks": "none"}}})
    assert config.baseline == BaselineConfig(pinned={"claude": {"hooks": "none"}})
    assert any("baseline.modle" in w for w in config.warnings)
    assert any("baseline.sandbox should be a string" in w for w in config.warnings)


# -- `loomtui agents` and the console ---------------------------------------------------------


@pytest.fixture
def drift_pod(tmp_path: Path) -> Path:
    """The usual fleet, every Claude Code agent on sonnet in the default mode except
    ui-cart (opus, bypassPermissions)."""
    pod = make_pod(tmp_path, now=time.time(), spend=None)
    conn = connect(db_path(pod))
    try:
        for agent_id, name, kind in conn.execute("SELECT id, name, kind FROM agents").fetchall():
            drifted = name in ("ui-cart", "perf-cache")  # perf-cache is done: never marked
            record(conn, agent_id, {"kind": kind, "model": "claude-opus-4-5" if drifted else "claude-sonnet-4-5",
                                    "permission_mode": "bypassPermissions" if drifted else "default",
                                    "instructions": "3f2a9c0d1e2b"}, actor="hook", now=NOW)
    finally:
        conn.close()
    return pod


def loomtui(pod: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "LOOM_"))}
    env.update(LOOM_HOME=str(pod), COLUMNS="120", PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "loomtui", *args], capture_output=True, cwd=ROOT,
                          env=env, timeout=60)


def test_agents_json_has_fingerprint_and_drift(drift_pod: Path) -> None:
    result = loomtui(drift_pod, "agents", "--json")
    assert result.returncode == 0, result.stderr
    agents = {a["name"]: a for a in json.loads(result.stdout)["agents"]}
    assert agents["ui-cart"]["drift"] == ["model", "permission_mode"]
    assert agents["ui-cart"]["fingerprint"]["model"] == "claude-opus-4-5"
    assert agents["billing-vat"]["drift"] == [] and agents["billing-vat"]["fingerprint"]["model"] == "claude-sonnet-4-5"
    assert agents["perf-cache"]["fingerprint"]["model"] == "claude-opus-4-5"
    assert agents["perf-cache"]["drift"] == []  # done: neither counted nor marked
    assert agents["docs-setup"]["fingerprint"]["kind"] == "aider" and agents["docs-setup"]["drift"] == []
    # A pin moves the baseline: now the others drift and ui-cart's mode is the pinned one.
    (drift_pod / "config.toml").write_text('[baseline]\nmodel = "claude-opus-4-5"\n'
                                           'permission_mode = "bypassPermissions"\n')
    agents = {a["name"]: a for a in json.loads(loomtui(drift_pod, "agents", "--json").stdout)["agents"]}
    assert agents["ui-cart"]["drift"] == [] and agents["billing-vat"]["drift"] == ["model", "permission_mode"]


def test_agents_text_shows_drift_briefly(drift_pod: Path) -> None:
    out = loomtui(drift_pod, "agents").stdout.decode()
    cart = next(line for line in out.splitlines() if "ui-cart" in line)
    assert "≠ model,permission_mode" in cart
    assert "≠" not in next(line for line in out.splitlines() if "billing-vat" in line)


def row_text(app, name: str) -> str:
    table = app.screen.query_one(FleetTable)
    agent = next(a for a in app.pod_state.agents if a.name == name)
    return table.render_line(table.ordered_ids.index(agent.id) + 1).text


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_the_fleet_marks_the_drifting_agent_and_its_screen_says_how(drift_pod: Path, size) -> None:
    app = build_app(drift_pod, clock=time.time)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, FleetScreen)
        assert "≠2 ui-cart" in row_text(app, "ui-cart")
        assert "≠" not in row_text(app, "billing-vat")
        assert "≠" not in row_text(app, "perf-cache")  # done
        header = str(app.screen.query_one("#pod-header").render())
        assert ("1 drifted" in header) if size[0] >= 160 else ("≠1" in header)
        cart = next(a for a in app.pod_state.agents if a.name == "ui-cart")
        assert app.pod_state.need_of(cart).cause == "drift"
        app.screen.select_agent(cart.id)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, AgentScreen), "the Agent screen")
        await pilot.pause()
        summary = str(app.screen.query_one("#agent-summary").render())
        flat = " ".join(summary.split())
        assert "≠ drift: model claude-opus-4-5 (pod: claude-sonnet-4-5) · permission_mode " \
               "bypassPermissions (pod: default)" in flat, summary
        await pilot.press("escape", "question_mark")
        await pilot.pause()
        assert "≠N name  N fields of its configuration differ" in str(app.screen.query_one("Static").render())


async def test_a_drift_below_the_stalled_and_ungoverned_in_triage(drift_pod: Path) -> None:
    from loomtui.tui.model import CAUSES

    assert CAUSES.index("drift") > CAUSES.index("stalled") and CAUSES[-1] == "drift"
    app = build_app(drift_pod, clock=time.time)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        needing = [a.name for a in app.pod_state.needing()]
        assert needing[-1] == "ui-cart"


async def test_a_fingerprint_changed_by_another_process_reaches_the_fleet_live(drift_pod: Path) -> None:
    app = build_app(drift_pod, live=True, clock=time.time)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.pod_state is not None and "≠2 ui-cart" in row_text(app, "ui-cart"),
                    "ui-cart marked")
        conn = connect(db_path(drift_pod))
        try:
            billing = conn.execute("SELECT id FROM agents WHERE name = 'billing-vat'").fetchone()[0]
            record(conn, billing, {"model": "claude-opus-4-5"}, actor="system", now=time.time())
        finally:
            conn.close()
        await until(pilot, lambda: "≠1 billing-vat" in row_text(app, "billing-vat"), "billing-vat marked")
        assert "≠2 ui-cart" in row_text(app, "ui-cart")  # the baseline still says sonnet, default
