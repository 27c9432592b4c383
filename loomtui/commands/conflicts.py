"""`loomtui conflicts [--json] [--cached] [--state S]`: which agents' branches would
conflict when merged, with each other and with their base.

By default brought up to date now (loomtui/git/conflicts.py): each agent worktree is
snapshotted with its uncommitted work and each pair whose commits moved since the store's
answer is merged again with `git merge-tree`; the others are read from the store.
`--cached` only reads what the diff service last wrote.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
from typing import Any

from loomtui.commands.common import open_pod, read_config
from loomtui.commands.errors import CommandError
from loomtui.store.db import db_path, describe_error
from loomtui.store.forecasts import FORECAST_STATES, Forecast, fetch_forecasts
from loomtui.text import printable

MARKS = {"conflict": "✗", "overlap": "≈", "clean": "✓"}
ORDER = {"conflict": 0, "overlap": 1, "clean": 2}


def run(args: argparse.Namespace) -> int:
    doc = collect(cached=args.cached, state=args.state)
    if args.json:
        print(json.dumps(doc, indent=2, ensure_ascii=False))
        return 0
    if (sys.stdout.encoding or "").lower().replace("-", "") != "utf8":
        sys.stdout.reconfigure(errors="replace")
    print(render(doc))
    return 0


def collect(*, cached: bool = False, state: str | None = None) -> dict[str, Any]:
    """The JSON document `--json` prints: {"pairs": [...], "counts": {...}, "errors": [...]}."""
    pod, conn = open_pod(create=False)
    try:
        from loomtui.store.agents import fetch_agents

        agents = fetch_agents(conn)
        errors: list[str] = []
        if not cached:
            errors = _update(pod, agents)
        rows = fetch_forecasts(conn)
    except sqlite3.DatabaseError as exc:
        raise CommandError(describe_error(db_path(pod), exc)) from None
    finally:
        conn.close()
    names: dict[str, list[str]] = {}
    for agent in agents:
        if agent.worktree:
            names.setdefault(agent.worktree, []).append(agent.name)
    pairs = [_pair(f, names) for f in rows if f.state in FORECAST_STATES]
    pairs.sort(key=lambda p: (ORDER[p["state"]], p["repo"], p["worktree"], p["other"] or ""))
    counts = {s: sum(1 for p in pairs if p["state"] == s) for s in FORECAST_STATES}
    if state is not None:
        pairs = [p for p in pairs if p["state"] == state]
    return {"pairs": pairs, "counts": counts, "errors": errors}


def _update(pod, agents) -> list[str]:
    from loomtui.git.conflicts import ConflictForecaster
    from loomtui.git.diff import compute_diff
    from loomtui.git.discovery import discover
    from loomtui.git.run import GitError

    config = read_config(pod)
    forecaster = ConflictForecaster(db_path(pod))
    if not forecaster.available():
        raise CommandError(forecaster.errors[-1])
    try:
        found = discover(agents, config.git.repos, dict(config.git.bases))
        eligible = [w for w in found if w.agents]
        forecaster.retain(w.path for w in eligible)
        for worktree in eligible:
            forecaster.update(worktree, compute_diff(worktree))
    except GitError as exc:
        raise CommandError(str(exc)) from None
    finally:
        forecaster.close()
    return list(forecaster.errors)


def _pair(f: Forecast, names: dict[str, list[str]]) -> dict[str, Any]:
    doc = f.as_dict()
    doc["agents"] = names.get(f.worktree, [])
    doc["other_agents"] = [] if f.against_base else names.get(f.other, [])
    return doc


def _side(worktree: str, agents: list[str]) -> str:
    return ", ".join(agents) if agents else worktree


def render(doc: dict[str, Any]) -> str:
    counts = doc["counts"]
    lines = [f"{counts['conflict']} conflict(s), {counts['overlap']} overlap(s) that merge cleanly, "
             f"{counts['clean']} clean pair(s)"]
    for p in doc["pairs"]:
        other = f"base {p['base'] or '?'}" if p["against_base"] else _side(p["other"], p["other_agents"])
        files = ", ".join(p["files"][:6]) + (f" and {len(p['files']) - 6} more" if len(p["files"]) > 6 else "")
        lines.append(f"{MARKS[p['state']]} {p['state']:<8}  {_side(p['worktree'], p['agents'])} ↔ {other}"
                     + (f"  {files}" if files else ""))
    for error in doc["errors"]:
        lines.append(f"! {error}")
    return "\n".join(printable(line) for line in lines)  # names and paths are the agents'
