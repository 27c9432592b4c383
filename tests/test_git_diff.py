"""Diffs against real repositories, each checked against git's own numbers:
`git add -N . && git diff --numstat -M <merge-base>` run in the same worktree
(index put back afterwards). And the user's index is never written by us."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from loomtui.git import diff as diffmod
from loomtui.git.diff import compute_diff, parse_raw_numstat
from loomtui.git.discovery import (
    DETACHED,
    MISSING,
    NO_BASE,
    NO_COMMITS,
    OK,
    worktree_at,
)
from tests.gitrepos import (
    add_worktree,
    commit_all,
    git,
    gitb,
    index_file,
    isolate,
    make_repo,
    ours,
    reference,
    write,
)

BASE_FILES = {
    "README.md": "# shop\n",
    "src/app.py": "".join(f"line {i}\n" for i in range(40)),
    "src/util.py": "def f():\n    return 1\n",
    "src/old_name.py": "".join(f"value_{i} = {i}\n" for i in range(30)),
    "src/moved_by_mv.py": "".join(f"kept_{i} = {i}\n" for i in range(25)),
    "docs/guide.md": "guide\n" * 10,
    "assets/logo.bin": b"\x89PNG\x00\x01\x02" * 50,
    "remove_me.txt": "bye\n" * 3,
}


@pytest.fixture(autouse=True)
def _git_env(monkeypatch, tmp_path):
    isolate(monkeypatch, tmp_path / "home")
    diffmod.clear_caches()


@pytest.fixture
def shop(tmp_path) -> Path:
    return make_repo(tmp_path / "shop", BASE_FILES)


def check(worktree: Path, **kwargs):
    """compute_diff equals git's reference, and leaves the index untouched."""
    index = index_file(worktree)
    before = index.read_bytes() if index.exists() else None
    result = compute_diff(worktree_at(str(worktree)), **kwargs)
    after = index.read_bytes() if index.exists() else None
    assert before == after, "compute_diff wrote the user's index"
    against = result.merge_base or result.head or git(worktree, "hash-object", "-t", "tree", "/dev/null")
    assert ours(result) == reference(worktree, against)
    return result


def test_every_kind_of_change_equals_git(shop, tmp_path):
    wt = add_worktree(shop, tmp_path / "wt" / "a", "agent/a")
    # committed on the branch
    write(wt / "src/util.py", "def f():\n    return 2\n\ndef g():\n    pass\n")
    git(wt, "mv", "src/old_name.py", "src/new_name.py")
    write(wt / "src/new_name.py", (wt / "src/new_name.py").read_text() + "extra = 1\n")
    git(wt, "rm", "-q", "remove_me.txt")
    commit_all(wt, "work")
    # staged only (new file added to the index), staged modification, then more unstaged
    write(wt / "src/staged.py", "s = 1\ns = 2\n")
    write(wt / "docs/guide.md", "guide\n" * 8 + "changed\n")
    git(wt, "add", "src/staged.py", "docs/guide.md")
    write(wt / "src/app.py", "".join(f"line {i}\n" for i in range(35)) + "tail\n")
    # tracked binary changed, untracked binary, untracked text in a new folder, ignored
    write(wt / "assets/logo.bin", b"\x89PNG\x00\x09" * 70)
    write(wt / "assets/new.bin", b"\x00\x01binary")
    write(wt / "src/feature/new_module.py", "a = 1\nb = 2\nc = 3")  # no final newline
    write(wt / "empty.txt", "")
    os.symlink("src/app.py", wt / "link-to-app")
    write(wt / ".gitignore", "*.log\nbuild/\n")
    write(wt / "debug.log", "ignored\n")
    write(wt / "build/out.txt", "ignored\n")
    # a rename done with mv: only git's rename detection over untracked files pairs it
    shutil.move(wt / "src/moved_by_mv.py", wt / "src/moved_here.py")

    result = check(wt)
    files = {f.path: f for f in result.files}
    assert result.state == OK and result.base == "main" and result.branch == "agent/a"
    assert result.merge_base == git(shop, "rev-parse", "main")
    assert files["src/new_name.py"].status == "renamed"
    assert files["src/new_name.py"].old_path == "src/old_name.py"
    assert files["src/moved_here.py"].status == "renamed"  # untracked + deleted, paired as git does
    assert files["remove_me.txt"].status == "deleted" and files["remove_me.txt"].deleted == 3
    assert files["src/staged.py"].status == "added" and files["src/staged.py"].added == 2
    assert files["src/feature/new_module.py"].added == 3
    assert files["assets/logo.bin"].binary and files["assets/logo.bin"].status == "modified"
    assert files["assets/new.bin"].binary and files["assets/new.bin"].status == "added"
    assert "debug.log" not in files and "build/out.txt" not in files
    assert result.untracked_via == "index"


def test_untracked_files_are_counted_without_git_when_that_is_exact(shop, tmp_path):
    wt = add_worktree(shop, tmp_path / "wt", "b")
    write(wt / "src/app.py", "changed\n")
    write(wt / "new/a.py", "x\n" * 7)
    write(wt / "new/b.bin", b"abc\x00def")
    write(wt / "new/crlf.txt", b"one\r\ntwo\r\nthree")
    write(wt / "big.txt", "y\n" * 200_000)
    result = check(wt)
    assert result.untracked_via == "counted"
    assert {f.path: f.added for f in result.files}["big.txt"] == 200_000
    # The count cache is keyed by the file's stat: an edit is seen.
    write(wt / "new/a.py", "x\n" * 9)
    assert check(wt).untracked_via == "counted"


def test_gitattributes_on_untracked_files_are_respected(shop, tmp_path):
    wt = add_worktree(shop, tmp_path / "wt", "attrs")
    write(wt / ".gitattributes", "*.dat -diff\n")
    write(wt / "table.dat", "plain text\nbut marked binary\n")
    write(wt / "notes.txt", "text\n")
    result = check(wt)
    assert {f.path: f.binary for f in result.files}["table.dat"] is True
    assert result.untracked_via == "index"


def test_base_that_moves_after_a_rebase(shop, tmp_path):
    wt = add_worktree(shop, tmp_path / "wt", "feature")
    write(wt / "src/util.py", "def f():\n    return 3\n")
    commit_all(wt, "feature work")
    first = check(wt)
    assert first.merge_base == git(shop, "rev-parse", "main~0")
    # main moves on (another change lands), then the feature branch is rebased onto it
    write(shop / "README.md", "# shop\nnew intro\n")
    commit_all(shop, "main moves")
    stale = check(wt)  # before the rebase: same merge-base, main's change not ours
    assert stale.merge_base == first.merge_base and "README.md" not in {f.path for f in stale.files}
    git(wt, "rebase", "-q", "main")
    moved = check(wt)
    assert moved.merge_base == git(shop, "rev-parse", "main") != first.merge_base
    assert [f.path for f in moved.files] == ["src/util.py"]


def test_detached_head_no_commits_no_base(shop, tmp_path):
    wt = add_worktree(shop, tmp_path / "wt", "det")
    write(wt / "src/app.py", "x\n")
    commit_all(wt, "one")
    git(wt, "checkout", "-q", "--detach")
    write(wt / "README.md", "changed\n")
    detached = check(wt)
    assert detached.state == DETACHED and detached.branch is None
    assert {f.path for f in detached.files} == {"src/app.py", "README.md"}

    empty = tmp_path / "empty"
    git(tmp_path, "init", "-q", "-b", "main", str(empty))
    write(empty / "staged.txt", "a\nb\n")
    git(empty, "add", "staged.txt")
    write(empty / "untracked.txt", "c\n")
    fresh = check(empty)
    assert fresh.state == NO_COMMITS and fresh.merge_base is None
    assert {f.path: f.added for f in fresh.files} == {"staged.txt": 2, "untracked.txt": 1}

    trunk = make_repo(tmp_path / "trunk", {"a.txt": "a\n"}, branch="trunk")
    write(trunk / "a.txt", "b\n")
    nobase = check(trunk)  # no main/master/origin: uncommitted changes against HEAD
    assert nobase.state == NO_BASE and nobase.base is None and len(nobase.files) == 1


def test_file_names_and_content_that_are_not_utf8(shop, tmp_path):
    wt = add_worktree(shop, tmp_path / "wt", "bytes")
    raw = os.fsencode(wt) + b"/caf\xe9.txt"
    with open(raw, "wb") as handle:
        handle.write(b"na\xefve\nline\n")
    with open(os.fsencode(wt) + b"/src/app.py", "ab") as handle:
        handle.write(b"\xff\xfe bad bytes\n")
    result = check(wt)
    names = {f.path for f in result.files}
    assert "caf\\xe9.txt" in names
    patched = compute_diff(worktree_at(str(wt)), patches=True)
    doc = json.loads(json.dumps(patched.as_dict(patches=True)))
    app = next(f for f in doc["files"] if f["path"] == "src/app.py")
    assert "bad bytes" in app["patch"] and "\ufffd" in app["patch"]


def test_patches_and_truncation(shop, tmp_path):
    wt = add_worktree(shop, tmp_path / "wt", "patches")
    write(wt / "src/util.py", "def f():\n    return 42\n")
    write(wt / "huge.txt", "".join(f"row {i}\n" for i in range(50_000)))
    write(wt / "assets/logo.bin", b"\x00" * 10)
    result = compute_diff(worktree_at(str(wt)), patches=True, patch_limit=10_000)
    files = {f.path: f for f in result.files}
    assert "+    return 42" in files["src/util.py"].patch and not files["src/util.py"].truncated
    huge = files["huge.txt"]
    assert huge.truncated and huge.added == 50_000
    assert len(huge.patch) < 11_000 and "patch truncated" in huge.patch.splitlines()[-1]
    assert "Binary files" in files["assets/logo.bin"].patch
    assert ours(result) == reference(wt, result.merge_base)

    # Over the total limit: every file still has its numbers; patches say why they stop.
    capped = compute_diff(worktree_at(str(wt)), patches=True, total_patch_limit=5_000)
    assert ours(capped) == ours(result)
    assert capped.files[-1].truncated and "over" in capped.files[-1].patch


def test_submodules_and_embedded_repositories_are_not_descended_into(tmp_path):
    lib = make_repo(tmp_path / "lib", {"lib.py": "A = 1\n"})
    app = make_repo(tmp_path / "app", {"app.py": "x\n"})
    git(app, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(lib), "vendor/lib")
    commit_all(app, "add lib")
    git(app, "branch", "feature")
    git(app, "checkout", "-q", "feature")
    sub = app / "vendor" / "lib"
    write(sub / "lib.py", "A = 2\n")
    commit_all(sub, "lib moves")  # the submodule's commit changes
    write(sub / "scratch.py", "dirty\n")
    embedded = make_repo(app / "tools", {"t.py": "t\n"})
    assert embedded.exists()
    git(app, "branch", "-f", "main", "HEAD")  # base = HEAD: only uncommitted changes
    result = check(app)
    files = {f.path: f for f in result.files}
    assert set(files) == {"vendor/lib", "tools"}
    assert (files["vendor/lib"].added, files["vendor/lib"].deleted) == (1, 1)
    assert files["tools"].status == "added"


def test_missing_worktree_and_bare_repository_give_states(shop, tmp_path):
    wt = add_worktree(shop, tmp_path / "wt", "gone")
    found = worktree_at(str(wt))
    shutil.rmtree(wt)
    assert compute_diff(found).state == MISSING
    git(shop, "worktree", "prune")
    assert compute_diff(found).state == MISSING


def test_error_state_instead_of_a_traceback(shop, tmp_path):
    wt = add_worktree(shop, tmp_path / "wt", "broken")
    found = worktree_at(str(wt))
    head = git(wt, "rev-parse", "HEAD")
    objects = shop / ".git" / "objects" / head[:2] / head[2:]
    objects.chmod(0o644)
    objects.write_bytes(b"garbage")  # the worktree's HEAD commit is now corrupt
    diffmod.clear_caches()
    result = compute_diff(found)
    assert result.state == "error" and result.error and "git" in result.error


def test_parse_raw_numstat_handles_renames_and_binary():
    out = (b":100644 100644 aaaaaaa bbbbbbb R090\0old name\0new\tname\0"
           b":100644 000000 aaaaaaa 0000000 D\0gone\0"
           b"3\t1\t\0old name\0new\tname\0-\t-\tgone\0")
    files = parse_raw_numstat(out)
    assert [(f.path, f.old_path, f.status, f.added, f.deleted, f.binary) for f in files] == [
        ("new\tname", "old name", "renamed", 3, 1, False),
        ("gone", None, "deleted", 0, 0, True),
    ]


def test_many_files_huge_diff(shop, tmp_path):
    wt = add_worktree(shop, tmp_path / "wt", "many")
    for i in range(1500):
        write(wt / "gen" / f"f{i:04}.txt", f"{i}\n" * (i % 7 + 1))
    commit_all(wt, "generate")
    for i in range(0, 1500, 3):
        write(wt / "gen" / f"f{i:04}.txt", "changed\n")
    for i in range(300):
        write(wt / "untracked" / f"u{i}.txt", "u\n" * (i % 5))
    result = check(wt)
    assert len(result.files) == 1800


def test_index_is_never_written_even_on_the_exact_path(shop, tmp_path):
    wt = add_worktree(shop, tmp_path / "wt", "idx")
    (wt / "README.md").unlink()
    write(wt / "NEW.md", "# shop\n")
    index = index_file(wt)
    stat = index.stat()
    result = compute_diff(worktree_at(str(wt)), patches=True)
    assert result.untracked_via == "index"
    assert index.stat().st_mtime_ns == stat.st_mtime_ns
    assert gitb(wt, "status", "--porcelain") == b" D README.md\n?? NEW.md\n"


def test_deletions_do_not_force_the_slow_path_unless_git_could_pair(shop, tmp_path):
    wt = add_worktree(shop, tmp_path / "wt", "screen")
    git(wt, "rm", "-q", "src/old_name.py")
    git(wt, "mv", "src/util.py", "src/helpers.py")
    commit_all(wt, "delete and rename")
    write(wt / "src/feature.py", "".join(f"feature_{i} = {i * 7}\n" for i in range(28)))  # same size range
    write(wt / "notes.txt", "unrelated\n")
    result = check(wt)
    assert result.untracked_via == "counted"  # scored below git's 50%: counting is exact

    # An untracked copy of a renamed-away file: git pairs it (100% beats the tracked
    # rename), so the diff takes the exact path, and agrees with git.
    write(wt / "src/util_copy.py", BASE_FILES["src/util.py"])
    result = check(wt)
    assert result.untracked_via == "index"
    # And an untracked file half-copied from a deleted one (git's score decides).
    (wt / "src/util_copy.py").unlink()
    old = BASE_FILES["src/old_name.py"].splitlines(keepends=True)
    write(wt / "src/revived.py", "".join(old[:20]) + "".join(f"new_{i} = 0\n" for i in range(8)))
    assert check(wt).untracked_via == "index"


def test_similarity_score_is_gits(tmp_path):
    """Our port of git's rename score against git's own similarity index, on pairs
    of files built to land on both sides of 50% (CRLF, long lines, binary)."""
    import random

    from loomtui.git.similarity import MIN_SCORE, percent, score, spans

    rng = random.Random(5)
    repo = tmp_path / "sim"
    git(tmp_path, "init", "-q", "-b", "main", str(repo))
    pairs = {}
    for n in range(40):
        alphabet = "".join(rng.sample("abcdefghijklmnopqrstuvwxyz", 6)) + " "
        lines = ["".join(rng.choice(alphabet) for _ in range(rng.choice([4, 30, 90, 200])))
                 + rng.choice(["\n", "\n", "\r\n"]) for _ in range(rng.randint(5, 80))]
        src = "".join(lines).encode()
        keep = rng.random()
        dst = ("".join(x for x in lines if rng.random() < keep)
               + "".join(f"{alphabet[:3]}{i}\n" for i in range(rng.randint(0, 30)))).encode()
        if n % 10 == 0:
            dst = b"\0" + dst
        write(repo / f"s{n}", src)
        pairs[n] = (src, dst)
    commit_all(repo, "sources")
    for n, (_, dst) in pairs.items():
        (repo / f"s{n}").unlink()
        write(repo / f"d{n}", dst)
    git(repo, "add", "-A")
    raw = gitb(repo, "diff", "--cached", "-M", "--raw", "-z", "HEAD").split(b"\0")
    git_says = {}
    for i, token in enumerate(raw):
        if token.startswith(b":") and token.split(b" ")[4].startswith(b"R"):
            git_says[int(raw[i + 2][1:])] = int(token.split(b" ")[4][1:])
    ours_says = {}
    for n, (src, dst) in pairs.items():
        value = score(len(src), spans(src), len(dst), spans(dst))
        if value >= MIN_SCORE:
            ours_says[n] = percent(value)
    assert 5 < len(git_says) < 35  # both sides of the threshold were exercised
    assert ours_says == git_says
