"""An agent's configuration fingerprint, read from its hook payload, its environment and
its files (what the fields mean: loomtui/store/fingerprint.py).

`session_fingerprint` runs in the hook at SessionStart (beside hooks/governance.py's
reading of the same settings): stdlib only and cheap, a handful of small files read
once each and the transcript's head or tail for the CLI version. `files_changed` is the
pod's recompute when its diff watcher sees one of those files change: it reads the paths
the agent's fingerprint recorded, so it needs none of the agent's environment.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from collections.abc import Iterable, Mapping
from typing import Any

from loomtui.hooks.governance import (
    _BAD,
    DECIDING_EVENTS,
    _deep_merge,
    _home,
    _matches_every_tool,
    _project_root,
    _runs_loomtui,
    json_object,
)
from loomtui.store.fingerprint import record

HASHED = ("settings_user", "settings_project", "settings_local", "instructions", "instructions_repo",
          "mcp_config")
HASH_CHARS = 12
TRANSCRIPT_PEEK = 64 * 1024  # bytes of the transcript read for the CLI version
FILE_MAX = 4 * 1024 * 1024  # a settings or instructions file larger than this is hashed, not parsed


def paths(kind: str, cwd: str | None, worktree: str | None, repo: str | None,
          environ: Mapping[str, str]) -> dict[str, str]:
    """Field -> the file it is read from, for an agent of `kind` working in `cwd`
    (`hooks_user`/`hooks_project`: Codex's hooks.json files, read for `hooks` only)."""
    join = os.path.join
    if kind == "claude":
        config = environ.get("CLAUDE_CONFIG_DIR") or join(_home(environ), ".claude")
        project = environ.get("CLAUDE_PROJECT_DIR") or _project_root(cwd, ".claude")
        found = {"settings_user": join(config, "settings.json")}
        if project:
            found["settings_project"] = join(project, ".claude", "settings.json")
            found["settings_local"] = join(project, ".claude", "settings.local.json")
            found["mcp_config"] = join(project, ".mcp.json")
        name = "CLAUDE.md"
    elif kind == "codex":
        home = environ.get("CODEX_HOME") or join(_home(environ), ".codex")
        project = _project_root(cwd, ".codex")
        found = {"settings_user": join(home, "config.toml"), "hooks_user": join(home, "hooks.json")}
        if project:
            found["settings_project"] = join(project, ".codex", "config.toml")
            found["hooks_project"] = join(project, ".codex", "hooks.json")
        name = "AGENTS.md"
    else:
        return {}  # aider, scripts: no settings of theirs are known
    top = worktree or project
    if top:
        found["instructions"] = join(top, name)
        found["instructions_repo"] = join(repo or top, name)
    return found


def read_files(kind: str, files: Mapping[str, str]) -> dict[str, str]:
    """The fields read from `files` (see `paths`): each file's short hash, the LoomTUI
    hooks its settings install and the MCP servers they configure."""
    raw: dict[str, bytes | None | object] = {}

    def content(field: str) -> bytes | None | object:
        if field not in raw:
            raw[field] = _read(files[field]) if field in files else None
        return raw[field]

    out: dict[str, str] = {}
    for field in HASHED:
        if field in files:
            data = content(field)
            out[field] = ("unreadable" if data is _BAD else "" if data is None
                          else hashlib.sha256(data).hexdigest()[:HASH_CHARS])  # type: ignore[arg-type]
    if kind == "claude":
        layers = [_json(content(f)) for f in ("settings_user", "settings_project", "settings_local")]
        mcp = _json(content("mcp_config"))
        hooks = "unknown" if _BAD in layers else _hooked([x.get("hooks") for x in layers if x], layers)
        servers = set(mcp["mcpServers"]) if isinstance(mcp, dict) and isinstance(mcp.get("mcpServers"), dict) else set()
    elif kind == "codex":
        configs = [_toml(content(f)) for f in ("settings_user", "settings_project")]
        hook_files = [_json(content(f)) for f in ("hooks_user", "hooks_project")]
        if _BAD in configs or _BAD in hook_files:
            hooks = "unknown"
        else:
            tables = [h.get("hooks") for h in hook_files if h] + [c.get("hooks") for c in configs if c]
            hooks = _hooked(tables, configs, codex=True)
        servers = set()
        for config in configs:
            if isinstance(config, dict) and isinstance(config.get("mcp_servers"), dict):
                servers |= set(config["mcp_servers"])
    else:
        return out
    out["hooks"] = hooks
    out["mcp_servers"] = ",".join(sorted(str(s) for s in servers))
    return out


def _hooked(tables: list[Any], layers: list[Any], codex: bool = False) -> str:
    """The events where a LoomTUI hook runs, comma-joined ("none"); "disabled" when the
    merged settings switch hooks off."""
    merged: dict[str, Any] = {}
    for layer in layers:
        if isinstance(layer, dict):
            _deep_merge(merged, layer)
    if codex:
        features = merged.get("features")
        if isinstance(features, dict) and (features.get("hooks") is False or features.get("codex_hooks") is False):
            return "disabled"
    elif merged.get("disableAllHooks") is True:
        return "disabled"
    events: set[str] = set()
    for table in tables:
        if not isinstance(table, dict):
            continue
        for event, groups in table.items():
            if not isinstance(groups, list):
                continue
            for group in groups:
                if (isinstance(group, dict) and isinstance(group.get("hooks"), list)
                        and any(_runs_loomtui(h) for h in group["hooks"])):
                    # A deciding event matched for only some tools is marked so.
                    partial = event in DECIDING_EVENTS and not _matches_every_tool(group.get("matcher"))
                    events.add(str(event) + ("(some)" if partial else ""))
    full = {e for e in events if not e.endswith("(some)")}
    events = {e for e in events if not (e.endswith("(some)") and e[:-6] in full)}
    return ",".join(sorted(events)) or "none"


def env_version(kind: str, environ: Mapping[str, str]) -> str:
    """Claude Code's version from the environment it gives its hooks: it sets
    `AI_AGENT=claude-code_<version, dots as dashes>_<role>` (read off the 2.1.332 binary);
    '' when absent or not in that shape (a person may set AI_AGENT too)."""
    if kind != "claude":
        return ""
    parts = environ.get("AI_AGENT", "").split("_")
    if len(parts) < 3 or parts[0] != "claude-code":
        return ""
    numbers = parts[1].split("-")
    if not (2 <= len(numbers) <= 4 and all(n.isascii() and n.isdigit() and len(n) <= 6 for n in numbers)):
        return ""
    return ".".join(numbers)


def cli_version(kind: str, transcript_path: str | None) -> str:
    """The agent's CLI version as its transcript says ('' when it does not, yet): Claude
    Code writes `version` on each line (the newest complete line in the tail counts),
    Codex `cli_version` in its first line (session_meta)."""
    if not transcript_path or kind not in ("claude", "codex"):
        return ""
    try:
        with open(transcript_path, "rb") as handle:
            if kind == "codex":
                head = handle.read(TRANSCRIPT_PEEK).split(b"\n", 1)[0]
                meta = json.loads(head)
                payload = meta.get("payload") if isinstance(meta, dict) else None
                value = payload.get("cli_version") if isinstance(payload, dict) else None
                return value if isinstance(value, str) else ""
            size = handle.seek(0, 2)
            handle.seek(max(0, size - TRANSCRIPT_PEEK))
            tail = handle.read()
    except (OSError, ValueError, RecursionError):
        return ""
    for line in reversed(tail.split(b"\n")):
        if b'"version"' not in line:
            continue
        try:
            obj = json.loads(line)
        except (ValueError, RecursionError):
            continue  # the cut first line, or one being written
        value = obj.get("version") if isinstance(obj, dict) else None
        if isinstance(value, str) and value:
            return value
    return ""


def session_fingerprint(conn: sqlite3.Connection, agent_id: int, kind: str, data: Mapping[str, Any], *,
                        cwd: str | None, worktree: str | None, repo: str | None,
                        environ: Mapping[str, str], permission_mode: str | None, sandbox: str | None,
                        now: float) -> dict[str, list[str]] | None:
    """Compute the agent's whole fingerprint (SessionStart, or an agent first seen
    mid-session) and record it; returns what changed (store/fingerprint.record)."""
    from loomtui.store.audit import last_policy_hash

    files = paths(kind, cwd, worktree, repo, environ)
    model = data.get("model")
    if not isinstance(model, str) or not model:
        row = conn.execute("SELECT model FROM agents WHERE id = ?", (agent_id,)).fetchone()
        model = row[0] if row and row[0] else ""
    transcript = data.get("transcript_path")
    values: dict[str, Any] = {
        "kind": kind,
        # The running CLI's own word first; else what its transcript says so far.
        "cli_version": env_version(kind, environ)
        or cli_version(kind, transcript if isinstance(transcript, str) else None),
        "model": model,
        "permission_mode": permission_mode or "",
        "sandbox": sandbox or "",
        "policy": (last_policy_hash(conn) or "")[:HASH_CHARS],
        **read_files(kind, files),
        "files": files,
    }
    return record(conn, agent_id, values, actor="hook", now=now)


def files_changed(conn: sqlite3.Connection, changed: Iterable[str], *, now: float) -> list[int]:
    """Files changed on disk (the diff watcher's paths): recompute the file fields of every
    live agent whose fingerprint read one of them. Returns the agents whose fingerprint
    changed."""
    wanted = {str(p) for p in changed}
    if not wanted:
        return []
    from loomtui.store.fingerprint import parse

    updated = []
    rows = conn.execute("SELECT id, kind, fingerprint FROM agents "
                        "WHERE status != 'done' AND fingerprint_hash != ''").fetchall()
    for agent_id, kind, text in rows:
        files = parse(text).get("files")
        if not isinstance(files, dict) or not wanted.intersection(files.values()):
            continue
        if record(conn, agent_id, read_files(kind, files), actor="system", now=now) is not None:
            updated.append(agent_id)
    return updated


def recompute(conn: sqlite3.Connection, changed: list[str]) -> None:
    """The diff watcher's `on_config`: `files_changed` now."""
    import time

    files_changed(conn, changed, now=time.time())


def _read(path: str) -> bytes | None | object:
    try:
        with open(path, "rb") as handle:
            # read(n) would allocate n bytes up front: ask for what is there.
            return handle.read(min(os.fstat(handle.fileno()).st_size, FILE_MAX) or -1)
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return _BAD


def _json(data: Any) -> Any:
    """A settings object from a file's bytes: None absent, _BAD when not a JSON object."""
    if data is None or data is _BAD:
        return data
    return json_object(data)


def _toml(data: Any) -> Any:
    if data is None or data is _BAD:
        return data
    import tomllib  # only Codex sessions pay for it

    try:
        return tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError, RecursionError):
        return _BAD
