"""Running git: bytes in and out, a clean environment, no optional locks.

Everything in `loomtui.git` talks to git through here. Output stays bytes
(file names need not be UTF-8); `display()` turns a path into text that is safe
for the store, JSON and the screen.

Why not gitpython: the diff needs raw `-z` bytes, two git processes running
side by side, a temporary index through the environment and no optional locks,
which `subprocess` does directly. Measured (bench/git_calls.py, 20 worktrees,
2026-12-07, p50): the diff numstat through gitpython's command wrapper ties with
this module (0.97-1.05x), its `Commit.diff()` takes 2.4-3.0x and has no line
counts, and `import git` adds 85-225 ms; so gitpython is not a dependency
(docs/architecture.md, "Why not gitpython").
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from typing import Any

# Variables that would point git at another repository, index or diff program
# than the worktree we name (loomtui may itself run inside a git hook).
_STRIP = (
    "GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_COMMON_DIR", "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_NAMESPACE", "GIT_PREFIX", "GIT_EXTERNAL_DIFF",
    "GIT_DIFF_OPTS", "GIT_LITERAL_PATHSPECS", "GIT_GLOB_PATHSPECS", "GIT_NOGLOB_PATHSPECS",
    "GIT_ICASE_PATHSPECS", "GIT_QUARANTINE_PATH",
)
# Options that keep git's output in the shape we parse whatever the user's config.
DIFF_CONFIG = (
    "-c", "diff.noprefix=false", "-c", "diff.mnemonicPrefix=false", "-c", "color.ui=never",
    "-c", "core.splitIndex=false",
)

# Put before every command: a repository's own config must not make our git run a program.
# The agent can write the config of a repository it works in (one it made in its worktree,
# or a `.git` file pointed elsewhere), and this git runs outside its sandbox. core.fsmonitor
# is a command git runs on any index refresh (diff, add); hooks are not run by the commands
# we use, the hooks path is emptied all the same.
NEUTRAL_CONFIG = ("-c", "core.fsmonitor=false", "-c", f"core.hooksPath={os.devnull}")

# The other programs a repository's config can name, run when an attribute selects them:
# clean/smudge filters and long-running filter processes (diff and add read the worktree
# through them), textconv and external diff commands (a patch), merge drivers (merge-tree).
# Before a command that may run one, each such key the config defines is emptied for that
# run (`drivers_off`), except git-lfs's own standard commands (its users' diffs must stay
# right, and the command is not the agent's to choose). docs/security.md, section 10.
DRIVER_KEYS = re.compile(r"^(filter\.(.+)\.(clean|smudge|process)|diff\.(.+)\.(textconv|command)"
                         r"|merge\.(.+)\.driver)$")
TRUSTED_DRIVERS = frozenset({
    ("filter.lfs.clean", "git-lfs clean -- %f"), ("filter.lfs.smudge", "git-lfs smudge -- %f"),
    ("filter.lfs.process", "git-lfs filter-process"),
})
# The subcommands we run that never start a driver (no worktree content read, no merge).
NO_DRIVERS = frozenset({"rev-parse", "for-each-ref", "worktree", "merge-base", "config", "symbolic-ref",
                        "write-tree", "commit-tree", "ls-files", "rev-list", "show-ref", "version",
                        "--version", "ls-tree", "update-ref"})

_GIT: str | None = None


class GitError(Exception):
    """git could not do what we asked; the message says what and why."""

    def __init__(self, message: str, returncode: int | None = None) -> None:
        super().__init__(message)
        self.returncode = returncode


def git_binary() -> str:
    global _GIT
    if _GIT is None:
        found = shutil.which("git")
        if found is None:
            raise GitError("git is not installed (no `git` on PATH)")
        _GIT = found
    return _GIT


def git_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for every git we run: no inherited repository pointers,
    no prompts, and no optional locks (so a diff never rewrites the user's index,
    never races their own git for index.lock, and never wakes our watcher)."""
    env = {k: v for k, v in os.environ.items() if k not in _STRIP}
    env.update(GIT_OPTIONAL_LOCKS="0", GIT_TERMINAL_PROMPT="0", GIT_PAGER="cat")
    if extra:
        env.update(extra)
    return env


def _subcommand(args: Sequence[str]) -> str:
    """The git subcommand in `args` (after any `-c key=value` and other global options)."""
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg in ("-c", "-C"):
            skip = True
        elif not arg.startswith("-"):
            return arg
    return ""


def drivers_off(cwd: str, env: Mapping[str, str]) -> tuple[str, ...]:
    """`-c key=` for every filter, textconv, external diff and merge driver the config seen
    from `cwd` defines (git-lfs's standard ones excepted), and `filter.X.required=false` so
    a required filter switched off is not an error. One `git config` run; nothing when it
    fails (outside a repository there is no repository config to fear)."""
    try:
        done = subprocess.run([git_binary(), *NEUTRAL_CONFIG, "config", "--null", "--get-regexp",
                               r"^(filter|diff|merge)\."], cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                              capture_output=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ()
    off: list[str] = []
    for item in done.stdout.split(b"\0"):
        key, _, value = item.partition(b"\n")
        name = key.decode("utf-8", "surrogateescape")
        match = DRIVER_KEYS.match(name)
        if not match or (name, value.decode("utf-8", "replace")) in TRUSTED_DRIVERS:
            continue
        # A merge driver must still answer: `false` (ours, not the repository's) reports a
        # conflict, which is what git's own merge would say for a file it cannot merge.
        off += ["-c", f"{name}=false" if name.startswith("merge.") else f"{name}="]
        if match.group(2):
            off += ["-c", f"filter.{match.group(2)}.required=false"]
    return tuple(off)


def start(cwd: str, args: Sequence[str], *, env: Mapping[str, str] | None = None,
          stdin: int | None = subprocess.DEVNULL, stderr: Any = subprocess.PIPE) -> subprocess.Popen[bytes]:
    """Start `git args` in `cwd`; read it with `finish()`. A command that may run a
    filter, textconv or merge driver runs with the repository's own switched off."""
    env = env or git_env()
    try:
        drivers = () if _subcommand(args) in NO_DRIVERS else drivers_off(cwd, env)
        return subprocess.Popen(
            [git_binary(), *NEUTRAL_CONFIG, *drivers, *args], cwd=cwd, env=env, stdin=stdin,
            stdout=subprocess.PIPE, stderr=stderr,
        )
    except FileNotFoundError:
        if not os.path.isdir(cwd):
            raise GitError(f"{display(cwd)} does not exist") from None
        raise GitError("git is not installed (no `git` on PATH)") from None
    except OSError as exc:
        raise GitError(f"cannot run git in {display(cwd)}: {exc.strerror or exc}") from None


def finish(proc: subprocess.Popen[bytes], args: Sequence[str], *, input: bytes | None = None,
           ok: tuple[int, ...] = (0,)) -> bytes:
    """Wait for `proc`; its stdout, or GitError with git's own message."""
    out, err = proc.communicate(input)
    if proc.returncode not in ok:
        raise GitError(_message(args, err or b"", proc.returncode), proc.returncode)
    return out


def run(cwd: str, *args: str, env: Mapping[str, str] | None = None, input: bytes | None = None,
        ok: tuple[int, ...] = (0,)) -> bytes:
    """Run `git args` in `cwd` and return its stdout (bytes)."""
    proc = start(cwd, args, env=env, stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL)
    return finish(proc, args, input=input, ok=ok)


def _message(args: Sequence[str], err: bytes, returncode: int | None) -> str:
    command = next((a for i, a in enumerate(args)
                    if not a.startswith("-") and (i == 0 or args[i - 1] != "-c")), "")
    text = err.decode("utf-8", "replace").strip().splitlines()
    # git puts the reason on the last "fatal:"/"error:" line; hints are noise here.
    lines = [line for line in text if line.startswith(("fatal:", "error:"))]
    lines = lines or [line for line in text if line.strip() and not line.startswith("hint:")]
    reason = lines[-1] if lines else f"exit status {returncode}"
    return f"git {command} failed: {reason}"


def display(path: str | bytes) -> str:
    """A path as text that is safe anywhere (store, JSON, screen): bytes that are
    not UTF-8 show as \\xNN escapes instead of raising later."""
    raw = path if isinstance(path, bytes) else os.fsencode(path)
    return raw.decode("utf-8", "backslashreplace")
