"""The audit witness: the head of a pod's audit log (last entry's id and hash),
kept outside the pod where a sandboxed agent cannot write.

A hash chain alone shows an edit in the middle of the log, but not a cut tail nor
a history re-chained after an edit: whoever can write `loom.db` can recompute
every later hash. So every commit that appended audit entries also records the
new head in a small JSON file under `witness_dir()` ($XDG_STATE_HOME/loomtui, else
~/.local/state/loomtui; `init` keeps that directory out of what an agent's sandbox
may write). `loomtui audit verify` then checks the log still holds that entry with
that hash.

- One file per pod and per Unix user: the file name is a hash of the pod's real
  path, and the directory is the user's own. A shared pod has one per member.
- Monotonic: a head replaces the recorded one only if its id is greater, under an
  flock, written to a temporary file and moved into place (`os.replace`), so
  concurrent writers never move the witness backwards nor leave half a file.
- Cheap: the head comes from the append itself (no count, no scan of the log).
- Never in the way: a failure to write the witness warns once on stderr and the
  write that caused it stands.

The mechanism: `audit.append` calls `note()` for its connection; the store's
`transaction()` calls `flush()` after COMMIT and `discard()` on BEGIN and ROLLBACK.

Stdlib only, on the hook path: `fcntl` and `hashlib` are imported when a witness is
written, never on an ordinary tool call.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import time
from pathlib import Path

VERSION = 1

# id(connection) -> (pod directory, last entry id, its hash), set by audit.append
# inside a transaction and taken by transaction() after it commits.
PENDING: dict[int, tuple[str, int, str]] = {}

_warned = False


class WitnessError(Exception):
    """A witness file that cannot be read or is not one; the message names it."""


def witness_dir(environ: os._Environ[str] | dict[str, str] | None = None) -> Path:
    """$XDG_STATE_HOME/loomtui, else ~/.local/state/loomtui."""
    env = os.environ if environ is None else environ
    if env.get("XDG_STATE_HOME"):
        return Path(env["XDG_STATE_HOME"]).expanduser() / "loomtui"
    return Path.home() / ".local" / "state" / "loomtui"


def pod_key(pod: Path | str) -> str:
    """The pod as the witness names it: its real path."""
    return os.path.realpath(os.fspath(pod))


def witness_path(pod: Path | str, environ: os._Environ[str] | dict[str, str] | None = None) -> Path:
    """This user's witness file for `pod`: witness_dir()/<sha256 of its real path>.json."""
    import hashlib

    digest = hashlib.sha256(pod_key(pod).encode("utf-8", "surrogateescape")).hexdigest()
    return witness_dir(environ) / f"{digest[:32]}.json"


# -- the notes audit.append leaves for transaction() ---------------------------------


def note(conn: sqlite3.Connection, entry_id: int, entry_hash: str) -> None:
    """Remember that `conn`'s open transaction appended entry `entry_id`; written
    to the witness by transaction() once it commits. A store without a file
    (in memory) has no witness."""
    pending = PENDING.get(id(conn))
    if pending is not None:
        PENDING[id(conn)] = (pending[0], entry_id, entry_hash)
        return
    for _seq, name, file in conn.execute("PRAGMA database_list"):
        if name == "main":
            if file:
                PENDING[id(conn)] = (os.path.dirname(pod_key(file)), entry_id, entry_hash)
            return


def discard(conn: sqlite3.Connection) -> None:
    PENDING.pop(id(conn), None)


def flush(conn: sqlite3.Connection) -> None:
    """After COMMIT: record the head this transaction appended, if any."""
    pending = PENDING.pop(id(conn), None)
    if pending is not None:
        record(*pending)


# -- writing ---------------------------------------------------------------------------


def record(pod: str | Path, entry_id: int, entry_hash: str, *, now: float | None = None) -> bool:
    """Record (pod, entry_id, entry_hash) in this user's witness unless it already
    holds an entry at least as recent; returns whether it wrote. Never raises: a
    failure warns once on stderr."""
    try:
        return _record(pod_key(pod), int(entry_id), str(entry_hash),
                       time.time() if now is None else now)
    except Exception as exc:  # noqa: BLE001 - the write that caused this must stand
        _warn(pod, exc)
        return False


def _record(pod: str, entry_id: int, entry_hash: str, now: float) -> bool:
    import fcntl

    path = witness_path(pod)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    lock = os.open(path.with_suffix(".lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            current = read(path)
        except FileNotFoundError:
            current = None
        except WitnessError:
            current = None  # unreadable (a crash mid-write on an odd file system): start again
        if current is not None and current["id"] >= entry_id:
            return False
        document = {"version": VERSION, "pod": pod, "id": entry_id, "hash": entry_hash,
                    "time": now, "uid": os.getuid()}
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, (json.dumps(document, sort_keys=True) + "\n").encode("utf-8",
                                                                            "surrogateescape"))
        finally:
            os.close(fd)
        os.replace(tmp, path)
        return True
    finally:
        os.close(lock)  # releases the flock


def _warn(pod: str | Path, exc: BaseException) -> None:
    global _warned
    if _warned:
        return
    _warned = True
    reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    try:
        where = witness_path(pod)
    except Exception:  # noqa: BLE001
        where = witness_dir()
    try:
        print(f"loomtui: warning: cannot write the audit witness {where}: {reason}; "
              "`audit verify` cannot detect a cut or rewritten tail of this pod's log "
              "past the last head it recorded", file=sys.stderr)
    except Exception:  # noqa: BLE001 - a closed stderr
        pass


# -- reading ---------------------------------------------------------------------------


def read(path: Path | str) -> dict:
    """The witness at `path`: {"pod", "id", "hash", "time", ...}. FileNotFoundError
    when there is none; WitnessError when it is not a witness."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="surrogateescape")
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise WitnessError(f"cannot read the audit witness {path}: {exc.strerror or exc}") from None
    try:
        document = json.loads(text)
    except ValueError:
        raise WitnessError(f"the audit witness {path} is not valid JSON") from None
    if not (isinstance(document, dict) and isinstance(document.get("id"), int)
            and not isinstance(document.get("id"), bool) and document["id"] > 0
            and isinstance(document.get("hash"), str) and len(document["hash"]) == 64
            and isinstance(document.get("pod"), str)):
        raise WitnessError(f"{path} is not an audit witness (it needs pod, id and hash)")
    return document


def own_heads(pod: Path | str) -> list[tuple[int, str, str]]:
    """This user's witness of `pod` as the heads `audit.inspect` takes: [] when there is
    none; an unreadable one is left out (`loomtui audit verify` says why)."""
    path = witness_path(pod)
    try:
        document = read(path)
    except (FileNotFoundError, WitnessError):
        return []
    return [(document["id"], document["hash"], f"this user's witness {path}")]
