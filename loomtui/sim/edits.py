"""Real edits (the demo's `edits=True`): the agents' Edit and Write calls change
the files in their worktrees, and their `git commit -am` commands commit.

`WorktreeEdits.plan` turns an Edit or Write into what it really changes (from
the file as it is now: a changed line, or a few new lines at the end, or the
first text of a new file) and keeps the new text on the agent until the hook
lets the call run; `apply` then writes it, just before PostToolUse, and never
outside the agent's own worktree. The lines come from a generator of each
agent's own (`SimAgent.edit_rng`, seeded from its session id), so the main
generator and the event stream are the same with edits on or off.

Two agents edit the same file before the pod starts running
(`WorktreeEdits.opening_path`), so the console shows a collision from the first
frame. With edits off (the default) no file changes.
"""

from __future__ import annotations

import logging
import os
import random
import re
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loomtui.sim.repo import agent_git
from loomtui.sim.scenario import AREAS, NEW_FILES, NOTES, PY_BODIES, TASKS, TEST_CASES, VERBS, WORDS

if TYPE_CHECKING:
    from loomtui.sim.engine import SimAgent

EDIT_CAP = 12_000  # characters: a bigger file gets changed lines, no more appended ones
_NUMBER = re.compile(r"\b\d+(?:\.\d+)?\b")
_FIXED = ("def ", "class ", "import ", "from ", "@", "#", '"""', "```", "-- ")

log = logging.getLogger(__name__)


class WorktreeEdits:
    """The real edits of a simulation, and what they did so far."""

    def __init__(self) -> None:
        self.files_written = 0
        self.commits = 0
        self.hot: str | None = None  # the file the first two editing agents both change
        self.collided = False

    def opening_path(self, agent: SimAgent, force: bool) -> str:
        """The file of an Edit in a Claude agent's history before the pod runs. The
        first one changes a file that two areas share (the "hot" file); the next
        agent whose area has that file changes it too, so two worktrees collide
        from the start (`force`: a later one changes it whatever its area, so that
        a small pod collides too). Uses only the agent's own generator."""
        rng = agent.edit_rng
        assert rng is not None
        editable = [p for p in AREAS[agent.area] if not p.startswith("migrations/")]
        if self.hot is None:
            shared = [p for p in editable if sum(p in paths for paths in AREAS.values()) > 1]
            path = self.hot = rng.choice(shared or ["README.md"])
        elif not self.collided and (self.hot in editable or force):
            path, self.collided = self.hot, True
        else:
            path = rng.choice(editable)
        return path

    def plan(self, agent: SimAgent, tool: str, path: str) -> dict[str, Any]:
        """The tool input of a real Edit (of `path`) or Write (of a new file of
        the agent's area), from the file as it is now; the new text waits in
        `agent.pending` until the call runs (`apply`)."""
        rng = agent.edit_rng
        assert rng is not None
        if tool == "Write":
            path = rng.choice(NEW_FILES[agent.area])
        target = agent.worktree / path
        try:
            text = target.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            text = ""
        words = WORDS[agent.area]
        if not text:
            new = _new_file(rng, path, words, TASKS[agent.area])
            old_string, new_string = "", new
        else:
            base = text.rstrip("\n") + "\n"
            lines = base.splitlines(keepends=True)
            changeable = [i for i, line in enumerate(lines)
                          if line.strip() and not line.lstrip().startswith(_FIXED)]
            changed = None
            if changeable and (len(base) > EDIT_CAP or rng.random() < 0.45):
                i = rng.choice(changeable)
                changed = _changed_line(rng, lines[i], path, words)
            if changed is not None:
                old_string, new_string = lines[i], changed
                new = "".join(lines[:i]) + changed + "".join(lines[i + 1:])
            else:  # something new at the end
                old_string = lines[-1]
                new_string = old_string + _block(rng, path, words)
                new = "".join(lines[:-1]) + new_string
        absolute = str(target)
        agent.pending = (absolute, new)
        if tool == "Write":
            return {"file_path": absolute, "content": new}
        return {"file_path": absolute, "old_string": old_string, "new_string": new_string,
                "replace_all": False}

    def apply(self, agent: SimAgent, now: float, tool: str, tool_input: dict[str, Any]) -> None:
        """What an allowed call does to the worktree: an Edit or Write changes
        its file, `git commit` commits. Never fails the simulation."""
        pending, agent.pending = agent.pending, None
        if tool in ("Edit", "Write"):
            file_path = str(tool_input.get("file_path", ""))
            if pending is not None and pending[0] == file_path:
                text = pending[1]
            elif tool == "Write":  # e.g. an approved risky Write (a migration)
                text = str(tool_input.get("content", ""))
            else:
                return
            target = Path(os.path.normpath(file_path))
            if not target.is_relative_to(agent.worktree) or ".git" in target.parts:
                return  # never outside the agent's own worktree
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text, encoding="utf-8")
                self.files_written += 1
            except OSError as exc:
                log.debug("simulated %s of %s: %s", tool, file_path, exc)
        elif tool == "Bash":
            command = str(tool_input.get("command", ""))
            if not command.startswith("git commit "):
                return  # the other commands are only reported
            try:
                args = shlex.split(command)[1:]
            except ValueError:
                return
            if agent_git(agent.worktree, args, name=agent.name or "agent", when=now):
                self.commits += 1


# -- generated code and prose for real edits -------------------------------------


def _new_file(rng: random.Random, path: str, words: list[str], task: str) -> str:
    """The first text of a new file (or of an empty one)."""
    if path.endswith(".md"):
        title = path.rsplit("/", 1)[-1][:-3].replace("_", " ").capitalize()
        return f"# {title}\n\nNotes written while working on: {task}.\n" + _block(rng, path, words)
    if path.endswith(".py"):
        if "/tests/" in f"/{path}":
            return "import pytest\n" + _block(rng, path, words)
        return f'"""{words[0].capitalize()} helpers ({task})."""\n' + _block(rng, path, words)
    return f"-- {task}\n"


def _block(rng: random.Random, path: str, words: list[str]) -> str:
    """A few new lines to append: a function, a test, a section or a list item."""
    noun, other = rng.sample(words, 2)
    verb = rng.choice(VERBS)
    note = rng.choice(NOTES)
    if path.endswith(".md"):
        if rng.random() < 0.5:
            return f"- `{noun}`: {note}.\n"
        return (f"\n## {verb.capitalize()} the {noun}\n\n"
                f"Run `make {verb}-{noun}` before you change the {other}; it is {note}.\n")
    if path.endswith(".sql"):
        return f"-- {noun}: {note}\n"
    if "/tests/" in f"/{path}":
        literal = rng.choice(["[]", "{}", "0", "''", f"'{other}'", str(rng.randint(2, 99))])
        return (f"\n\ndef test_{verb}_{noun}_{rng.choice(TEST_CASES)}():\n"
                f"    {noun} = {literal}\n    assert {noun} == {literal}\n")
    body = rng.choice(PY_BODIES).format(a=f"{noun}s", b=other, noun=noun, n=rng.randint(3, 50))
    return (f"\n\ndef {verb}_{noun}({noun}s, {other}=None):\n"
            f'    """{verb.capitalize()} the {noun}s ({note})."""\n' + body)


def _changed_line(rng: random.Random, line: str, path: str, words: list[str]) -> str | None:
    """A changed version of one line (a number moved, a comment added or
    reworded), or None when there is nothing sensible to change."""
    body = line.rstrip("\n")
    number = _NUMBER.search(body)
    if number is not None and rng.random() < 0.6:
        old = number.group()
        if "." in old:
            new = f"{float(old) + rng.choice([0.01, 0.05, 0.1]):.2f}".rstrip("0")
        else:
            new = str(int(old) + rng.randint(1, 9))
        return body[:number.start()] + new + body[number.end():] + "\n"
    note = f"{rng.choice(words)}: {rng.choice(NOTES)}"
    if path.endswith(".md"):
        return body.split("; ")[0].rstrip(".") + f"; {note}.\n"
    if path.endswith(".py"):
        changed = body.split("  # ")[0] + f"  # {note}\n"
        return changed if changed != line else None
    return None
