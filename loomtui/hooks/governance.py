"""Each agent's governance, as its own settings say: is its OS
sandbox on, and are LoomTUI's deciding hooks still installed. Read once at session
start; the permission mode arrives with every hook event.

Values, stored on the agent (`agents.sandbox`, `agents.hooks`; '' = not inspected):
- sandbox: `on` (a real boundary), `weak` (on, but a command can leave it, or it
  runs unsandboxed when the sandbox cannot start), `off`, `unknown` (a settings
  file that decides it could not be read or parsed).
- hooks: `installed` (every deciding event runs `loomtui hook`), `partial` (some
  do), `missing` (none), `disabled` (the agent's settings switch hooks off),
  `unknown` (unreadable settings).

Stdlib only and cheap: the hook runs this at SessionStart. tomllib is imported only
for Codex.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

# The events where our hook decides: without both, an agent's call can skip the policy.
from loomtui.hooks.protocol import DECIDING_EVENTS

# Claude Code's managed settings on Linux (highest precedence; absent on most boxes).
MANAGED_SETTINGS = Path("/etc/claude-code/managed-settings.json")

# Permission modes in which Claude Code runs calls without asking anyone: bypassPermissions
# (everything) and auto (a classifier approves instead of a person). `dontAsk` is not one:
# it denies whatever would prompt. default, plan and acceptEdits ask as usual.
LOOSE_MODES = frozenset({"bypassPermissions", "auto"})

SANDBOX_NOTES = {"off": "no sandbox", "weak": "sandbox weak", "unknown": "sandbox unknown"}
HOOKS_FLAGGED = frozenset({"partial", "missing", "disabled", "unknown"})

_BAD = object()  # a file that exists but cannot be read or parsed


def inspect_settings(kind: str, cwd: str | None, environ: Mapping[str, str], *,
                     managed: Path | None = MANAGED_SETTINGS) -> tuple[str, str]:
    """(sandbox, hooks) for an agent of `kind` working in `cwd`, from its settings files.

    Never raises: a bad or unreadable file makes the part it decides `unknown`."""
    try:
        if kind == "claude":
            return _claude(cwd, environ, managed)
        if kind == "codex":
            return _codex(cwd, environ)
    except Exception:  # noqa: BLE001 - governance is informative; never break the hook
        return "unknown", "unknown"
    return "", ""  # aider, scripts, the simulator: nothing to inspect


# -- Claude Code -------------------------------------------------------------------


def _claude(cwd: str | None, environ: Mapping[str, str], managed: Path | None) -> tuple[str, str]:
    config = environ.get("CLAUDE_CONFIG_DIR") or str(_home(environ) / ".claude")
    project = environ.get("CLAUDE_PROJECT_DIR") or _project_root(cwd, ".claude")
    # Lowest precedence first: user, project, local project, managed.
    paths = [Path(config) / "settings.json"]
    if project:
        paths += [Path(project) / ".claude" / "settings.json",
                  Path(project) / ".claude" / "settings.local.json"]
    layers = [_read_json(p) for p in paths]
    managed_layer = _read_json(managed) if managed is not None else None
    layers.append(managed_layer)
    if any(layer is _BAD for layer in layers):
        # Each Claude settings file may hold both parts: neither can be vouched for.
        return "unknown", "unknown"
    present = [layer for layer in layers if layer]
    merged: dict[str, Any] = {}
    for layer in present:
        _deep_merge(merged, layer)
    sandbox = _claude_sandbox(merged.get("sandbox"))
    if merged.get("disableAllHooks") is True:
        return sandbox, "disabled"
    if isinstance(managed_layer, dict) and managed_layer.get("allowManagedHooksOnly") is True:
        present = [managed_layer]  # only managed hooks run
    return sandbox, _hooks_state([layer.get("hooks") for layer in present])


def _claude_sandbox(sandbox: Any) -> str:
    if not isinstance(sandbox, dict) or sandbox.get("enabled") is not True:
        return "off"
    # Claude Code's defaults: a failed sandbox start runs commands unsandboxed, and
    # `dangerouslyDisableSandbox` may take a command out of it.
    if sandbox.get("failIfUnavailable") is not True or sandbox.get("allowUnsandboxedCommands") is not False:
        return "weak"
    if sandbox.get("enableWeakerNestedSandbox") is True:
        return "weak"
    return "on"


def _deep_merge(into: dict[str, Any], layer: dict[str, Any]) -> None:
    """Later (higher precedence) scalars win; objects merge key by key."""
    for key, value in layer.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            merged = dict(into[key])
            _deep_merge(merged, value)
            into[key] = merged
        else:
            into[key] = value


# -- Codex ----------------------------------------------------------------------------


def _codex(cwd: str | None, environ: Mapping[str, str]) -> tuple[str, str]:
    home = Path(environ.get("CODEX_HOME") or _home(environ) / ".codex")
    project = _project_root(cwd, ".codex")
    config_paths = [home / "config.toml"]
    hook_paths = [home / "hooks.json"]
    if project:
        config_paths.append(Path(project) / ".codex" / "config.toml")
        hook_paths.append(Path(project) / ".codex" / "hooks.json")
    configs = [_read_toml(p) for p in config_paths]
    hook_files = [_read_json(p) for p in hook_paths]

    if any(c is _BAD for c in configs):
        sandbox, features_bad = "unknown", True
    else:
        sandbox, features_bad = _codex_sandbox([c for c in configs if c]), False
    if features_bad or any(h is _BAD for h in hook_files):
        return sandbox, "unknown"
    merged: dict[str, Any] = {}
    for config in configs:
        if config:
            _deep_merge(merged, config)
    features = merged.get("features")
    if isinstance(features, dict) and (features.get("hooks") is False or features.get("codex_hooks") is False):
        return sandbox, "disabled"
    tables = [h.get("hooks") for h in hook_files if h]
    tables += [c.get("hooks") for c in configs if c]  # inline [hooks] tables in config.toml
    return sandbox, _hooks_state(tables)


def _codex_sandbox(configs: list[dict[str, Any]]) -> str:
    """`sandbox_mode` as the last config (project over user) and its active profile set it.
    Absent, Codex's default applies: read-only (workspace-write in a trusted
    project), a sandbox either way, so `on`."""
    mode: Any = None
    for config in configs:
        mode = config.get("sandbox_mode", mode)
        profile = config.get("profile")
        profiles = config.get("profiles")
        if isinstance(profile, str) and isinstance(profiles, dict) and isinstance(profiles.get(profile), dict):
            mode = profiles[profile].get("sandbox_mode", mode)
    if mode is None or mode in ("workspace-write", "read-only"):
        return "on"
    if mode == "danger-full-access":
        return "off"
    return "unknown"


# -- hooks ----------------------------------------------------------------------------


def _hooks_state(tables: list[Any]) -> str:
    """installed / partial / missing, from every file's `hooks` table (they all run)."""
    covered = dict.fromkeys(DECIDING_EVENTS, "none")
    for table in tables:
        if not isinstance(table, dict):
            continue
        for event in DECIDING_EVENTS:
            groups = table.get(event)
            if not isinstance(groups, list):
                continue
            for group in groups:
                if not isinstance(group, dict) or not isinstance(group.get("hooks"), list):
                    continue
                if not any(_runs_loomtui(h) for h in group["hooks"]):
                    continue
                if _matches_every_tool(group.get("matcher")):
                    covered[event] = "all"
                elif covered[event] == "none":
                    covered[event] = "some"
    states = set(covered.values())
    if states == {"all"}:
        return "installed"
    if states == {"none"}:
        return "missing"
    return "partial"


def _matches_every_tool(matcher: Any) -> bool:
    return matcher is None or matcher in ("", "*", ".*")


def _runs_loomtui(handler: Any) -> bool:
    """A command handler that runs `loomtui hook ...`, `python -m loomtui hook ...` or
    the hook client (after any `VAR=value` or `env` prefix)."""
    if not isinstance(handler, dict) or handler.get("type", "command") != "command":
        return False
    command = handler.get("command")
    if not isinstance(command, str):
        return False
    if any(c in command for c in "'\"\\"):
        import shlex  # quoting is rare (a path with spaces): the hook's SessionStart stays lean

        try:
            words = shlex.split(command)
        except ValueError:
            return False
    else:
        words = command.split()
    while words and (("=" in words[0] and not words[0].startswith("=")) or words[0] == "env"):
        words = words[1:]
    if len(words) >= 2 and os.path.basename(words[0]) == "loomtui" and words[1] == "hook":
        return True
    if any(w.endswith("/loomtui/hooks/launch.py") and words[i + 1:i + 2] in (["claude"], ["codex"])
           for i, w in enumerate(words)):
        return True  # the hook client `init` writes: python3 -I -S .../loomtui/hooks/launch.py claude
    return any(words[i:i + 3] == ["-m", "loomtui", "hook"] for i in range(1, len(words) - 2))


# -- files ----------------------------------------------------------------------------


def _home(environ: Mapping[str, str]) -> Path:
    return Path(environ.get("HOME") or Path.home())


def _project_root(cwd: str | None, marker: str) -> str | None:
    """The nearest directory from `cwd` up holding `marker/` (.claude, .codex) or `.git`."""
    if not cwd:
        return None
    here = Path(cwd)
    if not here.is_absolute():
        return None
    for place in (here, *here.parents):
        try:
            if (place / marker).is_dir() or (place / ".git").exists():
                return str(place)
        except OSError:
            return None
    return None


def _read_json(path: Path) -> Any:
    """The file's object; None when absent; _BAD when unreadable, not JSON or not an object."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError):
        return _BAD
    return json_object(text)


def json_object(data: str | bytes) -> Any:
    """A settings object from a file's text or bytes; _BAD when not JSON or not an object."""
    try:
        value = json.loads(data)
    except (ValueError, RecursionError):
        return _BAD
    return value if isinstance(value, dict) else _BAD


def _read_toml(path: Path) -> Any:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError:
        return _BAD
    import tomllib  # only Codex sessions pay for it

    try:
        return tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError, RecursionError):
        return _BAD


# -- what the console and the inbox show -------------------------------------------------


def governance_note(permission_mode: str | None, sandbox: str | None, hooks: str | None,
                    tool_input: Mapping[str, Any] | None = None) -> str:
    """The short text a gate carries, e.g. "no sandbox · bypassPermissions · asks to leave
    the sandbox"; '' when all is well (or not known yet: '' fields)."""
    parts = []
    if sandbox in SANDBOX_NOTES:
        parts.append(SANDBOX_NOTES[sandbox])
    if permission_mode in LOOSE_MODES:
        parts.append(str(permission_mode))
    if hooks in HOOKS_FLAGGED:
        parts.append(f"hooks {hooks}")
    if isinstance(tool_input, Mapping) and tool_input.get("dangerouslyDisableSandbox") is True:
        parts.append("asks to leave the sandbox")
    return " · ".join(parts)


def is_ungoverned(permission_mode: str | None, sandbox: str | None, hooks: str | None) -> bool:
    """True when something weakens the agent's governance (the fleet's mark). Fields not
    inspected yet ('') do not count."""
    return bool(governance_note(permission_mode, sandbox, hooks))
