"""`loomtui mcp`: the MCP stdio server agents reach the pod's memory through.

Claude Code starts it from `.mcp.json` (written by `loomtui init claude`), Codex
from `[mcp_servers.loom]` in its config.toml (printed by `loomtui init codex`).
stdout is the JSON-RPC channel: errors go to stderr only.
"""

from __future__ import annotations

import argparse
import sys

from loomtui.store.db import StoreError, connect, db_path, pod_dir


def run(args: argparse.Namespace) -> int:
    pod = pod_dir()
    try:
        connect(db_path(pod), create=False).close()
    except StoreError as exc:
        # Say why at once (the client shows stderr) rather than failing every call.
        print(f"loomtui mcp: {exc}", file=sys.stderr)
        return 1
    from loomtui.memory.server import run as serve

    try:
        serve(pod)
    except KeyboardInterrupt:
        return 130
    return 0
