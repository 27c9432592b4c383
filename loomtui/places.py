"""Where an agent works, read straight from the `.git` files: no gitpython, no
subprocess (this runs on every tool call of every agent).

A linked worktree has a `.git` *file* (`gitdir: <repo>/.git/worktrees/<name>`)
whose gitdir holds `commondir`, pointing back at the repository's `.git`.
"""

from __future__ import annotations

from pathlib import Path


class Place:
    """Where a directory is in git. A plain class, not a NamedTuple: creating a
    NamedTuple class compiles source (~80 µs), paid by every hook call."""

    __slots__ = ("worktree", "repo", "branch")

    def __init__(self, worktree: str | None, repo: str | None, branch: str | None) -> None:
        self.worktree = worktree  # the top of the working tree that holds cwd
        self.repo = repo  # the main working tree of the repository
        self.branch = branch  # branch name, or a short commit id when detached

    def __repr__(self) -> str:
        return f"Place(worktree={self.worktree!r}, repo={self.repo!r}, branch={self.branch!r})"


def locate(cwd: str | None) -> Place:
    """The worktree, repository and branch of `cwd`; Nones where unknown."""
    if not cwd:
        return Place(None, None, None)
    try:
        start = Path(cwd)
        for folder in (start, *start.parents):
            dotgit = folder / ".git"
            if dotgit.is_dir():
                return Place(str(folder), str(folder), _branch(dotgit))
            if dotgit.is_file():
                gitdir = _gitdir_of(dotgit)
                if gitdir is None:
                    return Place(str(folder), None, None)
                return Place(str(folder), _main_tree(gitdir), _branch(gitdir))
    except OSError:
        pass
    return Place(None, None, None)


def _gitdir_of(dotgit: Path) -> Path | None:
    text = dotgit.read_text(encoding="utf-8", errors="replace").strip()
    if not text.startswith("gitdir:"):
        return None
    gitdir = Path(text.split(":", 1)[1].strip())
    return gitdir if gitdir.is_absolute() else (dotgit.parent / gitdir).resolve()


def _main_tree(gitdir: Path) -> str | None:
    common_file = gitdir / "commondir"
    if common_file.exists():
        common = Path(common_file.read_text(encoding="utf-8").strip())
        common = common if common.is_absolute() else (gitdir / common).resolve()
    else:
        common = gitdir
    # A non-bare repository's common dir is <main tree>/.git.
    return str(common.parent) if common.name == ".git" else str(common)


def _branch(gitdir: Path) -> str | None:
    try:
        head = (gitdir / "HEAD").read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return None
    if head.startswith("ref:"):
        ref = head.split(":", 1)[1].strip()
        return ref.removeprefix("refs/heads/")
    return head[:12] or None
