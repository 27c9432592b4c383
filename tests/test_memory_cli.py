"""`loomtui memory ...` and the MCP configuration `loomtui init` writes, as real
processes: text and --json output, supervisors and agents, stale writes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from loomtui.supervisors import account_name
from tests import hook_fixtures

ME = account_name(os.geteuid())

pod = hook_fixtures.pod  # an empty store


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = tmp_path / "shop"
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    return repo


def loom(pod: Path, *args: str, cwd: Path | None = None, stdin: str | None = None,
         **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items()
               if k not in ("LOOM_CONFIG", "LOOM_AGENT", "LOOM_SESSION_ID", "CLAUDECODE")
               and not k.startswith("CODEX_")}
    environ.update({"LOOM_HOME": str(pod), "LOOM_USER": "ana", "COLUMNS": "200", **env})
    return subprocess.run([sys.executable, "-m", "loomtui", *args], cwd=cwd, env=environ, input=stdin,
                          capture_output=True, text=True, timeout=60)


def as_json(done: subprocess.CompletedProcess):
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_add_list_show_search_history_retire(pod: Path, repo: Path) -> None:
    pinned = as_json(loom(pod, "memory", "add", "Prices are integer cents", "--kind", "convention",
                          "--tags", "money,db", "--body", "Never floats.", "--pin", "--json"))
    # Pinning is a decision: recorded as the OS account running the command, not $LOOM_USER.
    assert (pinned["status"], pinned["pinned"], pinned["provenance"]["author"]) == ("active", True, ME)
    assert pinned["provenance"]["author_kind"] == "supervisor"
    done = loom(pod, "memory", "add", "Login tests are flaky", "--kind", "warning", "--scope", "repo",
                "--body", "-", stdin="Rerun them first.\n", cwd=repo)
    assert done.returncode == 0 and done.stdout.startswith("added entry 2 (warning, active)")
    shown = as_json(loom(pod, "memory", "show", "2", "--json"))
    assert (shown["body"], shown["scope"], shown["scope_ref"]) == ("Rerun them first.", "repo", str(repo))

    listing = loom(pod, "memory", "list")
    lines = listing.stdout.splitlines()
    assert lines[0].split() == ["ID", "KIND", "STATUS", "VER", "SCOPE", "BY", "UPDATED", "TITLE"]
    assert "Prices are integer cents" in lines[1] and "·pin" in lines[1]  # pinned first
    assert "repo:shop" in lines[2]
    listed = as_json(loom(pod, "memory", "list", "--json"))
    assert [e["id"] for e in listed["entries"]] == [1, 2] and listed["counts"]["active"] == 2

    found = as_json(loom(pod, "memory", "search", "flaky", "login", "--json"))
    assert [r["id"] for r in found["results"]] == [2]
    text = loom(pod, "memory", "search", "money")
    assert text.stdout.splitlines()[0].split() == ["ID", "KIND", "SCORE", "STATUS", "SCOPE", "TITLE"]
    tight = as_json(loom(pod, "memory", "search", "money", "--budget", "64", "--json"))
    assert tight["tokens"] <= 64

    show = loom(pod, "memory", "show", "1")
    assert show.stdout.startswith("### Prices are integer cents\n[convention #1 v1 · pinned]")
    assert f"by:       {ME} (supervisor)" in show.stdout

    stale = loom(pod, "memory", "retire", "2", "--expect", "7")
    assert stale.returncode == 1 and "version 1" in stale.stderr and "Traceback" not in stale.stderr
    # in the command line's words: --expect, not the MCP tool's expected_version
    assert "at version 1, not 7" in stale.stderr and "--expect 1" in stale.stderr
    assert "expected_version" not in stale.stderr
    retired = as_json(loom(pod, "memory", "retire", "2", "--expect", "1", "--reason", "fixed", "--json"))
    assert (retired["status"], retired["version"]) == ("retired", 2)
    history = as_json(loom(pod, "memory", "history", "2", "--json"))["history"]
    assert [(h["version"], h["change"], h["actor"]) for h in history] == [(1, "created", "ana"),
                                                                          (2, "retired", ME)]
    assert "v2" in loom(pod, "memory", "history", "2").stdout.splitlines()[1]
    assert loom(pod, "memory", "show", "99").returncode == 1


def test_inside_an_agent_the_cli_writes_as_that_agent(pod: Path, repo: Path) -> None:
    refused = loom(pod, "memory", "add", "Pin me", "--kind", "fact", "--pin", cwd=repo, CLAUDECODE="1")
    assert refused.returncode == 1 and "only a supervisor can pin" in refused.stderr
    proposed = as_json(loom(pod, "memory", "add", "Use JWT", "--kind", "decision", "--json", cwd=repo,
                            CLAUDECODE="1"))
    assert proposed["status"] == "proposed" and proposed["provenance"]["author_kind"] == "agent"
    assert proposed["provenance"]["author"] == "agent@shop"
    assert loom(pod, "memory", "accept", str(proposed["id"]), CLAUDECODE="1").returncode == 1
    accepted = as_json(loom(pod, "memory", "accept", str(proposed["id"]), "--json"))
    assert accepted["status"] == "active"
    other = as_json(loom(pod, "memory", "add", "Use cookies", "--kind", "decision", "--json",
                         "--supersedes", str(proposed["id"]), "--expect", "2", CODEX_SANDBOX="seatbelt"))
    assert other["status"] == "proposed"
    rejected = loom(pod, "memory", "reject", str(other["id"]), "--reason", "JWT stays")
    assert rejected.returncode == 0 and "rejected entry" in rejected.stdout
    assert as_json(loom(pod, "memory", "show", str(proposed["id"]), "--json"))["status"] == "active"


def test_pin_edit_and_the_config_review_kinds(pod: Path) -> None:
    (pod / "config.toml").write_text('[memory]\nreview_kinds = ["fact"]\n')
    proposed = as_json(loom(pod, "memory", "add", "A fact", "--kind", "fact", "--json", LOOM_AGENT="x"))
    assert proposed["status"] == "proposed"
    entry = as_json(loom(pod, "memory", "add", "Deploys freeze on Fridays", "--kind", "decision", "--json"))
    assert as_json(loom(pod, "memory", "pin", str(entry["id"]), "--json"))["pinned"] is True
    edited = as_json(loom(pod, "memory", "edit", str(entry["id"]), "--expect", "2", "--title",
                          "Deploys freeze on Friday afternoons", "--json"))
    assert (edited["version"], edited["title"]) == (3, "Deploys freeze on Friday afternoons")
    assert loom(pod, "memory", "edit", str(entry["id"]), "--expect", "2", "--title", "x").returncode == 1
    assert as_json(loom(pod, "memory", "unpin", str(entry["id"]), "--json"))["pinned"] is False


def test_memory_without_a_store_says_so(tmp_path: Path) -> None:
    done = loom(tmp_path / "none", "memory", "list")
    assert done.returncode == 1 and "loomtui init" in done.stderr


# -- loomtui init: the MCP server configuration ------------------------------------------


def test_init_claude_writes_mcp_json_merged_backed_up_and_idempotent(tmp_path: Path, repo: Path) -> None:
    mine = {"mcpServers": {"github": {"command": "gh-mcp", "args": []},
                           "loom": {"command": "old", "args": [], "env": {"LOOM_HOME": "/srv/pod"}}}}
    (repo / ".mcp.json").write_text(json.dumps(mine))
    done = loom(tmp_path / "newpod", "init", "claude", cwd=repo)
    assert done.returncode == 0, done.stderr
    data = json.loads((repo / ".mcp.json").read_text())
    assert data["mcpServers"]["github"] == mine["mcpServers"]["github"]
    loom_server = data["mcpServers"]["loom"]
    assert loom_server["args"][-1] == "mcp" and loom_server["env"] == {"LOOM_HOME": "/srv/pod"}
    assert json.loads((repo / ".mcp.json.bak").read_text()) == mine
    assert "memory server (loom)" in done.stdout
    first = (repo / ".mcp.json").read_text()
    again = loom(tmp_path / "newpod", "init", "claude", cwd=repo)
    assert again.returncode == 0 and (repo / ".mcp.json").read_text() == first
    assert "already has the LoomTUI memory server" in again.stdout


def test_init_claude_refuses_a_broken_mcp_json(tmp_path: Path, repo: Path) -> None:
    (repo / ".mcp.json").write_text('{"mcpServers": []}')
    done = loom(tmp_path / "p", "init", "claude", cwd=repo)
    assert done.returncode == 1 and "mcpServers" in done.stderr
    assert (repo / ".mcp.json").read_text() == '{"mcpServers": []}'


def test_init_codex_prints_the_config_table(tmp_path: Path, repo: Path) -> None:
    done = loom(tmp_path / "p", "init", "codex", cwd=repo)
    assert done.returncode == 0
    table = done.stdout[done.stdout.index("[mcp_servers.loom]"):].split("\n\n")[0]
    server = tomllib.loads(table)["mcp_servers"]["loom"]
    assert server["args"][-1] == "mcp" and server["startup_timeout_sec"] == 20
    assert not (repo / ".mcp.json").exists()


def test_the_cli_choices_are_the_models() -> None:
    from loomtui.cli import build_parser
    from loomtui.memory import entries

    args = build_parser().parse_args(["memory", "list", "--status", "all"])
    assert args.memory_command == "list"
    parser = build_parser()
    memory = parser._subparsers._group_actions[0].choices["memory"]  # noqa: SLF001
    sub = memory._subparsers._group_actions[0].choices  # noqa: SLF001
    kind = next(a for a in sub["add"]._actions if a.dest == "kind")
    status = next(a for a in sub["list"]._actions if a.dest == "status")
    scope = next(a for a in sub["add"]._actions if a.dest == "scope")
    assert tuple(kind.choices) == entries.KINDS
    assert tuple(status.choices) == (*entries.STATUSES, "all")
    assert tuple(scope.choices) == entries.SCOPES
