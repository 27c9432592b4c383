"""`loomtui diff AGENT [--stat] [--json]` against a real pod and real worktrees."""

from __future__ import annotations

import json
import shutil

import pytest

from loomtui.cli import main
from loomtui.git import diff as diffmod
from loomtui.places import locate
from loomtui.store.agents import upsert_agent
from loomtui.store.db import connect, db_path
from tests.gitrepos import (
    add_worktree,
    commit_all,
    git,
    isolate,
    make_repo,
    reference,
    write,
)

SESSION = "5e55104e-0000-4000-8000-000000000001"


@pytest.fixture(autouse=True)
def _env(monkeypatch, tmp_path):
    isolate(monkeypatch, tmp_path / "home")
    monkeypatch.setenv("LOOM_HOME", str(tmp_path / "pod"))
    monkeypatch.delenv("LOOM_CONFIG", raising=False)
    diffmod.clear_caches()


@pytest.fixture
def agent_wt(tmp_path):
    repo = make_repo(tmp_path / "shop", {"src/a.py": "a = 1\n", "old.txt": "o\n" * 4})
    wt = add_worktree(repo, tmp_path / "wt" / "auth", "agent/auth")
    write(wt / "src/a.py", "a = 2\nb = 3\n")
    git(wt, "mv", "old.txt", "renamed.txt")
    commit_all(wt, "work")
    write(wt / "src/new.py", "n = 1\n")
    write(wt / "logo.bin", b"\x00\x01")
    conn = connect(db_path(tmp_path / "pod"))
    place = locate(str(wt / "src"))  # what the hook records
    upsert_agent(conn, kind="claude", now=1.0, session_id=SESSION, name="auth-api",
                 cwd=str(wt / "src"), repo=place.repo, worktree=place.worktree, branch=place.branch)
    conn.close()
    return repo, wt


def run(capsys, *argv):
    code = main(["diff", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_json_by_name_equals_git(agent_wt, capsys):
    repo, wt = agent_wt
    code, out, err = run(capsys, "auth-api", "--json", "--stat")
    assert code == 0, err
    doc = json.loads(out)
    assert set(doc) >= {"agent", "worktree", "base", "merge_base", "files"}
    assert doc["agent"] == "auth-api" and doc["worktree"] == str(wt) and doc["base"] == "main"
    assert doc["merge_base"] == git(repo, "rev-parse", "main")
    for change in doc["files"]:
        assert set(change) == {"path", "old_path", "status", "added", "deleted", "binary"}
    got = {f["path"]: ((None, None) if f["binary"] else (f["added"], f["deleted"])) + (f["old_path"],)
           for f in doc["files"]}
    assert got == reference(wt, doc["merge_base"])
    statuses = {f["path"]: f["status"] for f in doc["files"]}
    assert statuses == {"src/a.py": "modified", "renamed.txt": "renamed", "src/new.py": "added",
                        "logo.bin": "added"}


def test_json_with_patches_by_session_id(agent_wt, capsys):
    code, out, err = run(capsys, SESSION, "--json")
    assert code == 0, err
    files = {f["path"]: f for f in json.loads(out)["files"]}
    assert "+b = 3" in files["src/a.py"]["patch"]
    assert "+n = 1" in files["src/new.py"]["patch"]  # untracked files carry patches too
    assert files["renamed.txt"]["patch"].startswith("diff --git a/old.txt b/renamed.txt")
    assert all(f["truncated"] is False for f in files.values())


def test_text_output(agent_wt, capsys):
    code, out, _ = run(capsys, "auth-api", "--stat")
    assert code == 0
    assert "R      +0     -0  old.txt -> renamed.txt" in out
    assert "A     bin         logo.bin" in out
    assert out.rstrip().endswith("4 files changed, +3 -1")
    code, out, _ = run(capsys, "auth-api")
    assert code == 0 and "diff --git a/src/a.py b/src/a.py" in out and "+b = 3" in out


def test_errors_are_one_sentence(agent_wt, capsys, tmp_path):
    code, out, err = run(capsys, "nobody")
    assert code == 1 and out == "" and "no agent 'nobody'" in err and "Traceback" not in err
    code, out, err = run(capsys, "auth")  # part of a name: the names it could be
    assert code == 1 and "no agent 'auth' in this pod; did you mean auth-api?" in err
    code, out, err = run(capsys, "a%i")  # LIKE's wildcards are taken literally
    assert code == 1 and "did you mean" not in err
    _, wt = agent_wt
    shutil.rmtree(wt)
    code, out, err = run(capsys, "auth-api", "--json")
    assert code == 1 and out == "" and "no longer exists" in err
    conn = connect(db_path(tmp_path / "pod"))
    upsert_agent(conn, kind="script", now=1.0, session_id="s2", name="loose", cwd=str(tmp_path))
    conn.close()
    code, _, err = run(capsys, "loose")
    assert code == 1 and "not inside a git worktree" in err


def test_no_pod_is_a_clear_error(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("LOOM_HOME", str(tmp_path / "nowhere"))
    code, _, err = run(capsys, "x")
    assert code == 1 and "no pod store" in err


def test_no_base_is_noted(capsys, tmp_path):
    repo = make_repo(tmp_path / "trunk", {"a": "a\n"}, branch="trunk")
    write(repo / "a", "b\n")
    conn = connect(db_path(tmp_path / "pod"))
    upsert_agent(conn, kind="aider", now=1.0, session_id="s3", name="t", cwd=str(repo))
    conn.close()
    code, out, err = run(capsys, "t", "--json", "--stat")
    assert code == 0 and "no base branch found" in err
    doc = json.loads(out)
    assert doc["base"] is None and doc["merge_base"] is None and len(doc["files"]) == 1
