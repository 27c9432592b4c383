"""The pod store: one SQLite database (WAL) that agents, hooks and consoles share.

Submodules: `db` (paths, connections, migrations), `schema`, `agents` (the
agent and event API), `aio` (the console's async access; imports aiosqlite, so
the hook path never imports it).
"""

from loomtui.store.db import StoreError, StoreVersionError, connect, db_path, pod_dir

__all__ = ["StoreError", "StoreVersionError", "connect", "db_path", "pod_dir"]
