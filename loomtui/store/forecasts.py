"""The conflict forecast in the pod store: for each pair of agent worktrees of one
repository, and each against its base, whether they would merge cleanly.

Written by the diff service (`loomtui.git.conflicts`), read by consoles and
`loomtui conflicts`. A row also caches git's answer: `ours` and `theirs` are the
commit ids that were merged, so a pair is merged again only when one of them moves.
Stdlib only.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from loomtui.store.db import transaction

CONFLICT, OVERLAP, CLEAN = "conflict", "overlap", "clean"
FORECAST_STATES = (CONFLICT, OVERLAP, CLEAN)
BASE = ""  # `other` of a worktree-against-its-base row


class Forecast(NamedTuple):
    worktree: str
    other: str  # another worktree's path, or BASE
    repo: str
    base: str | None
    ours: str
    theirs: str
    state: str  # conflict | overlap | clean
    files: tuple[str, ...]  # conflicting files (conflict) or files both change (overlap)
    updated_at: float

    @property
    def against_base(self) -> bool:
        return self.other == BASE

    def as_dict(self) -> dict[str, Any]:
        return {"worktree": self.worktree, "other": None if self.against_base else self.other,
                "against_base": self.against_base, "repo": self.repo, "base": self.base,
                "ours": self.ours, "theirs": self.theirs, "state": self.state, "files": list(self.files)}


FORECASTS_SQL = """
    SELECT worktree, other, repo, base, ours, theirs, state, files, updated_at
    FROM merge_forecasts ORDER BY repo, worktree, other
"""
# What the console shows: conflicts, overlaps, and the rows against a base (one per worktree
# forecast, so the console knows a forecast was made); clean pairs, most of the table, are not
# read. The WHERE is the partial index `merge_forecasts_shown`'s, so the read uses it.
SHOWN_SQL = """
    SELECT worktree, other, repo, base, ours, theirs, state, files, updated_at
    FROM merge_forecasts WHERE state != 'clean' OR other = '' ORDER BY worktree, other
"""
# A cheap fingerprint of the table: its latest write (indexed) and how many rows were ever
# deleted (a trigger counts them in store_meta). Replacing a row writes a newer updated_at.
CHANGE_MARK_SQL = """
    SELECT (SELECT max(updated_at) FROM merge_forecasts),
           (SELECT value FROM store_meta WHERE name = 'forecasts.deletions')
"""


def forecast_from_row(row: Sequence[Any]) -> Forecast:
    files = tuple(row[7].split("\0")) if row[7] else ()
    return Forecast(row[0], row[1], row[2], row[3], row[4], row[5], row[6], files, row[8])


def fetch_forecasts(conn: sqlite3.Connection) -> list[Forecast]:
    return [forecast_from_row(r) for r in conn.execute(FORECASTS_SQL)]


def save_forecasts(conn: sqlite3.Connection, rows: Iterable[Forecast]) -> None:
    """Insert or replace rows, in one short transaction."""
    values = [(f.worktree, f.other, f.repo, f.base, f.ours, f.theirs, f.state, "\0".join(f.files),
               f.updated_at) for f in rows]
    if not values:
        return
    with transaction(conn):
        conn.executemany(
            "INSERT OR REPLACE INTO merge_forecasts (worktree, other, repo, base, ours, theirs, state,"
            " files, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", values)


def delete_forecasts(conn: sqlite3.Connection, worktrees: Iterable[str]) -> None:
    """Forget every row a worktree is part of (it is gone)."""
    gone = [(w, w) for w in worktrees]
    if not gone:
        return
    with transaction(conn):
        conn.executemany("DELETE FROM merge_forecasts WHERE worktree = ? OR other = ?", gone)
