"""The agents' use of the pod's shared memory (the demo's `memory=True`).

The supervisors' notes are there before the first agent (two pinned conventions
and a few facts and decisions, `scenario.SEED_MEMORY`); each agent reads what
the real SessionStart hook injects (`context_entries`, kept in
`SimAgent.memory_ids`); while working it now and then writes a decision (which
waits for review), a fact or a warning about its area, and a handoff when its
session ends (superseding its branch's previous one), through
`loomtui.memory.entries.add` as that agent, with its provenance. The teammate
reviews some of the proposals (teammate.py). All of it comes from a generator
per agent seeded from its session id (`SimAgent.memory_rng`), so the main
generator and the event stream are the same with memory on or off.
"""

from __future__ import annotations

import json
import logging
import random
import re
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from loomtui.hooks.protocol import Answer
from loomtui.memory.entries import DEFAULT_REVIEW_KINDS, Author, Entry, EntryError, add, supervisor
from loomtui.memory.identity import head_commit
from loomtui.sim.scenario import (
    AREAS,
    HANDOFF_LEFT,
    MEMORY_NOTES,
    NEW_FILES,
    NOTE_PROBLEMS,
    NOTES,
    SEED_MEMORY,
    TASKS,
    TEST_CASES,
    VERBS,
    WORDS,
)

if TYPE_CHECKING:
    from loomtui.sim.engine import SimAgent

MEMORY_SHARE = 0.04  # of an agent's ordinary tool calls that are followed by a note in memory
MEMORY_POD_SHARE = 0.2  # of notes scoped to the whole pod (the rest: the repository)
MEMORY_KINDS = [("decision", 4), ("fact", 3), ("warning", 2)]
_CONTEXT_ENTRY = re.compile(r"(?m)^\[[a-z]+ #(\d+) v\d+")  # render_markdown's line of facts

log = logging.getLogger(__name__)


class MemoryNotes:
    """What the simulated agents write into the pod's memory, and what they wrote
    so far. `repo_ref` gives the repository as the hook records it on the agents
    (the scope_ref of "repo" entries, so that SessionStart finds them)."""

    def __init__(self, conn: sqlite3.Connection, pod: Path, repo_ref: Callable[[], str]) -> None:
        self.conn = conn
        self.repo_ref = repo_ref
        self.review_kinds: tuple[str, ...] = DEFAULT_REVIEW_KINDS
        self.written: list[int] = []  # entry ids, in order
        self.titles: set[str] = set()  # titles written, so that no note repeats
        self.handoffs: dict[str, int] = {}  # branch -> its latest handoff entry
        # `[memory] review_kinds` of the pod: which of an agent's notes wait for review
        from loomtui.config import ConfigError, load_config

        try:
            self.review_kinds = load_config(pod).memory.review_kinds
        except ConfigError as exc:
            log.debug("the simulation's memory uses the default review kinds: %s", exc)

    def seed(self, now: float) -> None:
        """The supervisors' notes of a pod that has been running for days (only into
        an empty memory): two pinned conventions, a few decisions, facts, a warning."""
        if self.conn.execute("SELECT 1 FROM memory LIMIT 1").fetchone() is not None:
            return
        repo = self.repo_ref()
        for name, kind, title, body, tags, scope, pinned, days in SEED_MEMORY:
            try:
                add(self.conn, kind=kind, title=title, body=body, tags=tags, scope=scope,
                    scope_ref=repo if scope == "repo" else None, author=supervisor(name),
                    pinned=pinned, now=now - days * 86400)
                self.titles.add(title)
            except (EntryError, sqlite3.OperationalError) as exc:  # never fails the simulation
                log.debug("seeding the simulated memory: %s", exc)

    def note(self, agent: SimAgent, now: float) -> Entry | None:
        """A decision, fact or warning about the agent's area, written as the agent
        (a decision waits for review); None if the area has nothing new to say or
        the write failed."""
        rng = agent.memory_rng
        assert rng is not None
        kind = rng.choices([k for k, _ in MEMORY_KINDS], [w for _, w in MEMORY_KINDS])[0]
        fresh = [n for n in MEMORY_NOTES[agent.area] if n[1] not in self.titles]
        same = [n for n in fresh if n[0] == kind]
        if same or fresh:
            kind, title, body = rng.choice(same or fresh)
        else:
            title, body = _made_up_note(rng, agent.area, kind)
            if title in self.titles:
                return None
        scope = "pod" if rng.random() < MEMORY_POD_SHARE else "repo"
        tags = [agent.area, *rng.sample(WORDS[agent.area], 2)]
        return self._write(agent, now, kind=kind, title=title, body=body, tags=tags, scope=scope)

    def handoff(self, agent: SimAgent, now: float) -> None:
        """At session end: what was done and what is left, for whoever picks the
        branch up next. It supersedes the branch's previous handoff."""
        rng = agent.memory_rng
        assert rng is not None
        noun, other = rng.sample(WORDS[agent.area], 2)
        files = ", ".join(f"`{p}`" for p in AREAS[agent.area][:2])
        left = rng.sample(HANDOFF_LEFT, 2)
        body = (f"Stopping after {agent.calls} tool calls on `{agent.branch}`; the next session in "
                f"`{agent.worktree.name}` can pick it up.\n\n"
                f"**Done**\n- {TASKS[agent.area]}: most of it, in {files}\n"
                f"- tests pass locally (`make test-fast`)\n\n"
                "**Left**\n" + "".join(f"- {item.format(noun=noun, other=other)}\n" for item in left) +
                f"\n**Watch out**\n- the {noun} {rng.choice(NOTE_PROBLEMS).format(other=other)}")
        title = f"Handoff: {TASKS[agent.area]} ({agent.branch})"
        previous = self.handoffs.get(agent.branch)
        tags = [agent.area, "handoff", noun]
        entry = self._write(agent, now, kind="handoff", title=title, body=body, tags=tags,
                            scope="repo", supersedes=previous)
        if entry is None and previous is not None:  # the old one was retired meanwhile
            entry = self._write(agent, now, kind="handoff", title=title, body=body, tags=tags,
                                scope="repo")
        if entry is not None:
            self.handoffs[agent.branch] = entry.id

    def _author(self, agent: SimAgent) -> Author:
        worktree = str(agent.worktree)
        return Author(name=agent.name, kind="agent", agent_id=agent.agent_id, session_id=agent.session,
                      worktree=worktree, commit_sha=head_commit(worktree), repo=self.repo_ref())

    def _write(self, agent: SimAgent, now: float, *, kind: str, title: str, body: str,
               tags: list[str], scope: str, supersedes: int | None = None) -> Entry | None:
        try:
            entry = add(self.conn, kind=kind, title=title, body=body, tags=tags, scope=scope,
                        scope_ref=self.repo_ref() if scope == "repo" else None,
                        author=self._author(agent), supersedes=supersedes,
                        review_kinds=self.review_kinds, now=now)
        except (EntryError, sqlite3.OperationalError) as exc:  # e.g. the store busy: no note
            log.debug("simulated memory write by %s: %s", agent.name, exc)
            return None
        self.titles.add(title)
        self.written.append(entry.id)
        return entry


def context_entries(answer: Answer) -> tuple[int, ...]:
    """The ids of the memory entries a SessionStart answer injected, in order."""
    if not answer.stdout.strip():
        return ()
    try:
        text = json.loads(answer.stdout)["hookSpecificOutput"]["additionalContext"]
    except (ValueError, KeyError, TypeError):
        return ()
    return tuple(int(i) for i in _CONTEXT_ENTRY.findall(text)) if isinstance(text, str) else ()


def _made_up_note(rng: random.Random, area: str, kind: str) -> tuple[str, str]:
    """A note about the area once its written notes are all in memory: a title and
    a Markdown body, from the area's files and words."""
    words = WORDS[area]
    noun, other = rng.sample(words, 2)
    verb = rng.choice(VERBS)
    path = rng.choice(AREAS[area] + NEW_FILES[area])
    task = TASKS[area]
    if kind == "decision":
        return (f"{verb.capitalize()} the {noun} before the {other} in {path}",
                f"Agreed while working on: {task}. `{verb}_{noun}()` runs first, so the {other} never "
                f"sees an unchecked {noun}.\n\n- callers in `{path}` change with it\n"
                f"- `test_{verb}_{noun}_{rng.choice(TEST_CASES)}` covers it")
    if kind == "warning":
        problem = rng.choice(NOTE_PROBLEMS).format(other=other)
        return (f"{path}: the {noun} {problem}",
                f"Found while working on: {task}.\n\n- seen in `{verb}_{noun}()`\n"
                f"- check the {other} before relying on it")
    return (f"{verb}_{noun}() in {path} is {rng.choice(NOTES)}",
            f"Found while working on: {task}.\n\n- `{verb}_{noun}()` takes the {noun}s and an "
            f"optional {other}\n- covered by `test_{verb}_{noun}_{rng.choice(TEST_CASES)}`")
