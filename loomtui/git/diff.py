"""A worktree's changes against its base: what `git add -N . && git diff -M
--numstat <merge-base>` would say, without touching the user's index.

How, cheaply (the watcher runs this on every save):

1. HEAD and the base are read from the git directories (`refs.py`); the
   merge-base is cached by those two commit ids, so only a commit, a rebase or a
   moved base costs a `git merge-base`.
2. Two git processes run side by side: `git diff --raw --numstat -z -M <merge-base>`
   (committed, staged and unstaged changes to tracked files, in one go) and
   `git ls-files -z --others --exclude-standard` (untracked files, .gitignore
   respected).
3. Untracked files are counted here, as git counts a new file (lines; binary if
   a NUL is in the first 8000 bytes), with a cache by stat, unless that could
   differ from git's answer:
   - git could pair an untracked file with a deleted or renamed-away one as a
     rename: decided with git's own similarity score (`similarity.py`), the
     deleted blobs read once with `git cat-file` and cached by id;
   - a gitattribute that changes diffs (`diff`, `binary`, `filter`, `ident`,
     `working-tree-encoding`) applies to an untracked file (`git check-attr`,
     run only when an attributes file exists).
   Then the diff runs again against a *copy* of the index in a temporary file,
   to which `git add -N` adds the untracked files: git's own answer, and the
   user's index is only read. Patches always take that path.

Embedded repositories and submodules are one entry each, never descended into.
Patch text (on demand) is capped per file and in total, with a marker and a flag.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import tempfile
import threading
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

from loomtui.git import refs, similarity
from loomtui.git.discovery import (
    BARE,
    DETACHED,
    ERROR,
    MISSING,
    NO_BASE,
    NO_COMMITS,
    OK,
    Worktree,
)
from loomtui.git.run import DIFF_CONFIG, GitError, display, finish, git_env, run, start
from loomtui.store.worktrees import FileChange

PATCH_LIMIT = 256 * 1024  # bytes of patch text kept per file
TOTAL_PATCH_LIMIT = 16 * 1024 * 1024  # bytes of patch text read for one worktree
BIG_FILE = 512 * 1024 * 1024  # git's core.bigFileThreshold default: bigger files are binary
FIRST_FEW_BYTES = 8000  # git looks for a NUL this far to call a file binary

STATUS = {"A": "added", "M": "modified", "D": "deleted", "R": "renamed", "C": "added",
          "T": "modified", "U": "modified"}
# Attributes that change what git diffs (`binary` is a macro that unsets `diff`).
_ATTRS = ("diff", "filter", "working-tree-encoding", "ident")
_PATCH_START = re.compile(rb"^diff --git ", re.MULTILINE)


@dataclass(frozen=True)
class DiffResult:
    """A worktree's diff against merge-base(base, HEAD), and the state it is in."""

    worktree: str
    repo: str
    branch: str | None
    head: str | None
    base: str | None
    merge_base: str | None
    state: str
    files: tuple[FileChange, ...] = ()
    error: str | None = None  # git's message when state is "error"
    untracked_via: str = "none"  # none | counted | index: how untracked files were counted
    # git's list of untracked paths (raw bytes), for `compute_diff(untracked=...)`.
    untracked: tuple[bytes, ...] = field(default=(), compare=False, repr=False)

    @property
    def added(self) -> int:
        return sum(f.added for f in self.files)

    @property
    def deleted(self) -> int:
        return sum(f.deleted for f in self.files)

    @property
    def diffable(self) -> bool:
        return self.state in (OK, DETACHED, NO_COMMITS, NO_BASE)

    def signature(self) -> tuple:
        """What the store holds of this result: equal signatures need no write."""
        return (self.repo, self.branch, self.base, self.merge_base, self.state,
                tuple((f.path, f.old_path, f.status, f.added, f.deleted, f.binary) for f in self.files))

    def as_dict(self, patches: bool = False) -> dict[str, Any]:
        return {"worktree": display(self.worktree), "base": self.base, "merge_base": self.merge_base,
                "state": self.state, "files": [f.as_dict(patches) for f in self.files]}


def compute_diff(worktree: Worktree, *, patches: bool = False, patch_limit: int = PATCH_LIMIT,
                 total_patch_limit: int = TOTAL_PATCH_LIMIT,
                 untracked: tuple[bytes, ...] | None = None) -> DiffResult:
    """The worktree's changes against merge-base(base, HEAD). Never raises for a
    repository problem: the result's state says what is wrong (missing, bare,
    error with git's message).

    `untracked`: the previous result's `untracked`, when the caller knows the set
    of untracked files cannot have changed since (the watcher: only in-place
    edits of files, no file added, removed or renamed, no ignore rules or index
    touched); spares the `git ls-files` process."""
    empty = DiffResult(worktree=worktree.path, repo=worktree.repo, branch=worktree.branch,
                       head=worktree.head, base=worktree.base, merge_base=None, state=worktree.state)
    if worktree.state == BARE:
        return empty
    dirs = refs.git_dirs(worktree.path) if os.path.isdir(worktree.path) else None
    if dirs is None:
        return replace(empty, state=MISSING)
    try:
        return _compute(worktree, dirs, patches, patch_limit, total_patch_limit, untracked)
    except GitError as exc:
        if refs.git_dirs(worktree.path) is None:  # removed while we looked
            return replace(empty, state=MISSING)
        return replace(empty, state=ERROR, error=str(exc))


def _compute(wt: Worktree, dirs: refs.GitDirs, patches: bool, patch_limit: int,
             total_limit: int, known_untracked: tuple[bytes, ...] | None) -> DiffResult:
    path = wt.path
    symref, head, known = refs.read_head(dirs)
    if not known:
        head = run(path, "rev-parse", "-q", "--verify", "HEAD", ok=(0, 1)).strip().decode() or None
        symref = run(path, "symbolic-ref", "-q", "HEAD", ok=(0, 1)).strip().decode() or None
    branch = symref.removeprefix("refs/heads/") if symref else None
    merge_base = None
    if head is None:
        state, against = NO_COMMITS, empty_tree(path, dirs.commondir)
    else:
        state = OK if branch else DETACHED
        base_sha = base_commit(path, dirs, wt.base)
        merge_base = _merge_base(path, dirs.commondir, base_sha, head) if base_sha else None
        if merge_base is None:
            state, against = NO_BASE, head
        else:
            against = merge_base

    diff_args = [*DIFF_CONFIG, "diff", "--no-color", "--no-ext-diff", "--no-textconv", "--raw", "--no-abbrev",
                 "--numstat", "-z", "-M", against, "--"]
    if known_untracked is not None:
        tracked_out = run(path, *diff_args)
        untracked = list(known_untracked)
    else:
        ls_args = ["ls-files", "-z", "--others", "--exclude-standard"]
        p_diff, p_ls = start(path, diff_args), start(path, ls_args)
        try:
            tracked_out = finish(p_diff, diff_args)
        except GitError:
            p_ls.kill()
            p_ls.communicate()
            raise
        untracked = [p for p in finish(p_ls, ls_args).split(b"\0") if p]
    all_untracked = tuple(untracked)
    entries = _parse(tracked_out)
    files = [e.change for e in entries]
    nested = [p.rstrip(b"/") for p in untracked if p.endswith(b"/")]  # embedded repositories
    plain = [p for p in untracked if not p.endswith(b"/")]

    via, env, counted = "none", None, []
    try:
        if plain and not patches and not _attributes_apply(path, dirs, plain):
            found = [_untracked(path, p) for p in plain]
            counted = [u for u in found if u is not None]
            if not _rename_possible(path, dirs, entries, counted):
                via, plain = "counted", []
        if plain:
            via, env = "index", _index_with_intent_to_add(path, dirs, plain)
            files = parse_raw_numstat(run(path, *diff_args, env=env))
            counted = []
        if patches:
            files = _attach_patches(path, against, files, env, patch_limit, total_limit)
    finally:
        if env is not None:
            shutil.rmtree(os.path.dirname(env["GIT_INDEX_FILE"]), ignore_errors=True)
    files += [u.change for u in counted]
    files += [_nested_repo(path, p, patches) for p in nested]
    files.sort(key=lambda f: os.fsencode(f.path))
    return DiffResult(worktree=path, repo=wt.repo, branch=branch, head=head, base=wt.base,
                      merge_base=merge_base, state=state, files=tuple(files), untracked_via=via,
                      untracked=all_untracked)


# -- refs: base, merge-base, empty tree ---------------------------------------------

_merge_bases: OrderedDict[tuple[str, str, str], str | None] = OrderedDict()
_empty_trees: dict[str, str] = {}
_cache_lock = threading.Lock()


def base_commit(path: str, dirs: refs.GitDirs, base: str | None) -> str | None:
    """The commit id of `base` in this repository, or None if there is no such commit."""
    if not base:
        return None
    hit = refs.dwim(dirs, base)
    if hit is not None:
        return hit[1]
    out = run(path, "rev-parse", "-q", "--verify", "--end-of-options", f"{base}^{{commit}}", ok=(0, 1))
    return out.strip().decode() or None


def _merge_base(path: str, commondir: str, base_sha: str, head: str) -> str | None:
    # Cached (a hit: 0.01 ms). A miss runs `git merge-base`, not gitpython's
    # Repo.merge_base: 1.25-1.35x slower (the same git, then objects; bench/git_calls.py).
    key = (commondir, base_sha, head)
    with _cache_lock:
        if key in _merge_bases:
            _merge_bases.move_to_end(key)
            return _merge_bases[key]
    out = run(path, "merge-base", base_sha, head, ok=(0, 1))
    found = out.strip().decode() or None
    with _cache_lock:
        _merge_bases[key] = found
        while len(_merge_bases) > 4096:
            _merge_bases.popitem(last=False)
    return found


def clear_caches() -> None:
    """Forget cached merge-bases and untracked-file counts (tests, benchmarks)."""
    with _cache_lock:
        _merge_bases.clear()
        _counts.clear()
        _blobs.clear()
        _untracked_spans.clear()
        _settings_cache.clear()


def empty_tree(path: str, commondir: str) -> str:
    """The empty tree's id in this repository's hash (SHA-1 or SHA-256)."""
    if commondir not in _empty_trees:
        out = run(path, "hash-object", "-t", "tree", "--stdin", input=b"")
        _empty_trees[commondir] = out.strip().decode()
    return _empty_trees[commondir]


# -- parsing git's output ------------------------------------------------------------

class _Entry(NamedTuple):
    change: FileChange
    source: str | None  # blob id of a deleted or renamed-away regular file: a rename source


def parse_raw_numstat(out: bytes) -> list[FileChange]:
    """Parse `git diff --raw --numstat -z` output: all raw records, then all numstat
    records, in the same order."""
    return [e.change for e in _parse(out)]


def _parse(out: bytes) -> list[_Entry]:
    tokens = out.split(b"\0")
    raws: list[tuple[list[bytes], bytes, bytes | None]] = []
    nums: list[tuple[bytes, bytes, bytes]] = []
    i, n = 0, len(tokens)
    while i < n:
        token = tokens[i]
        if not token:
            i += 1
            continue
        if token.startswith(b":"):
            meta = token[1:].split(b" ")  # old mode, new mode, old id, new id, status
            if meta[4][:1] in (b"R", b"C"):
                raws.append((meta, tokens[i + 2], tokens[i + 1]))
                i += 3
            else:
                raws.append((meta, tokens[i + 1], None))
                i += 2
        else:
            added, deleted, rest = token.split(b"\t", 2)
            if rest:
                i += 1
            else:  # a rename: the old and new paths follow
                rest = tokens[i + 2]
                i += 3
            nums.append((added, deleted, rest))
    counts = {path: (a, d) for a, d, path in nums}
    entries = []
    for meta, path, old in raws:
        added, deleted = counts.get(path, (b"0", b"0"))
        binary = added == b"-"
        letter = meta[4][:1].decode("ascii", "replace")
        change = FileChange(
            path=display(path), old_path=display(old) if old is not None else None,
            status=STATUS.get(letter, "modified"),
            added=0 if binary else int(added), deleted=0 if binary else int(deleted),
            binary=binary,
        )
        regular_source = letter in ("D", "R") and meta[0] in (b"100644", b"100755")
        entries.append(_Entry(change, meta[2].decode("ascii", "replace") if regular_source else None))
    return entries


# -- untracked files -----------------------------------------------------------------

class _Untracked(NamedTuple):
    change: FileChange
    full: bytes  # absolute path
    size: int
    key: tuple[int, int, int, int] | None  # stat key of a regular file; None for a symlink
    has_cr: bool


_counts: dict[bytes, tuple[tuple[int, int, int, int], int, bool, bool]] = {}


def _untracked(root: str, rel: bytes) -> _Untracked | None:
    """An untracked file as git would count it once added: lines, or binary."""
    full = os.path.join(os.fsencode(root), rel)
    key, has_cr, size = None, False, 0
    try:
        st = os.lstat(full)
        size = st.st_size
        if stat.S_ISLNK(st.st_mode):
            lines, binary = (1 if os.readlink(full) else 0), False  # the link's target, one line
        elif not stat.S_ISREG(st.st_mode):
            return None
        elif st.st_size > BIG_FILE:
            lines, binary = 0, True
        else:
            key = (st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_ino)
            cached = _counts.get(full)
            if cached is not None and cached[0] == key:
                lines, binary, has_cr = cached[1:]
            else:
                lines, binary, has_cr = _count_lines(full)
                with _cache_lock:
                    if len(_counts) > 100_000:
                        _counts.clear()
                    _counts[full] = (key, lines, binary, has_cr)
    except FileNotFoundError:
        return None  # gone since git listed it
    except OSError:
        lines, binary = 0, True  # unreadable: git could not diff it as text either
    change = FileChange(path=display(rel), old_path=None, status="added",
                        added=0 if binary else lines, deleted=0, binary=binary)
    return _Untracked(change, full, size, key, has_cr)


def _count_lines(full: bytes) -> tuple[int, bool, bool]:
    """(lines, binary, has a CR) as git counts an added file."""
    lines, last, first, has_cr = 0, b"\n", True, False
    with open(full, "rb") as handle:
        while chunk := handle.read(1 << 20):
            if first and b"\0" in chunk[:FIRST_FEW_BYTES]:
                return 0, True, False
            first = False
            lines += chunk.count(b"\n")
            has_cr = has_cr or b"\r" in chunk
            last = chunk[-1:]
    return lines + (last != b"\n"), False, has_cr


# -- would git see a rename involving an untracked file? ----------------------------

SPAN_BYTES_LIMIT = 8 * 1024 * 1024  # hashing more than this per diff: take the exact path
_blobs: OrderedDict[str, tuple[int, dict[int, int] | None]] = OrderedDict()
_untracked_spans: dict[bytes, tuple[tuple[int, int, int, int], dict[int, int]]] = {}


def _rename_possible(root: str, dirs: refs.GitDirs, entries: list[_Entry],
                     untracked: list[_Untracked]) -> bool:
    """Could `git add -N` of these untracked files change git's rename pairing?
    True when in doubt (the exact path is then taken; it is only slower)."""
    sources = [e.source for e in entries if e.source]
    destinations = [u for u in untracked if u.key is not None]  # regular files only
    if not sources or not destinations:
        return False
    settings = _settings(root, dirs)
    limit = settings.rename_limit
    added = sum(1 for e in entries if e.change.status in ("added", "renamed"))
    if limit > 0 and len(sources) * (added + len(destinations)) > limit * limit:
        return True  # git would skip inexact rename detection altogether
    if any(u.has_cr for u in destinations):
        return True  # autocrlf or text attributes could change its size and hash
    sizes = _blob_sizes(root, sources)
    pairs = []
    for u in destinations:
        for sha in sources:
            size = sizes.get(sha)
            if size is None:
                return True
            if size == 0 and u.size == 0:
                return True
            if similarity.size_compatible(size, u.size):
                pairs.append((sha, u))
    if not pairs:
        return False
    if sum(sizes[sha] for sha, _ in pairs) + sum(u.size for _, u in pairs) > SPAN_BYTES_LIMIT:
        return True
    spans = _blob_spans(root, {sha for sha, _ in pairs})
    for sha, u in pairs:
        src = spans.get(sha)
        dst = _file_spans(u)
        if src is None or dst is None:
            return True
        if similarity.score(sizes[sha], src, u.size, dst) >= similarity.MIN_SCORE:
            return True
    return False


def _blob_sizes(root: str, shas: list[str]) -> dict[str, int]:
    missing = [s for s in dict.fromkeys(shas) if s not in _blobs]
    if missing:
        out = run(root, "cat-file", "--batch-check", input="".join(f"{s}\n" for s in missing).encode())
        for line in out.splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[1] == b"blob":
                _remember_blob(parts[0].decode(), int(parts[2]), None)
    return {s: _blobs[s][0] for s in shas if s in _blobs}


def _blob_spans(root: str, shas: set[str]) -> dict[str, dict[int, int]]:
    missing = [s for s in shas if s in _blobs and _blobs[s][1] is None]
    if missing:
        out = run(root, "cat-file", "--batch", input="".join(f"{s}\n" for s in missing).encode())
        pos = 0
        while pos < len(out):
            newline = out.index(b"\n", pos)
            header = out[pos:newline].split()
            pos = newline + 1
            if len(header) != 3:
                continue
            size = int(header[2])
            _remember_blob(header[0].decode(), size, similarity.spans(out[pos:pos + size]))
            pos += size + 1
    return {s: _blobs[s][1] for s in shas if s in _blobs and _blobs[s][1] is not None}


def _remember_blob(sha: str, size: int, spans: dict[int, int] | None) -> None:
    with _cache_lock:
        _blobs[sha] = (size, spans)
        _blobs.move_to_end(sha)
        while len(_blobs) > 2048:
            _blobs.popitem(last=False)


def _file_spans(u: _Untracked) -> dict[int, int] | None:
    cached = _untracked_spans.get(u.full)
    if cached is not None and cached[0] == u.key:
        return cached[1]
    try:
        with open(u.full, "rb") as handle:
            data = handle.read()
    except OSError:
        return None
    if len(data) != u.size:
        return None  # changed under us: let git decide
    spans = similarity.spans(data)
    with _cache_lock:
        if len(_untracked_spans) > 10_000:
            _untracked_spans.clear()
        _untracked_spans[u.full] = (u.key, spans)  # type: ignore[assignment]
    return spans


def _nested_repo(root: str, rel: bytes, patches: bool) -> FileChange:
    """An untracked embedded repository: one gitlink entry, as `git add -N` makes it
    (its commit as one added line), never descended into."""
    dirs = refs.git_dirs(os.path.join(root, os.fsdecode(rel)))
    head = refs.read_head(dirs)[1] if dirs else None
    patch = None
    if patches:
        patch = (f"new repository {display(rel)} (not descended into)\n"
                 + (f"+Subproject commit {head}\n" if head else "(no commits)\n"))
    return FileChange(path=display(rel), old_path=None, status="added", added=1 if head else 0,
                      deleted=0, binary=False, patch=patch)


class _Settings(NamedTuple):
    attributes_file: str  # core.attributesFile, or git's default place for it
    rename_limit: int  # diff.renameLimit (git diff's default: 1000)


_settings_cache: dict[str, tuple[tuple, _Settings]] = {}


def _settings(root: str, dirs: refs.GitDirs) -> _Settings:
    """The two settings the shortcuts depend on, from `git config` (so includes and
    every config level count), cached until a config file changes.

    `git config` rather than gitpython's faster reader (0.17x of it, bench/git_calls.py):
    that reader misses GIT_CONFIG_GLOBAL, GIT_CONFIG_COUNT and config.worktree; and
    with the cache a call costs about 0.1 ms (0.05x)."""
    home = os.path.expanduser("~")
    xdg = os.environ.get("XDG_CONFIG_HOME") or os.path.join(home, ".config")
    files = (os.environ.get("GIT_CONFIG_GLOBAL") or os.path.join(home, ".gitconfig"),
             os.path.join(xdg, "git", "config"), os.environ.get("GIT_CONFIG_SYSTEM") or "/etc/gitconfig",
             os.path.join(dirs.commondir, "config"), os.path.join(dirs.gitdir, "config.worktree"))
    stamp = tuple(_mtime(f) for f in files) + (os.environ.get("GIT_CONFIG_NOSYSTEM"),)
    cached = _settings_cache.get(dirs.gitdir)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    out = run(root, "config", "-z", "--get-regexp", r"^(core\.attributesfile|diff\.renamelimit)$",
              ok=(0, 1))
    values = {}
    for record in out.split(b"\0"):
        name, _, value = record.partition(b"\n")
        if name:
            values[name.decode("ascii", "replace").lower()] = os.fsdecode(value)
    attributes = values.get("core.attributesfile") or os.path.join(xdg, "git", "attributes")
    try:
        limit = int(values.get("diff.renamelimit", "1000"))
    except ValueError:
        limit = 1000
    settings = _Settings(os.path.expanduser(attributes), limit)
    _settings_cache[dirs.gitdir] = (stamp, settings)
    return settings


def _mtime(path: str) -> int | None:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


def _attributes_apply(root: str, dirs: refs.GitDirs, plain: list[bytes]) -> bool:
    """True if a gitattribute that changes how git diffs a file applies to any
    untracked file. Asks `git check-attr` only if some attributes file exists."""
    if not _attribute_files_exist(root, dirs, plain):
        return False
    args = ["check-attr", "-z", "--stdin", *_ATTRS]
    out = run(root, *args, input=b"\0".join(plain) + b"\0")
    values = out.split(b"\0")[2::3]
    return any(v != b"unspecified" for v in values)


def _attribute_files_exist(root: str, dirs: refs.GitDirs, plain: list[bytes]) -> bool:
    if any(os.path.exists(p) for p in (_settings(root, dirs).attributes_file,
                                       os.path.join(dirs.commondir, "info", "attributes"),
                                       "/etc/gitattributes")):
        return True
    base = os.fsencode(root)
    checked: set[bytes] = set()
    for folder in {os.path.dirname(p) for p in plain}:
        while folder not in checked:
            checked.add(folder)
            if os.path.exists(os.path.join(base, folder, b".gitattributes")):
                return True
            if not folder:
                break
            folder = os.path.dirname(folder)
    return False


def _index_with_intent_to_add(path: str, dirs: refs.GitDirs, plain: list[bytes]) -> dict[str, str]:
    """A copy of the worktree's index in a temporary directory, with the untracked
    files added to it as intent-to-add (`git add -N`); returns the environment
    that points git at it. The user's index is only read. The caller removes the
    directory."""
    tmp = tempfile.mkdtemp(prefix="loomtui-index-")
    index = os.path.join(tmp, "index")
    try:
        try:
            # copy2 keeps the mtime: git judges "racily clean" entries by it, and a
            # fresh mtime would make a just-saved file of unchanged size look clean.
            shutil.copy2(os.path.join(dirs.gitdir, "index"), index)
        except FileNotFoundError:
            pass  # no index yet: git starts an empty one
        env = git_env({"GIT_INDEX_FILE": index, "GIT_LITERAL_PATHSPECS": "1"})
        run(path, *DIFF_CONFIG, "add", "-N", "--pathspec-from-file=-", "--pathspec-file-nul",
            env=env, input=b"\0".join(plain))
        return env
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


# -- patches -------------------------------------------------------------------------

def _attach_patches(path: str, against: str, files: list[FileChange], env: dict[str, str] | None,
                    patch_limit: int, total_limit: int) -> list[FileChange]:
    """Each file's patch text, in git's order (the order of `files`, as parsed)."""
    # No textconv, no external diff: programs a repository's config names (run.drivers_off)
    args = [*DIFF_CONFIG, "diff", "--no-color", "--no-ext-diff", "--no-textconv", "--submodule=short", "-p", "-M",
            against, "--"]
    with tempfile.TemporaryFile() as errors:
        proc = start(path, args, env=env, stderr=errors)
        assert proc.stdout is not None
        data = proc.stdout.read(total_limit + 1)
        cut = len(data) > total_limit
        if cut:
            proc.kill()
            data = data[:total_limit]
        proc.stdout.close()
        proc.wait()
        if not cut and proc.returncode != 0:
            errors.seek(0)
            reason = errors.read().decode("utf-8", "replace").strip().splitlines()
            raise GitError(f"git diff failed: {reason[-1] if reason else proc.returncode}")
    starts = [m.start() for m in _PATCH_START.finditer(data)]
    chunks = [data[a:b] for a, b in zip(starts, starts[1:] + [len(data)], strict=False)]
    if len(chunks) > len(files) or (not cut and len(chunks) != len(files)):
        return files  # an unexpected shape: counts without patches rather than wrong ones
    out = []
    for index, change in enumerate(files):
        if index < len(chunks):
            partial = cut and index == len(chunks) - 1
            text, truncated = _cap(chunks[index], patch_limit, partial, total_limit)
        else:
            text, truncated = _TOTAL_MARKER.format(mib=total_limit >> 20), True
        out.append(replace(change, patch=text, truncated=truncated))
    return out


_TOTAL_MARKER = "[loomtui: patch not shown: this worktree's diff is over {mib} MiB]\n"


def _cap(chunk: bytes, limit: int, partial: bool, total_limit: int) -> tuple[str, bool]:
    """The patch as text, cut to `limit` bytes at a line end with a marker."""
    if len(chunk) <= limit and not partial:
        return chunk.decode("utf-8", "replace"), False
    kept = chunk[:limit]
    newline = kept.rfind(b"\n")
    if newline > 0:
        kept = kept[: newline + 1]
    text = kept.decode("utf-8", "replace")
    if not text.endswith("\n"):
        text += "\n"
    if len(chunk) > len(kept):
        text += f"[loomtui: patch truncated: {len(chunk) - len(kept)} more bytes not shown]\n"
    if partial:
        text += _TOTAL_MARKER.format(mib=total_limit >> 20)
    return text, True
