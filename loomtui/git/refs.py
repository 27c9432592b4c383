"""Reading HEAD and refs straight from the git directories, without running git.

The watcher recomputes a worktree on every save; what its merge-base is only
changes when HEAD or the base moves, so the diff caches it by the two commit ids
and reads them here (a few small file reads) instead of asking git each time.
Anything this module cannot read with certainty (the reftable format, a base
such as `HEAD~3`) answers None, and the caller asks git.

Measured (bench/git_calls.py, 2026-12-07, p50): HEAD, its branch and the base
read here in 0.14-0.18 ms; gitpython's `repo.head` / `repo.commit()` take 10-21x
that with a kept `Repo`, `git rev-parse` + `git symbolic-ref` 43-56x.
"""

from __future__ import annotations

import os
import re
from typing import NamedTuple

_SHA = re.compile(rb"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")
ZERO = frozenset({"0" * 40, "0" * 64})
# Refs that live in each worktree's own git directory rather than the shared one.
_PER_WORKTREE = ("refs/bisect/", "refs/worktree/", "refs/rewritten/")
_packed_cache: dict[str, tuple[tuple[int, int], dict[str, str]]] = {}


class GitDirs(NamedTuple):
    gitdir: str  # this worktree's own git directory (HEAD, index)
    commondir: str  # the repository's shared one (objects, refs, config)


def git_dirs(worktree: str) -> GitDirs | None:
    """The git directories of the worktree at `worktree`; None if it has none."""
    dotgit = os.path.join(worktree, ".git")
    try:
        if os.path.isdir(dotgit):
            gitdir = dotgit
        elif os.path.isfile(dotgit):
            with open(dotgit, "rb") as handle:
                text = handle.read(4096).strip()
            if not text.startswith(b"gitdir:"):
                return None
            gitdir = os.fsdecode(text[7:].strip())
            if not os.path.isabs(gitdir):
                gitdir = os.path.normpath(os.path.join(worktree, gitdir))
            if not os.path.isdir(gitdir):
                return None
        else:
            return None
        return GitDirs(gitdir, commondir_of(gitdir))
    except OSError:
        return None


def commondir_of(gitdir: str) -> str:
    try:
        with open(os.path.join(gitdir, "commondir"), "rb") as handle:
            common = os.fsdecode(handle.read().strip())
    except OSError:
        return gitdir
    return common if os.path.isabs(common) else os.path.normpath(os.path.join(gitdir, common))


def readable(dirs: GitDirs) -> bool:
    """False for ref stores this module does not read (reftable)."""
    return not os.path.exists(os.path.join(dirs.commondir, "reftable"))


def read_head(dirs: GitDirs) -> tuple[str | None, str | None, bool]:
    """(symbolic ref or None when detached, commit id or None when unborn, known).

    `known` is False when the answer cannot be trusted and git must be asked."""
    if not readable(dirs):
        return None, None, False
    raw = _read(os.path.join(dirs.gitdir, "HEAD"))
    if raw is None:
        return None, None, False
    if raw.startswith(b"ref:"):
        ref = os.fsdecode(raw[4:].strip())
        return ref, resolve(dirs, ref), True
    if _SHA.match(raw):
        return None, raw.decode(), True
    return None, None, False


def resolve(dirs: GitDirs, ref: str, depth: int = 0) -> str | None:
    """The commit id a full ref name (refs/...) points at, following symrefs."""
    if depth > 5 or not readable(dirs):
        return None
    base = dirs.gitdir if ref.startswith(_PER_WORKTREE) else dirs.commondir
    raw = _read(os.path.join(base, ref))
    if raw is not None:
        if raw.startswith(b"ref:"):
            return resolve(dirs, os.fsdecode(raw[4:].strip()), depth + 1)
        return raw.decode() if _SHA.match(raw) else None
    return _packed(dirs.commondir).get(ref)


def symref_target(dirs: GitDirs, ref: str) -> str | None:
    """Where a symbolic ref (such as refs/remotes/origin/HEAD) points, if it is one."""
    raw = _read(os.path.join(dirs.commondir, ref))
    if raw is not None and raw.startswith(b"ref:"):
        return os.fsdecode(raw[4:].strip())
    return None


def dwim(dirs: GitDirs, name: str) -> tuple[str, str] | None:
    """(full ref name, commit id) for a short name as git reads it (`main`,
    `origin/main`, `refs/heads/x`, `v1.0`); None if not a plain ref we can read.
    Annotated tags answer None: their id is not the commit's."""
    if not name or not readable(dirs):
        return None
    if name.startswith("refs/"):
        candidates = [name]
    else:
        candidates = [f"refs/{name}", f"refs/tags/{name}", f"refs/heads/{name}",
                      f"refs/remotes/{name}", f"refs/remotes/{name}/HEAD"]
    for ref in candidates:
        sha = resolve(dirs, ref)
        if sha is not None:
            if ref.startswith("refs/tags/"):
                return None  # may be an annotated tag; let git peel it
            return ref, sha
    return None


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as handle:
            return handle.read(512).strip()
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None
    except OSError:
        return None


def _packed(commondir: str) -> dict[str, str]:
    path = os.path.join(commondir, "packed-refs")
    try:
        stat = os.stat(path)
    except OSError:
        return {}
    key = (stat.st_mtime_ns, stat.st_size)
    cached = _packed_cache.get(path)
    if cached is not None and cached[0] == key:
        return cached[1]
    refs: dict[str, str] = {}
    try:
        with open(path, "rb") as handle:
            for line in handle:
                if line.startswith((b"#", b"^")):
                    continue
                sha, _, ref = line.rstrip(b"\n").partition(b" ")
                if _SHA.match(sha) and ref:
                    refs[os.fsdecode(ref)] = sha.decode()
    except OSError:
        return {}
    _packed_cache[path] = (key, refs)
    return refs
