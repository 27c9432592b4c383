"""The SessionStart hook injects the pod's memory, as a real `loomtui hook` process
run by Claude Code (or Codex) would: the answer exactly in the hook format, within
the configured budget, and nothing at all (exit 0) when anything goes wrong."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import pytest

from loomtui.memory import entries
from loomtui.memory.retrieval import estimate_tokens
from loomtui.store.agents import record_event, upsert_agent
from loomtui.store.db import connect, db_path
from tests import hook_fixtures
from tests.test_hook import SESSION, event, hook

pod, repo = hook_fixtures.pod, hook_fixtures.repo  # the bare pod and repository fixtures
pytestmark = pytest.mark.usefixtures("hook_route")  # every test both ways: direct and served


def seed(pod: Path, repo: Path, n_big: int = 0) -> None:
    conn = connect(db_path(pod))
    ana = entries.supervisor("ana")
    now = time.time()
    try:
        entries.add(conn, kind="convention", title="Money is integer cents", body="Never floats.",
                    author=ana, pinned=True, now=now)
        entries.add(conn, kind="warning", title="Login tests are flaky on CI", body="Rerun first.",
                    scope="repo", scope_ref=str(repo), author=ana, now=now)
        entries.add(conn, kind="fact", title="Another repository's fact", scope="repo",
                    scope_ref="/elsewhere", author=ana, now=now)
        for i in range(n_big):
            entries.add(conn, kind="fact", title=f"Auth note {i}", body="auth " * 300, scope="repo",
                        scope_ref=str(repo), author=ana, now=now)
        other = upsert_agent(conn, kind="codex", now=now, session_id="other-session", name="billing",
                             cwd="/srv/wt/billing", repo=str(repo), worktree="/srv/wt/billing",
                             branch="billing")
        record_event(conn, other, kind="tool", now=now, tool="Edit", summary="src/pay.py",
                     payload={"tool_input": {"file_path": "/srv/wt/billing/src/pay.py"}})
    finally:
        conn.close()


def context_of(stdout: str) -> str:
    answer = json.loads(stdout)
    assert list(answer) == ["hookSpecificOutput"]
    assert list(answer["hookSpecificOutput"]) == ["hookEventName", "additionalContext"]
    assert answer["hookSpecificOutput"]["hookEventName"] == "SessionStart"
    text = answer["hookSpecificOutput"]["additionalContext"]
    assert isinstance(text, str) and text
    return text


@pytest.mark.parametrize("agent", ["claude", "codex"])
def test_session_start_injects_memory_in_the_hook_format(pod: Path, repo: Path, agent: str) -> None:
    seed(pod, repo)
    code, out, err = hook(pod, event("SessionStart", repo, source="startup", model="claude-sonnet-4-5"), agent)
    assert (code, err) == (0, "")
    assert out.startswith("{") and out == out.strip()  # stdout holds only the object
    text = context_of(out)
    assert text.startswith("# Pod memory for shop (auth), from LoomTUI\n")
    assert "Money is integer cents" in text and "Login tests are flaky on CI" in text
    assert "Another repository's fact" not in text
    assert "- billing (codex, working) on billing: Edit: src/pay.py; files: src/pay.py" in text
    assert estimate_tokens(text) <= 2000
    conn = sqlite3.connect(db_path(pod))
    try:
        kinds = [r[0] for r in conn.execute(
            "SELECT e.kind FROM events e JOIN agents a ON a.id = e.agent_id WHERE a.session_id = ?",
            (SESSION,))]
    finally:
        conn.close()
    assert kinds == ["session_start"]  # still recorded, as before


def test_the_budget_comes_from_config_and_is_never_exceeded(pod: Path, repo: Path) -> None:
    seed(pod, repo, n_big=6)
    (pod / "config.toml").write_text("[memory]\nsession_budget_tokens = 300\n")
    code, out, _ = hook(pod, event("SessionStart", repo, source="compact"))
    text = context_of(out)
    assert code == 0 and estimate_tokens(text) <= 300
    assert "Money is integer cents" in text and "Auth note" not in text  # too big: left out whole
    (pod / "config.toml").write_text("[memory]\nsession_budget_tokens = 0\n")
    assert hook(pod, event("SessionStart", repo, source="startup")) == (0, "", "")


def test_nothing_to_say_prints_nothing(pod: Path, repo: Path) -> None:
    assert hook(pod, event("SessionStart", repo, source="startup")) == (0, "", "")


def test_a_missing_store_prints_nothing_and_exits_0(tmp_path: Path, repo: Path) -> None:
    code, out, _ = hook(tmp_path / "no-pod", event("SessionStart", repo, source="startup"))
    assert (code, out) == (0, "")


def test_a_broken_memory_prints_nothing_and_records_why(pod: Path, repo: Path) -> None:
    seed(pod, repo)
    conn = sqlite3.connect(db_path(pod))
    conn.execute("DROP TABLE memory_fts")
    conn.commit()
    conn.close()
    code, out, err = hook(pod, event("SessionStart", repo, source="startup"))
    assert (code, out) == (0, "")
    assert "shared memory not injected" in err and "memory_fts" in err
    conn = sqlite3.connect(db_path(pod))
    try:
        summary = conn.execute("SELECT summary FROM events WHERE kind = 'memory_error'").fetchone()[0]
    finally:
        conn.close()
    assert "memory_fts" in summary
