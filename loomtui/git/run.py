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
# we use, the hooks path is emptied all the same. Filters, textconv and merge drivers are
# not covered here (docs/security.md, section 10).
NEUTRAL_CONFIG = ("-c", "core.fsmonitor=false", "-c", f"core.hooksPath={os.devnull}")

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


def start(cwd: str, args: Sequence[str], *, env: Mapping[str, str] | None = None,
          stdin: int | None = subprocess.DEVNULL, stderr: Any = subprocess.PIPE) -> subprocess.Popen[bytes]:
    """Start `git args` in `cwd`; read it with `finish()`."""
    try:
        return subprocess.Popen(
            [git_binary(), *NEUTRAL_CONFIG, *args], cwd=cwd, env=env or git_env(), stdin=stdin,
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
