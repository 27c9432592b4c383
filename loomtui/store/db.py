"""Opening the pod store: paths, pragmas, migrations and clear errors.

This module is on the hook path (every tool call of every agent), so it imports
only the standard library.
"""

from __future__ import annotations

import os
import sqlite3
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from loomtui.store import witness as _witness
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


# A pod is private to its owner (0700 / 0600), or shared with a group (init --shared): a
# setgid, group-writable directory (2770) whose files are group read-write (0660). Modes are set
# explicitly on what LoomTUI creates, never through the umask: the console starts $EDITOR and
# tmux, whose files in the user's repositories keep the user's own umask.
PRIVATE_DIR_MODE, SHARED_DIR_MODE = 0o700, 0o2770
PRIVATE_FILE_MODE, SHARED_FILE_MODE = 0o600, 0o660


def pod_is_shared(pod: Path) -> bool:
    """A shared pod's directory is setgid and group-writable (what `init --shared` makes)."""
    try:
        mode = os.stat(pod).st_mode
    except OSError:
        return False
    return bool(mode & stat.S_ISGID and mode & stat.S_IWGRP)


def pod_file_mode(pod: Path) -> int:
    """The mode of a file LoomTUI creates in `pod`: 0660 in a shared pod, else 0600."""
    return SHARED_FILE_MODE if pod_is_shared(pod) else PRIVATE_FILE_MODE


def make_pod_subdir(path: Path) -> None:
    """Create a directory inside the pod (`themes`) with the pod's mode, unless it exists."""
    try:
        path.mkdir(mode=PRIVATE_DIR_MODE)
    except FileExistsError:
        return
    os.chmod(path, SHARED_DIR_MODE if pod_is_shared(path.parent) else PRIVATE_DIR_MODE)


def _new_private_file(path: Path, mode: int) -> tuple[Path, int]:
    """A new temporary file beside `path` (a name no other process or thread uses), open
    for writing, created with at most `mode` and set to exactly `mode`."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
    try:
        os.fchmod(fd, mode)
    except BaseException:
        os.close(fd)
        os.unlink(tmp)
        raise
    return tmp, fd


def write_pod_file(path: Path, data: str | bytes, *, replace: bool = True) -> bool:
    """Write a file in the pod, atomically and with the pod's mode whatever the umask.
    With `replace=False` an existing file is kept (False is returned). OSError on failure."""
    mode = pod_file_mode(path.parent)
    tmp, fd = _new_private_file(path, mode)
    try:
        try:
            view = memoryview(data.encode("utf-8") if isinstance(data, str) else data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
        if replace:
            os.replace(tmp, path)  # concurrent readers never see half a file
            return True
        try:
            os.link(tmp, path)  # fails if the file appeared meanwhile: never overwrite
        except FileExistsError:
            return False
        return True
    finally:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass


def create_pod_file(path: Path) -> None:
    """Create an empty database file with the pod's mode unless it exists. SQLite would make
    it 0644 less the umask; it gives the -wal, -shm and -journal files the database's mode
    (and owner, when root), so setting the database's mode is enough. The file gets its mode
    before it appears under its name: another process never creates a -wal from a wrong one."""
    if os.path.lexists(path):
        return
    mode = pod_file_mode(path.parent)
    tmp, fd = _new_private_file(path, mode)
    os.close(fd)
    try:
        os.link(tmp, path)  # an empty file is an empty SQLite database
    except FileExistsError:
        pass  # another process made it first
    finally:
        os.unlink(tmp)


def ensure_pod_dir(pod: Path) -> None:
    """Create the pod directory (0700: private to this user), or say clearly why it cannot be
    used. An existing directory keeps its mode (a shared pod's is 2770, see `init --shared`)."""
    try:
        pod.parent.mkdir(parents=True, exist_ok=True)
        try:
            pod.mkdir(mode=PRIVATE_DIR_MODE)
        except FileExistsError:
            if not pod.is_dir():
                raise NotADirectoryError(20, "it is not a directory") from None
        else:
            os.chmod(pod, PRIVATE_DIR_MODE)  # whatever the umask, and no setgid from a parent
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
        try:
            create_pod_file(path)
        except OSError as exc:
            raise StoreError(f"cannot create the pod store {path}: {exc.strerror or exc}") from None
    conn: sqlite3.Connection | None = None
    try:
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        for pragma in PRAGMAS:
            conn.execute(pragma)
        if check_version(conn, path) == 0:  # before anything changes the file
            _new_database(conn)
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


def _new_database(conn: sqlite3.Connection) -> None:
    """Settings that only a new, empty database can take. `auto_vacuum = INCREMENTAL` lets
    retention give freed pages back to the file system a few at a time
    (`PRAGMA incremental_vacuum`, loomtui/store/retention.py); it must be set before the
    first table and before WAL (which writes the header), and an existing database switches
    only through a full VACUUM (`loomtui store compact --full`). On a file that already
    has tables (version 0 but not LoomTUI's) SQLite ignores it."""
    conn.execute("PRAGMA auto_vacuum = INCREMENTAL")


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
    that read-modify-write sequences cannot interleave with another writer.
    After a COMMIT that appended audit entries, the new head goes to the audit
    witness outside the pod (loomtui/store/witness.py)."""
    conn.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
    _witness.discard(conn)
    try:
        yield conn
    except BaseException:
        _witness.discard(conn)
        conn.execute("ROLLBACK")
        raise
    else:
        conn.execute("COMMIT")
        _witness.flush(conn)
