"""`loomtui init [claude|codex] [--print]`: create the pod (directory, store,
commented config and policy); with an agent, also write its hook
configuration into the current repository."""

from __future__ import annotations

import argparse
import json
import os
import stat
import sys
from pathlib import Path

from loomtui.cli import CommandError
from loomtui.commands.common import open_pod
from loomtui.config import DEFAULT_CONFIG_TEXT, config_path
from loomtui.store.db import (
    PRIVATE_DIR_MODE,
    PRIVATE_FILE_MODE,
    SHARED_DIR_MODE,
    SHARED_FILE_MODE,
    make_pod_subdir,
    pod_dir,
    pod_is_shared,
    write_pod_file,
)


def run(args: argparse.Namespace) -> int:
    if args.agent and args.print_only:
        print(json.dumps(_agent_config(args.agent), indent=2))
        return 0
    group = _prepare_pod(pod_dir(), getattr(args, "shared", None))
    pod, conn = open_pod(create=True)
    conn.close()
    _write_once(config_path(pod), DEFAULT_CONFIG_TEXT, "config")
    from loomtui.policy import default_policy_text

    _write_once(pod / "policy.toml", default_policy_text(), "policy")
    try:
        make_pod_subdir(pod / "themes")
    except OSError as exc:
        raise CommandError(f"cannot create {pod / 'themes'}: {exc.strerror or exc}") from None
    if group is None:
        print(f"pod ready at {pod} (private to this user)")
    else:
        print(f"pod ready at {pod}, shared with group {group.gr_name}: each member sets "
              f"LOOM_HOME={pod}")
        _warn_unreachable(pod, group)
    if args.agent:
        _install(args.agent)
    return 0


def _write_once(path: Path, text: str, what: str) -> None:
    try:
        written = not path.exists() and write_pod_file(path, text, replace=False)
    except OSError as exc:
        raise CommandError(f"cannot write {path}: {exc.strerror or exc}") from None
    if written:
        print(f"{what}: wrote {path} (commented defaults)")
    else:
        print(f"{what}: {path} kept as it is")


# -- the pod's directory and modes: private (0700 / 0600) or shared with a group (2770 / 0660)


def _prepare_pod(pod: Path, shared: str | None):
    """Make the pod directory shared with group `shared` (creating or adopting it), or, without
    `shared`, keep a directory that already is shared, else make sure it is private. Existing
    files this user owns get the pod's modes. The group (a `grp.struct_group`) or None."""
    import grp

    if shared is not None:
        group = _lookup_group(shared)
        try:
            pod.parent.mkdir(parents=True, exist_ok=True)
            pod.mkdir(mode=PRIVATE_DIR_MODE, exist_ok=True)
            info = pod.stat()
            if not (pod_is_shared(pod) and info.st_gid == group.gr_gid):
                os.chown(pod, -1, group.gr_gid)
                os.chmod(pod, SHARED_DIR_MODE)  # after chown, which may clear setgid
        except OSError as exc:
            raise CommandError(
                f"cannot share {pod} with group {group.gr_name}: {exc.strerror or exc} (you must "
                f"own the directory and be a member of {group.gr_name})") from None
    elif pod_is_shared(pod):
        try:
            group = grp.getgrgid(pod.stat().st_gid)
        except (KeyError, OSError):
            raise CommandError(f"{pod} is setgid and group-writable, so a shared pod, but its "
                               "group does not exist on this system") from None
    else:
        group = None
        try:
            if pod.is_dir() and pod.stat().st_uid == os.geteuid():
                _set_mode(pod, PRIVATE_DIR_MODE)
        except OSError as exc:
            raise CommandError(f"cannot make {pod} private: {exc.strerror or exc}") from None
    if pod.is_dir():
        _fix_modes(pod, group)
    return group


def _lookup_group(name: str):
    import grp

    try:
        return grp.getgrgid(int(name)) if name.isdigit() else grp.getgrnam(name)
    except (KeyError, ValueError, OverflowError):
        raise CommandError(f"no group named {name!r} on this system (create it first, e.g. "
                           f"`groupadd {name}`, and add each supervisor to it)") from None


def _set_mode(path: Path, mode: int) -> None:
    if (path.lstat().st_mode & 0o7777) != mode:
        os.chmod(path, mode)


def _fix_modes(pod: Path, group) -> None:
    """Give what is already in the pod its modes: files 0660 and directories 2770 in the group
    when shared, 0600 / 0700 when private. Only this user's own entries can be changed; the
    others are named, never skipped silently. Symbolic links are left alone."""
    file_mode, dir_mode = ((SHARED_FILE_MODE, SHARED_DIR_MODE) if group is not None
                           else (PRIVATE_FILE_MODE, PRIVATE_DIR_MODE))
    me = os.geteuid()
    others: list[str] = []
    for root, dirs, files in os.walk(pod):
        for name, mode in [(d, dir_mode) for d in dirs] + [(f, file_mode) for f in files]:
            path = Path(root, name)
            try:
                info = path.lstat()
            except OSError:
                continue  # gone meanwhile (a -wal at its last close)
            if stat.S_ISLNK(info.st_mode):
                continue
            wrong_group = group is not None and info.st_gid != group.gr_gid
            if (info.st_mode & 0o7777) == mode and not wrong_group:
                continue
            if info.st_uid != me and me != 0:
                others.append(str(path))
                continue
            try:
                if wrong_group:
                    os.chown(path, -1, group.gr_gid, follow_symlinks=False)
                os.chmod(path, mode)
            except OSError as exc:
                raise CommandError(f"cannot set the mode of {path}: {exc.strerror or exc}") from None
    if others:
        print(f"loomtui: warning: {len(others)} file(s) in the pod belong to another user and keep "
              f"their mode until that user runs `loomtui init`: {', '.join(others[:5])}",
              file=sys.stderr)


def _warn_unreachable(pod: Path, group) -> None:
    """Members of the group must be able to enter every directory above the pod."""
    for parent in pod.resolve().parents:
        info = parent.stat()
        if info.st_mode & stat.S_IXOTH or (info.st_gid == group.gr_gid and info.st_mode & stat.S_IXGRP):
            continue
        print(f"loomtui: warning: other members of {group.gr_name} cannot reach the pod: {parent} "
              f"is not searchable by them (mode {stat.S_IMODE(info.st_mode):04o}); put the pod "
              "under a directory they can enter (LOOM_HOME=/srv/loomtui, say)", file=sys.stderr)
        return


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
