"""`loomtui audit verify [--witness FILE] [--expect ID:HASH] [--json]` and
`loomtui audit export [--json]`: the hash-chained log.

`verify` checks the chain, the append-only triggers, the log against the heads
recorded outside it (this user's witness file, any other given, any head copied by
hand), and that every decided gate and budget limit has its audit entry; it prints
the head to copy elsewhere. Exit 1 when anything is wrong."""

from __future__ import annotations

import argparse
import json
import sqlite3
from pathlib import Path

from loomtui.commands.common import open_pod
from loomtui.commands.errors import CommandError
from loomtui.store import audit
from loomtui.store.db import db_path, describe_error
from loomtui.store.gates import iso
from loomtui.text import printable


def run(args: argparse.Namespace) -> int:
    if args.audit_command == "verify":
        return _verify(args)
    pod, conn = open_pod(create=False)
    try:
        entries = audit.export(conn)
    except sqlite3.DatabaseError as exc:
        raise CommandError(describe_error(db_path(pod), exc)) from None
    finally:
        conn.close()

    if args.json:
        for entry in entries:
            entry["time"] = iso(entry["ts"])
        print(json.dumps({"entries": entries}, indent=2, ensure_ascii=False))
        return 0
    for e in entries:
        detail = json.dumps(e["detail"], ensure_ascii=False, separators=(", ", ": "), sort_keys=True)
        subject = f" {e['subject']}" if e["subject"] else ""
        print(printable(f"{e['id']:>6}  {iso(e['ts'])}  {e['actor']}  {e['action']}{subject}  {detail}"))
    return 0


def _verify(args: argparse.Namespace) -> int:
    from loomtui.store import witness
    from loomtui.store.db import pod_dir

    pod = pod_dir()
    # The heads first, the log after: the log only grows, so a head read before the
    # snapshot is never ahead of it (no false "cut" from an append in between).
    heads: list[tuple[int, str, str]] = []
    for text in args.expect:
        entry_id, entry_hash = _parse_expect(text)
        heads.append((entry_id, entry_hash, f"the expected head {entry_id}:{entry_hash[:16]}…"))
    for name in args.witness:
        document = _read_witness(Path(name), pod)
        heads.append((document["id"], document["hash"], f"the witness {name}"))
    own_path = witness.witness_path(pod)
    own: dict = {"path": str(own_path), "status": "none", "id": None, "hash": None, "time": None}
    unreadable = None
    try:
        document = witness.read(own_path)
    except FileNotFoundError:
        pass
    except witness.WitnessError as exc:
        own["status"], unreadable = "unreadable", str(exc)
    else:
        own.update(status="checked", id=document["id"], hash=document["hash"],
                   time=iso(document.get("time")) if isinstance(document.get("time"), (int, float))
                   else None)
        heads.insert(0, (document["id"], document["hash"], f"this user's witness {own_path}"))

    pod, conn = open_pod(create=False)
    try:
        report = audit.inspect(conn, heads)
    except sqlite3.DatabaseError as exc:
        raise CommandError(describe_error(db_path(pod), exc)) from None
    finally:
        conn.close()
    problems = list(report.problems)
    if unreadable:
        problems.insert(0, f"{unreadable}: the log cannot be checked against it (remove it only "
                           "if you know why it broke; the next append writes a new one)")
    intact = not problems

    if args.json:
        print(json.dumps({
            "intact": intact, "problems": problems, "entries": report.entries,
            "head": {"id": report.head_id, "hash": report.head_hash},
            "witness": own,
            "checked": [{"id": i, "hash": h, "source": src} for i, h, src in heads],
        }, indent=2, ensure_ascii=False))
        return 0 if intact else 1

    if intact:
        print(f"audit log intact: {report.entries} entries")
    else:
        noun = "problem" if len(problems) == 1 else "problems"
        print(f"audit log damaged: {len(problems)} {noun} in {report.entries} entries")
        for problem in problems:
            print(f"  - {printable(problem)}")  # problems quote what was stored
        if any(p.startswith("the log was cut: this user's witness") for p in problems):
            print(f"  (if you deleted and re-created this pod on purpose, remove {own_path}: "
                  "a witness never moves backwards)")
    if report.head_id:
        print(f"head: {report.head_id}:{report.head_hash}")
    if own["status"] == "checked":
        print(f"witness: {own_path} (entry {own['id']}, written {own['time'] or 'at an unknown time'})")
    elif own["status"] == "none":
        print(f"witness: none yet at {own_path} (written when this user's LoomTUI appends to the log)")
    else:
        print(f"witness: {own_path} is unreadable")
    if report.head_id:
        print("Copy the head elsewhere (a ticket, a note on another machine): "
              f"`loomtui audit verify --expect {report.head_id}:{report.head_hash}` later also "
              "catches a rewrite of both the store and the witness.")
    return 0 if intact else 1


def _parse_expect(text: str) -> tuple[int, str]:
    entry_id, _, entry_hash = text.strip().partition(":")
    entry_hash = entry_hash.strip().lower()
    if (not entry_id.isdigit() or int(entry_id) < 1 or len(entry_hash) != 64
            or any(c not in "0123456789abcdef" for c in entry_hash)):
        raise CommandError(f"--expect wants ID:HASH as `audit verify` prints it after \"head:\" "
                           f"(an entry id, a colon, 64 hex digits), not {printable(text)!r}")
    return int(entry_id), entry_hash


def _read_witness(path: Path, pod: Path) -> dict:
    from loomtui.store import witness

    try:
        document = witness.read(path)
    except FileNotFoundError:
        raise CommandError(f"no witness file {path}") from None
    except witness.WitnessError as exc:
        raise CommandError(str(exc)) from None
    if document["pod"] != witness.pod_key(pod):
        raise CommandError(f"the witness {path} is for the pod {printable(document['pod'])}, "
                           f"not {witness.pod_key(pod)}")
    return document
