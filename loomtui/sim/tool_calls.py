"""What the simulated agents call: the tool and its input of an ordinary call
(a read, an edit, a test run, a search) and of a risky one (a push, a migration,
a publish), drawn from the scenario with the simulation's main generator. The
engine sends them through the hook; with real edits on, `edits.py` replaces an
Edit or Write's input with what it really changes.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

from loomtui.sim.scenario import AREAS, RISKY, TASKS

if TYPE_CHECKING:
    from loomtui.sim.engine import SimAgent

RISKY_SHARE = 0.015  # of tool calls; with 24 agents a few gates wait most of the time


def ordinary_call(rng: random.Random, agent: SimAgent) -> tuple[str, dict[str, Any], str]:
    """A call the policy lets through: (tool, tool input, the area's file it is about)."""
    path = rng.choice(AREAS[agent.area])
    tool = rng.choices(["Read", "Edit", "Bash", "Grep", "Write"], [5, 4, 4, 2, 1])[0]
    if agent.kind == "codex" and tool != "Bash":  # Codex reports its shell commands only
        tool, command = "Bash", rng.choice([f"sed -n 1,120p {path}", f"rg -n 'def ' {path}"])
    else:
        command = rng.choice(
            [f"pytest -q {path if path.startswith('tests') else 'tests'}", "git status",
             "git diff --stat", "ruff check src", f"git commit -am 'wip: {agent.area}'"])
    if tool in ("Edit", "Write") and "migrations/" in path:
        tool = "Read"  # changing a migration is one of the risky actions
    absolute = str(agent.worktree / path)
    if tool == "Bash":
        tool_input: dict[str, Any] = {"command": command, "description": "Run " + command.split()[0]}
    elif tool == "Read":
        tool_input = {"file_path": absolute}
    elif tool == "Edit":
        tool_input = {"file_path": absolute, "old_string": "pass", "new_string": "return None",
                      "replace_all": False}
    elif tool == "Write":
        tool_input = {"file_path": absolute, "content": f"# {TASKS[agent.area]}\n"}
    else:
        tool_input = {"pattern": "def ", "path": path.rsplit("/", 1)[0] if "/" in path else ".",
                      "output_mode": "content"}
    return tool, tool_input, path


def risky_call(rng: random.Random, agent: SimAgent) -> tuple[str, dict[str, Any]]:
    """A call the demo policy gates (or denies): (tool, tool input). Codex agents
    only run shell commands."""
    choices = [r for r in RISKY if agent.kind == "claude" or r[1] == "Bash"]
    _, tool, what, extra = rng.choices(choices, [r[0] for r in choices])[0]
    if tool == "Bash":
        tool_input: dict[str, Any] = {"command": what.format(branch=agent.branch), "description": extra}
    else:
        tool_input = {"file_path": str(agent.worktree / what), "content": extra}
    return tool, tool_input
