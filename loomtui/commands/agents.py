"""`loomtui agents [--json]`: every agent of the pod, why it waits, its governance
(sandbox, permission mode, LoomTUI's hooks) as its settings and hook events say, and its
configuration fingerprint with the fields that drift from the pod's baseline."""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import sys
import time

from loomtui.commands.common import open_pod, read_config
from loomtui.commands.errors import CommandError
from loomtui.hooks.governance import governance_note, is_ungoverned
from loomtui.store.agents import Agent, fetch_agents
from loomtui.store.db import db_path, describe_error
from loomtui.store.fingerprint import Baseline, parse
from loomtui.store.gates import Gate, iso, list_gates
from loomtui.store.record import Record, agent_record
from loomtui.text import printable


def collect(now: float | None = None) -> list[dict]:
    """Every agent as one JSON-ready dict, in id order."""
    pod, conn = open_pod(create=False)
    try:
        config = read_config(pod)
        now = time.time() if now is None else now
        agents = fetch_agents(conn)
        gates = list_gates(conn, now=now)  # pending and unexpired: what still waits
        records = {a.id: agent_record(conn, a.id) for a in agents}  # two indexed reads each
    except sqlite3.DatabaseError as exc:  # damage past the header shows only on reading
        raise CommandError(describe_error(db_path(pod), exc)) from None
    finally:
        conn.close()
    waiting: dict[int, list[Gate]] = {}
    for gate in gates:
        if gate.agent_id is not None:
            waiting.setdefault(gate.agent_id, []).append(gate)
    stall_after = config.console.stall_after
    base = Baseline.of(((a.kind, a.effective_status(now, stall_after) != "done", parse(a.fingerprint))
                        for a in agents), config.baseline)
    return [describe(a, waiting.get(a.id, []), now, stall_after, base, records[a.id]) for a in agents]


def describe(agent: Agent, gates: list[Gate], now: float, stall_after: float,
             base: Baseline | None = None, record: Record | None = None) -> dict:
    oldest = min(gates, key=lambda g: (g.created_at, g.id)) if gates else None
    fingerprint = parse(agent.fingerprint)
    status = agent.effective_status(now, stall_after)
    return {
        "id": agent.id,
        "name": agent.name,
        "kind": agent.kind,
        "session_id": agent.session_id,
        "status": status,
        "status_reason": agent.status_reason,
        "pending_gates": len(gates),
        "oldest_gate": None if oldest is None else {
            "id": oldest.id,
            "tool": oldest.tool,
            "summary": oldest.summary,
            "risk": oldest.risk,
            "created_at": iso(oldest.created_at),
            "governance": oldest.governance,
        },
        "repo": agent.repo,
        "worktree": agent.worktree,
        "branch": agent.branch,
        "cwd": agent.cwd,
        # Where it runs in tmux, as its hooks saw it (null: not in tmux, or not seen yet);
        # `tmux -S SOCKET switch-client -t PANE` goes there.
        "tmux": {"pane": agent.tmux_pane, "socket": agent.tmux_socket} if agent.tmux_pane else None,
        "last_activity_at": iso(agent.last_activity_at),
        "governance": {
            # null: not known yet (no hook event or settings inspection recorded it)
            "permission_mode": agent.permission_mode or None,
            "sandbox": agent.sandbox or None,
            "hooks": agent.hooks or None,
            "ungoverned": (is_ungoverned(agent.permission_mode, agent.sandbox, agent.hooks)
                           or agent.ungoverned_at is not None),
            "note": governance_note(agent.permission_mode, agent.sandbox, agent.hooks),
            # By evidence (store/unreported.py): tool calls its transcript shows that its
            # hooks never reported, this session; `evidence` says why it is marked now
            # (null: not marked; the status is then `ungoverned` unless it is done).
            "unreported": agent.unreported,
            "evidence": (agent.ungoverned_why or "marked") if agent.ungoverned_at is not None else None,
            "ungoverned_since": iso(agent.ungoverned_at) if agent.ungoverned_at is not None else None,
        },
        # How its calls were decided, its test runs, reverts and budget overruns (issue 14);
        # null: nothing recorded yet.
        "record": record.to_json() if record is not None else None,
        # Its configuration ({} until computed: see loomtui/store/fingerprint.py), and the
        # fields where it differs from the pod's baseline ([] when none, and for a finished
        # agent, as in the fleet).
        "fingerprint": fingerprint,
        "drift": base.drift(agent.kind, fingerprint) if base is not None and status != "done" else [],
    }


def run(args: argparse.Namespace) -> int:
    agents = collect()
    if args.json:
        print(json.dumps({"agents": agents}, indent=2, ensure_ascii=False))
        return 0
    if not agents:
        print("no agents in this pod yet")
        return 0
    if not _can_print("…"):
        sys.stdout.reconfigure(errors="replace")  # a non-UTF-8 terminal gets "?" for "…"
    width = shutil.get_terminal_size((80, 24)).columns
    for line in table(agents, width=width):
        print(line)
    return 0


# (key, header, least width, widest it grows to; 0 = takes what is left)
BASE = [("id", "ID", 2, 6), ("name", "AGENT", 10, 18), ("status", "STATUS", 7, 10),
        ("gates", "GATES", 5, 5), ("place", "REPO · BRANCH", 6, 24), ("gov", "GOVERNANCE", 20, 40),
        ("why", "WHY", 16, 0)]
WIDE_EXTRA = [("kind", "KIND", 4, 6)]  # from 100 columns
XWIDE_EXTRA = [("worktree", "WORKTREE", 10, 40)]  # from 150 columns
GAP = 2


def table(agents: list[dict], *, width: int = 80) -> list[str]:
    """Aligned rows fitting `width` columns; agents' text shown escaped, cut with "…"."""
    columns = list(BASE)
    if width >= 100:
        columns[2:2] = WIDE_EXTRA
    if width >= 150:
        columns[-1:-1] = XWIDE_EXTRA
    rows = [{key: printable(text) for key, text in _cells(agent).items()} for agent in agents]
    sizes = {}
    for key, head, least, most in columns:
        need = max(len(head), *(len(r[key]) for r in rows))
        sizes[key] = need if most == 0 else max(least, min(most, need))
    flex = columns[-1][0]
    fixed = sum(sizes[k] for k, *_ in columns[:-1]) + GAP * (len(columns) - 1)
    room = width - fixed
    least_flex = columns[-1][2]
    # Too wide: take cells from the widest shrinkable columns until the last one fits.
    while room < min(least_flex, sizes[flex]):
        key, _, least, _ = max((c for c in columns[:-1] if sizes[c[0]] > c[2]),
                               key=lambda c: sizes[c[0]] - c[2], default=(None, "", 0, 0))
        if key is None:
            break
        sizes[key] -= 1
        room += 1
    sizes[flex] = max(1, min(sizes[flex], room))

    def line(cells: dict[str, str]) -> str:
        return (" " * GAP).join(_cut(cells[k], sizes[k]).ljust(sizes[k]) for k, *_ in columns).rstrip()

    header = {key: head for key, head, *_ in columns}
    return [line(header)] + [line(r) for r in rows]


def _cells(agent: dict) -> dict[str, str]:
    gov = agent["governance"]
    if gov["evidence"]:  # ungoverned by evidence: short, the JSON has the sentence
        n = gov["unreported"]
        governance = f"! {n} call{'s' if n != 1 else ''} unreported" if n else "! no hook heard"
    elif gov["ungoverned"]:
        governance = "! " + gov["note"].replace("bypassPermissions", "bypass").replace(" · ", ", ")
    elif gov["sandbox"] is None and gov["hooks"] is None and gov["permission_mode"] is None:
        governance = "-"  # not known yet
    else:
        governance = "ok"
    if agent.get("drift"):
        governance += " ≠ " + ",".join(agent["drift"])
    why = agent["status_reason"] if agent["status"] in ("waiting", "error") else ""
    oldest = agent["oldest_gate"]
    if oldest is not None and oldest["summary"] not in why:
        why = (why + " · " if why else "") + f"oldest gate #{oldest['id']}: {oldest['summary']}"
    place = " · ".join(p for p in ((agent["repo"] or "").rstrip("/").rsplit("/", 1)[-1],
                                   agent["branch"] or "") if p)
    return {
        "id": str(agent["id"]),
        "name": agent["name"],
        "kind": agent["kind"],
        "status": agent["status"],
        "gates": str(agent["pending_gates"]) if agent["pending_gates"] else "",
        "place": place or "-",
        "worktree": agent["worktree"] or agent["cwd"] or "-",
        "gov": governance,
        "why": why,
    }


def _cut(text: str, size: int) -> str:
    return text if len(text) <= size else text[: max(0, size - 1)] + "…"


def _can_print(text: str) -> bool:
    try:
        text.encode(sys.stdout.encoding or "ascii")
    except (UnicodeEncodeError, LookupError):
        return False
    return True
