"""The real Claude Code, offline (formats reference, section 7), in a repository
set up by `loomtui init claude`: the SessionStart hook's memory reaches the model
and the `loom` MCP server's tools are offered to it (from the .mcp.json init
wrote, approved by the enabledMcpjsonServers init wrote)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e


def offered_tools(body: dict) -> set[str]:
    """The tools a main-loop request offers: with schemas in `tools`, and by name in the
    deferred-tools list (Claude Code 2.1.332 defers MCP tools behind its ToolSearch tool:
    "Use ToolSearch with query "select:<name>..." to load tool schemas", then one name
    a line)."""
    names = {t.get("name") for t in body.get("tools") or []}
    text = json.dumps(body, ensure_ascii=False).replace("\\n", "\n")
    names |= set(re.findall(r"^(mcp__[A-Za-z0-9_-]+)$", text, flags=re.MULTILINE))
    return names


def test_claude_code_gets_the_memory_and_the_mcp_tools(claude_bin, tmp_path: Path) -> None:
    claude = claude_bin
    from tests.e2e.conftest import base_env, loomtui_init, run_agent
    from tests.e2e.model_api import ModelAPI
    from tests.e2e.test_claude_e2e import claude_env

    repo, pod, config_dir = tmp_path / "shop", tmp_path / "pod", tmp_path / "claude-config"
    config_dir.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    loomtui_init("claude", repo, pod)
    assert json.loads((repo / ".mcp.json").read_text())["mcpServers"]["loom"]["args"][-1] == "mcp"
    added = subprocess.run([sys.executable, "-m", "loomtui", "memory", "add", "Prices are integer cents",
                            "--kind", "convention", "--pin", "--body", "Never floats for money."],
                           env=base_env(pod), cwd=repo, capture_output=True, text=True, timeout=60)
    assert added.returncode == 0, added.stderr

    with ModelAPI("git status") as api:
        done = run_agent([str(claude.binary), "-p", "check the status", "--output-format", "json"],
                         cwd=repo, env=claude_env(pod, config_dir, api), timeout=180)
    context = f"exit {done.returncode}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}\n{api.summary()}"
    requests = api.main_loop_requests()
    assert requests, context
    first = requests[0].body
    tools = offered_tools(first)
    assert {"mcp__loom__memory_search", "mcp__loom__memory_get", "mcp__loom__memory_write",
            "mcp__loom__pod_status"} <= tools, context
    sent = json.dumps(first, ensure_ascii=False)
    assert "# Pod memory for shop (main), from LoomTUI" in sent, context
    assert "Prices are integer cents" in sent and "Never floats for money." in sent, context


def test_init_approves_the_memory_server_in_a_trusted_folder(claude_bin, tmp_path: Path) -> None:
    """Interactively, Claude Code starts a project's .mcp.json server only once it is
    approved. `claude mcp get loom` in a folder whose trust dialog was accepted: with
    the enabledMcpjsonServers init wrote, connected; without it (the control),
    pending approval."""
    from tests.e2e.conftest import base_env, loomtui_init

    repo, pod, config_dir = tmp_path / "shop", tmp_path / "pod", tmp_path / "claude-config"
    config_dir.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    loomtui_init("claude", repo, pod)
    settings_path = repo / ".claude" / "settings.json"
    assert json.loads(settings_path.read_text())["enabledMcpjsonServers"] == ["loom"]
    (config_dir / ".claude.json").write_text(json.dumps(
        {"projects": {str(repo): {"hasTrustDialogAccepted": True}}}))
    env = base_env(pod)
    env.update(CLAUDE_CONFIG_DIR=str(config_dir), ANTHROPIC_API_KEY="dummy", DISABLE_TELEMETRY="1",
               DISABLE_AUTOUPDATER="1", DISABLE_ERROR_REPORTING="1",
               CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1")

    def status() -> str:
        done = subprocess.run([str(claude_bin.binary), "mcp", "get", "loom"], cwd=repo, env=env,
                              capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
        line = next((ln for ln in done.stdout.splitlines() if "Status:" in ln), "")
        return f"{line.strip()}\n{done.stdout[-1500:]}\n{done.stderr[-1500:]}"

    approved = status()
    assert "Connected" in approved.splitlines()[0], approved
    settings = json.loads(settings_path.read_text())
    del settings["enabledMcpjsonServers"]
    settings_path.write_text(json.dumps(settings))
    pending = status()
    assert "Pending approval" in pending.splitlines()[0], pending
