"""Shared memory entries and their governance: add, edit (compare-and-swap on the
version), supersede, review (accept / reject), pin, retire; every change kept in
`memory_history` and appended to the audit log in the same transaction.

The rules, in one place:

- **Who**: an `Author` is a supervisor (a person: the CLI, the console) or an
  agent (the MCP server, an agent's own shell), with its provenance (agent,
  session, worktree, commit).
- **Review**: an agent's new entry lands `proposed` when its kind is in
  `review_kinds` (config `[memory] review_kinds`, by default decisions and
  conventions), else `active`. A supervisor's entry is always `active`.
  `accept` makes a proposal active, `reject` retires it with a reason.
- **Compare-and-swap**: every change names the version it read
  (`expected_version`); if the entry moved on meanwhile the change fails with
  `VersionConflict`, which carries the current version and status. Nothing is
  overwritten blindly. (Supervisors may pass None: "whatever is current", for a
  person acting on what the screen shows now.)
- **Nothing is deleted**: an entry is retired, or superseded by a newer one
  (`add(..., supersedes=id)`). The old entry becomes `superseded` when its
  successor becomes active (at once, or when the proposal is accepted).
- **Pins** are for supervisors only; pinned entries open every agent's session.
  A supervisor's successor keeps the pin; an agent's successor to a pinned entry
  is always proposed (and takes the pin when accepted).
- Every change bumps `version` by one, writes a full snapshot to
  `memory_history` (so versions 1..N are all there) and appends `memory.<change>`
  to the audit log, all in one `BEGIN IMMEDIATE` transaction.

Agents can only add (and supersede) through the MCP server; editing an entry in
place is for supervisors, and for an agent's own still-proposed entry.

Stdlib + store only (the SessionStart hook imports the retrieval beside this).
"""

# No `from __future__ import annotations`: the SessionStart hook loads this module, where
# NamedTuple would compile() each string annotation (see loomtui/policy/shell/__init__.py).
import json
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from loomtui.store import audit
from loomtui.store.db import transaction

KINDS = ("decision", "convention", "fact", "warning", "todo", "handoff")
STATUSES = ("proposed", "active", "superseded", "retired")
SCOPES = ("pod", "repo", "agent")
DEFAULT_REVIEW_KINDS = ("decision", "convention")

TITLE_MAX = 200
BODY_MAX = 20_000
TAG_MAX = 40


class EntryError(Exception):
    """A memory operation that cannot be done; the message says why."""


class InvalidEntry(EntryError, ValueError):
    """Bad input: an unknown kind or scope, an empty title, ..."""


class EntryNotFound(EntryError, LookupError):
    """No entry with that id."""


class NotAllowed(EntryError):
    """The author may not do this (an agent pinning, retiring, reviewing)."""


class VersionConflict(EntryError):
    """A stale write: the entry is no longer at the version the writer read."""

    def __init__(self, message: str, entry_id: int, current_version: int, current_status: str) -> None:
        super().__init__(message)
        self.entry_id = entry_id
        self.current_version = current_version
        self.current_status = current_status


class Author(NamedTuple):
    """Who makes a change, with the provenance stored on entries they write."""

    name: str
    kind: str = "supervisor"  # or "agent"
    agent_id: int | None = None
    session_id: str | None = None
    worktree: str | None = None
    commit_sha: str | None = None
    repo: str | None = None  # the default ref of scope "repo"

    @property
    def is_supervisor(self) -> bool:
        return self.kind == "supervisor"


def supervisor(name: str) -> Author:
    return Author(name=name, kind="supervisor")


class Entry(NamedTuple):
    id: int
    kind: str
    title: str
    body: str
    tags: tuple[str, ...]
    scope: str
    scope_ref: str
    author: str
    author_kind: str
    agent_id: int | None
    session_id: str | None
    worktree: str | None
    commit_sha: str | None
    status: str
    pinned: bool
    version: int
    supersedes: int | None
    created_at: float
    updated_at: float

    def to_dict(self) -> dict[str, Any]:
        """The entry as JSON-ready data (what `memory_get` and `--json` print)."""
        data = self._asdict()
        data["tags"] = list(self.tags)
        data["provenance"] = {
            "author": data.pop("author"), "author_kind": data.pop("author_kind"),
            "agent_id": data.pop("agent_id"), "session_id": data.pop("session_id"),
            "worktree": data.pop("worktree"), "commit": data.pop("commit_sha"),
        }
        return data


    def brief(self) -> dict[str, Any]:
        """The fields a search result carries (memory_get has the rest)."""
        return {"id": self.id, "kind": self.kind, "title": self.title, "body": self.body,
                "tags": list(self.tags), "scope": self.scope, "scope_ref": self.scope_ref,
                "status": self.status, "pinned": self.pinned, "version": self.version,
                "author": self.author, "updated_at": round(self.updated_at, 3)}


class Change(NamedTuple):
    """One line of an entry's history: the entry as it was right after `change`."""

    memory_id: int
    version: int
    changed_at: float
    actor: str
    change: str  # created, edited, superseded, accepted, rejected, pinned, unpinned, retired
    snapshot: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return self._asdict()


COLUMNS = ("id, kind, title, body, tags, scope, scope_ref, author, author_kind, agent_id, "
           "session_id, worktree, commit_sha, status, pinned, version, supersedes, "
           "created_at, updated_at")
SELECT_SQL = f"SELECT {COLUMNS} FROM memory"


def entry_from_row(row: Sequence[Any]) -> Entry:
    values = list(row)
    values[4] = split_tags(values[4])
    values[14] = bool(values[14])
    return Entry(*values)


def split_tags(text: str) -> tuple[str, ...]:
    return tuple(t for t in (text or "").split(",") if t)


def normalize_tags(tags: Iterable[str] | str | None) -> tuple[str, ...]:
    """Tags as a tuple of distinct lower-case words; a string is split on commas
    and spaces. Stored comma-separated (FTS5 splits on the commas)."""
    if tags is None:
        return ()
    if isinstance(tags, str):
        tags = tags.replace(",", " ").split()
    out: list[str] = []
    for tag in tags:
        if not isinstance(tag, str):
            raise InvalidEntry(f"a tag must be text, not {type(tag).__name__}")
        clean = "-".join(tag.strip().lower().replace(",", " ").split())
        if len(clean) > TAG_MAX:
            raise InvalidEntry(f"tag {clean[:20]!r}... is longer than {TAG_MAX} characters")
        if clean and clean not in out:
            out.append(clean)
    return tuple(out)


# -- reading ------------------------------------------------------------------------


def get(conn: sqlite3.Connection, entry_id: int) -> Entry | None:
    if not isinstance(entry_id, int) or not 0 < entry_id < 2**63:
        return None  # no such row could exist (and SQLite cannot take the number)
    row = conn.execute(f"{SELECT_SQL} WHERE id = ?", (entry_id,)).fetchone()
    return entry_from_row(row) if row else None


def require(conn: sqlite3.Connection, entry_id: int) -> Entry:
    entry = get(conn, entry_id)
    if entry is None:
        raise EntryNotFound(f"no memory entry {entry_id}")
    return entry


def list_entries(
    conn: sqlite3.Connection,
    *,
    statuses: Sequence[str] | None = ("active",),
    kinds: Sequence[str] | None = None,
    pinned: bool | None = None,
    scope: str | None = None,
    scope_ref: str | None = None,
    limit: int = 200,
    offset: int = 0,
) -> list[Entry]:
    """Entries, pinned first, then most recently updated. `statuses=None` means all."""
    where: list[str] = []
    args: list[Any] = []
    if statuses:
        where.append(f"status IN ({', '.join('?' * len(statuses))})")
        args.extend(statuses)
    if kinds:
        where.append(f"kind IN ({', '.join('?' * len(kinds))})")
        args.extend(kinds)
    if pinned is not None:
        where.append("pinned = ?")
        args.append(1 if pinned else 0)
    if scope is not None:
        where.append("scope = ?")
        args.append(scope)
    if scope_ref is not None:
        where.append("scope_ref = ?")
        args.append(scope_ref)
    sql = SELECT_SQL + (f" WHERE {' AND '.join(where)}" if where else "")
    sql += " ORDER BY pinned DESC, updated_at DESC, id DESC LIMIT ? OFFSET ?"
    return [entry_from_row(r) for r in conn.execute(sql, (*args, int(limit), int(offset)))]


def counts(conn: sqlite3.Connection) -> dict[str, int]:
    """Entries per status (every status present, zeros included), and `pinned`."""
    found = dict(conn.execute("SELECT status, count(*) FROM memory GROUP BY status").fetchall())
    result = {status: int(found.get(status, 0)) for status in STATUSES}
    result["pinned"] = int(conn.execute(
        "SELECT count(*) FROM memory WHERE pinned = 1 AND status = 'active'").fetchone()[0])
    return result


def history(conn: sqlite3.Connection, entry_id: int) -> list[Change]:
    """Every version of the entry, oldest first."""
    rows = conn.execute(
        "SELECT memory_id, version, changed_at, actor, change, snapshot FROM memory_history "
        "WHERE memory_id = ? ORDER BY version", (entry_id,)).fetchall()
    return [Change(r[0], r[1], r[2], r[3], r[4], json.loads(r[5])) for r in rows]


# -- writing ------------------------------------------------------------------------


def add(
    conn: sqlite3.Connection,
    *,
    kind: str,
    title: str,
    body: str = "",
    tags: Iterable[str] | str | None = (),
    scope: str = "pod",
    scope_ref: str | None = None,
    author: Author,
    supersedes: int | None = None,
    expected_version: int | None = None,
    pinned: bool = False,
    review_kinds: Sequence[str] = DEFAULT_REVIEW_KINDS,
    now: float,
) -> Entry:
    """A new entry (version 1). With `supersedes`, it replaces that entry: the old
    one must still be current (active or proposed) and, when `expected_version` is
    given, at that version; it becomes `superseded` once the new one is active."""
    kind, title, body, tag_text = _check_fields(kind, title, body, tags)
    scope, ref = _scope(scope, scope_ref, author)
    if pinned and not author.is_supervisor:
        raise NotAllowed("only a supervisor can pin an entry")
    if expected_version is not None and supersedes is None:
        raise InvalidEntry("expected_version applies to the entry being superseded: give supersedes too")
    status = "active" if author.is_supervisor or kind not in review_kinds else "proposed"
    with transaction(conn):
        old = None
        if supersedes is not None:
            old = _current(conn, supersedes, expected_version, "supersede")
            if not author.is_supervisor and (
                    old.pinned or old.kind in review_kinds or old.status == "proposed"):
                # Replacing a pinned entry, a reviewed kind (even with a successor of another
                # kind) or a pending proposal is itself reviewed: nothing slips past review.
                status = "proposed"
            elif old.pinned and status == "active":
                pinned = True  # a supervisor's successor keeps the pin
        entry_id = conn.execute(
            "INSERT INTO memory (kind, title, body, tags, scope, scope_ref, author, author_kind, "
            "agent_id, session_id, worktree, commit_sha, status, pinned, version, supersedes, "
            "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?)",
            (kind, title, body, tag_text, scope, ref, author.name, author.kind, author.agent_id,
             author.session_id, author.worktree, author.commit_sha, status, int(pinned), supersedes,
             now, now),
        ).lastrowid
        assert entry_id is not None
        entry = _record(conn, int(entry_id), author, "created", now,
                        {"supersedes": supersedes} if supersedes else None)
        if old is not None and status == "active":
            _supersede(conn, old, entry, author, now)
    return entry


def edit(
    conn: sqlite3.Connection,
    entry_id: int,
    *,
    author: Author,
    expected_version: int | None,
    kind: str | None = None,
    title: str | None = None,
    body: str | None = None,
    tags: Iterable[str] | str | None = None,
    scope: str | None = None,
    scope_ref: str | None = None,
    now: float,
) -> Entry:
    """Change an entry in place (compare-and-swap on `expected_version`). Fields left
    None keep their value. Supervisors may edit any current entry; an agent only its
    own proposal (same session). Superseded and retired entries are history."""
    with transaction(conn):
        entry = _current(conn, entry_id, expected_version, "edit", proposed_ok=True)
        if not author.is_supervisor and not (
                entry.status == "proposed" and entry.session_id and entry.session_id == author.session_id):
            raise NotAllowed("an agent can edit only its own proposed entries; "
                             "write a new entry that supersedes this one instead")
        new_kind, new_title, new_body, new_tags = _check_fields(
            kind if kind is not None else entry.kind,
            title if title is not None else entry.title,
            body if body is not None else entry.body,
            tags if tags is not None else entry.tags)
        new_scope, new_ref = entry.scope, entry.scope_ref
        if scope is not None or scope_ref is not None:
            new_scope, new_ref = _scope(scope or entry.scope,
                                        scope_ref if scope_ref is not None else
                                        (entry.scope_ref if scope in (None, entry.scope) else None),
                                        author)
        changed = (new_kind, new_title, new_body, new_tags, new_scope, new_ref) != (
            entry.kind, entry.title, entry.body, ",".join(entry.tags), entry.scope, entry.scope_ref)
        if not changed:
            return entry
        _update(conn, entry, now, kind=new_kind, title=new_title, body=new_body, tags=new_tags,
                scope=new_scope, scope_ref=new_ref)
        return _record(conn, entry.id, author, "edited", now)


def retire(conn: sqlite3.Connection, entry_id: int, *, author: Author,
           expected_version: int | None = None, reason: str = "", now: float) -> Entry:
    """Take an entry out of use (it stays, with its history). Supervisors only."""
    _supervisor_only(author, "retire an entry")
    with transaction(conn):
        entry = _current(conn, entry_id, expected_version, "retire", proposed_ok=True)
        _update(conn, entry, now, status="retired", pinned=0)
        return _record(conn, entry.id, author, "retired", now, {"reason": reason} if reason else None)


def accept(conn: sqlite3.Connection, entry_id: int, *, author: Author,
           expected_version: int | None = None, now: float) -> Entry:
    """A supervisor accepts a proposed entry: it becomes active (and the entry it
    supersedes, which must still be current, becomes superseded)."""
    _supervisor_only(author, "accept a proposed entry")
    with transaction(conn):
        entry = _current(conn, entry_id, expected_version, "accept", proposed_ok=True)
        if entry.status != "proposed":
            raise InvalidEntry(f"entry {entry.id} is {entry.status}, not proposed")
        old = _current(conn, entry.supersedes, None, "supersede") if entry.supersedes else None
        _update(conn, entry, now, status="active", pinned=int(entry.pinned or bool(old and old.pinned)))
        accepted = _record(conn, entry.id, author, "accepted", now)
        if old is not None:
            _supersede(conn, old, accepted, author, now)
        return accepted


def reject(conn: sqlite3.Connection, entry_id: int, *, author: Author, reason: str,
           expected_version: int | None = None, now: float) -> Entry:
    """A supervisor rejects a proposed entry (a reason is required): it is retired."""
    _supervisor_only(author, "reject a proposed entry")
    if not reason.strip():
        raise InvalidEntry("a reason is required to reject an entry (the agent will read it)")
    with transaction(conn):
        entry = _current(conn, entry_id, expected_version, "reject", proposed_ok=True)
        if entry.status != "proposed":
            raise InvalidEntry(f"entry {entry.id} is {entry.status}, not proposed")
        _update(conn, entry, now, status="retired")
        return _record(conn, entry.id, author, "rejected", now, {"reason": reason})


def set_pinned(conn: sqlite3.Connection, entry_id: int, pinned: bool, *, author: Author,
               expected_version: int | None = None, now: float) -> Entry:
    """Pin (or unpin) an active entry. Supervisors only."""
    _supervisor_only(author, "pin or unpin an entry")
    with transaction(conn):
        entry = _current(conn, entry_id, expected_version, "pin", proposed_ok=False)
        if entry.pinned == pinned:
            return entry
        _update(conn, entry, now, pinned=int(pinned))
        return _record(conn, entry.id, author, "pinned" if pinned else "unpinned", now)


# -- internals ---------------------------------------------------------------------


def _check_fields(kind: str, title: str, body: str, tags: Iterable[str] | str | None) -> tuple[str, str, str, str]:
    if kind not in KINDS:
        raise InvalidEntry(f"unknown kind {kind!r}; expected one of {', '.join(KINDS)}")
    if not isinstance(title, str) or not title.strip():
        raise InvalidEntry("a title is required")
    title = " ".join(title.split())
    if len(title) > TITLE_MAX:
        raise InvalidEntry(f"the title is longer than {TITLE_MAX} characters; put the detail in the body")
    body = (body or "").strip("\n")
    for name, text in (("title", title), ("body", body)):
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidEntry(f"the {name} is not valid UTF-8 text") from None
    if len(body) > BODY_MAX:
        raise InvalidEntry(f"the body is longer than {BODY_MAX} characters; keep entries short")
    return kind, title, body, ",".join(normalize_tags(tags))


def _scope(scope: str, ref: str | None, author: Author) -> tuple[str, str]:
    if scope not in SCOPES:
        raise InvalidEntry(f"unknown scope {scope!r}; expected one of {', '.join(SCOPES)}")
    if scope == "pod":
        return scope, ""
    if ref:
        return scope, ref
    if scope == "repo" and author.repo:
        return scope, author.repo
    if scope == "agent" and author.kind == "agent" and author.name:
        return scope, author.name
    what = "a repository path" if scope == "repo" else "an agent's name, session id or worktree"
    raise InvalidEntry(f"scope {scope!r} needs a reference ({what})")


def _supervisor_only(author: Author, what: str) -> None:
    if not author.is_supervisor:
        raise NotAllowed(f"only a supervisor can {what}")


def _current(conn: sqlite3.Connection, entry_id: int, expected_version: int | None, doing: str,
             proposed_ok: bool = True) -> Entry:
    """The entry, which must still be current (active, or proposed if allowed) and at
    `expected_version` when one is given; VersionConflict names where it is now."""
    entry = require(conn, entry_id)
    if expected_version is not None and entry.version != expected_version:
        raise VersionConflict(
            f"stale write: entry {entry.id} is at version {entry.version} ({entry.status}), "
            f"not {expected_version}; read it again and retry with expected_version={entry.version}",
            entry.id, entry.version, entry.status)
    allowed = ("active", "proposed") if proposed_ok else ("active",)
    if entry.status not in allowed:
        successor = ""
        if entry.status == "superseded":
            row = conn.execute("SELECT id FROM memory WHERE supersedes = ? AND status = 'active' "
                               "ORDER BY id DESC LIMIT 1", (entry.id,)).fetchone()
            successor = f" by entry {row[0]}" if row else ""
        raise VersionConflict(
            f"cannot {doing} entry {entry.id}: it is {entry.status}{successor} "
            f"(version {entry.version})", entry.id, entry.version, entry.status)
    return entry


def _update(conn: sqlite3.Connection, entry: Entry, now: float, **values: Any) -> None:
    """One conditional UPDATE: the version still being the one read is the swap's
    condition (inside BEGIN IMMEDIATE it always holds; it guards against misuse)."""
    sets = ", ".join(f"{k} = ?" for k in values)
    done = conn.execute(
        f"UPDATE memory SET {sets}, version = version + 1, updated_at = ? WHERE id = ? AND version = ?",
        (*values.values(), now, entry.id, entry.version)).rowcount
    if done != 1:
        current = require(conn, entry.id)
        raise VersionConflict(f"stale write: entry {entry.id} is at version {current.version}",
                              entry.id, current.version, current.status)


def _record(conn: sqlite3.Connection, entry_id: int, author: Author, change: str, now: float,
            extra: dict[str, Any] | None = None) -> Entry:
    """History row and audit entry for the entry's current state; returns that state."""
    entry = require(conn, entry_id)
    snapshot = entry.to_dict()
    if extra:
        snapshot["change_detail"] = extra
    conn.execute(
        "INSERT INTO memory_history (memory_id, version, changed_at, actor, change, snapshot) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (entry.id, entry.version, now, author.name, change,
         json.dumps(snapshot, ensure_ascii=False, sort_keys=True)))
    detail: dict[str, Any] = {"version": entry.version, "kind": entry.kind, "title": entry.title,
                              "status": entry.status, "author_kind": author.kind}
    if author.session_id:
        detail["session_id"] = author.session_id
    if extra:
        detail.update(extra)
    audit.append(conn, actor=author.name, action=f"memory.{change}", subject=f"memory:{entry.id}",
                 detail=detail, now=now)
    return entry


def _supersede(conn: sqlite3.Connection, old: Entry, new: Entry, author: Author, now: float) -> None:
    _update(conn, old, now, status="superseded", pinned=0)
    _record(conn, old.id, author, "superseded", now, {"superseded_by": new.id})
