"""Worktree diff stats in the pod store, so every console shows them, and the
collision query (a file changed in two or more worktrees of one repository).

Written by the worktree watcher (`loomtui.git.watch`), one short transaction per
recompute; read by consoles and `loomtui status`. Stdlib only. Paths are the
worktrees' real paths as git lists them; file paths are relative to the worktree.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from loomtui.store.db import transaction


class WorktreeRow(NamedTuple):
    path: str
    repo: str
    branch: str | None
    base: str | None
    merge_base: str | None
    state: str  # see loomtui.git.discovery.STATES
    files: int
    added: int
    deleted: int
    updated_at: float


class FileRow(NamedTuple):
    worktree: str
    path: str
    old_path: str | None
    status: str  # added, modified, deleted, renamed
    added: int
    deleted: int
    binary: bool


class Collision(NamedTuple):
    """A file changed (or renamed from) in two or more worktrees of one repository."""

    repo: str
    path: str
    worktrees: tuple[str, ...]


WORKTREES_SQL = """
    SELECT path, repo, branch, base, merge_base, state, files, added, deleted, updated_at
    FROM worktrees ORDER BY repo, path
"""
FILES_SQL = """
    SELECT worktree, path, old_path, status, added, deleted, binary
    FROM worktree_files WHERE worktree = ? ORDER BY path
"""
# A cheap fingerprint of the diff tables (latest write, rows, a sum of the figures): the
# console re-reads worktrees and collisions only when it changes.
CHANGE_MARK_SQL = """
    SELECT max(updated_at), count(*), total(files) + total(added) + total(deleted),
           (SELECT count(*) FROM worktree_files)
    FROM worktrees
"""
# A rename touches its old path too: two worktrees, one renaming x and one editing x, collide.
COLLISIONS_SQL = """
    WITH touched AS (
        SELECT w.repo AS repo, f.worktree AS worktree, f.path AS path
        FROM worktree_files f JOIN worktrees w ON w.path = f.worktree
        UNION
        SELECT w.repo, f.worktree, f.old_path
        FROM worktree_files f JOIN worktrees w ON w.path = f.worktree
        WHERE f.old_path IS NOT NULL
    )
    SELECT repo, path, group_concat(worktree, char(0))
    FROM (SELECT * FROM touched ORDER BY worktree)
    GROUP BY repo, path HAVING count(*) >= 2
    ORDER BY repo, path
"""


def save_worktree(
    conn: sqlite3.Connection,
    *,
    path: str,
    repo: str,
    branch: str | None,
    base: str | None,
    merge_base: str | None,
    state: str,
    files: Iterable[Sequence[Any]],
    now: float,
) -> None:
    """Replace a worktree's row and its files in one short transaction.

    `files`: (path, old_path, status, added, deleted, binary) per changed file,
    such as `FileChange` objects' fields (see `file_tuples`)."""
    rows = [(path, f[0], f[1], f[2], int(f[3]), int(f[4]), 1 if f[5] else 0) for f in files]
    added = sum(r[4] for r in rows)
    deleted = sum(r[5] for r in rows)
    with transaction(conn):
        conn.execute(
            """
            INSERT INTO worktrees (path, repo, branch, base, merge_base, state, files, added,
                                   deleted, updated_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (path) DO UPDATE SET
                repo = excluded.repo, branch = excluded.branch, base = excluded.base,
                merge_base = excluded.merge_base, state = excluded.state, files = excluded.files,
                added = excluded.added, deleted = excluded.deleted, updated_at = excluded.updated_at
            """,
            (path, repo, branch, base, merge_base, state, len(rows), added, deleted, now),
        )
        conn.execute("DELETE FROM worktree_files WHERE worktree = ?", (path,))
        conn.executemany(
            "INSERT OR REPLACE INTO worktree_files (worktree, path, old_path, status, added, deleted,"
            " binary) VALUES (?, ?, ?, ?, ?, ?, ?)",
            rows,
        )


def file_tuples(changes: Iterable[Any]) -> list[tuple]:
    """(path, old_path, status, added, deleted, binary) of objects with those fields."""
    return [(c.path, c.old_path, c.status, c.added, c.deleted, c.binary) for c in changes]


def set_state(conn: sqlite3.Connection, path: str, state: str, now: float) -> bool:
    """Mark a stored worktree (e.g. missing) and drop its files, so that a gone
    worktree neither shows stale changes nor keeps colliding. False if unknown."""
    with transaction(conn):
        cursor = conn.execute(
            "UPDATE worktrees SET state = ?, files = 0, added = 0, deleted = 0, updated_at = ?"
            " WHERE path = ?",
            (state, now, path),
        )
        conn.execute("DELETE FROM worktree_files WHERE worktree = ?", (path,))
    return cursor.rowcount > 0


def delete_worktree(conn: sqlite3.Connection, path: str) -> None:
    with transaction(conn):
        conn.execute("DELETE FROM worktree_files WHERE worktree = ?", (path,))
        conn.execute("DELETE FROM worktrees WHERE path = ?", (path,))


def fetch_worktrees(conn: sqlite3.Connection) -> list[WorktreeRow]:
    return [WorktreeRow(*r) for r in conn.execute(WORKTREES_SQL)]


def fetch_worktree(conn: sqlite3.Connection, path: str) -> WorktreeRow | None:
    row = conn.execute(WORKTREES_SQL.replace("ORDER BY repo, path", "WHERE path = ?"), (path,)).fetchone()
    return WorktreeRow(*row) if row else None


def fetch_files(conn: sqlite3.Connection, worktree: str) -> list[FileRow]:
    return [file_from_row(r) for r in conn.execute(FILES_SQL, (worktree,))]


def file_from_row(row: Sequence[Any]) -> FileRow:
    return FileRow(row[0], row[1], row[2], row[3], row[4], row[5], bool(row[6]))


def collisions(conn: sqlite3.Connection, repo: str | None = None) -> list[Collision]:
    """Files changed in two or more worktrees of the same repository (each
    worktree against its own base)."""
    found = [collision_from_row(r) for r in conn.execute(COLLISIONS_SQL)]
    return [c for c in found if repo is None or c.repo == repo]


def collision_from_row(row: Sequence[Any]) -> Collision:
    return Collision(row[0], row[1], tuple(row[2].split("\0")))


def colliding_files(conn: sqlite3.Connection, worktree: str) -> dict[str, tuple[str, ...]]:
    """For one worktree: {file path: the other worktrees that changed it too}."""
    out: dict[str, tuple[str, ...]] = {}
    for c in collisions(conn):
        if worktree in c.worktrees:
            out[c.path] = tuple(w for w in c.worktrees if w != worktree)
    return out
