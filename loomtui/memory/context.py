"""The text the SessionStart hook adds to a new agent's context: the pinned
entries, the entries relevant to the agent's repository and worktree, and a
short pod status, within a token budget (`[memory] session_budget_tokens`,
default 2,000; the estimate is `retrieval.estimate_tokens`).

What goes in, in order of priority while the budget lasts:

1. a two-line header (without room for it, nothing is injected);
2. pinned entries (the pod's, this repository's, this agent's);
3. up to a quarter of the budget for the other agents' status lines (same
   repository first) so the agent can avoid their files;
4. relevant entries: scoped to this agent (its name, session or worktree), then
   scoped to this repository, then pod entries that match the branch and
   worktree names; warnings and conventions before other kinds, newer first.

Whole entries only, never cut; the budget covers the text as a whole, headers
and separators included. With nothing to say (no entries, nobody else working)
the text is empty and the hook prints nothing.

Stdlib + store only, and lean: the hook imports this at every session start.
"""

from __future__ import annotations

import os
import re
import sqlite3
from pathlib import Path

from loomtui.memory.entries import SELECT_SQL, Entry, entry_from_row
from loomtui.memory.pod import status_lines
from loomtui.memory.retrieval import Asker, boost, estimate_tokens, rank, render_markdown
from loomtui.store.agents import FLEET_SQL, Agent, agent_from_row

SESSION_BUDGET_DEFAULT = 2000  # the same default as config.MemoryConfig
STATUS_SHARE = 0.25
CANDIDATES = 60
KIND_WEIGHT = {"warning": 1.3, "convention": 1.2, "decision": 1.1, "handoff": 1.1, "fact": 1.0,
               "todo": 0.9}
# Branch and directory names that say nothing about the work.
GENERIC_WORDS = frozenset("main master trunk develop dev head wt worktree worktrees src repo "
                          "work tmp feature fix bugfix hotfix".split())
SEPARATOR = "\n\n"


def session_budget(pod: Path) -> int:
    """`[memory] session_budget_tokens` from the pod's config. The common case (the
    key not set) costs one file read, no TOML parser; a set key is read through
    `loomtui.config` so the validation is the config's own."""
    override = os.environ.get("LOOM_CONFIG")
    path = Path(override).expanduser() if override else pod / "config.toml"
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return SESSION_BUDGET_DEFAULT
    if not re.search(r"(?m)^\s*session_budget_tokens\s*=", text):
        return SESSION_BUDGET_DEFAULT
    from loomtui.config import load_config

    return load_config(pod).memory.session_budget_tokens


def agent_by_id(conn: sqlite3.Connection, agent_id: int) -> Agent | None:
    row = conn.execute(FLEET_SQL.replace("ORDER BY a.id", "WHERE a.id = ?"), (agent_id,)).fetchone()
    return agent_from_row(row) if row else None


def asker_for(agent: Agent | None) -> Asker:
    if agent is None:
        return Asker()
    names = tuple(n for n in (agent.name, agent.session_id, agent.worktree) if n)
    return Asker(repo=agent.repo, agent_names=names)


def pinned_entries(conn: sqlite3.Connection, asker: Asker) -> list[Entry]:
    rows = conn.execute(f"{SELECT_SQL} WHERE status = 'active' AND pinned = 1 "
                        "ORDER BY updated_at DESC, id DESC LIMIT ?", (CANDIDATES * 4,)).fetchall()
    return [e for e in map(entry_from_row, rows) if _applies(e, asker)][:CANDIDATES]


def relevant_entries(conn: sqlite3.Connection, agent: Agent | None, asker: Asker, now: float) -> list[Entry]:
    """Not pinned, active, in priority order (see the module docstring)."""
    found: dict[int, Entry] = {}
    tiers: list[list[Entry]] = []
    if asker.agent_names:
        rows = conn.execute(
            f"{SELECT_SQL} WHERE scope = 'agent' AND status = 'active' AND pinned = 0 AND scope_ref IN "
            f"({', '.join('?' * len(asker.agent_names))}) ORDER BY updated_at DESC LIMIT ?",
            (*asker.agent_names, CANDIDATES)).fetchall()
        tiers.append(list(map(entry_from_row, rows)))
    if asker.repo:
        rows = conn.execute(
            f"{SELECT_SQL} WHERE scope = 'repo' AND scope_ref = ? AND status = 'active' AND pinned = 0 "
            "ORDER BY updated_at DESC LIMIT ?", (asker.repo, CANDIDATES)).fetchall()
        tiers.append(list(map(entry_from_row, rows)))
    words = _place_words(agent)
    if words:
        hits = rank(conn, " ".join(words), now=now, asker=asker, limit=CANDIDATES)
        tiers.append([h.entry for h in hits if not h.entry.pinned and _applies(h.entry, asker)])
    ordered: list[Entry] = []
    for index, tier in enumerate(tiers):
        if index < len(tiers) - 1 or not words:  # the FTS tier keeps its own ranking
            tier = sorted(tier, key=lambda e: -KIND_WEIGHT.get(e.kind, 1.0) * boost(e, asker, now))
        for entry in tier:
            if entry.id not in found:
                found[entry.id] = entry
                ordered.append(entry)
    return ordered


def _applies(entry: Entry, asker: Asker) -> bool:
    if entry.scope == "pod":
        return True
    if entry.scope == "repo":
        return bool(asker.repo) and entry.scope_ref == asker.repo
    return entry.scope_ref in asker.agent_names


def _place_words(agent: Agent | None) -> list[str]:
    if agent is None:
        return []
    words: list[str] = []
    for place in (agent.branch, agent.worktree, agent.repo):
        if not place:
            continue
        name = place.rstrip("/").rsplit("/", 1)[-1]
        for word in re.findall(r"[a-z0-9]+", name.lower()):
            if len(word) > 2 and not word.isdigit() and word not in GENERIC_WORDS and word not in words:
                words.append(word)
    return words


def session_context(conn: sqlite3.Connection, *, agent_id: int | None, budget_tokens: int,
                    now: float, stall_after: float = 300.0) -> str:
    """The additionalContext text for this agent's session start; "" if nothing to say."""
    agent = agent_by_id(conn, agent_id) if agent_id is not None else None
    asker = asker_for(agent)
    repo_name = agent.repo.rstrip("/").rsplit("/", 1)[-1] if agent and agent.repo else None
    where = f" for {repo_name}" + (f" ({agent.branch})" if agent and agent.branch else "") if repo_name else ""
    header = (f"# Pod memory{where}, from LoomTUI\n"
              "Shared notes of the pod you work in (decisions, conventions, warnings, handoffs) and "
              "what the other agents are doing. Search and add notes with the `loom` MCP tools: "
              "memory_search, memory_get, memory_write, pod_status.")
    room = budget_tokens - estimate_tokens(header)
    if room <= 0:
        return ""

    def cost(text: str) -> int:
        return estimate_tokens(text) + 1  # + the separator before it

    # Pod status: its share is reserved first, spent last in the text (one block,
    # a line per agent).
    status = _status_block(conn, agent, now, stall_after,
                           min(room, int(budget_tokens * STATUS_SHARE)), cost)
    room -= cost(status) if status else 0

    blocks: list[str] = [header]
    for title, entries in (("## Pinned", pinned_entries(conn, asker)),
                           ("## Relevant here", relevant_entries(conn, agent, asker, now))):
        if not entries or room <= cost(title):
            continue
        chosen = []
        left = room - cost(title)
        for entry in entries:
            text = render_markdown(entry)
            if cost(text) <= left:
                chosen.append(text)
                left -= cost(text)
        if chosen:
            blocks.append(title)
            blocks.extend(chosen)
            room = left
    if len(blocks) == 1 and not status:
        return ""
    if status:
        blocks.append(status)
    text = SEPARATOR.join(blocks)
    while estimate_tokens(text) > budget_tokens and len(blocks) > 1:  # a guard; sums are upper bounds
        blocks.pop()
        text = SEPARATOR.join(blocks)
    return text


def _status_block(conn: sqlite3.Connection, agent: Agent | None, now: float, stall_after: float,
                  share: int, cost) -> str:
    """"## Other agents now" and a line per agent, within `share` tokens; "" if none."""
    lines, more = status_lines(conn, now=now, me=agent, stall_after=stall_after)
    if not lines:
        return ""
    title = "## Other agents now"
    left = share - cost(title)
    shown: list[str] = []
    for line in lines:
        if cost(line) <= left:
            shown.append(line)
            left -= cost(line)
        else:
            more += 1

    def tail() -> str:
        return f"- and {more} more (the pod_status tool lists every agent)"

    if more:
        while shown and cost(tail()) > left:
            left += cost(shown.pop())
            more += 1
        if shown:
            shown.append(tail())
    return "\n".join([title, *shown]) if shown else ""
