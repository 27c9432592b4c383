"""Agents and their event timelines: the API every writer uses (hooks, ingester,
simulator) and the read queries the console and `loomtui status` share.

Stdlib only: this is on the hook path.
"""

# No `from __future__ import annotations`: this module is on the hook path, where
# NamedTuple would compile() each string annotation (see loomtui/policy/shell/__init__.py).
import json
import sqlite3
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple

from loomtui.store.db import transaction

KINDS = ("claude", "codex", "aider", "script", "sim")
STATUSES = ("working", "waiting", "idle", "stalled", "done", "error", "ungoverned")
# What agents.status holds (its CHECK); `ungoverned` is derived from agents.ungoverned_at
# (see Agent.effective_status and store/unreported.py), never stored.
STORED_STATUSES = STATUSES[:-1]
# A symbol per status so the fleet reads without colour too (NO_COLOR, a mono tmux).
STATUS_SYMBOLS = {
    "working": "●",
    "waiting": "◆",
    "idle": "○",
    "stalled": "◌",
    "done": "✓",
    "error": "✗",
    "ungoverned": "!",
}
# Order used by the status sort: what needs a human first.
STATUS_RANK = {"ungoverned": -1, "waiting": 0, "error": 1, "stalled": 2, "working": 3, "idle": 4, "done": 5}

SUMMARY_MAX = 200


class Agent(NamedTuple):
    id: int
    kind: str
    name: str
    session_id: str | None
    cwd: str | None
    repo: str | None
    worktree: str | None
    branch: str | None
    model: str | None
    status: str
    status_reason: str
    last_tool: str
    last_summary: str
    started_at: float
    last_activity_at: float
    ended_at: float | None
    # Governance: '' when not known yet.
    permission_mode: str = ""   # default | plan | acceptEdits | auto | dontAsk | bypassPermissions
    sandbox: str = ""           # on | off (from the agent's settings at session start)
    hooks: str = ""             # installed | partial | missing (LoomTUI's hooks in its settings)
    pending_gates: int = 0
    # Where the agent runs in tmux, as its hooks saw it: $TMUX_PANE ("%12") and the
    # server's socket (the first field of $TMUX); '' when not in tmux.
    tmux_pane: str = ""
    tmux_socket: str = ""
    # Ungoverned by evidence (store/unreported.py): since when (None: not marked), why,
    # and how many of its tool calls no hook reported this session.
    ungoverned_at: float | None = None
    ungoverned_why: str = ""
    unreported: int = 0
    # The configuration fingerprint (JSON, loomtui/store/fingerprint.py); '{}' until computed.
    fingerprint: str = "{}"

    def effective_status(self, now: float, stall_after: float) -> str:
        """`ungoverned` while marked (a finished agent stays `done`); `working` with no
        activity for `stall_after` seconds reads as `stalled`."""
        if self.ungoverned_at is not None and self.status != "done":
            return "ungoverned"
        if self.status == "working" and now - self.last_activity_at > stall_after:
            return "stalled"
        return self.status


class Event(NamedTuple):
    id: int
    agent_id: int
    ts: float
    kind: str
    tool: str
    summary: str
    payload: str


AGENT_COLUMNS = (
    "id, kind, name, session_id, cwd, repo, worktree, branch, model, status, status_reason, "
    "last_tool, last_summary, started_at, last_activity_at, ended_at, "
    "permission_mode, sandbox, hooks"
)
FLEET_SQL = f"""
    SELECT {', '.join('a.' + c.strip() for c in AGENT_COLUMNS.split(','))},
           (SELECT count(*) FROM gates g WHERE g.agent_id = a.id AND g.status = 'pending'),
           a.tmux_pane, a.tmux_socket, a.ungoverned_at, a.ungoverned_why, a.unreported, a.fingerprint
    FROM agents a ORDER BY a.id
"""
EVENTS_SQL = """
    SELECT id, agent_id, ts, kind, tool, summary, payload FROM events
    WHERE agent_id = ? ORDER BY id DESC LIMIT ?
"""


def one_line(text: str, limit: int = SUMMARY_MAX) -> str:
    """Collapse whitespace and cut to `limit` characters, for summaries."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def upsert_agent(
    conn: sqlite3.Connection,
    *,
    kind: str,
    now: float,
    session_id: str | None = None,
    name: str | None = None,
    cwd: str | None = None,
    repo: str | None = None,
    worktree: str | None = None,
    branch: str | None = None,
    model: str | None = None,
    transcript_path: str | None = None,
) -> int:
    """Insert an agent, or update the one with this session id; returns its id.

    Fields given as None keep their stored value, so writers that know less
    (a transcript line, a Notification hook) never erase what others recorded.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown agent kind {kind!r}; expected one of {', '.join(KINDS)}")
    fallback = name or _default_name(kind, worktree or cwd, session_id)
    row = conn.execute(
        """
        INSERT INTO agents (kind, name, session_id, cwd, repo, worktree, branch, model,
                            transcript_path, started_at, last_activity_at)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (session_id) DO UPDATE SET
            name = coalesce(?, name),
            cwd = coalesce(excluded.cwd, cwd),
            repo = coalesce(excluded.repo, repo),
            worktree = coalesce(excluded.worktree, worktree),
            branch = coalesce(excluded.branch, branch),
            model = coalesce(excluded.model, model),
            transcript_path = coalesce(excluded.transcript_path, transcript_path)
        RETURNING id
        """,
        (kind, fallback, session_id, cwd, repo, worktree, branch, model, transcript_path,
         now, now, name),
    ).fetchone()
    return int(row[0])


def _default_name(kind: str, place: str | None, session_id: str | None) -> str:
    base = place.rstrip("/").rsplit("/", 1)[-1] if place else kind
    return f"{base}-{session_id[:4]}" if session_id else base


def record_event(
    conn: sqlite3.Connection,
    agent_id: int,
    *,
    kind: str,
    now: float,
    tool: str = "",
    summary: str = "",
    payload: Mapping[str, Any] | None = None,
    status: str | None = None,
    status_reason: str | None = None,
    also: Callable[[sqlite3.Connection], None] | None = None,
) -> int:
    """Append one event to the agent's timeline and move its "now" fields, in one
    short transaction. `status` (with its reason) changes the agent's status.
    `also` runs inside that transaction, after the event: what the event changes
    elsewhere (the agent's record, store/recorder.py) commits with it or not at all.

    An event with a summary replaces the agent's "doing" pair (last tool and
    summary) as a whole, so a summary is never shown beside an older tool."""
    if status is not None and status not in STORED_STATUSES:
        raise ValueError(f"unknown status {status!r}")
    summary = one_line(summary)
    body = json.dumps(payload or {}, ensure_ascii=False, default=str)
    # The hook call's tool-use id (PreToolUse, PostToolUse...): indexed, so the check for
    # calls a transcript shows and no hook reported is one probe (store/unreported.py).
    # Codex's hooks are Claude-compatible (`tool_use_id`); `call_id` is its rollout's name.
    use_id = (payload.get("tool_use_id") or payload.get("call_id")) if payload else None
    if not (isinstance(use_id, str) and 0 < len(use_id) <= 200):
        use_id = None
    with transaction(conn):
        event_id = conn.execute(
            "INSERT INTO events (agent_id, ts, kind, tool, summary, payload, tool_use_id) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (agent_id, now, kind, tool, summary, body, use_id),
        ).lastrowid
        if status is None:
            conn.execute(
                """UPDATE agents SET last_activity_at = ?,
                       last_tool = CASE WHEN ? != '' THEN ? ELSE last_tool END,
                       last_summary = CASE WHEN ? != '' THEN ? ELSE last_summary END
                   WHERE id = ?""",
                (now, summary, tool, summary, summary, agent_id),
            )
        else:
            conn.execute(
                """UPDATE agents SET last_activity_at = ?, status = ?, status_reason = ?,
                       last_tool = CASE WHEN ? != '' THEN ? ELSE last_tool END,
                       last_summary = CASE WHEN ? != '' THEN ? ELSE last_summary END,
                       ended_at = CASE WHEN ? = 'done' THEN ? ELSE NULL END
                   WHERE id = ?""",
                (now, status, status_reason or "", summary, tool, summary, summary,
                 status, now, agent_id),
            )
        if also is not None:
            also(conn)
    assert event_id is not None
    return event_id


def agent_from_row(row: Iterable[Any]) -> Agent:
    return Agent(*row)


def event_from_row(row: Iterable[Any]) -> Event:
    return Event(*row)


def fetch_agents(conn: sqlite3.Connection) -> list[Agent]:
    return [agent_from_row(r) for r in conn.execute(FLEET_SQL)]


def fetch_events(conn: sqlite3.Connection, agent_id: int, limit: int = 200) -> list[Event]:
    """The agent's timeline, newest first."""
    return [event_from_row(r) for r in conn.execute(EVENTS_SQL, (agent_id, limit))]


def find_agent(conn: sqlite3.Connection, ref: str) -> Agent | None:
    """An agent by id, session id or name (the most recent of that name)."""
    as_id = ref.isascii() and ref.isdigit() and len(ref) <= 18
    where = "a.session_id = ? OR a.name = ?" + (" OR a.id = ?" if as_id else "")
    args: tuple[Any, ...] = (ref, ref, int(ref)) if as_id else (ref, ref)
    sql = FLEET_SQL.replace("ORDER BY a.id", f"WHERE {where} ORDER BY a.id DESC LIMIT 1")
    row = conn.execute(sql, args).fetchone()
    return agent_from_row(row) if row else None


def names_like(conn: sqlite3.Connection, ref: str, limit: int = 5) -> list[str]:
    """Agent names that start with `ref` (then names containing it), newest first: what
    someone who typed part of a name meant (`auth-1` for `auth-1-128b`)."""
    pattern = ref.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    rows = conn.execute(
        "SELECT name FROM agents WHERE name LIKE ? ESCAPE '\\' GROUP BY name "
        "ORDER BY name NOT LIKE ? ESCAPE '\\', max(id) DESC LIMIT ?",
        (f"%{pattern}%", f"{pattern}%", limit)).fetchall()
    return [name for (name,) in rows]


GOVERNANCE_FIELDS = ("permission_mode", "sandbox", "hooks")
GOVERNANCE_MAX = 40


def set_governance(conn: sqlite3.Connection, agent_id: int, *, permission_mode: str | None = None,
                   sandbox: str | None = None, hooks: str | None = None) -> bool:
    """Record the agent's governance; None keeps a field. Returns whether a
    value changed.

    The hook calls this on every event (the permission mode comes with each one), so
    a plain read decides first and the one UPDATE runs only when something changed:
    an unchanged call takes no write lock."""
    given = {k: str(v)[:GOVERNANCE_MAX] for k, v in zip(GOVERNANCE_FIELDS, (permission_mode, sandbox, hooks), strict=False)
             if v is not None}  # the mode comes from the agent's payload: keep it short
    if not given:
        return False
    row = conn.execute("SELECT permission_mode, sandbox, hooks FROM agents WHERE id = ?",
                       (agent_id,)).fetchone()
    if row is None:
        return False
    current = dict(zip(GOVERNANCE_FIELDS, row, strict=False))
    changed = {k: v for k, v in given.items() if current[k] != v}
    if not changed:
        return False
    sets = ", ".join(f"{k} = ?" for k in changed)
    guard = " OR ".join(f"{k} IS NOT ?" for k in changed)
    values = list(changed.values())
    cur = conn.execute(f"UPDATE agents SET {sets} WHERE id = ? AND ({guard})",
                       (*values, agent_id, *values))
    return cur.rowcount > 0


TMUX_SOCKET_MAX = 1024


def tmux_place(environ: Mapping[str, str]) -> tuple[str, str] | None:
    """(pane, socket) of a process running in tmux, from its environment: $TMUX_PANE
    ("%12") and the first comma field of $TMUX ("/tmp/tmux-1000/default,4321,0"). None
    outside tmux or when either looks wrong (an environment is the agent's to set)."""
    pane = environ.get("TMUX_PANE", "")
    socket = environ.get("TMUX", "").split(",", 1)[0]
    if not (pane[:1] == "%" and pane[1:].isascii() and pane[1:].isdigit() and len(pane) <= 12):
        return None
    if not socket.startswith("/") or len(socket) > TMUX_SOCKET_MAX or not socket.isprintable():
        return None
    return pane, socket


def set_tmux(conn: sqlite3.Connection, agent_id: int, pane: str, socket: str) -> bool:
    """Record where the agent runs in tmux; returns whether it changed. A plain read
    decides first, as in set_governance: an unchanged call (every event of an agent
    in tmux) takes no write lock."""
    row = conn.execute("SELECT tmux_pane, tmux_socket FROM agents WHERE id = ?", (agent_id,)).fetchone()
    if row is None or (row[0], row[1]) == (pane, socket):
        return False
    cur = conn.execute("UPDATE agents SET tmux_pane = ?, tmux_socket = ? WHERE id = ?",
                       (pane, socket, agent_id))
    return cur.rowcount > 0
