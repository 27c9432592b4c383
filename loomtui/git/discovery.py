"""Which worktrees the pod works in, and what each one is diffed against.

Repositories come from the agents' working directories and from configured
paths; each is listed once with `git worktree list --porcelain -z`, so every
worktree shows up, with an agent or without one. Each agent maps to the
innermost worktree holding its cwd (an agent inside a submodule or an embedded
repository maps to that one; a superproject's diff never descends into them).

The base per repository: the configured one, else the default branch
(`origin/HEAD`, else `main`, else `master`); None when there is none.

Blocking (it runs git): call it from a thread worker, never on the event loop.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from loomtui.git import refs
from loomtui.git.run import GitError, display, run

# Worktree states. Diffable: ok, detached, no-commits (against the empty tree),
# no-base (uncommitted changes against HEAD). Not diffable: missing, bare, error.
OK, DETACHED, NO_COMMITS, NO_BASE = "ok", "detached", "no-commits", "no-base"
MISSING, BARE, ERROR = "missing", "bare", "error"
STATES = (OK, DETACHED, NO_COMMITS, NO_BASE, MISSING, BARE, ERROR)


@dataclass(frozen=True)
class Worktree:
    """One working tree of a repository, as discovery found it."""

    path: str  # top of the working tree (for a bare repository: the repository)
    repo: str  # the repository: its main worktree, or the bare repository's path
    head: str | None = None  # commit id; None when there are no commits
    branch: str | None = None  # short branch name; None when detached
    state: str = OK
    base: str | None = None  # what it is diffed against, as configured or found
    base_ref: str | None = None  # the base's full ref name, when it is a ref we can watch
    gitdir: str | None = None  # its own git directory (HEAD, index)
    commondir: str | None = None  # the repository's shared git directory (refs)
    locked: bool = False
    agents: tuple[int, ...] = field(default=())  # ids of agents whose cwd is in it

    @property
    def name(self) -> str:
        return display(os.path.basename(self.path.rstrip(os.sep)) or self.path)


def discover(agents: Iterable[object] = (), repos: Iterable[str] = (),
             bases: Mapping[str, str] | None = None) -> list[Worktree]:
    """Every worktree of every repository the agents work in or `repos` names.

    `agents`: objects with `id` and `cwd` (and optionally `worktree`, `repo`), such
    as `store.agents.Agent` rows. `repos`: paths of repositories (any directory
    inside one) from config. `bases`: {repository path: base}, overriding the
    default branch for that repository (keys may be any path of the repository's
    main worktree; they are compared after resolving symlinks).

    Never raises for a bad repository: places that are not in a repository are
    skipped; a repository git cannot list is skipped too (its worktrees stay
    whatever the store last said).
    """
    overrides = {_real(k): v for k, v in (bases or {}).items()}
    found: dict[str, Worktree] = {}  # by path
    listed_repos: set[str] = set()
    mapping: dict[str, list[int]] = {}

    def ensure_listed(place: str) -> None:
        if _containing(found, place) is not None:
            return
        try:
            entries = list_worktrees(place, overrides)
        except GitError:
            return
        if entries and entries[0].repo not in listed_repos:
            listed_repos.add(entries[0].repo)
            for entry in entries:
                found.setdefault(entry.path, entry)

    for repo in repos:
        if os.path.isdir(repo):
            ensure_listed(_real(repo))
    for agent in agents:
        agent_id = int(agent.id)
        cwd, recorded, repo = (getattr(agent, name, None) for name in ("cwd", "worktree", "repo"))
        place = next((p for p in (cwd, recorded) if p and os.path.isdir(p)), None)
        if place is not None:
            place = _real(place)
            ensure_listed(place)
            holder = _containing(found, place)
            if holder is not None:
                mapping.setdefault(holder.path, []).append(agent_id)
        elif recorded:
            # Its directory is gone: list the repository to show the worktree as missing.
            if repo and os.path.isdir(repo):
                ensure_listed(_real(repo))
            path = _real(recorded)
            if path in found:
                mapping.setdefault(path, []).append(agent_id)
    result = []
    for path, entry in found.items():
        ids = tuple(sorted(set(mapping.get(path, ()))))
        result.append(replace(entry, agents=ids) if ids else entry)
    result.sort(key=lambda w: (w.repo, w.path != w.repo, w.path))
    return result


def worktree_at(place: str, bases: Mapping[str, str] | None = None) -> Worktree:
    """The worktree holding `place` (any directory inside it); GitError if none."""
    overrides = {_real(k): v for k, v in (bases or {}).items()}
    real = _real(place)
    entries = list_worktrees(real, overrides)
    holder = _containing({e.path: e for e in entries}, real)
    if holder is None:
        raise GitError(f"{display(place)} is not inside a worktree of its repository")
    return holder


def list_worktrees(place: str, bases: Mapping[str, str] | None = None) -> list[Worktree]:
    """All worktrees of the repository holding `place`, main one first.

    `bases` keys must already be real paths (see `discover`)."""
    try:
        out = run(place, "worktree", "list", "--porcelain", "-z")
        records = [r for r in out.split(b"\0\0") if r.strip(b"\0")]
        lines_of = [r.split(b"\0") for r in records]
    except GitError as exc:
        if "unknown switch" not in str(exc):
            raise
        out = run(place, "worktree", "list", "--porcelain")  # git before 2.36
        lines_of = [r.split(b"\n") for r in out.split(b"\n\n") if r.strip()]
    entries = [_parse_record(lines) for lines in lines_of]
    entries = [e for e in entries if e is not None]
    if not entries:
        return []
    repo = entries[0].path
    main_dirs = refs.git_dirs(repo) if entries[0].state != BARE else refs.GitDirs(repo, repo)
    commondir = main_dirs.commondir if main_dirs else None
    if commondir is None:
        for entry in entries:
            if entry.gitdir:
                commondir = refs.commondir_of(entry.gitdir)
                break
    base = bases.get(repo) if bases else None
    base, base_ref = resolve_base(repo, commondir, base)
    out_entries = []
    for entry in entries:
        state = entry.state
        if state == OK and not entry.head:
            state = NO_COMMITS
        elif state == OK and entry.branch is None:
            state = DETACHED
        if state in (OK, DETACHED) and base is None:
            state = NO_BASE
        out_entries.append(replace(entry, repo=repo, state=state, base=base, base_ref=base_ref,
                                   commondir=commondir))
    return out_entries


def resolve_base(repo: str, commondir: str | None, configured: str | None) -> tuple[str | None, str | None]:
    """(base, its full ref name or None). The configured base wins; else origin/HEAD's
    target, else main, else master; (None, None) when the repository has none."""
    dirs = refs.GitDirs(commondir, commondir) if commondir else None
    if configured:
        hit = refs.dwim(dirs, configured) if dirs else None
        return configured, hit[0] if hit else None
    if dirs is not None and refs.readable(dirs):
        target = refs.symref_target(dirs, "refs/remotes/origin/HEAD")
        if target and refs.resolve(dirs, target):
            return target.removeprefix("refs/remotes/"), target
        for name in ("main", "master"):
            if refs.resolve(dirs, f"refs/heads/{name}"):
                return name, f"refs/heads/{name}"
        return None, None
    # A ref store we do not read (reftable): ask git.
    try:
        out = run(repo, "for-each-ref", "--format=%(refname)%00%(symref)",
                  "refs/remotes/origin/HEAD", "refs/heads/main", "refs/heads/master")
    except GitError:
        return None, None
    found = dict(line.split(b"\0", 1) for line in out.splitlines() if b"\0" in line)
    target = found.get(b"refs/remotes/origin/HEAD")
    if target:
        name = target.decode("utf-8", "replace")
        return name.removeprefix("refs/remotes/"), name
    for name in ("main", "master"):
        if f"refs/heads/{name}".encode() in found:
            return name, f"refs/heads/{name}"
    return None, None


def _parse_record(lines: list[bytes]) -> Worktree | None:
    path = head = branch = None
    state, locked, bare = OK, False, False
    for line in lines:
        key, _, value = line.partition(b" ")
        if key == b"worktree":
            path = os.fsdecode(value)
        elif key == b"HEAD":
            sha = value.decode("ascii", "replace")
            head = None if sha in refs.ZERO else sha
        elif key == b"branch":
            branch = os.fsdecode(value).removeprefix("refs/heads/")
        elif key == b"bare":
            bare = True
        elif key == b"locked":
            locked = True
        elif key == b"prunable":
            state = MISSING
    if path is None:
        return None
    if bare:
        return Worktree(path=path, repo=path, state=BARE, gitdir=path, commondir=path)
    if os.path.isfile(os.path.join(path, "HEAD")) and not os.path.lexists(os.path.join(path, ".git")):
        # A submodule's main worktree is listed as its git directory (under the
        # superproject's .git/modules); its core.worktree says where it really is.
        try:
            path = os.fsdecode(run(path, "rev-parse", "--show-toplevel").rstrip(b"\n"))
        except GitError:
            pass
    if state != MISSING and not os.path.isdir(path):
        state = MISSING
    dirs = refs.git_dirs(path) if state != MISSING else None
    if state != MISSING and dirs is None:
        state = MISSING
    return Worktree(path=path, repo=path, head=head, branch=branch, state=state, locked=locked,
                    gitdir=dirs.gitdir if dirs else None,
                    commondir=dirs.commondir if dirs else None)


def _containing(found: Mapping[str, Worktree], place: str) -> Worktree | None:
    """The innermost known worktree holding `place`, unless a nested repository
    (a submodule, an embedded clone, a worktree we have not listed) lies between:
    then None, so that the caller lists that repository."""
    best: Worktree | None = None
    for path, entry in found.items():
        if entry.state == BARE:
            continue
        inside = place == path or place.startswith(path.rstrip(os.sep) + os.sep)
        if inside and (best is None or len(path) > len(best.path)):
            best = entry
    if best is None:
        return None
    folder = place
    while folder != best.path and len(folder) > len(best.path):
        if os.path.lexists(os.path.join(folder, ".git")):
            return None
        folder = os.path.dirname(folder)
    return best


def _real(path: str) -> str:
    return os.path.realpath(path)
