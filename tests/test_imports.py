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

ROOT = Path(__file__).resolve().parents[1]

UI = ("textual", "rich")
# What the hook path (every tool call of every agent) must not pay for.
HEAVY = UI + ("aiosqlite", "git", "watchfiles")

NON_UI_MODULES = (
    "loomtui.store",
    "loomtui.store.db",
    "loomtui.store.agents",
    "loomtui.policy",
    "loomtui.hooks",
    "loomtui.store.gates",
    "loomtui.store.audit",
    "loomtui.hooks.claude",
    "loomtui.hooks.gitinfo",
    "loomtui.commands.hook",
    "loomtui.ingest",
    "loomtui.git",
    "loomtui.memory",
    "loomtui.sim",
    "loomtui.config",
    "loomtui.cli",
    "loomtui.hooks.install",
    "loomtui.commands.gate",
)
HOOK_PATH_MODULES = (
    "loomtui.store.db",
    "loomtui.store.agents",
    "loomtui.policy",
    "loomtui.hooks",
    "loomtui.store.gates",
    "loomtui.store.audit",
    "loomtui.hooks.claude",
    "loomtui.hooks.gitinfo",
    "loomtui.commands.hook",
)

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
    assert ui == [], f"{module} loads {ui}"


@pytest.mark.parametrize("module", HOOK_PATH_MODULES)
def test_hook_path_module_is_lean(module):
    """The hook runs on every tool call: no aiosqlite, gitpython or watchfiles."""
    assert list(loaded_by(module)) == [], f"{module} loads {list(loaded_by(module))}"
