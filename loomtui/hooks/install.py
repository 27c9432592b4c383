"""Hook configuration for Claude Code (`.claude/settings.json`) and Codex
(`.codex/hooks.json`): built, merged into what is there, written with a backup.

Merging keeps every existing setting and hook; our entries are recognised by
their command (`... hook claude|codex`) and replaced in place, so a second run
changes nothing.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sys
from pathlib import Path
from typing import Any

# Longer than any gate's expiry (the hook caps expiry below it), so the hook always
# answers before Claude Code gives up on it (a timed-out hook lets the action through).
from loomtui.hooks.claude import GATE_HOOK_TIMEOUT

CLAUDE_EVENTS = {
    # event: (matcher or None, deciding?)
    "PreToolUse": ("*", True),
    "PermissionRequest": ("*", True),
    "PostToolUse": ("*", False),
    "PostToolUseFailure": ("*", False),
    "Notification": (None, False),
    "Stop": (None, False),
    "SubagentStop": (None, False),
    "UserPromptSubmit": (None, False),
    "SessionStart": ("startup|resume|clear|compact", False),
    "SessionEnd": (None, False),
}
CODEX_EVENTS = ("SessionStart", "PreToolUse", "PermissionRequest", "PostToolUse",
                "UserPromptSubmit", "Stop")


def hook_command(agent: str) -> str:
    """How the agent should call us: `loomtui` when that is what runs now, else
    this interpreter with `-m loomtui` (a virtual environment off the PATH)."""
    on_path = shutil.which("loomtui")
    if on_path and Path(sys.argv[0]).name == "loomtui" and \
            Path(on_path).resolve() == Path(sys.argv[0]).resolve():
        return f"loomtui hook {agent}"
    return f"{shlex.quote(sys.executable)} -m loomtui hook {agent}"


def _handler(command: str, deciding: bool, asynchronous: bool = False) -> dict[str, Any]:
    handler: dict[str, Any] = {"type": "command", "command": command}
    if deciding:
        handler["timeout"] = GATE_HOOK_TIMEOUT
    if asynchronous:
        handler["async"] = True
    return handler


def claude_hooks(command: str) -> dict[str, list]:
    hooks: dict[str, list] = {}
    for event, (matcher, deciding) in CLAUDE_EVENTS.items():
        group: dict[str, Any] = {}
        if matcher is not None:
            group["matcher"] = matcher
        group["hooks"] = [_handler(command, deciding, asynchronous=event.startswith("PostToolUse"))]
        hooks[event] = [group]
    return hooks


def codex_hooks(command: str) -> dict[str, list]:
    hooks: dict[str, list] = {}
    for event in CODEX_EVENTS:
        deciding = event in ("PreToolUse", "PermissionRequest")
        group: dict[str, Any] = {"hooks": [_handler(command, deciding)]}
        if event in ("PreToolUse", "PermissionRequest", "PostToolUse"):
            group["matcher"] = "*"
        hooks[event] = [group]
    return hooks


def _ours(handler: Any) -> bool:
    command = handler.get("command") if isinstance(handler, dict) else None
    return isinstance(command, str) and ("loomtui hook " in command)


def merge(existing: dict[str, Any], ours: dict[str, list]) -> dict[str, Any]:
    """`existing` with our hook groups in place of any earlier LoomTUI ones."""
    merged = dict(existing)
    hooks = dict(merged.get("hooks") or {})
    for event, groups in ours.items():
        kept = []
        for group in hooks.get(event) or []:
            if not isinstance(group, dict):
                kept.append(group)
                continue
            handlers = [h for h in group.get("hooks") or [] if not _ours(h)]
            if handlers:
                kept.append({**group, "hooks": handlers})
        hooks[event] = kept + groups
    merged["hooks"] = hooks
    return merged


def write_json(path: Path, data: dict[str, Any]) -> Path | None:
    """Write `data` to `path`, keeping the old file as `<name>.bak`; returns the
    backup's path, or None when nothing changed or there was no file."""
    text = json.dumps(data, indent=2) + "\n"
    backup = None
    if path.exists():
        if path.read_text(encoding="utf-8") == text:
            return None
        backup = path.with_name(path.name + ".bak")
        shutil.copy2(path, backup)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return backup


def read_json(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path} is not valid JSON ({exc}); fix or move it, then run again") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path} does not hold a JSON object; fix or move it, then run again")
    return data


# -- the MCP server (issue 6) ----------------------------------------------------------

MCP_SERVER_NAME = "loom"


def mcp_command() -> tuple[str, list[str]]:
    """How the agent should start `loomtui mcp` (the same choice as `hook_command`)."""
    command = hook_command("claude")
    if command.startswith("loomtui "):
        return "loomtui", ["mcp"]
    return sys.executable, ["-m", "loomtui", "mcp"]


def claude_mcp_servers() -> dict[str, Any]:
    command, args = mcp_command()
    return {MCP_SERVER_NAME: {"command": command, "args": args, "env": {}}}


def merge_mcp(existing: dict[str, Any], ours: dict[str, Any]) -> dict[str, Any]:
    """`existing` (.mcp.json) with our server in place of an earlier one of that name;
    other servers, and an `env` someone gave ours, are kept."""
    servers = existing.get("mcpServers", {})
    if not isinstance(servers, dict):
        raise ValueError("mcpServers in .mcp.json is not a JSON object; fix or move it, then run again")
    merged_servers = dict(servers)
    for name, server in ours.items():
        before = servers.get(name)
        if isinstance(before, dict) and isinstance(before.get("env"), dict) and before["env"]:
            server = {**server, "env": before["env"]}
        merged_servers[name] = server
    return {**existing, "mcpServers": merged_servers}


def codex_mcp_toml() -> str:
    """The `[mcp_servers.loom]` table for $CODEX_HOME/config.toml."""
    command, args = mcp_command()
    return (f"[mcp_servers.{MCP_SERVER_NAME}]\n"
            f"command = {json.dumps(command)}\n"
            f"args = [{', '.join(json.dumps(a) for a in args)}]\n"
            "startup_timeout_sec = 20\n"
            "tool_timeout_sec = 30\n")
