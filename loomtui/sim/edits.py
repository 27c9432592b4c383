"""Real edits (the demo's `edits=True`): the agents' Edit and Write calls change
the files in their worktrees, and their `git commit -am` commands commit.

`WorktreeEdits.plan` turns an Edit or Write into what it really changes (from
the file as it is now: a changed line, or a few new lines at the end, or the
first text of a new file) and keeps the new text on the agent until the hook
lets the call run; `apply` then writes it, just before PostToolUse, and never
outside the agent's own worktree. The lines come from a generator of each
agent's own (`SimAgent.edit_rng`, seeded from its session id), so the main
generator and the event stream are the same with edits on or off.

Two agents edit the same line of one file before the pod starts running
(`WorktreeEdits.opening_path`), so the console shows a real conflict (git merge-tree
says so) from the first frame. The other edits change a line or add a block between
two sections of a file (the demo repository's files have many, sim/repo.py): agents
that change one file mostly merge cleanly (an overlap) and conflict only when they
pick the same spot; new files are the agent's own (its name in the file name). With
edits off (the default) no file changes.
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

STRAY = 0.05  # of edits of a sectioned file: anywhere, not in the agent's own section
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
        self.hot_line: int | None = None  # ... and the line they both change (a conflict)
        self.hot_text: str | None = None
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

    def opening_plan(self, agent: SimAgent, force: bool) -> dict[str, Any]:
        """The opening Edit (`opening_path`): on the hot file it changes a line, the
        second agent the very line the first changed, so the two conflict."""
        first, waiting = self.hot is None, not self.collided
        path = self.opening_path(agent, force)
        if not (first or (waiting and self.collided)):  # not one of the two
            return self.plan(agent, "Edit", path)
        return self.plan(agent, "Edit", path, line=self.hot_line if self.hot_line is not None else -1)

    def plan(self, agent: SimAgent, tool: str, path: str, *, line: int | None = None) -> dict[str, Any]:
        """The tool input of a real Edit (of `path`) or Write (of a new file of
        the agent's area, named after the agent), from the file as it is now; the new
        text waits in `agent.pending` until the call runs (`apply`). `line`: change
        that line (-1: a line of its choice, remembered as the hot line)."""
        rng = agent.edit_rng
        assert rng is not None
        if tool == "Write":
            path = own_name(rng.choice(NEW_FILES[agent.area]), agent.name)
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
            anchors = _anchors(lines, path)
            if line is None and anchors and rng.random() >= STRAY:
                return self._in_own_section(agent, path, target, lines, anchors, words)
            if line is not None and changeable:
                i = line if 0 <= line < len(lines) else rng.choice(changeable)
                changed = _changed_line(rng, lines[i], path, words)
                if changed is not None and line >= 0 and changed == self.hot_text:
                    changed = changed.rstrip("\n") + f"  # {agent.name}\n"  # not the same change
                if line < 0 and changed is not None:
                    self.hot_line, self.hot_text = i, changed
            elif changeable and (len(base) > EDIT_CAP or rng.random() < 0.45):
                i = rng.choice(changeable)
                changed = _changed_line(rng, lines[i], path, words)
            if changed is not None:
                old_string, new_string = lines[i], changed
                new = "".join(lines[:i]) + changed + "".join(lines[i + 1:])
            else:  # a new block between two sections, or at the end
                at = rng.choice(_gaps(lines, path) + [len(lines)])
                block = _block(rng, path, words)
                if at == len(lines):
                    old_string = lines[-1]
                    new_string = old_string + block
                    new = "".join(lines[:-1]) + new_string
                else:  # before the section at `at`: its first line is the Edit's anchor
                    old_string = lines[at]
                    new_string = block.lstrip("\n") + ("\n\n" if path.endswith(".py") else "\n") + old_string
                    if path.endswith(".sql"):
                        new_string = block + old_string
                    new = "".join(lines[:at]) + new_string + "".join(lines[at + 1:])
        absolute = str(target)
        agent.pending = (absolute, new)
        if tool == "Write":
            return {"file_path": absolute, "content": new}
        return {"file_path": absolute, "old_string": old_string, "new_string": new_string,
                "replace_all": False}

    def _in_own_section(self, agent: SimAgent, path: str, target: Path, lines: list[str],
                        anchors: list[int], words: list[str]) -> dict[str, Any]:
        """An Edit in the agent's own section of a file (by its id: agents of one file
        work in different sections, so they overlap but merge cleanly): its line
        changed, or a new block just before it."""
        rng = agent.edit_rng
        assert rng is not None
        at = anchors[agent.agent_id % len(anchors)]
        content = at + (1 if path.endswith(".py") else 2)
        changed = None
        if content < len(lines) and lines[content].strip() and rng.random() < 0.45:
            changed = _changed_line(rng, lines[content], path, words)
        if changed is not None:
            old_string, new_string = lines[content], changed
            new = "".join(lines[:content]) + changed + "".join(lines[content + 1:])
        else:
            block = _block(rng, path, words)
            old_string = lines[at]
            if path.endswith(".sql"):
                new_string = block + old_string
            else:
                new_string = block.lstrip("\n") + ("\n\n" if path.endswith(".py") else "\n") + old_string
            new = "".join(lines[:at]) + new_string + "".join(lines[at + 1:])
        absolute = str(target)
        agent.pending = (absolute, new)
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


def own_name(path: str, agent: str) -> str:
    """A new file of the agent's own (`src/auth/tokens.py` -> `src/auth/tokens_auth_2.py`):
    two agents of one area never both create one file (that would always conflict)."""
    folder, _, name = path.rpartition("/")
    stem, dot, ext = name.partition(".")
    slug = re.sub(r"[^A-Za-z0-9]+", "_", agent or "agent").strip("_").lower()
    return f"{folder}/{stem}_{slug}{dot}{ext}" if folder else f"{stem}_{slug}{dot}{ext}"


_ANCHOR = {".py": re.compile(r"^def \w+_step_\d+\("), ".md": re.compile(r"^## Part \d+$"),
           ".sql": re.compile(r"^-- step \d+$")}


def _anchors(lines: list[str], path: str) -> list[int]:
    """The first lines of the demo repository's sections in a file (sim/repo.py)."""
    pattern = _ANCHOR.get(os.path.splitext(path)[1])
    return [i for i, line in enumerate(lines) if pattern.match(line)] if pattern else []


def _gaps(lines: list[str], path: str) -> list[int]:
    """Where a new block may go: before a top-level `def` (Python) or a `## ` heading
    (Markdown) that follows a blank line, or before any line but the first (SQL)."""
    if path.endswith(".sql"):
        return list(range(1, len(lines)))
    start = ("def ", "class ", "@") if path.endswith(".py") else ("## ",) if path.endswith(".md") else None
    if start is None:
        return []
    return [i for i in range(1, len(lines)) if lines[i].startswith(start) and not lines[i - 1].strip()]


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
