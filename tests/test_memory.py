"""Shared memory, the engine: governance (review, compare-and-swap, supersede,
retire, pins), complete history and audit, the token estimate and budgets, the
SessionStart text, pod status and the caller's identity."""

from __future__ import annotations

import json
import random
import sqlite3
import subprocess
import threading
from pathlib import Path

import pytest

from loomtui.config import MemoryConfig, parse_config
from loomtui.memory import context, entries, pod, retrieval
from loomtui.memory.entries import Author, NotAllowed, VersionConflict
from loomtui.memory.identity import agent_author, head_commit, inside_agent
from loomtui.store import audit
from loomtui.store.agents import record_event, upsert_agent
from loomtui.store.db import connect, db_path, migrate, split_statements
from loomtui.store.schema import MIGRATIONS

NOW = 1_800_000_000.0
ANA = entries.supervisor("ana")
BOT = Author(name="auth-5b1f", kind="agent", agent_id=None, session_id="s-bot", worktree="/srv/wt/auth",
             repo="/srv/app")
BOT2 = Author(name="billing-77aa", kind="agent", session_id="s-bot2", worktree="/srv/wt/billing",
              repo="/srv/app")


@pytest.fixture
def conn(tmp_path: Path):
    c = connect(db_path(tmp_path / "pod"))
    yield c
    c.close()


def add(conn, author=ANA, kind="fact", title="A title", **kw):
    kw.setdefault("now", NOW)
    return entries.add(conn, kind=kind, title=title, author=author, **kw)


# -- governance -------------------------------------------------------------------


def test_supervisor_entries_are_active_agent_decisions_and_conventions_are_proposed(conn) -> None:
    assert add(conn, ANA, "decision").status == "active"
    assert add(conn, BOT, "decision").status == "proposed"
    assert add(conn, BOT, "convention").status == "proposed"
    for kind in ("fact", "warning", "todo", "handoff"):
        assert add(conn, BOT, kind).status == "active", kind


def test_review_kinds_come_from_config(conn) -> None:
    assert add(conn, BOT, "warning", review_kinds=("warning",)).status == "proposed"
    assert add(conn, BOT, "decision", review_kinds=()).status == "active"
    config = parse_config({"memory": {"review_kinds": ["fact"], "session_budget_tokens": 500}})
    assert config.memory == MemoryConfig(review_kinds=("fact",), session_budget_tokens=500)
    assert config.warnings == ()
    bad = parse_config({"memory": {"review_kinds": ["nonsense"], "session_budget_tokens": -1, "x": 1}})
    assert bad.memory == MemoryConfig() and len(bad.warnings) == 3


def test_the_hooks_budget_default_is_the_configs(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("LOOM_CONFIG", raising=False)
    assert context.SESSION_BUDGET_DEFAULT == MemoryConfig().session_budget_tokens
    pod_dir = tmp_path / "p"
    pod_dir.mkdir()
    assert context.session_budget(pod_dir) == 2000  # no config file
    from loomtui.config import DEFAULT_CONFIG_TEXT

    (pod_dir / "config.toml").write_text(DEFAULT_CONFIG_TEXT)
    assert context.session_budget(pod_dir) == 2000  # commented: the fast path
    (pod_dir / "config.toml").write_text("[memory]\nsession_budget_tokens = 350\n")
    assert context.session_budget(pod_dir) == 350


def test_only_supervisors_pin_retire_and_review(conn) -> None:
    with pytest.raises(NotAllowed):
        add(conn, BOT, pinned=True)
    entry = add(conn, BOT, "decision")
    for call in (lambda: entries.accept(conn, entry.id, author=BOT, now=NOW),
                 lambda: entries.reject(conn, entry.id, author=BOT, reason="no", now=NOW),
                 lambda: entries.retire(conn, entry.id, author=BOT, now=NOW),
                 lambda: entries.set_pinned(conn, entry.id, True, author=BOT, now=NOW)):
        with pytest.raises(NotAllowed):
            call()
    assert entries.get(conn, entry.id).version == 1  # nothing changed


def test_accept_and_reject_proposals(conn) -> None:
    one = add(conn, BOT, "decision", title="Use JWT")
    two = add(conn, BOT, "convention", title="Tabs")
    accepted = entries.accept(conn, one.id, author=ANA, expected_version=1, now=NOW + 1)
    assert (accepted.status, accepted.version) == ("active", 2)
    with pytest.raises(entries.InvalidEntry):
        entries.reject(conn, two.id, author=ANA, reason=" ", now=NOW)
    rejected = entries.reject(conn, two.id, author=ANA, reason="we use spaces", now=NOW + 2)
    assert (rejected.status, rejected.version) == ("retired", 2)
    last = entries.history(conn, two.id)[-1]
    assert last.change == "rejected" and last.snapshot["change_detail"] == {"reason": "we use spaces"}
    with pytest.raises(VersionConflict, match="it is retired"):
        entries.accept(conn, two.id, author=ANA, now=NOW)
    with pytest.raises(entries.InvalidEntry, match="not proposed"):
        entries.accept(conn, one.id, author=ANA, now=NOW)


def test_stale_write_fails_and_names_the_current_version(conn) -> None:
    entry = add(conn, ANA, "fact", title="Redis is 7.2")
    entries.edit(conn, entry.id, author=ANA, expected_version=1, body="checked", now=NOW + 1)
    with pytest.raises(VersionConflict) as caught:
        entries.edit(conn, entry.id, author=ANA, expected_version=1, body="stale", now=NOW + 2)
    assert caught.value.current_version == 2 and "version 2" in str(caught.value)
    with pytest.raises(VersionConflict) as caught:
        add(conn, BOT, "fact", title="Redis is 7.4", supersedes=entry.id, expected_version=1)
    assert caught.value.current_version == 2
    assert entries.get(conn, entry.id).body == "checked"


def test_supersede_replaces_the_old_entry_and_a_second_writer_loses(conn) -> None:
    old = add(conn, ANA, "fact", title="Node 20")
    new = add(conn, BOT, "fact", title="Node 22", supersedes=old.id, expected_version=1, now=NOW + 5)
    assert new.status == "active" and new.supersedes == old.id
    gone = entries.get(conn, old.id)
    assert (gone.status, gone.version) == ("superseded", 2)
    with pytest.raises(VersionConflict) as caught:
        add(conn, BOT2, "fact", title="Node 21", supersedes=old.id, expected_version=1)
    assert "version 2" in str(caught.value) and caught.value.current_status == "superseded"
    with pytest.raises(VersionConflict) as caught:  # without a version: superseded is still a conflict
        add(conn, BOT2, "fact", title="Node 21", supersedes=old.id)
    assert f"by entry {new.id}" in str(caught.value)


def test_a_proposed_successor_supersedes_only_when_accepted(conn) -> None:
    old = add(conn, ANA, "decision", title="REST for the public API")
    proposal = add(conn, BOT, "decision", title="GraphQL for the public API", supersedes=old.id,
                   expected_version=1)
    assert proposal.status == "proposed" and entries.get(conn, old.id).status == "active"
    entries.accept(conn, proposal.id, author=ANA, now=NOW + 1)
    assert entries.get(conn, old.id).status == "superseded"
    assert entries.get(conn, proposal.id).status == "active"


def test_pins_are_kept_by_a_supervisors_successor_and_an_agents_is_reviewed(conn) -> None:
    pinned = add(conn, ANA, "fact", title="Staging is stg-1", pinned=True)
    by_agent = add(conn, BOT, "fact", title="Staging is stg-2", supersedes=pinned.id)
    assert by_agent.status == "proposed" and entries.get(conn, pinned.id).status == "active"
    accepted = entries.accept(conn, by_agent.id, author=ANA, now=NOW + 1)
    assert accepted.pinned and not entries.get(conn, pinned.id).pinned
    by_ana = add(conn, ANA, "fact", title="Staging is stg-3", supersedes=accepted.id)
    assert by_ana.pinned and by_ana.status == "active"


def test_agents_edit_only_their_own_proposals(conn) -> None:
    mine = add(conn, BOT, "decision", title="Cache for 5 minutes")
    edited = entries.edit(conn, mine.id, author=BOT, expected_version=1, title="Cache for 10 minutes",
                          now=NOW + 1)
    assert edited.version == 2 and edited.status == "proposed"
    with pytest.raises(NotAllowed):
        entries.edit(conn, mine.id, author=BOT2, expected_version=2, title="x", now=NOW)
    active = add(conn, BOT, "fact", title="Port 8080")
    with pytest.raises(NotAllowed):
        entries.edit(conn, active.id, author=BOT, expected_version=1, title="Port 9090", now=NOW)


def test_retired_and_superseded_entries_cannot_change(conn) -> None:
    entry = add(conn, ANA)
    entries.retire(conn, entry.id, author=ANA, reason="obsolete", now=NOW + 1)
    with pytest.raises(VersionConflict):
        entries.edit(conn, entry.id, author=ANA, expected_version=None, title="back", now=NOW)
    with pytest.raises(VersionConflict):
        entries.retire(conn, entry.id, author=ANA, now=NOW)
    assert conn.execute("SELECT count(*) FROM memory").fetchone()[0] == 1  # never deleted


def test_invalid_input_is_refused(conn) -> None:
    for kw in ({"kind": "rumour"}, {"title": "  "}, {"scope": "galaxy"}, {"scope": "repo"},
               {"expected_version": 3}, {"title": "x" * 300}):
        with pytest.raises(entries.InvalidEntry):
            add(conn, ANA, **{"kind": "fact", "title": "t", **kw})
    assert add(conn, BOT, scope="repo").scope_ref == "/srv/app"
    assert add(conn, BOT, scope="agent").scope_ref == "auth-5b1f"
    assert add(conn, ANA, tags="DB, Infra  ops,db").tags == ("db", "infra", "ops")


def test_history_is_complete_and_every_change_is_audited(conn) -> None:
    one = add(conn, BOT, "decision", title="Use uv")
    entries.edit(conn, one.id, author=BOT, expected_version=1, body="faster", now=NOW + 1)
    entries.accept(conn, one.id, author=ANA, expected_version=2, now=NOW + 2)
    entries.set_pinned(conn, one.id, True, author=ANA, expected_version=3, now=NOW + 3)
    entries.set_pinned(conn, one.id, False, author=ANA, expected_version=4, now=NOW + 4)
    two = add(conn, ANA, "decision", title="Use uv 0.9", supersedes=one.id, expected_version=5, now=NOW + 5)
    entries.retire(conn, two.id, author=ANA, expected_version=1, reason="dropped", now=NOW + 6)
    changes = entries.history(conn, one.id)
    assert [c.version for c in changes] == [1, 2, 3, 4, 5, 6]
    assert [c.change for c in changes] == ["created", "edited", "accepted", "pinned", "unpinned", "superseded"]
    assert [c.actor for c in changes] == ["auth-5b1f", "auth-5b1f", "ana", "ana", "ana", "ana"]
    for change in changes:  # each snapshot is the entry as it was at that version
        assert change.snapshot["version"] == change.version
    assert changes[1].snapshot["body"] == "faster" and changes[3].snapshot["pinned"] is True
    last = {k: v for k, v in changes[-1].snapshot.items() if k != "change_detail"}
    assert entries.get(conn, one.id).to_dict() == last  # the last is the current state
    assert changes[-1].snapshot["change_detail"] == {"superseded_by": two.id}
    log = [e for e in audit.export(conn) if e["action"].startswith("memory.")]
    assert [(e["action"], e["subject"], e["detail"]["version"]) for e in log] == [
        ("memory.created", f"memory:{one.id}", 1), ("memory.edited", f"memory:{one.id}", 2),
        ("memory.accepted", f"memory:{one.id}", 3), ("memory.pinned", f"memory:{one.id}", 4),
        ("memory.unpinned", f"memory:{one.id}", 5), ("memory.created", f"memory:{two.id}", 1),
        ("memory.superseded", f"memory:{one.id}", 6), ("memory.retired", f"memory:{two.id}", 2)]
    assert audit.verify(conn) == []


def test_history_matches_versions_for_random_operations(conn) -> None:
    """Whatever sequence of changes happens, versions 1..N are all in the history."""
    rng = random.Random(6)
    ids = [add(conn, ANA, title=f"entry {i}").id for i in range(5)]
    for step in range(200):
        entry = entries.get(conn, rng.choice(ids))
        action = rng.choice(["edit", "pin", "unpin", "supersede", "retire", "stale"])
        try:
            if action == "edit":
                entries.edit(conn, entry.id, author=ANA, expected_version=entry.version,
                             body=f"b{step}", now=NOW + step)
            elif action in ("pin", "unpin"):
                entries.set_pinned(conn, entry.id, action == "pin", author=ANA,
                                   expected_version=entry.version, now=NOW + step)
            elif action == "supersede":
                ids.append(add(conn, BOT, title=f"s{step}", supersedes=entry.id,
                               expected_version=entry.version, now=NOW + step).id)
            elif action == "retire" and rng.random() < 0.2:
                entries.retire(conn, entry.id, author=ANA, expected_version=entry.version, now=NOW + step)
            elif action == "stale":
                entries.edit(conn, entry.id, author=ANA, expected_version=entry.version - 1,
                             body="x", now=NOW + step)
        except VersionConflict:
            pass
    for (entry_id, version) in conn.execute("SELECT id, version FROM memory"):
        assert [c.version for c in entries.history(conn, entry_id)] == list(range(1, version + 1))
    audited = conn.execute("SELECT count(*) FROM audit WHERE action LIKE 'memory.%'").fetchone()[0]
    assert audited == conn.execute("SELECT count(*) FROM memory_history").fetchone()[0]


def test_racing_writers_one_wins(tmp_path: Path) -> None:
    """Eight connections supersede the same entry at the same version: exactly one wins,
    the others are told the current version."""
    path = db_path(tmp_path / "pod")
    first = connect(path)
    target = add(first, ANA, title="Shared fact")
    first.close()
    results: list[str] = []
    barrier = threading.Barrier(8)

    def writer(i: int) -> None:
        c = connect(path)
        try:
            barrier.wait()
            add(c, BOT._replace(name=f"bot{i}", session_id=f"s{i}"), title=f"Fact v{i}",
                supersedes=target.id, expected_version=1)
            results.append("won")
        except VersionConflict as exc:
            results.append(f"lost at {exc.current_version}")
        finally:
            c.close()

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["lost at 2"] * 7 + ["won"]


# -- the store's migration --------------------------------------------------------------


def test_migration_4_reindexes_existing_entries_with_the_stemmer(tmp_path: Path) -> None:
    path = tmp_path / "loom.db"
    raw = sqlite3.connect(path, isolation_level=None)
    for version in range(3):
        for statement in split_statements(MIGRATIONS[version]):
            raw.execute(statement)
    raw.execute("PRAGMA user_version = 3")
    raw.execute("INSERT INTO memory (kind, title, author, author_kind, created_at, updated_at) "
                "VALUES ('fact', 'Migrations run through make', 'ana', 'supervisor', 1, 1)")
    migrate(raw, path)
    assert raw.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    hits = retrieval.rank(raw, "migrating", now=NOW)
    assert [h.entry.title for h in hits] == ["Migrations run through make"]
    raw.close()


# -- tokens, budgets, search -----------------------------------------------------------


def test_token_estimate_is_conservative() -> None:
    assert retrieval.estimate_tokens("") == 0
    assert retrieval.estimate_tokens("abc") == 1 and retrieval.estimate_tokens("abcd") == 2
    assert retrieval.estimate_tokens("日本語") == 3
    assert retrieval.estimate_tokens("ab日") == 2
    prose = "The quick brown fox jumps over the lazy dog. " * 20
    assert retrieval.estimate_tokens(prose) >= len(prose) / 4  # ~4 chars a token in English


def test_pack_takes_whole_items_in_order_and_skips_what_does_not_fit() -> None:
    chosen, skipped = retrieval.pack(["aaaa", "bbbbbbbbbbbb", "cc", "d"], len, 8, overhead=1)
    assert chosen == ["aaaa", "cc", "d"] and skipped == 1


def random_entries(conn, n: int, seed: int = 1) -> None:
    rng = random.Random(seed)
    words = "deploy database cache login token migration schema test build docker api retry queue".split()
    for i in range(n):
        body = " ".join(rng.choice(words) for _ in range(rng.randint(0, 300)))
        add(conn, ANA if i % 3 else BOT, rng.choice(["fact", "warning", "todo", "handoff"]),
            title=" ".join(rng.choice(words) for _ in range(rng.randint(2, 8))) + f" {i}",
            body=body + (" 日本語テキスト" * rng.randint(0, 3)), tags=rng.sample(words, 2),
            **rng.choice([{"scope": "pod"}, {"scope": "repo", "scope_ref": "/srv/app"},
                          {"scope": "repo", "scope_ref": "/srv/x"}, {"scope": "agent", "scope_ref": "auth"}]),
            pinned=(i % 11 == 0 and i % 3 != 0),
            now=NOW - rng.randint(0, 90) * 86400)


@pytest.mark.parametrize("budget", [0, 10, 64, 100, 250, 700, 2000, 5000])
def test_search_never_exceeds_its_budget(conn, budget: int) -> None:
    random_entries(conn, 120)
    for query in ("deploy", "database cache login", "token migration schema retry", "日本語", "zzz"):
        doc = retrieval.search_result(conn, query, now=NOW, k=50, budget_tokens=budget,
                                      asker=retrieval.Asker(repo="/srv/app"))
        text = retrieval.dumps(doc)
        assert retrieval.estimate_tokens(text) <= max(budget, retrieval.MIN_BUDGET)
        assert doc["tokens"] == retrieval.estimate_tokens(text)
        scores = [r["score"] for r in doc["results"]]
        assert scores == sorted(scores, reverse=True)  # most relevant first
        for result in doc["results"]:  # whole entries: the body as stored
            assert result["body"] == entries.get(conn, result["id"]).body


def test_search_ranks_pins_scope_and_recency(conn) -> None:
    plain = add(conn, ANA, title="Retry policy for the queue", now=NOW - 200 * 86400)
    pinned = add(conn, ANA, title="Retry policy for the queue", pinned=True, now=NOW - 200 * 86400)
    fresh = add(conn, ANA, title="Retry policy for the queue", now=NOW)
    other_repo = add(conn, ANA, title="Retry policy for the queue", scope="repo", scope_ref="/srv/other",
                     now=NOW)
    mine = add(conn, ANA, title="Retry policy for the queue", scope="repo", scope_ref="/srv/app", now=NOW)
    hits = retrieval.rank(conn, "queue retry", now=NOW, asker=retrieval.Asker(repo="/srv/app"))
    order = [h.entry.id for h in hits]
    assert order[0] == pinned.id or order[0] == mine.id
    assert order.index(mine.id) < order.index(fresh.id) < order.index(plain.id)
    assert order.index(other_repo.id) > order.index(fresh.id)


def test_search_sees_only_active_entries_unless_asked(conn) -> None:
    proposed = add(conn, BOT, "decision", title="Adopt Kafka")
    retired = add(conn, ANA, title="Adopt Kafka streams")
    entries.retire(conn, retired.id, author=ANA, now=NOW)
    assert retrieval.rank(conn, "kafka", now=NOW) == []
    every = retrieval.rank(conn, "kafka", now=NOW, statuses=entries.STATUSES)
    assert {h.entry.id for h in every} == {proposed.id, retired.id}


@pytest.mark.parametrize("query", ['"', "a AND", "NOT", "x*", "(", "col:thing", "NEAR(a b)", "-", ""])
def test_queries_are_never_fts_syntax(conn, query: str) -> None:
    add(conn, ANA, title="a thing NOT near col")
    retrieval.rank(conn, query, now=NOW)  # no exception


# -- SessionStart text ------------------------------------------------------------------


def make_agent(conn, name: str, session: str, worktree: str, repo: str = "/srv/app",
               branch: str | None = None, now: float = NOW) -> int:
    return upsert_agent(conn, kind="claude", now=now, session_id=session, name=name, cwd=worktree,
                        repo=repo, worktree=worktree, branch=branch or name)


@pytest.mark.parametrize("budget", [0, 20, 60, 80, 150, 300, 600, 2000, 8000])
def test_session_context_never_exceeds_its_budget(conn, budget: int) -> None:
    random_entries(conn, 150, seed=budget)
    me = make_agent(conn, "auth", "s-me", "/srv/wt/auth")
    for i in range(30):
        other = make_agent(conn, f"agent{i}", f"s{i}", f"/srv/wt/w{i}")
        record_event(conn, other, kind="tool", now=NOW, tool="Edit", summary=f"src/file{i}.py",
                     payload={"tool_input": {"file_path": f"/srv/wt/w{i}/src/file{i}.py"}})
    text = context.session_context(conn, agent_id=me, budget_tokens=budget, now=NOW)
    assert retrieval.estimate_tokens(text) <= budget
    if budget >= 300:
        assert "## Other agents now" in text
    if budget >= 8000:
        assert "## Pinned" in text and "## Relevant here" in text


def test_session_context_has_pins_repo_entries_handoffs_and_others(conn) -> None:
    me = make_agent(conn, "auth", "s-me", "/srv/wt/auth", branch="auth-login")
    other = make_agent(conn, "billing", "s-b", "/srv/wt/billing")
    record_event(conn, other, kind="tool", now=NOW, tool="Edit", summary="src/pay.py",
                 payload={"tool_input": {"file_path": "/srv/wt/billing/src/pay.py"}})
    add(conn, ANA, "convention", title="Black formatting everywhere", pinned=True)
    add(conn, ANA, "fact", title="Pinned for another repo", pinned=True, scope="repo", scope_ref="/srv/x")
    add(conn, ANA, "warning", title="Login tests are flaky on CI", scope="repo", scope_ref="/srv/app")
    add(conn, ANA, "fact", title="Unrelated repo fact", scope="repo", scope_ref="/srv/other")
    add(conn, BOT2, "handoff", title="Session refresh half done", scope="agent", scope_ref="/srv/wt/auth")
    add(conn, ANA, "todo", title="Login page needs a11y review")
    add(conn, BOT, "decision", title="Proposed only")  # proposed: never injected
    text = context.session_context(conn, agent_id=me, budget_tokens=2000, now=NOW)
    assert text.startswith("# Pod memory for app (auth-login), from LoomTUI\n")
    for wanted in ("## Pinned", "Black formatting everywhere", "## Relevant here",
                   "Login tests are flaky on CI", "Session refresh half done", "Login page needs a11y review",
                   "## Other agents now", "- billing (claude, working) on billing: Edit: src/pay.py; "
                   "files: src/pay.py"):
        assert wanted in text, wanted
    for unwanted in ("Pinned for another repo", "Unrelated repo fact", "Proposed only"):
        assert unwanted not in text
    # the handoff to this worktree comes before the repository's entries
    assert text.index("Session refresh half done") < text.index("Login tests are flaky")


def test_session_context_is_empty_when_there_is_nothing_to_say(conn) -> None:
    me = make_agent(conn, "auth", "s-me", "/srv/wt/auth")
    assert context.session_context(conn, agent_id=me, budget_tokens=2000, now=NOW) == ""


# -- pod status -------------------------------------------------------------------------


def test_pod_status_files_from_worktree_files_else_from_edits(conn) -> None:
    me = make_agent(conn, "auth", "s-me", "/srv/wt/auth")
    record_event(conn, me, kind="tool", now=NOW, tool="Write", summary="src/shared.py",
                 payload={"tool_input": {"file_path": "/srv/wt/auth/src/shared.py"}})
    b = make_agent(conn, "billing", "s-b", "/srv/wt/billing")
    record_event(conn, b, kind="tool", now=NOW, tool="Edit", summary="src/shared.py",
                 payload={"tool_input": {"file_path": "/srv/wt/billing/src/shared.py"}})
    record_event(conn, b, kind="tool", now=NOW, tool="Bash", summary="pytest")
    c = make_agent(conn, "docs", "s-c", "/srv/wt/docs")
    conn.execute("INSERT INTO worktrees (path, repo, updated_at) VALUES ('/srv/wt/docs', '/srv/app', 0)")
    conn.execute("INSERT INTO worktree_files (worktree, path, status) VALUES ('/srv/wt/docs', 'README.md', 'modified')")
    done = make_agent(conn, "old", "s-old", "/srv/wt/old")
    record_event(conn, done, kind="session_end", now=NOW, status="done")
    from loomtui.memory.context import agent_by_id

    status = pod.pod_status(conn, now=NOW, me=agent_by_id(conn, me))
    by_name = {a["name"]: a for a in status["agents"]}
    assert set(by_name) == {"billing", "docs"}  # not me, not the finished one
    assert by_name["billing"]["files"] == ["src/shared.py"] and by_name["billing"]["task"] == "Bash: pytest"
    assert by_name["billing"]["overlaps"] == ["src/shared.py"]
    assert by_name["docs"]["files"] == ["README.md"] and c
    assert status["you"]["files"] == ["src/shared.py"]
    json.dumps(status)


# -- identity -----------------------------------------------------------------------------


def test_the_calling_agent_is_found_from_its_environment(conn, tmp_path: Path) -> None:
    repo = tmp_path / "shop"
    subprocess.run(["git", "init", "-q", "-b", "auth", str(repo)], check=True)
    subprocess.run(["git", "-C", str(repo), "-c", "user.email=a@b", "-c", "user.name=a", "commit", "-q",
                    "--allow-empty", "-m", "x"], check=True)
    sha = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert head_commit(str(repo)) == sha
    old = make_agent(conn, "shop-old", "s-old", str(repo), repo=str(repo), now=NOW - 100)
    new = make_agent(conn, "shop-new", "s-new", str(repo), repo=str(repo), now=NOW)
    author, agent = agent_author(conn, {"CLAUDE_PROJECT_DIR": str(repo)}, cwd="/")
    assert agent.id == new and author.kind == "agent" and author.name == "shop-new"
    assert author.commit_sha == sha and author.worktree == str(repo) and author.repo == str(repo)
    author, agent = agent_author(conn, {"LOOM_AGENT": "shop-old"}, cwd="/")
    assert agent.id == old and author.session_id == "s-old"
    author, agent = agent_author(conn, {}, cwd=str(tmp_path))
    assert agent is None and author.kind == "agent" and author.name == f"agent@{tmp_path.name}"
    assert inside_agent({"CLAUDECODE": "1"}) and not inside_agent({"HOME": "/root"})


def test_an_agent_cannot_slip_past_review_by_changing_the_kind(conn) -> None:
    """A decision replaced by an agent's "fact", or another agent's pending proposal
    replaced, waits for review like the decision itself would."""
    decision = add(conn, ANA, "decision", title="Postgres for orders")
    sneaky = add(conn, BOT, "fact", title="Orders live in SQLite", supersedes=decision.id, expected_version=1)
    assert sneaky.status == "proposed"
    assert entries.get(conn, decision.id).status == "active"
    proposal = add(conn, BOT, "decision", title="Cache in Redis")
    assert proposal.status == "proposed"
    over = add(conn, BOT2, "warning", title="Redis is gone", supersedes=proposal.id)
    assert over.status == "proposed" and entries.get(conn, proposal.id).status == "proposed"


def test_ids_no_row_can_have_are_not_found(conn) -> None:
    assert entries.get(conn, 2**70) is None and entries.get(conn, 0) is None
    with pytest.raises(entries.EntryNotFound):
        entries.require(conn, 2**64)
