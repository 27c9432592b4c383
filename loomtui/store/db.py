"""Opening the pod store: paths, pragmas, migrations and clear errors.

This module is on the hook path (every tool call of every agent), so it imports
only the standard library.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from loomtui.store.schema import MIGRATIONS, SCHEMA_VERSION

DB_NAME = "loom.db"
BUSY_TIMEOUT_MS = 5000

# Applied to every connection, sync or async, in this order. WAL is set once,
# by `connect()`, after the version check (see `_enable_wal`).
PRAGMAS = (
    f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}",
    "PRAGMA synchronous = NORMAL",
    "PRAGMA foreign_keys = ON",
)


class StoreError(Exception):
    """The pod store cannot be used; the message says why and names the file."""


class StoreVersionError(StoreError):
    """The database was written by a newer LoomTUI than this one."""


def pod_dir(environ: os._Environ[str] | dict[str, str] | None = None) -> Path:
    """The pod directory: $LOOM_HOME, else $XDG_DATA_HOME/loomtui, else ~/.local/share/loomtui."""
    env = os.environ if environ is None else environ
    if env.get("LOOM_HOME"):
        return Path(env["LOOM_HOME"]).expanduser()
    if env.get("XDG_DATA_HOME"):
        return Path(env["XDG_DATA_HOME"]).expanduser() / "loomtui"
    return Path.home() / ".local" / "share" / "loomtui"


def db_path(pod: Path | None = None) -> Path:
    return (pod if pod is not None else pod_dir()) / DB_NAME


def ensure_pod_dir(pod: Path) -> None:
    """Create the pod directory, or say clearly why it cannot be used."""
    try:
        pod.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create the pod directory {pod}: {exc.strerror or exc}") from None
    if not os.access(pod, os.W_OK | os.X_OK):
        raise StoreError(f"the pod directory {pod} is not writable by this user")


def connect(path: Path, *, create: bool = True) -> sqlite3.Connection:
    """Open (and if needed create and migrate) the store at `path`.

    The connection is in autocommit mode: callers group writes with `transaction()`.
    Raises StoreError with a message fit for a person on any problem.
    """
    path = Path(path)
    try:
        exists = path.exists()
    except OSError as exc:  # a pod directory this user may not enter
        raise StoreError(
            f"cannot reach the pod store {path}: {exc.strerror or exc}; "
            "check the directory's permissions"
        ) from None
    if not exists:
        if not create:
            raise StoreError(f"no pod store at {path} (run `loomtui init` to create one)")
        ensure_pod_dir(path.parent)
    conn: sqlite3.Connection | None = None
    try:
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        for pragma in PRAGMAS:
            conn.execute(pragma)
        check_version(conn, path)  # before anything changes the file
        _enable_wal(conn)
        migrate(conn, path)
        return conn
    except StoreError:
        if conn is not None:
            conn.close()
        raise
    except sqlite3.DatabaseError as exc:
        if conn is not None:
            conn.close()
        raise StoreError(describe_error(path, exc)) from None


def describe_error(path: Path, exc: sqlite3.Error) -> str:
    """Turn an sqlite3 error into a sentence that names the file."""
    text = str(exc)
    if "not a database" in text or "malformed" in text:
        return f"{path} is corrupt or is not a LoomTUI pod store ({text})"
    if "locked" in text or "busy" in text:
        return f"the pod store {path} is locked by another process ({text})"
    if "unable to open" in text or "readonly" in text:
        return f"cannot open the pod store {path} ({text}); check the directory's permissions"
    return f"pod store {path}: {text}"


def _enable_wal(conn: sqlite3.Connection) -> None:
    """Switch to WAL. Until a file is in WAL mode SQLite answers BUSY at once,
    without the busy timeout, while another connection writes; several agents'
    first hooks starting together on a new pod hit exactly that, so retry."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    delay = 0.001
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.05)


def schema_version(conn: sqlite3.Connection) -> int:
    return conn.execute("PRAGMA user_version").fetchone()[0]


def check_version(conn: sqlite3.Connection, path: Path) -> int:
    """The database's schema version; StoreVersionError if newer than this code."""
    current = schema_version(conn)
    if current > SCHEMA_VERSION:
        raise StoreVersionError(
            f"{path} has schema version {current}, but this LoomTUI understands up to "
            f"version {SCHEMA_VERSION}; upgrade LoomTUI to use this pod"
        )
    return current


def migrate(conn: sqlite3.Connection, path: Path, target: int = SCHEMA_VERSION) -> None:
    """Bring the database forward to `target`; refuse one newer than this code."""
    current = check_version(conn, path)
    if current >= target:
        return
    with transaction(conn):
        # Another process may have migrated while we waited for the write lock.
        current = schema_version(conn)
        for version in range(current, target):
            for statement in split_statements(MIGRATIONS[version]):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {version + 1}")


def split_statements(script: str) -> Iterator[str]:
    """Split an SQL script into statements (triggers included) so that they can
    run inside one transaction; `executescript` would commit first."""
    buffer = ""
    for char in script:
        buffer += char
        if char == ";" and sqlite3.complete_statement(buffer):
            if buffer.strip():
                yield buffer.strip()
            buffer = ""
    if buffer.strip():
        yield buffer.strip()


@contextmanager
def transaction(conn: sqlite3.Connection, immediate: bool = True) -> Iterator[sqlite3.Connection]:
    """A short write transaction; `BEGIN IMMEDIATE` takes the write lock up front so
    that read-modify-write sequences cannot interleave with another writer."""
    conn.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    else:
        conn.execute("COMMIT")
