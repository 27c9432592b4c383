"""Real git repositories in temporary directories, and git's own answer to compare with.

`reference(worktree, against)` is the issue's definition of a worktree's diff,
run for real: `git add -N . && git diff --numstat -M <against>` in the worktree
itself, after which the index file is put back byte for byte.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Loom Test",
    "GIT_AUTHOR_EMAIL": "test@loomtui.invalid",
    "GIT_COMMITTER_NAME": "Loom Test",
    "GIT_COMMITTER_EMAIL": "test@loomtui.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
}


def isolate(monkeypatch, home: Path) -> None:
    """No user or system git config, a fixed identity, an empty HOME."""
    home.mkdir(exist_ok=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    for key, value in GIT_ENV.items():
        monkeypatch.setenv(key, value)


def gitb(cwd: Path | str, *args: str | bytes, input: bytes | None = None,
         env: dict[str, str] | None = None) -> bytes:
    done = subprocess.run(["git", *args], cwd=cwd, input=input, capture_output=True, check=False,
                          env={**os.environ, **GIT_ENV, **(env or {})})
    if done.returncode != 0:
        raise RuntimeError(f"git {args!r} failed in {cwd}: {done.stderr.decode(errors='replace')}")
    return done.stdout


def git(cwd: Path | str, *args: str) -> str:
    return gitb(cwd, *args).decode().strip()


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        path.write_text(content)
    else:
        path.write_bytes(content)
    return path


def make_repo(path: Path, files: dict[str, str | bytes] | None = None, branch: str = "main") -> Path:
    """A repository with one commit of `files` on `branch`."""
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", branch)
    for name, content in (files or {"README.md": "# repo\n"}).items():
        write(path / name, content)
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "initial")
    return path


def add_worktree(repo: Path, path: Path, branch: str, start: str = "main") -> Path:
    git(repo, "worktree", "add", "-q", "-b", branch, str(path), start)
    return path


def commit_all(cwd: Path, message: str) -> str:
    git(cwd, "add", "-A")
    git(cwd, "commit", "-q", "-m", message)
    return git(cwd, "rev-parse", "HEAD")


def index_file(worktree: Path) -> Path:
    return Path(git(worktree, "rev-parse", "--path-format=absolute", "--git-path", "index"))


def parse_numstat_z(out: bytes) -> dict[str, tuple[int | None, int | None, str | None]]:
    """{path: (added, deleted, old_path)}; counts None for binary files."""
    result = {}
    tokens = out.split(b"\0")
    i = 0
    while i < len(tokens):
        if not tokens[i]:
            i += 1
            continue
        added, deleted, path = tokens[i].split(b"\t", 2)
        old = None
        if not path:
            old, path = tokens[i + 1], tokens[i + 2]
            i += 3
        else:
            i += 1
        key = path.decode("utf-8", "backslashreplace")
        result[key] = (None if added == b"-" else int(added), None if deleted == b"-" else int(deleted),
                       old.decode("utf-8", "backslashreplace") if old is not None else None)
    return result


def reference(worktree: Path, against: str) -> dict[str, tuple[int | None, int | None, str | None]]:
    """git's own numbers: `git add -N . && git diff --numstat -M <against>`, index restored."""
    index = index_file(worktree)
    saved = index.read_bytes() if index.exists() else None
    try:
        gitb(worktree, "add", "-N", ".")
        return parse_numstat_z(gitb(worktree, "diff", "--numstat", "-z", "-M", against))
    finally:
        if saved is None:
            index.unlink(missing_ok=True)
        else:
            index.write_bytes(saved)


def ours(result) -> dict[str, tuple[int | None, int | None, str | None]]:
    """A DiffResult in the same shape as `reference`."""
    return {f.path: ((None, None) if f.binary else (f.added, f.deleted)) + (f.old_path,)
            for f in result.files}
