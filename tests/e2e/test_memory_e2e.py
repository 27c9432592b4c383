"""The real Claude Code, offline (formats reference, section 7), in a repository
set up by `loomtui init claude`: the SessionStart hook's memory reaches the model
and the `loom` MCP server's tools are offered to it (from the .mcp.json init
wrote). Runs only where the e2e tests already installed the binary (or
$LOOMTUI_E2E_CLAUDE names one): it never installs anything itself."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e


def installed_claude():
    from tests.e2e import agents

    binary = os.environ.get("LOOMTUI_E2E_CLAUDE") or agents.cache_root() / "claude" / "node_modules" / ".bin" / "claude"
    if not Path(binary).exists():
        pytest.skip("the real Claude Code is not installed (the e2e tests install it)")
    got = agents.ensure("claude")
    if isinstance(got, str):
        pytest.skip(f"real claude CLI unavailable: {got}")
    return got


def test_claude_code_gets_the_memory_and_the_mcp_tools(tmp_path: Path) -> None:
    claude = installed_claude()
    from tests.e2e.conftest import base_env, loomtui_init, run_agent
    from tests.e2e.model_api import ModelAPI
    from tests.e2e.test_claude_e2e import claude_env

    repo, pod, config_dir = tmp_path / "shop", tmp_path / "pod", tmp_path / "claude-config"
    config_dir.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    loomtui_init("claude", repo, pod)
    assert json.loads((repo / ".mcp.json").read_text())["mcpServers"]["loom"]["args"][-1] == "mcp"
    # Claude Code asks before starting a project's MCP servers; in -p mode this
    # setting is that approval.
    (repo / ".claude" / "settings.local.json").write_text(json.dumps({"enableAllProjectMcpServers": True}))
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
    tools = {t.get("name") for t in first["tools"]}
    assert {"mcp__loom__memory_search", "mcp__loom__memory_get", "mcp__loom__memory_write",
            "mcp__loom__pod_status"} <= tools, context
    sent = json.dumps(first, ensure_ascii=False)
    assert "# Pod memory for shop (main), from LoomTUI" in sent, context
    assert "Prices are integer cents" in sent and "Never floats for money." in sent, context
