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

from loomtui.commands.common import open_pod
from loomtui.commands.errors import CommandError
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
        print(json.dumps(_agent_config(args.agent, pod_dir(), sandbox=not args.no_sandbox), indent=2))
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
        _install(args.agent, pod, sandbox=not getattr(args, "no_sandbox", False))
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
    from loomtui.places import locate

    place = locate(os.getcwd())
    return Path(place.worktree or os.getcwd())


_HTTP_NOTES: set[str] = set()  # said once, after the files are written


def _agent_config(agent: str, pod: Path | None = None, sandbox: bool = True) -> dict:
    """What init writes for `agent`: its hooks; for Claude Code with a pod, also the
    sandbox (unless `sandbox` is False) and the approval of the memory server."""
    from loomtui.hooks import install

    command = install.hook_command(agent)
    http = None
    if agent == "claude" and pod is not None:
        from loomtui.commands.common import read_config
        from loomtui.hooks import http_hooks

        port = read_config(pod, warn=False).serve.http_port
        if port and sandbox:
            # Claude Code 2.1 sends HTTP hooks through its sandbox's network proxy, which
            # does not reach loopback (seen end to end: "Hook cancelled"); opening loopback
            # to the sandbox would open it to the agent's commands too.
            http = None
            _HTTP_NOTES.add("[serve] http_port is set, but Claude Code's sandbox sends HTTP hooks "
                            "through its network proxy, which cannot reach 127.0.0.1: every event "
                            "keeps the command hook (the sandbox matters more); HTTP hooks are "
                            "written with --no-sandbox only")
        elif port:  # [serve] http_port: the events that never decide go to the service over HTTP
            http = (http_hooks.url(port), http_hooks.token(pod))
    hooks = install.claude_hooks(command, http) if agent == "claude" else install.codex_hooks(command)
    config: dict = {"hooks": hooks}
    if agent == "claude" and pod is not None:
        if sandbox:
            config["sandbox"] = install.claude_sandbox(pod)
        config["enabledMcpjsonServers"] = [install.MCP_SERVER_NAME]
    return config


def _install(agent: str, pod: Path, sandbox: bool = True) -> None:
    from loomtui.hooks import install

    root = _repo_root()
    if agent == "codex":
        _merge_json(root / ".codex/hooks.json",
                    lambda existing: install.merge(existing, _agent_config(agent)["hooks"]),
                    agent, "the LoomTUI hooks")
        _install_mcp(agent, root)
        _install_sandbox(agent, root, pod, sandbox)
    else:
        # One write of .claude/settings.json for everything, so its backup is the
        # file as it was before init.
        notes: list[str] = []

        def merge(existing: dict) -> dict:
            merged = install.merge(existing, _agent_config(agent, pod, sandbox)["hooks"])
            merged = install.approve_mcp_server(merged)
            if sandbox:
                merged, found = install.merge_sandbox(merged, pod)
                notes.extend(found)
            return merged

        what = ("the LoomTUI hooks, the memory server's approval (enabledMcpjsonServers) and "
                "Claude Code's sandbox (the pod and the audit witness outside what commands may "
                "write)") if sandbox else \
            "the LoomTUI hooks and the memory server's approval (enabledMcpjsonServers)"
        _merge_json(root / ".claude/settings.json", merge, agent, what)
        _install_mcp(agent, root)
        for note in [*notes, *sorted(_HTTP_NOTES)]:
            print(f"loomtui: warning: claude: {note}", file=sys.stderr)
        _install_sandbox(agent, root, pod, sandbox)
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
    # Claude Code starts a project's .mcp.json server only once it is approved: _install
    # approves ours in .claude/settings.json (honoured once the folder is trusted).
    _merge_json(root / ".mcp.json",
                lambda existing: install.merge_mcp(existing, install.claude_mcp_servers()),
                "claude", f"the LoomTUI memory server ({install.MCP_SERVER_NAME})")


_NO_SANDBOX_WARNING = (
    "loomtui: warning: --no-sandbox: {agent}'s own sandbox is not turned on, so nothing but "
    "LoomTUI's policy stands between the agent's shell commands and the pod directory ({pod}: "
    "its store, policy, config and audit) and the audit witness ({witness}). A command that "
    "hides the path (an environment variable, a script, an encoded string) can approve its own "
    "gates, loosen its policy or erase its audit trail. Run init again without --no-sandbox to "
    "restore the boundary.")


def _install_sandbox(agent: str, root: Path, pod: Path, sandbox: bool) -> None:
    """The rest of the agent's own sandbox (Claude Code's settings were merged by
    _install): printed for Codex (it lives in the user's $CODEX_HOME/config.toml), the
    tools Claude Code's needs checked. `sandbox` False opts out, loudly."""
    from loomtui.hooks import install

    if not sandbox:
        print(_NO_SANDBOX_WARNING.format(agent="Claude Code" if agent == "claude" else "Codex",
                                         pod=pod, witness=install.witness_dir()), file=sys.stderr)
        if agent == "claude":
            try:
                current = install.read_json(root / ".claude/settings.json").get("sandbox")
            except ValueError:
                current = None
            if isinstance(current, dict) and current.get("enabled") is True:
                print(f"loomtui: note: {root / '.claude/settings.json'} still turns the sandbox on "
                      "from an earlier init; --no-sandbox leaves it as it is", file=sys.stderr)
        return
    if agent == "codex":
        text, warnings = install.codex_sandbox_toml(pod, root)
        print("codex: run Codex in its workspace-write sandbox, with the pod outside what its "
              "commands may write; in $CODEX_HOME/config.toml:\n")
        print(text)
        for warning in warnings:
            print(f"loomtui: warning: codex: {warning}", file=sys.stderr)
        return
    missing = install.missing_sandbox_tools()
    if missing:
        print(f"loomtui: warning: claude: Claude Code's sandbox needs {' and '.join(missing)}, not "
              "installed here: Claude Code will refuse to start (sandbox.failIfUnavailable) until "
              "they are (Debian/Ubuntu: apt-get install bubblewrap socat)", file=sys.stderr)


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
