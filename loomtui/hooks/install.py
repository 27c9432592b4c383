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
from loomtui.hooks.protocol import GATE_HOOK_TIMEOUT

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


# The hook client: the command agents run on every call (hooks/launch.py starts
# hooks/client.py from its compiled cache).
CLIENT = Path(__file__).with_name("launch.py")


def hook_command(agent: str) -> str:
    """How the agent should call us: the minimal hook client, run by this interpreter
    without site packages (`-I -S`): it hands the call to the pod service, or runs the
    direct path from beside itself when no service answers."""
    return f"{shlex.quote(sys.executable)} -I -S {shlex.quote(str(CLIENT))} {agent}"


def loomtui_command() -> list[str]:
    """How to run `loomtui` itself: `loomtui` when that is what runs now, else this
    interpreter with `-m loomtui` (a virtual environment off the PATH). `-P`: the agent
    starts it in its own directory, outside its sandbox, and `-m` would put that directory
    first on sys.path (a `loomtui/` written there would be what runs)."""
    on_path = shutil.which("loomtui")
    if on_path and Path(sys.argv[0]).name == "loomtui" and \
            Path(on_path).resolve() == Path(sys.argv[0]).resolve():
        return ["loomtui"]
    return [sys.executable, "-P", "-m", "loomtui"]


def _handler(command: str, deciding: bool, asynchronous: bool = False) -> dict[str, Any]:
    handler: dict[str, Any] = {"type": "command", "command": command}
    if deciding:
        handler["timeout"] = GATE_HOOK_TIMEOUT
    if asynchronous:
        handler["async"] = True
    return handler


def claude_hooks(command: str, http: tuple[str, str] | None = None) -> dict[str, list]:
    """Claude Code's hooks table. With `http` (url, token), the events that never decide
    go to the pod service as HTTP hooks (hooks/http_hooks.py); the others keep `command`."""
    from loomtui.hooks.http_hooks import RECORD_EVENTS, TOKEN_HEADER

    hooks: dict[str, list] = {}
    for event, (matcher, deciding) in CLAUDE_EVENTS.items():
        group: dict[str, Any] = {}
        if matcher is not None:
            group["matcher"] = matcher
        if http is not None and event in RECORD_EVENTS:
            group["hooks"] = [{"type": "http", "url": http[0], "headers": {TOKEN_HEADER: http[1]},
                               "timeout": 10}]
        else:
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
    """A handler an earlier `init` wrote: `loomtui hook ...`, `-m loomtui hook ...`, the
    hook client, or an HTTP hook to the pod service."""
    if not isinstance(handler, dict):
        return False
    if handler.get("type") == "http":
        address = handler.get("url")
        return isinstance(address, str) and "/loomtui/hook/" in address
    command = handler.get("command")
    return isinstance(command, str) and ("loomtui hook " in command or CLIENT_TAIL in command)


CLIENT_TAIL = "/loomtui/hooks/launch.py "


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


# -- the MCP server ----------------------------------------------------------

MCP_SERVER_NAME = "loom"


def mcp_command() -> tuple[str, list[str]]:
    """How the agent should start `loomtui mcp`."""
    first, *rest = loomtui_command()
    return first, [*rest, "mcp"]


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


# -- the agents' own sandboxes --------------------------------------------------
#
# The boundary between an agent and its governance is the agent's OS sandbox: its
# shell commands must not write the pod directory (store, policy, config, audit) nor
# the audit witness, while the hooks, which run outside the sandbox, can. Each key
# below was checked end to end against Claude Code 2.1.332 (tests/e2e/test_sandbox_e2e.py).

def witness_dir() -> Path:
    """Where the audit witness lives ($XDG_STATE_HOME/loomtui, else ~/.local/state/loomtui)."""
    from loomtui.store.witness import witness_dir as where

    return where()


def protected_paths(pod: Path) -> list[str]:
    """The directories sandboxed commands must not write: the pod and the audit
    witness, each as given and as resolved (a symlink, `..`), absolute."""
    paths: list[str] = []
    for place in (pod, witness_dir()):
        given = Path(os.path.abspath(os.path.expanduser(os.fspath(place))))
        for candidate in (str(given), os.path.realpath(given)):
            if candidate not in paths:
                paths.append(candidate)
    return paths


def claude_sandbox(pod: Path) -> dict[str, Any]:
    """Claude Code's `sandbox` settings: on, refusing to start without it, no way
    out per command, and the pod and witness outside what commands may write."""
    return {"enabled": True, "failIfUnavailable": True, "allowUnsandboxedCommands": False,
            "filesystem": {"denyWrite": protected_paths(pod)}}


def merge_sandbox(existing: dict[str, Any], pod: Path) -> tuple[dict[str, Any], list[str]]:
    """`existing` settings with our sandbox in place: our three switches win, our
    denyWrite paths are added to any already there, every other sandbox setting is
    kept, except `filesystem.disabled` (which turns the file rules off) and looser
    switches, each of which is named in the returned notes."""
    ours = claude_sandbox(pod)
    before = existing.get("sandbox")
    if before is not None and not isinstance(before, dict):
        raise ValueError("sandbox in .claude/settings.json is not a JSON object; fix or move it, "
                         "then run again")
    sandbox = dict(before or {})
    notes = []
    for key in ("enabled", "failIfUnavailable", "allowUnsandboxedCommands"):
        if key in sandbox and sandbox[key] != ours[key]:
            notes.append(f"sandbox.{key} was {json.dumps(sandbox[key])}, now {json.dumps(ours[key])}")
        sandbox[key] = ours[key]
    filesystem = sandbox.get("filesystem")
    if filesystem is not None and not isinstance(filesystem, dict):
        raise ValueError("sandbox.filesystem in .claude/settings.json is not a JSON object; fix or "
                         "move it, then run again")
    filesystem = dict(filesystem or {})
    if filesystem.pop("disabled", False):
        notes.append("sandbox.filesystem.disabled was true (no file isolation), now removed")
    deny = filesystem.get("denyWrite") or []
    if not isinstance(deny, list):
        raise ValueError("sandbox.filesystem.denyWrite in .claude/settings.json is not a list; "
                         "fix or move it, then run again")
    filesystem["denyWrite"] = deny + [p for p in ours["filesystem"]["denyWrite"] if p not in deny]
    sandbox["filesystem"] = filesystem
    return {**existing, "sandbox": sandbox}, notes


def approve_mcp_server(existing: dict[str, Any]) -> dict[str, Any]:
    """`existing` settings with our .mcp.json server approved (`enabledMcpjsonServers`:
    Claude Code starts a project's server only once approved; it honours this list
    from the project's settings once the folder is trusted)."""
    enabled = existing.get("enabledMcpjsonServers") or []
    if not isinstance(enabled, list):
        raise ValueError("enabledMcpjsonServers in .claude/settings.json is not a list; fix or move "
                         "it, then run again")
    if MCP_SERVER_NAME in enabled:
        return existing
    return {**existing, "enabledMcpjsonServers": [*enabled, MCP_SERVER_NAME]}


def missing_sandbox_tools() -> list[str]:
    """What Claude Code's sandbox needs on Linux and this machine lacks (it then
    refuses to start, with failIfUnavailable)."""
    if not sys.platform.startswith("linux"):
        return []
    return [f"{package} ({binary})" for package, binary in (("bubblewrap", "bwrap"), ("socat", "socat"))
            if shutil.which(binary) is None]


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def codex_sandbox_toml(pod: Path, repo: Path,
                       environ: dict[str, str] | os._Environ[str] | None = None) -> tuple[str, list[str]]:
    """The sandbox lines for $CODEX_HOME/config.toml and the warnings about where
    the pod is: Codex's workspace-write lets commands write the workspace, /tmp and
    $TMPDIR (unless excluded) and `writable_roots`, and has no per-path deny."""
    env = os.environ if environ is None else environ
    paths = protected_paths(pod)
    lines = ['sandbox_mode = "workspace-write"']
    table: list[str] = []
    warnings: list[str] = []
    if any(_under(p, "/tmp") for p in paths):
        table.append("exclude_slash_tmp = true")
        warnings.append("the pod (or the audit witness) is under /tmp, which Codex's workspace-write "
                        "lets commands write unless [sandbox_workspace_write] exclude_slash_tmp = true")
    tmpdir = env.get("TMPDIR")
    if tmpdir and tmpdir.strip():
        roots = {os.path.abspath(tmpdir), os.path.realpath(tmpdir)}
        if any(_under(p, r) for p in paths for r in roots):
            table.append("exclude_tmpdir_env_var = true")
            warnings.append(f"the pod (or the audit witness) is under $TMPDIR ({tmpdir}), which "
                            "Codex's workspace-write lets commands write unless "
                            "[sandbox_workspace_write] exclude_tmpdir_env_var = true")
    repo_roots = {os.path.abspath(repo), os.path.realpath(repo)}
    if any(_under(p, r) for p in paths for r in repo_roots):
        warnings.append(f"the pod ({pod}) is inside the repository {repo}: Codex's workspace-write "
                        "lets commands write everything in the workspace and cannot exclude a "
                        "directory in it; move the pod out (set LOOM_HOME to a directory outside "
                        "every repository an agent works in) and run init again")
    if table:
        lines += ["", "[sandbox_workspace_write]", *table]
    return "\n".join(lines) + "\n", warnings
