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
    "loomtui.store.procs",    # the gatekeeper, when it holds a call for a supervisor
    "loomtui.store.budgets",  # the gatekeeper, when the pod has budgets
    "loomtui.store.audit",
    "loomtui.hooks.signals",
    "loomtui.hooks.protocol",
    "loomtui.hooks.gatekeeper",
    "loomtui.hooks.governance",  # SessionStart and a held call's note
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


COMPILE_PROBE = """
import importlib, json, sys
events = []
sys.addaudithook(lambda event, args: events.append(args) if event == "compile" else None)
for name in sys.argv[2].split(","):
    importlib.import_module(name)
from pathlib import Path
from loomtui.hooks.dispatch import Hook
pod = Path(sys.argv[1])
cwd = str(pod.parent)  # outside the pod: the pod directory itself is protected
for extra in ({"hook_event_name": "PreToolUse", "tool_name": "Bash", "tool_use_id": "toolu_01C",
               "tool_input": {"command": "git status", "description": "Show working tree status"}},
              {"hook_event_name": "SessionStart", "source": "startup"}):
    raw = json.dumps({"session_id": "s", "cwd": cwd, "permission_mode": "default", **extra}).encode()
    answer = Hook("claude", pod).run(raw)
    assert answer.exit_code == 0 and '"deny"' not in answer.stdout, answer
# A module's source is compiled when it has no usable .pyc yet (a fresh checkout, a read-only
# install, PYTHONDONTWRITEBYTECODE): that is the import system, not the hook's own cost.
print(json.dumps([repr(source)[:80] for source, filename in events
                  if not (isinstance(filename, str) and filename.endswith(".py"))]))
"""


def test_the_hook_path_compiles_no_annotations(tmp_path):
    """A NamedTuple in a module with `from __future__ import annotations` compiles each
    field's string annotation into a ForwardRef: a compile() call per field (151 for
    these modules, a PreToolUse and a SessionStart), paid on every tool call. What may
    remain is one compile() per NamedTuple class: collections.namedtuple builds each
    class's `__new__` from source."""
    from loomtui.store.db import connect, db_path

    connect(db_path(tmp_path / "pod")).close()  # the pod `loomtui init` makes
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON") and k != "LOOM_CONFIG"}
    env["PYTHONPATH"] = str(ROOT)
    result = subprocess.run([sys.executable, "-c", COMPILE_PROBE, str(tmp_path / "pod"), ",".join(HOOK_PATH_MODULES)],
                            capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    compiled = json.loads(result.stdout.strip().splitlines()[-1])
    annotations = [source for source in compiled if not source.startswith("b'lambda _cls,")]
    assert annotations == [], f"{len(annotations)} compile() calls beyond namedtuple's own: {annotations}"
    # What remains is one compile per NamedTuple class (each ~80 µs to create): how many
    # depends on what the stdlib loads beside (urllib.parse's, for one), so it is not
    # counted here; a new record type on the hook path is better a plain class with
    # __slots__ (as hooks/gatekeeper.py's Action and Verdict are).
