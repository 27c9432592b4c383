"""Ungoverned agents, by evidence: tool calls an agent's transcript shows that its hooks
never reported (issue 14, item 5).

LoomTUI hears from an agent through its hooks; an agent whose hooks were removed or
disabled mid-session keeps working and simply goes quiet, while its transcript keeps
growing. So the two are compared by tool-use id (Claude Code's `tool_use` block `id` and
its hooks' `tool_use_id`; Codex's `call_id` and its hooks' `tool_use_id`):

- the ingester notes each tool call of a recent transcript line in `transcript_calls`
  (`note_calls`, inside its own transaction), and drops the calls the agent itself
  refused before any hook could run (`excuse`: Claude Code's `<tool_use_error>`, a
  malformed tool input or an unknown tool);
- every hook event that carries a tool-use id stores it in `events.tool_use_id`
  (store/agents.record_event), indexed;
- `check` (the ingest service, every few seconds) takes the calls read more than
  `grace` seconds ago: one an event reports is deleted; one none reports is kept, marked
  unreported, and marks its agent `ungoverned`. The grace covers hooks still in flight
  (PreToolUse runs before the call, but PostToolUse and the records may lag).

Nothing scans history: `transcript_calls` holds only the calls awaiting their match
(deleted once matched) and the recent unreported ones (pruned after `KEEP`), and lines
older than `RECENT` when read (a first catch-up on old transcripts) are not noted.

A transcript-only agent (no hook event ever heard) is ungoverned from its first
transcript line when the pod expects hooks (`[governance] require_hooks`); otherwise its
calls are not counted (a pod may watch agents only for their tokens), nor are the calls
an agent made before its first hook event (its hooks were not there yet: nothing was
removed).

The mark clears once hooks are heard again: a hook reported a call after the last
unreported one, and none has been unreported for `clear_after` seconds. It also ends with the session (a
`done` agent shows `done`); `agents.unreported` keeps the session's count.

Stdlib only (the hook imports store/agents, not this).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from loomtui.store.agents import STORED_STATUSES
from loomtui.store.db import transaction

GRACE = 5.0  # seconds a hook may lag the transcript line of its call
RECENT = 600.0  # transcript lines older than this when read are history: not noted
KEEP = 3600.0  # seconds an unreported call stays (so a re-read does not count it twice)
CLEAR_AFTER = 120.0  # seconds of calls reported again before the mark clears
ID_MAX = 200
WHY_UNREPORTED = "tool calls its hooks never reported"
WHY_UNHEARD = "no hook heard; the pod requires hooks"


def note_calls(conn: sqlite3.Connection, agent_id: int, calls: Iterable[tuple[str, str, float]],
               *, now: float) -> int:
    """Note the tool calls (id, tool, line time) a transcript showed for this agent, read
    `now`; lines older than RECENT are skipped. Runs inside the caller's transaction.
    Returns how many were new."""
    rows = [(use_id, agent_id, (tool or "")[:100], ts, now) for use_id, tool, ts in calls
            if isinstance(use_id, str) and 0 < len(use_id) <= ID_MAX and ts >= now - RECENT]
    if not rows:
        return 0
    before = conn.total_changes
    conn.executemany("INSERT OR IGNORE INTO transcript_calls (tool_use_id, agent_id, tool, ts, read_at) "
                     "VALUES (?, ?, ?, ?, ?)", rows)
    return conn.total_changes - before


def excuse(conn: sqlite3.Connection, use_ids: Iterable[str]) -> None:
    """Forget calls the agent refused itself before its hooks ran (inside the caller's
    transaction): no hook could have reported them."""
    ids = [(i,) for i in use_ids if isinstance(i, str) and i]
    if ids:
        conn.executemany("DELETE FROM transcript_calls WHERE tool_use_id = ? AND unreported = 0", ids)


# The statuses of agents still running, as a literal for `status IN ...`: the agents_status
# index then reads the live agents only; `status != 'done'` read every agent of the pod's
# history once a second (29 ms at 100,000 agents).
LIVE = "(" + ", ".join(f"'{status}'" for status in STORED_STATUSES if status != "done") + ")"


def check(conn: sqlite3.Connection, *, now: float, grace: float = GRACE, require_hooks: bool = False,
          clear_after: float = CLEAR_AFTER) -> list[int]:
    """Match the calls past their grace against the hooks' events, mark the agents with
    unreported calls (and, with `require_hooks`, the live agents no hook was ever heard
    from), clear the marks that have been quiet long enough. Returns the ids of the
    agents newly marked. Cheap when nothing is pending: a few indexed reads, and no write
    lock unless something changed."""
    due = conn.execute(
        """SELECT c.tool_use_id, c.agent_id, c.read_at,
                  EXISTS (SELECT 1 FROM events e WHERE e.tool_use_id = c.tool_use_id),
                  c.ts >= (SELECT e.ts FROM events e WHERE e.agent_id = c.agent_id ORDER BY e.id LIMIT 1)
           FROM transcript_calls c WHERE c.unreported = 0 AND c.read_at <= ?""",
        (now - grace,)).fetchall()
    unheard = []
    if require_hooks:
        unheard = [row[0] for row in conn.execute(
            f"""SELECT a.id FROM agents a
               WHERE a.status IN {LIVE} AND a.ungoverned_at IS NULL AND a.kind IN ('claude', 'codex')
                 AND a.transcript_path IS NOT NULL AND a.started_at <= ?
                 AND NOT EXISTS (SELECT 1 FROM events e WHERE e.agent_id = a.id)""",
            (now - grace,))]
    marked = conn.execute("SELECT id, unreported_at, ungoverned_at, heard_at FROM agents "
                          f"WHERE status IN {LIVE} AND ungoverned_at IS NOT NULL").fetchall()
    stale = conn.execute("SELECT 1 FROM transcript_calls WHERE unreported = 1 AND read_at < ? LIMIT 1",
                         (now - KEEP,)).fetchone()
    if not due and not unheard and not marked and not stale:
        return []
    matched = [use_id for use_id, _agent, _read, heard, _any in due if heard]
    missing: dict[int, list[str]] = {}
    for use_id, agent_id, _read, heard, after_first_hook in due:
        if heard:
            continue
        if not after_first_hook and not require_hooks:
            # Before any hook of the agent was heard (a transcript-only agent, or the part
            # of a session from before its hooks were installed), in a pod that does not
            # expect hooks: not evidence of hooks removed.
            matched.append(use_id)
            continue
        missing.setdefault(agent_id, []).append(use_id)
    # When each agent's calls were last matched (read_at: the ingester's clock, as the
    # marks' times are).
    heard: dict[int, float] = {}
    for _use, agent_id, read_at, was_heard, _any in due:
        if was_heard:
            heard[agent_id] = max(heard.get(agent_id, 0.0), read_at)
    # A marked agent whose hooks report calls again (a call read after the last unreported
    # one was matched) and none unreported for clear_after.
    clearing = []
    for agent_id, last, since, heard_at in marked:
        quiet_since = last if last is not None else since
        latest = max(heard.get(agent_id, 0.0), heard_at or 0.0)
        if agent_id not in missing and latest > quiet_since and now - quiet_since >= clear_after:
            clearing.append(agent_id)
    if not (matched or missing or unheard or clearing or stale):
        return []
    newly: list[int] = []
    with transaction(conn):
        if matched:
            conn.executemany("DELETE FROM transcript_calls WHERE tool_use_id = ?", [(m,) for m in matched])
            conn.executemany("UPDATE agents SET heard_at = max(coalesce(heard_at, 0), ?) WHERE id = ?",
                             [(at, agent_id) for agent_id, at in heard.items()])
        for agent_id, ids in missing.items():
            conn.executemany("UPDATE transcript_calls SET unreported = 1 WHERE tool_use_id = ?",
                             [(i,) for i in ids])
            cur = conn.execute(
                "UPDATE agents SET unreported = unreported + ?, unreported_at = ?, "
                "ungoverned_why = CASE WHEN ungoverned_at IS NULL THEN ? ELSE ungoverned_why END, "
                "ungoverned_at = coalesce(ungoverned_at, ?) WHERE id = ? RETURNING ungoverned_at",
                (len(ids), now, WHY_UNREPORTED, now, agent_id)).fetchone()
            if cur is not None and cur[0] == now:
                newly.append(agent_id)
        for agent_id in unheard:
            if agent_id in missing:
                continue
            conn.execute("UPDATE agents SET ungoverned_at = ?, unreported_at = ?, ungoverned_why = ? "
                         "WHERE id = ? AND ungoverned_at IS NULL", (now, now, WHY_UNHEARD, agent_id))
            newly.append(agent_id)
        for agent_id in clearing:
            conn.execute("UPDATE agents SET ungoverned_at = NULL, ungoverned_why = '' WHERE id = ?",
                         (agent_id,))
        if stale:
            conn.execute("DELETE FROM transcript_calls WHERE unreported = 1 AND read_at < ?", (now - KEEP,))
    return newly
