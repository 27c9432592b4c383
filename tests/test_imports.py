"""Import hygiene (STYLE.md points 1 and 2): the non-UI layers never load textual or
rich, and the hook path stays lean. Each module is imported in a fresh interpreter,
since this test process itself has long since loaded textual."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_layers import all_modules, layer_of

ROOT = Path(__file__).resolve().parents[1]

UI = ("textual", "rich")
# What the hook path (every tool call of every agent) must not pay for.
HEAVY = UI + ("aiosqlite", "git", "watchfiles")

# Every module below the console (tests/test_layers.py says which packages those are),
# found by walking the package, plus the commands that must work without the UI.
NON_UI_MODULES = tuple(name for name in all_modules() if layer_of(name) < layer_of("loomtui.tui")) + (
    "loomtui.cli",
    "loomtui.commands.hook",
    "loomtui.commands.gate",
    "loomtui.commands.memory",
    "loomtui.commands.mcp",
)
HOOK_PATH_MODULES = (
    "loomtui.store.db",
    "loomtui.store.agents",
    "loomtui.policy",
    "loomtui.hooks",
    "loomtui.store.gates",
    "loomtui.store.audit",
    "loomtui.hooks.signals",
    "loomtui.hooks.protocol",
    "loomtui.hooks.gatekeeper",
    "loomtui.hooks.dispatch",
    "loomtui.places",
    "loomtui.commands.hook",
    "loomtui.memory.context",  # the SessionStart hook imports it
)
# `loomtui mcp`'s server: the MCP SDK's FastMCP loads rich itself (for its logging).
SDK_BRINGS_RICH = ("loomtui.memory.server",)
# The MCP SDK (and what it brings) is for `loomtui mcp` alone.
MCP_SDK = ("mcp", "pydantic", "anyio", "starlette", "httpx")

PROBE = """
import importlib, json, sys
importlib.import_module(sys.argv[1])
tops = set(sys.argv[2].split(","))
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in tops)))
"""


@functools.cache
def loaded_by(module: str) -> tuple[str, ...]:
    """The modules among HEAVY that importing `module` alone pulls in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONPATH"] = str(ROOT)
    result = subprocess.run(
        [sys.executable, "-c", PROBE, module, ",".join(HEAVY)],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=60,
    )
    assert result.returncode == 0, f"importing {module} failed:\n{result.stderr}"
    return tuple(json.loads(result.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize("module", NON_UI_MODULES)
def test_non_ui_module_does_not_load_textual_or_rich(module):
    """Only loomtui.tui may import the UI; everything else must work headless."""
    ui = [m for m in loaded_by(module) if m.split(".")[0] in UI]
    if module in SDK_BRINGS_RICH:
        # not our import: show that it is the SDK's, and that it is rich alone
        assert "rich" in loaded_by("mcp.server.fastmcp") and "textual" not in ui, ui
        return
    assert ui == [], f"{module} loads {ui}"


@pytest.mark.parametrize("module", HOOK_PATH_MODULES)
def test_hook_path_module_is_lean(module):
    """The hook runs on every tool call: no aiosqlite, gitpython or watchfiles."""
    assert list(loaded_by(module)) == [], f"{module} loads {list(loaded_by(module))}"


@functools.cache
def mcp_loaded_by(module: str) -> tuple[str, ...]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONPATH"] = str(ROOT)
    result = subprocess.run([sys.executable, "-c", PROBE, module, ",".join(MCP_SDK)],
                            capture_output=True, text=True, cwd=ROOT, env=env, timeout=60)
    assert result.returncode == 0, f"importing {module} failed:\n{result.stderr}"
    return tuple(json.loads(result.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize("module", HOOK_PATH_MODULES + ("loomtui.memory", "loomtui.memory.entries",
                                                        "loomtui.memory.retrieval", "loomtui.cli"))
def test_only_the_mcp_server_loads_the_mcp_sdk(module):
    """memory/ is stdlib + store except server.py; the hook never pays for the SDK."""
    assert list(mcp_loaded_by(module)) == [], f"{module} loads {list(mcp_loaded_by(module))}"


SESSION_START_PROBE = """
import json, sys
from pathlib import Path
from loomtui.hooks.dispatch import Hook
from loomtui.memory import entries
from loomtui.store.db import connect, db_path
pod = Path(sys.argv[1])
conn = connect(db_path(pod))
entries.add(conn, kind="fact", title="Pinned fact", author=entries.supervisor("ana"), pinned=True, now=1.0)
conn.close()
before = set(sys.modules)
raw = json.dumps({"session_id": "s", "cwd": sys.argv[1], "hook_event_name": "SessionStart",
                  "source": "startup"}).encode()
answer = Hook("claude", pod).run(raw)
assert answer.exit_code == 0 and "Pinned fact" in answer.stdout, answer
print(json.dumps(sorted(set(sys.modules) - before)))
"""


def test_a_session_start_loads_only_the_memory_modules(tmp_path):
    """What a real SessionStart call adds to the hook's imports: our memory modules,
    nothing of the MCP SDK, no TOML parser or dataclasses (both cost per call)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON") and k != "LOOM_CONFIG"}
    env["PYTHONPATH"] = str(ROOT)
    result = subprocess.run([sys.executable, "-c", SESSION_START_PROBE, str(tmp_path / "pod")],
                            capture_output=True, text=True, cwd=ROOT, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    added = json.loads(result.stdout.strip().splitlines()[-1])
    assert added and all(m.startswith("loomtui.") for m in added), added
    for heavy in (*MCP_SDK, *HEAVY, "tomllib", "dataclasses"):
        assert heavy not in {m.split(".")[0] for m in added}
