"""`loomtui init [claude|codex] [--print]`: create the pod (directory, store,
commented config and policy); with an agent, also write its hook
configuration into the current repository."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from loomtui.cli import CommandError
from loomtui.commands.common import open_pod
from loomtui.config import DEFAULT_CONFIG_TEXT, config_path


def run(args: argparse.Namespace) -> int:
    if args.agent and args.print_only:
        print(json.dumps(_agent_config(args.agent), indent=2))
        return 0
    pod, conn = open_pod(create=True)
    conn.close()
    _write_once(config_path(pod), DEFAULT_CONFIG_TEXT, "config")
    from loomtui.policy import default_policy_text

    _write_once(pod / "policy.toml", default_policy_text(), "policy")
    (pod / "themes").mkdir(exist_ok=True)
    print(f"pod ready at {pod}")
    if args.agent:
        _install(args.agent)
    return 0


def _write_once(path: Path, text: str, what: str) -> None:
    if path.exists():
        print(f"{what}: {path} kept as it is")
        return
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise CommandError(f"cannot write {path}: {exc.strerror or exc}") from None
    print(f"{what}: wrote {path} (commented defaults)")


def _repo_root() -> Path:
    from loomtui.hooks.gitinfo import locate

    place = locate(os.getcwd())
    return Path(place.worktree or os.getcwd())


def _agent_config(agent: str) -> dict:
    from loomtui.hooks import install

    command = install.hook_command(agent)
    hooks = install.claude_hooks(command) if agent == "claude" else install.codex_hooks(command)
    return {"hooks": hooks}


def _install(agent: str) -> None:
    from loomtui.hooks import install

    root = _repo_root()
    path = root / (".claude/settings.json" if agent == "claude" else ".codex/hooks.json")
    _merge_json(path, lambda existing: install.merge(existing, _agent_config(agent)["hooks"]),
                agent, "the LoomTUI hooks")
    _install_mcp(agent, root)
    print(f"{agent}: gates expire after 10 minutes, before the hook's own "
          f"{install.GATE_HOOK_TIMEOUT // 60}-minute timeout, so a gate always answers")
    if agent == "codex":
        print("codex: Codex runs a repository's hooks only in a trusted project "
              f'([projects."{root}"] trust_level = "trusted" in $CODEX_HOME/config.toml, or '
              "`codex exec --trust`), and only once the hook itself is trusted (the /hooks "
              "screen of the interactive CLI; `codex exec --dangerously-bypass-hook-trust` "
              "for automation). An untrusted hook is skipped silently.")


def _install_mcp(agent: str, root: Path) -> None:
    """The shared-memory MCP server: .mcp.json for Claude Code (merged, backed up),
    the config.toml table for Codex (printed: it lives in the user's $CODEX_HOME)."""
    from loomtui.hooks import install

    if agent == "codex":
        print("codex: add the pod's memory server to $CODEX_HOME/config.toml:\n")
        print(install.codex_mcp_toml())
        return
    _merge_json(root / ".mcp.json",
                lambda existing: install.merge_mcp(existing, install.claude_mcp_servers()),
                "claude", f"the LoomTUI memory server ({install.MCP_SERVER_NAME})")


def _merge_json(path: Path, merge, agent: str, what: str) -> None:
    """Merge our part into an agent's JSON file (keeping a backup of a changed file) and
    say what happened; errors become one sentence."""
    from loomtui.hooks import install

    try:
        existing = install.read_json(path)
        merged = merge(existing)
        backup = install.write_json(path, merged)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    except OSError as exc:
        raise CommandError(f"cannot write {path}: {exc.strerror or exc}") from None
    if backup is None and existing == merged:
        print(f"{agent}: {path} already has {what}")
    else:
        print(f"{agent}: wrote {what} into {path}"
              + (f" (previous version kept as {backup.name})" if backup else ""))
